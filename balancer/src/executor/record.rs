//! What the executor persists in the compacted `__keel_state` topic (the outbox): the plan
//! record (the desired state, written once per plan) and the control record (lease, phase,
//! progress), written before every change of phase and on each lease renewal.
//!
//! Both are versioned JSON with a fixed field order, so the same value always encodes to the
//! same bytes. Decoding checks the `format` tag first, then every field, and names what is
//! wrong. The plan record carries its own id: a 64-bit FNV-1a digest of its body, checked on
//! decode, so a truncated or edited record is refused.

use serde::{Deserialize, Serialize};

use super::desired::{BrokerId, DesiredPartition, DesiredState, Limits, check_target};
use crate::error::{BalancerError, Result};

/// Format tag of the plan record.
pub const PLAN_FORMAT: &str = "keel.executor-plan/v1";
/// Format tag of the control record.
pub const CONTROL_FORMAT: &str = "keel.executor-control/v1";

/// Why the executor paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PauseReason {
    /// An operator asked for it.
    Command,
    /// The run's deadline (the end of a maintenance window) passed: no new moves until the
    /// next run, which resumes it by itself (an operator's pause is never resumed that way).
    Deadline,
    /// The cluster degraded in a way the plan did not cause.
    Unhealthy {
        /// What was seen, e.g. `orders-3 under-replicated (isr 1 of 3)`.
        detail: String,
    },
    /// More transient alerts than the error budget allows.
    ErrorBudget {
        /// Alerts since the last resume.
        alerts: u32,
        /// The last alert.
        last: String,
    },
    /// The remaining moves cannot make progress (e.g. a target broker is down, or a target
    /// changes the replication factor).
    Blocked {
        /// What blocks.
        detail: String,
    },
}

impl std::fmt::Display for PauseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PauseReason::Command => write!(f, "paused by command"),
            PauseReason::Deadline => write!(f, "deadline reached (maintenance window over)"),
            PauseReason::Unhealthy { detail } => write!(f, "cluster unhealthy: {detail}"),
            PauseReason::ErrorBudget { alerts, last } => write!(
                f,
                "error budget exhausted after {alerts} alerts, last: {last}"
            ),
            PauseReason::Blocked { detail } => write!(f, "blocked: {detail}"),
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every partition reached its target; throttles cleared; preferred leaders elected.
    Converged,
    /// Cancelled: in-flight moves rolled back, throttles cleared.
    Cancelled,
}

/// The executor's phase, persisted so a restarted executor continues in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    /// Moving partitions.
    Running,
    /// Issuing nothing new; in-flight moves continue in the cluster.
    Paused {
        /// Why.
        reason: PauseReason,
    },
    /// Rolling back in-flight moves, then clearing throttles.
    Cancelling {
        /// Throttles were cleared (acknowledged).
        throttles_cleared: bool,
    },
    /// Every partition is at its target: clearing throttles, then electing preferred leaders.
    Finishing {
        /// Throttles were cleared (acknowledged).
        throttles_cleared: bool,
    },
    /// Finished.
    Done {
        /// How.
        outcome: Outcome,
    },
}

/// The control record: lease and progress of one plan's execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRecord {
    /// Always [`CONTROL_FORMAT`].
    pub format: String,
    /// Id of the plan record this execution follows.
    pub plan_id: String,
    /// Who holds the lease (a stable identity of one executor process).
    pub holder: String,
    /// Lease epoch; a takeover writes a higher one.
    pub epoch: u64,
    /// Write sequence of this holder within the epoch.
    pub seq: u64,
    /// When the epoch was claimed (holder's clock), ms.
    pub claimed_at_ms: u64,
    /// Lease end (holder's clock), ms.
    pub expires_at_ms: u64,
    /// Phase.
    pub phase: Phase,
    /// Partitions already under-replicated or offline when the plan started (tolerated).
    pub baseline_unhealthy: Vec<(String, i32)>,
    /// Transient alerts since the last resume (the error budget survives restarts).
    pub alerts: u32,
    /// The last alert.
    pub last_alert: String,
    /// Moves of this plan in flight at the time of writing: when each was first seen, so a
    /// restarted executor keeps timing it.
    pub moves: Vec<MoveProgress>,
    /// Operator commands at log positions below this one were applied (see
    /// [`super::Executor::apply_command`]); absent in records written before commands existed.
    #[serde(default)]
    pub next_command: u64,
}

/// An operator command, written to `__keel_state` by another process (`keel execute pause`)
/// and applied by the running executor at most once, by log position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Stop issuing new moves.
    Pause,
    /// Continue a paused execution (resets the error budget).
    Resume,
    /// Roll back in-flight moves with null targets, clear throttles, stop.
    Cancel,
}

/// Progress of one move in flight, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveProgress {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First seen issued or in flight, ms.
    pub since_ms: u64,
    /// Already counted as stuck.
    pub stuck_alerted: bool,
}

impl ControlRecord {
    /// Compacted-topic key: one key per epoch, so compaction keeps the last record of every
    /// epoch and a reader still sees who won the latest one.
    pub fn key(&self) -> String {
        format!("executor/lease/{:020}", self.epoch)
    }

    /// Deterministic JSON encoding.
    pub fn encode(&self) -> String {
        // Serializing plain structs, strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes and validates a control record.
    pub fn decode(bytes: &[u8]) -> Result<ControlRecord> {
        check_format("control", bytes, CONTROL_FORMAT)?;
        let rec: ControlRecord =
            serde_json::from_slice(bytes).map_err(|e| json_err("control", &e))?;
        if rec.holder.is_empty() {
            return Err(record_err("control", "holder", "empty holder id"));
        }
        if rec.expires_at_ms < rec.claimed_at_ms {
            return Err(record_err(
                "control",
                "expires_at_ms",
                format!(
                    "{} is before claimed_at_ms {}",
                    rec.expires_at_ms, rec.claimed_at_ms
                ),
            ));
        }
        Ok(rec)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    limits: Limits,
    topics: Vec<String>,
    /// `[topic index, partition, size bytes, [replicas...]]`.
    partitions: Vec<(u32, i32, u64, Vec<BrokerId>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanWire {
    format: String,
    plan_id: String,
    body: PlanBody,
}

#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
}

fn body_of(d: &DesiredState) -> PlanBody {
    PlanBody {
        limits: d.limits.clone(),
        topics: d.topics.clone(),
        partitions: (0..d.len())
            .map(|i| {
                let p = &d.partitions[i];
                (p.topic, p.partition, p.size_bytes, d.target(i).to_vec())
            })
            .collect(),
    }
}

fn digest(body: &PlanBody) -> String {
    let text = serde_json::to_string(body).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The id of a desired state (digest of its plan record body).
pub fn plan_id(d: &DesiredState) -> String {
    digest(&body_of(d))
}

/// Encodes the plan record of `d` (deterministic).
pub fn encode_plan(d: &DesiredState) -> String {
    let body = body_of(d);
    let wire = PlanWire {
        format: PLAN_FORMAT.into(),
        plan_id: digest(&body),
        body,
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Decodes a plan record; checks the format, every field and the digest.
pub fn decode_plan(bytes: &[u8]) -> Result<DesiredState> {
    check_format("plan", bytes, PLAN_FORMAT)?;
    let wire: PlanWire = serde_json::from_slice(bytes).map_err(|e| json_err("plan", &e))?;
    let body = wire.body;
    body.limits.validate().map_err(|e| match e {
        BalancerError::Plan { path, message } => {
            record_err("plan", &format!("body.{path}"), message)
        }
        other => other,
    })?;
    for (i, t) in body.topics.iter().enumerate() {
        if i > 0 && body.topics[i - 1] >= *t {
            return Err(record_err(
                "plan",
                &format!("body.topics[{i}]"),
                "topics not sorted and unique",
            ));
        }
    }
    let mut partitions = Vec::with_capacity(body.partitions.len());
    let mut replicas = Vec::new();
    for (i, (t, p, size, reps)) in body.partitions.iter().enumerate() {
        let path = format!("body.partitions[{i}]");
        if *t as usize >= body.topics.len() {
            return Err(record_err(
                "plan",
                &path,
                format!(
                    "topic index {t} out of range ({} topics)",
                    body.topics.len()
                ),
            ));
        }
        if *p < 0 {
            return Err(record_err("plan", &path, format!("negative partition {p}")));
        }
        if let Some(prev) = partitions
            .last()
            .map(|x: &DesiredPartition| (x.topic, x.partition))
            && prev >= (*t, *p)
        {
            return Err(record_err(
                "plan",
                &path,
                "partitions not sorted and unique",
            ));
        }
        check_target(&path, reps).map_err(|e| match e {
            BalancerError::Plan { path, message } => record_err("plan", &path, message),
            other => other,
        })?;
        let start = u32::try_from(replicas.len())
            .map_err(|_| record_err("plan", &path, "too many replicas"))?;
        partitions.push(DesiredPartition {
            topic: *t,
            partition: *p,
            size_bytes: *size,
            start,
            rf: reps.len() as u8,
        });
        replicas.extend_from_slice(reps);
    }
    let d = DesiredState {
        topics: body.topics,
        partitions,
        replicas,
        limits: body.limits,
    };
    let id = plan_id(&d);
    if id != wire.plan_id {
        return Err(record_err(
            "plan",
            "plan_id",
            format!(
                "digest mismatch: record says {}, body hashes to {id}",
                wire.plan_id
            ),
        ));
    }
    Ok(d)
}

fn check_format(record: &str, bytes: &[u8], expected: &str) -> Result<()> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| json_err(record, &e))?;
    match probe.format {
        Some(serde_json::Value::String(s)) if s == expected => Ok(()),
        Some(other) => Err(record_err(
            record,
            "format",
            format!("unsupported format {other}, expected \"{expected}\""),
        )),
        None => Err(record_err(
            record,
            "format",
            format!("missing, expected \"{expected}\""),
        )),
    }
}

fn json_err(record: &str, e: &serde_json::Error) -> BalancerError {
    record_err(
        record,
        &format!("line {} column {}", e.line(), e.column()),
        e.to_string(),
    )
}

fn record_err(record: &str, path: &str, message: impl Into<String>) -> BalancerError {
    BalancerError::StateRecord {
        record: record.to_string(),
        path: path.to_string(),
        message: message.into(),
    }
}
