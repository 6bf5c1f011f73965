//! How observations update the executor: the lease log (`__keel_state` control records),
//! broker liveness, and partition state (Metadata + ListPartitionReassignments). Each update
//! is O(RF + log n) and keeps the counters (done, per-broker load, unhealthy sets) current,
//! so a step never rescans the plan.

use super::action::ObservedPartition;
use super::core::{Executor, PartitionStatus};
use super::desired::BrokerId;
use super::record::{ControlRecord, Phase};

impl Executor {
    /// Feeds one control record read from `__keel_state`, in log order. Applies the lease
    /// rules (see the module docs) and acknowledges this executor's own pending write.
    pub fn observe_control_record(&mut self, rec: &ControlRecord) {
        let accept = match &self.lease {
            None => true,
            Some(v) => {
                (rec.epoch == v.epoch && rec.holder == v.holder && rec.seq > v.seq)
                    || (rec.epoch > v.epoch
                        && (rec.holder == v.holder
                            || rec.claimed_at_ms >= v.expires_at_ms
                            // A finished execution releases its lease.
                            || matches!(v.phase, Phase::Done { .. })))
            }
        };
        if !accept {
            return;
        }
        if let Some(p) = &self.pending_persist
            && rec.holder == self.me
            && rec.epoch == p.epoch
            && rec.seq >= p.seq
        {
            if p.with_plan {
                self.plan_persisted = true;
            }
            self.pending_persist = None;
        }
        self.lease = Some(rec.clone());
    }

    /// Feeds a broker's liveness (Metadata / DescribeCluster).
    pub fn observe_broker(&mut self, id: BrokerId, alive: bool) {
        let b = self.broker(id);
        self.broker_alive[b as usize] = alive;
    }

    /// Feeds one partition's observation by name; partitions outside the plan count for health.
    pub fn observe_partition(&mut self, topic: &str, partition: i32, obs: &ObservedPartition) {
        match self.desired.index_of(topic, partition) {
            Some(i) => self.observe_index(i, obs),
            None => self.observe_other(topic, partition, obs),
        }
    }

    /// Feeds one plan partition's observation by dense index ([`crate::executor::DesiredState::index_of`]).
    pub fn observe_index(&mut self, i: u32, obs: &ObservedPartition) {
        let iu = i as usize;
        if iu >= self.status.len() {
            return;
        }
        if self.status[iu] == PartitionStatus::Unobserved {
            self.observed += 1;
        }
        let in_flight = obs.in_flight();
        let unhealthy = obs.unhealthy();
        if !unhealthy {
            self.baseline.remove(&i);
        }
        if unhealthy && !in_flight && !self.baseline.contains(&i) {
            self.alerting.insert(i);
        } else {
            self.alerting.remove(&i);
        }
        if obs.below_min_isr() {
            self.below_min.insert(i);
        } else {
            self.below_min.remove(&i);
        }
        let target = self.desired.target(iu);
        let t0 = target[0];
        if obs.leader != Some(t0) && obs.isr.contains(&t0) {
            self.leader_off.insert(i);
        } else {
            self.leader_off.remove(&i);
        }
        let at_target = !in_flight && obs.replicas == target;
        let cur = &mut self.current[iu];
        cur.clear();
        cur.extend(obs.heading_to());
        if in_flight {
            let own = obs.heading_to().eq(target.iter().copied());
            let size = self.desired.partitions[iu].size_bytes;
            let bytes = size * obs.adding.len() as u64;
            let brokers: Vec<u16> = obs
                .adding
                .iter()
                .chain(obs.removing.iter())
                .map(|&b| self.broker(b))
                .collect();
            self.charge(i, brokers, bytes, own);
            if own {
                let topic = self.desired.partitions[iu].topic;
                let p = self.desired.partitions[iu].partition;
                let lists = self.throttled.entry(topic).or_default();
                for &b in &obs.replicas {
                    if obs.adding.contains(&b) {
                        lists.1.insert((p, b));
                    } else {
                        lists.0.insert((p, b));
                    }
                }
            }
            self.set_status(i, PartitionStatus::InFlight);
        } else if at_target {
            self.uncharge(i);
            self.set_status(i, PartitionStatus::Done);
        } else if self.status[iu] != PartitionStatus::Issued {
            self.uncharge(i);
            self.set_status(i, PartitionStatus::Pending);
        }
    }

    fn observe_other(&mut self, topic: &str, partition: i32, obs: &ObservedPartition) {
        let key = (topic.to_string(), partition);
        let unhealthy = obs.unhealthy();
        if !unhealthy {
            self.other_baseline.remove(&key);
        }
        if obs.below_min_isr() {
            self.other_below_min.insert(key.clone());
        } else {
            self.other_below_min.remove(&key);
        }
        if unhealthy && !obs.in_flight() && !self.other_baseline.contains(&key) {
            self.other_alerting.insert(key);
        } else {
            self.other_alerting.remove(&key);
        }
    }
}
