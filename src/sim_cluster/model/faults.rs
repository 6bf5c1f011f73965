//! Injected faults: a broker dies or comes back, a partition's move gets stuck (never catches
//! up), an API answers an error code (a number of times, or with a seeded probability).
//! Faults apply at once ([`ClusterState::inject`]) or at a simulated time
//! ([`ClusterState::schedule`]); a `--faults FILE` schedule is a JSON array of
//! [`ScheduledFault`]s:
//!
//! ```json
//! [
//!   {"at_ms": 0,     "fault": "fail_requests", "api_key": 44, "error_code": 7, "count": 3},
//!   {"at_ms": 0,     "fault": "stuck_move", "topic": "orders", "partition": 4},
//!   {"at_ms": 20000, "fault": "broker_down", "broker": 3},
//!   {"at_ms": 60000, "fault": "broker_up", "broker": 3}
//! ]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BrokerId, ClusterState};

/// One fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The broker stops answering (its connections close), leaves every ISR; partitions it
    /// led get another in-sync leader or go offline.
    BrokerDown {
        /// Broker id.
        broker: BrokerId,
    },
    /// A dead broker comes back: it leads the offline partitions whose last ISR member it
    /// was, and rejoins the ISR of the others once it has caught up
    /// ([`super::catch_up`]).
    BrokerUp {
        /// Broker id.
        broker: BrokerId,
    },
    /// Moves of this partition never catch up, until [`Fault::UnstickMove`].
    StuckMove {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Moves of this partition progress again.
    UnstickMove {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Requests with this API key are answered with `error_code` in every error field:
    /// the next `count` ones (all, when absent), each with `probability` (default 1).
    FailRequests {
        /// Kafka API key (e.g. 44 IncrementalAlterConfigs, 45 AlterPartitionReassignments).
        api_key: i16,
        /// Kafka error code to answer.
        error_code: i16,
        /// How many requests fail; all when absent.
        #[serde(default)]
        count: Option<u32>,
        /// Chance that one request fails, drawn from the seeded generator.
        #[serde(default = "always")]
        probability: f64,
    },
    /// Requests with this API key are answered normally again.
    ClearRequestFailures {
        /// Kafka API key.
        api_key: i16,
    },
}

fn always() -> f64 {
    1.0
}

/// A fault and the simulated time it fires at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Simulated milliseconds since the start.
    pub at_ms: u64,
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
}

#[derive(Debug, Clone, PartialEq)]
struct RequestFailure {
    error_code: i16,
    remaining: Option<u32>,
    probability: f64,
}

/// Scheduled faults, request failures and the seeded generator behind probabilities.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultState {
    scheduled: Vec<ScheduledFault>,
    failures: BTreeMap<i16, RequestFailure>,
    rng: u64,
}

impl FaultState {
    pub(crate) fn new(seed: u64) -> FaultState {
        FaultState {
            scheduled: Vec::new(),
            failures: BTreeMap::new(),
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    pub(crate) fn next_due(&self) -> Option<u64> {
        self.scheduled.first().map(|s| s.at_ms)
    }

    fn next_unit(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl ClusterState {
    /// Applies a fault now. Unknown brokers, topics or partitions are ignored.
    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::BrokerDown { broker } => self.set_broker_alive(broker, false),
            Fault::BrokerUp { broker } => {
                self.set_broker_alive(broker, true);
                // Caught-up followers whose fetch round is over rejoin through the advance.
                let now = self.now_ms;
                self.advance_to(now);
            }
            Fault::StuckMove { topic, partition } => {
                if let Some(p) = self.partition_idx(&topic, partition) {
                    self.stuck.insert(p);
                }
            }
            Fault::UnstickMove { topic, partition } => {
                if let Some(p) = self.partition_idx(&topic, partition) {
                    self.stuck.remove(&p);
                }
            }
            Fault::FailRequests {
                api_key,
                error_code,
                count,
                probability,
            } => {
                self.faults.failures.insert(
                    api_key,
                    RequestFailure {
                        error_code,
                        remaining: count,
                        probability: probability.clamp(0.0, 1.0),
                    },
                );
            }
            Fault::ClearRequestFailures { api_key } => {
                self.faults.failures.remove(&api_key);
            }
        }
    }

    /// Schedules a fault for simulated time `at_ms` (at once if that has passed).
    pub fn schedule(&mut self, scheduled: ScheduledFault) {
        if scheduled.at_ms <= self.now_ms {
            self.inject(scheduled.fault);
            return;
        }
        let at = self
            .faults
            .scheduled
            .partition_point(|s| s.at_ms <= scheduled.at_ms);
        self.faults.scheduled.insert(at, scheduled);
    }

    /// Fires every scheduled fault that is due.
    pub(crate) fn fire_due_faults(&mut self) {
        while self
            .faults
            .scheduled
            .first()
            .is_some_and(|s| s.at_ms <= self.now_ms)
        {
            let s = self.faults.scheduled.remove(0);
            self.inject(s.fault);
        }
    }

    /// Whether a request with `api_key` must fail now, and with which error code. Counts the
    /// failure against its budget.
    pub fn take_request_failure(&mut self, api_key: i16) -> Option<i16> {
        let f = self.faults.failures.get(&api_key)?.clone();
        if f.remaining == Some(0) {
            self.faults.failures.remove(&api_key);
            return None;
        }
        if f.probability < 1.0 && self.faults.next_unit() >= f.probability {
            return None;
        }
        if let Some(entry) = self.faults.failures.get_mut(&api_key)
            && let Some(n) = &mut entry.remaining
        {
            *n -= 1;
        }
        Some(f.error_code)
    }
}
