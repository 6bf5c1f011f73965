//! The executor's state: per-partition tracking in dense vectors with incremental counters
//! (done, in-flight load per broker, unhealthy sets), how observations and action results
//! update it, and the operator commands. The step logic lives in `step.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::action::ActionId;
use super::desired::{BrokerId, DesiredState};

/// `(partition, broker)` pairs of one topic's throttled-replica list.
pub type ThrottledReplicas = BTreeSet<(i32, BrokerId)>;
use super::record::{self, ControlRecord, PauseReason, Phase};
use crate::error::{BalancerError, Result};

/// Where one partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionStatus {
    /// Not observed yet.
    Unobserved,
    /// Not at target, nothing in flight: waiting for a batch.
    Pending,
    /// A reassignment was sent and not yet answered.
    Issued,
    /// Answered (or failed, or timed out): the next observation says what happened.
    Unconfirmed,
    /// A reassignment is in flight in the cluster.
    InFlight,
    /// At target with nothing in flight.
    Done,
}

/// A move that occupies brokers: issued, unconfirmed or in flight.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    /// Dense broker indices it counts against.
    pub brokers: Vec<u16>,
    /// Bytes it copies.
    pub bytes: u64,
    /// When it was first seen issued or in flight.
    pub since_ms: u64,
    /// In flight toward this plan's target (not someone else's reassignment).
    pub own: bool,
    /// A cancel was sent and not failed.
    pub cancel_sent: bool,
    /// Already alerted as stuck.
    pub stuck_alerted: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum OutstandingKind {
    SetThrottles { rate_brokers: Vec<BrokerId> },
    Alter { partitions: Vec<u32> },
    Cancel { partitions: Vec<u32> },
    ClearThrottles,
    Elect,
}

#[derive(Debug, Clone)]
pub(crate) struct Outstanding {
    pub kind: OutstandingKind,
    pub issued_at_ms: u64,
    pub step: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingPersist {
    pub seq: u64,
    pub epoch: u64,
    pub at_ms: u64,
    pub with_plan: bool,
}

/// A summary for status lines and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Phase.
    pub phase: Phase,
    /// Partitions in the plan.
    pub partitions: usize,
    /// Partitions observed at least once.
    pub observed: usize,
    /// Partitions at target.
    pub done: usize,
    /// Moves occupying brokers (issued or in flight).
    pub active_moves: usize,
    /// Transient alerts since the last resume.
    pub alerts: u32,
    /// Whether this executor holds the lease at the last step's `now`.
    pub holds_lease: bool,
}

/// The executor state machine. See the module docs.
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) desired: Arc<DesiredState>,
    pub(crate) plan_id: String,
    pub(crate) me: String,
    pub(crate) now: u64,
    pub(crate) step_no: u64,
    pub(crate) next_id: u64,
    // Lease and outbox.
    pub(crate) lease: Option<ControlRecord>,
    pub(crate) my_epoch: Option<u64>,
    pub(crate) my_seq: u64,
    pub(crate) claimed_at_ms: u64,
    pub(crate) pending_persist: Option<PendingPersist>,
    pub(crate) plan_persisted: bool,
    pub(crate) dirty: bool,
    pub(crate) phase: Phase,
    pub(crate) fresh: bool,
    // Partitions.
    pub(crate) status: Vec<PartitionStatus>,
    pub(crate) current: Vec<Vec<BrokerId>>,
    pub(crate) observed: usize,
    pub(crate) done: usize,
    pub(crate) order: Vec<u32>,
    pub(crate) head: usize,
    pub(crate) cursor: usize,
    pub(crate) charged: BTreeMap<u32, Charge>,
    pub(crate) leader_off: BTreeSet<u32>,
    // Brokers.
    pub(crate) broker_ix: BTreeMap<BrokerId, u16>,
    pub(crate) broker_ids: Vec<BrokerId>,
    pub(crate) broker_load: Vec<u32>,
    pub(crate) broker_alive: Vec<bool>,
    pub(crate) saturated: usize,
    pub(crate) rate_set: BTreeSet<BrokerId>,
    pub(crate) throttled: BTreeMap<u32, (ThrottledReplicas, ThrottledReplicas)>,
    // Health.
    pub(crate) alerting: BTreeSet<u32>,
    pub(crate) below_min: BTreeSet<u32>,
    pub(crate) baseline: BTreeSet<u32>,
    pub(crate) other_alerting: BTreeSet<(String, i32)>,
    pub(crate) other_below_min: BTreeSet<(String, i32)>,
    pub(crate) other_baseline: BTreeSet<(String, i32)>,
    pub(crate) alerts: u32,
    pub(crate) last_alert: String,
    pub(crate) outstanding: BTreeMap<ActionId, Outstanding>,
    /// Move timings from the restored control record: partition → (since, stuck alerted).
    pub(crate) restored_moves: BTreeMap<u32, (u64, bool)>,
    /// Log position of the next operator command to apply.
    pub(crate) next_command: u64,
}

impl Executor {
    /// An executor for a new plan, held by `holder` (a stable, unique id of this process).
    /// Feed it the control records already in `__keel_state` before the first step.
    pub fn new(desired: DesiredState, holder: impl Into<String>) -> Executor {
        let plan_id = record::plan_id(&desired);
        Executor::build(
            Arc::new(desired),
            plan_id,
            holder.into(),
            None,
            Phase::Running,
            true,
            false,
        )
    }

    /// An executor continuing a persisted execution: the plan record and the last control
    /// record of that plan (later control records go to [`Executor::observe_control_record`]).
    pub fn restore(
        desired: DesiredState,
        control: ControlRecord,
        holder: impl Into<String>,
    ) -> Result<Executor> {
        let plan_id = record::plan_id(&desired);
        if control.plan_id != plan_id {
            return Err(BalancerError::StateRecord {
                record: "control".into(),
                path: "plan_id".into(),
                message: format!(
                    "control record is for plan {}, the plan record is {plan_id}",
                    control.plan_id
                ),
            });
        }
        let phase = control.phase.clone();
        let baseline = control.baseline_unhealthy.clone();
        let next_command = control.next_command;
        let (alerts, last_alert, moves) = (
            control.alerts,
            control.last_alert.clone(),
            control.moves.clone(),
        );
        let mut ex = Executor::build(
            Arc::new(desired),
            plan_id,
            holder.into(),
            Some(control),
            phase,
            false,
            true,
        );
        ex.alerts = alerts;
        ex.last_alert = last_alert;
        ex.next_command = next_command;
        for m in moves {
            if let Some(i) = ex.desired.index_of(&m.topic, m.partition) {
                ex.restored_moves.insert(i, (m.since_ms, m.stuck_alerted));
            }
        }
        for (topic, partition) in baseline {
            match ex.desired.index_of(&topic, partition) {
                Some(i) => {
                    ex.baseline.insert(i);
                }
                None => {
                    ex.other_baseline.insert((topic, partition));
                }
            }
        }
        Ok(ex)
    }

    fn build(
        desired: Arc<DesiredState>,
        plan_id: String,
        me: String,
        lease: Option<ControlRecord>,
        phase: Phase,
        fresh: bool,
        plan_persisted: bool,
    ) -> Executor {
        let n = desired.len();
        Executor {
            desired,
            plan_id,
            me,
            now: 0,
            step_no: 0,
            next_id: 1,
            lease,
            my_epoch: None,
            my_seq: 0,
            claimed_at_ms: 0,
            pending_persist: None,
            plan_persisted,
            dirty: false,
            phase,
            fresh,
            status: vec![PartitionStatus::Unobserved; n],
            current: vec![Vec::new(); n],
            observed: 0,
            done: 0,
            order: Vec::new(),
            head: 0,
            cursor: 0,
            charged: BTreeMap::new(),
            leader_off: BTreeSet::new(),
            broker_ix: BTreeMap::new(),
            broker_ids: Vec::new(),
            broker_load: Vec::new(),
            broker_alive: Vec::new(),
            saturated: 0,
            rate_set: BTreeSet::new(),
            throttled: BTreeMap::new(),
            alerting: BTreeSet::new(),
            below_min: BTreeSet::new(),
            baseline: BTreeSet::new(),
            other_alerting: BTreeSet::new(),
            other_below_min: BTreeSet::new(),
            other_baseline: BTreeSet::new(),
            alerts: 0,
            last_alert: String::new(),
            outstanding: BTreeMap::new(),
            restored_moves: BTreeMap::new(),
            next_command: 0,
        }
    }

    /// The desired state.
    pub fn desired(&self) -> &DesiredState {
        &self.desired
    }

    /// The plan id (digest of the plan record).
    pub fn plan_id(&self) -> &str {
        &self.plan_id
    }

    /// The current phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Status of partition `i` (dense index).
    pub fn partition_status(&self, i: u32) -> Option<PartitionStatus> {
        self.status.get(i as usize).copied()
    }

    /// A summary.
    pub fn status(&self) -> Status {
        Status {
            phase: self.phase.clone(),
            partitions: self.desired.len(),
            observed: self.observed,
            done: self.done,
            active_moves: self.charged.len(),
            alerts: self.alerts,
            holds_lease: self.holds_lease(self.now),
        }
    }

    /// Whether this executor holds the lease at `now`.
    pub fn holds_lease(&self, now: u64) -> bool {
        match &self.lease {
            Some(v) => {
                v.holder == self.me && Some(v.epoch) == self.my_epoch && now < self.act_until(v)
            }
            None => false,
        }
    }

    /// The holder stops acting a tenth of a lease before its expiry, a margin for clock skew
    /// between its host and a successor's.
    pub(crate) fn act_until(&self, v: &ControlRecord) -> u64 {
        v.expires_at_ms
            .saturating_sub(self.desired.limits.lease_ms / 10)
    }

    // ----- action results -----

    /// Reports that action `id` succeeded.
    pub fn action_succeeded(&mut self, id: ActionId) {
        let Some(o) = self.outstanding.remove(&id) else {
            return;
        };
        match o.kind {
            OutstandingKind::SetThrottles { .. } | OutstandingKind::Cancel { .. } => {}
            OutstandingKind::Alter { partitions } => {
                for i in partitions {
                    if self.status[i as usize] == PartitionStatus::Issued {
                        self.set_status(i, PartitionStatus::Unconfirmed);
                    }
                }
            }
            OutstandingKind::ClearThrottles => {
                self.rate_set.clear();
                self.throttled.clear();
                match &mut self.phase {
                    Phase::Finishing { throttles_cleared }
                    | Phase::Cancelling { throttles_cleared } => {
                        *throttles_cleared = true;
                        self.dirty = true;
                    }
                    _ => {}
                }
            }
            OutstandingKind::Elect => {
                if matches!(self.phase, Phase::Finishing { .. }) {
                    self.phase = Phase::Done {
                        outcome: record::Outcome::Converged,
                    };
                    self.dirty = true;
                }
            }
        }
    }

    /// Reports that action `id` failed (counts against the error budget). Actions of the
    /// same step issued after it are taken as not carried out.
    pub fn action_failed(&mut self, id: ActionId, message: &str) {
        let Some(o) = self.outstanding.remove(&id) else {
            return;
        };
        self.alert(format!("{} failed: {message}", kind_name(&o.kind)));
        self.revert(o.kind);
        let later: Vec<ActionId> = self
            .outstanding
            .iter()
            .filter(|(k, v)| **k > id && v.step == o.step)
            .map(|(k, _)| *k)
            .collect();
        for k in later {
            if let Some(o) = self.outstanding.remove(&k) {
                self.revert(o.kind);
            }
        }
    }

    pub(crate) fn revert(&mut self, kind: OutstandingKind) {
        match kind {
            OutstandingKind::SetThrottles { rate_brokers } => {
                for b in rate_brokers {
                    self.rate_set.remove(&b);
                }
            }
            OutstandingKind::Alter { partitions } => {
                // It may have reached the controller: wait for the next observation.
                for i in partitions {
                    if self.status[i as usize] == PartitionStatus::Issued {
                        self.set_status(i, PartitionStatus::Unconfirmed);
                    }
                }
            }
            OutstandingKind::Cancel { partitions } => {
                for i in partitions {
                    if let Some(c) = self.charged.get_mut(&i) {
                        c.cancel_sent = false;
                    }
                }
            }
            OutstandingKind::ClearThrottles | OutstandingKind::Elect => {}
        }
    }

    pub(crate) fn alert(&mut self, what: String) {
        self.alerts += 1;
        self.last_alert = what;
        // Persisted before the next cluster action, so the budget survives a restart.
        self.dirty = true;
    }

    // ----- commands -----

    /// Applies an operator command read from `__keel_state` at log position `position`,
    /// once: commands below the persisted watermark were applied by an earlier incarnation
    /// and are skipped, so a restarted executor replaying the log neither loses a command
    /// written while it was down nor re-applies an old one. Returns whether the phase changed.
    pub fn apply_command(&mut self, position: u64, command: record::Command) -> bool {
        if position < self.next_command {
            return false;
        }
        self.next_command = position + 1;
        // Persisted with the next control record, even when the command changes nothing.
        self.dirty = true;
        match command {
            record::Command::Pause => self.pause(),
            record::Command::Resume => self.resume(),
            record::Command::Cancel => self.cancel(),
        }
    }

    /// Log position of the next operator command this executor will apply.
    pub fn next_command(&self) -> u64 {
        self.next_command
    }

    /// Ignores commands below `position` (a new plan skips commands written before it
    /// started). Never moves the watermark back.
    pub fn skip_commands_before(&mut self, position: u64) {
        self.next_command = self.next_command.max(position);
    }

    /// Whether a [`super::Action::PersistDesiredState`] is waiting to be read back.
    pub fn persist_pending(&self) -> bool {
        self.pending_persist.is_some()
    }

    /// Pauses (persisted before it takes effect). Returns whether the phase changed. An
    /// execution paused at a deadline becomes paused by command: the operator's pause
    /// outlasts the next run, which would otherwise resume it.
    pub fn pause(&mut self) -> bool {
        if matches!(
            self.phase,
            Phase::Paused {
                reason: PauseReason::Deadline
            }
        ) {
            self.phase = Phase::Paused {
                reason: PauseReason::Command,
            };
            self.dirty = true;
            return true;
        }
        self.pause_for(PauseReason::Command)
    }

    /// Pauses because the run's deadline passed ([`PauseReason::Deadline`]): like
    /// [`Executor::pause`], but the next run resumes it ([`Executor::resume_after_deadline`]).
    pub fn pause_at_deadline(&mut self) -> bool {
        self.pause_for(PauseReason::Deadline)
    }

    fn pause_for(&mut self, reason: PauseReason) -> bool {
        if matches!(self.phase, Phase::Running) {
            self.phase = Phase::Paused { reason };
            self.dirty = true;
            return true;
        }
        false
    }

    /// Resumes an execution that paused only because an earlier run's deadline passed (an
    /// operator's pause, or one for cluster health, the error budget or a block, stays).
    /// Returns whether the phase changed.
    pub fn resume_after_deadline(&mut self) -> bool {
        if matches!(
            self.phase,
            Phase::Paused {
                reason: PauseReason::Deadline
            }
        ) {
            return self.resume();
        }
        false
    }

    /// Resumes a paused execution and resets the error budget.
    pub fn resume(&mut self) -> bool {
        if matches!(self.phase, Phase::Paused { .. }) {
            self.phase = Phase::Running;
            self.alerts = 0;
            self.dirty = true;
            return true;
        }
        false
    }

    /// Cancels: in-flight moves are rolled back with null targets, then throttles cleared.
    pub fn cancel(&mut self) -> bool {
        if matches!(
            self.phase,
            Phase::Running
                | Phase::Paused { .. }
                | Phase::Finishing {
                    throttles_cleared: false
                }
        ) {
            self.phase = Phase::Cancelling {
                throttles_cleared: false,
            };
            self.dirty = true;
            return true;
        }
        false
    }

    // ----- bookkeeping -----

    pub(crate) fn broker(&mut self, id: BrokerId) -> u16 {
        if let Some(&b) = self.broker_ix.get(&id) {
            return b;
        }
        let b = self.broker_ids.len() as u16;
        self.broker_ix.insert(id, b);
        self.broker_ids.push(id);
        self.broker_load.push(0);
        self.broker_alive.push(true);
        b
    }

    pub(crate) fn set_status(&mut self, i: u32, s: PartitionStatus) {
        let old = std::mem::replace(&mut self.status[i as usize], s);
        if old == PartitionStatus::Done && s != PartitionStatus::Done {
            self.done -= 1;
        } else if old != PartitionStatus::Done && s == PartitionStatus::Done {
            self.done += 1;
        }
    }

    pub(crate) fn charge(&mut self, i: u32, brokers: Vec<u16>, bytes: u64, own: bool) {
        let prev = self.uncharge(i);
        let cap = self.desired.limits.per_broker_concurrency;
        for &b in &brokers {
            let l = &mut self.broker_load[b as usize];
            *l += 1;
            if *l == cap {
                self.saturated += 1;
            }
        }
        let (since_ms, cancel_sent, stuck_alerted) =
            // Before the first step `now` is unknown: the first step stamps it.
            match (prev, self.restored_moves.remove(&i)) {
                (Some(c), _) => (c.since_ms, c.cancel_sent, c.stuck_alerted),
                (None, Some((since, stuck))) => (since, false, stuck),
                (None, None) => (if self.step_no == 0 { u64::MAX } else { self.now }, false, false),
            };
        self.charged.insert(
            i,
            Charge {
                brokers,
                bytes,
                since_ms,
                own,
                cancel_sent,
                stuck_alerted,
            },
        );
    }

    pub(crate) fn uncharge(&mut self, i: u32) -> Option<Charge> {
        let c = self.charged.remove(&i)?;
        let cap = self.desired.limits.per_broker_concurrency;
        for &b in &c.brokers {
            let l = &mut self.broker_load[b as usize];
            if *l == cap {
                self.saturated -= 1;
            }
            *l = l.saturating_sub(1);
        }
        Some(c)
    }

    /// Moves currently counted against broker `id` (for tests and metrics).
    pub fn broker_moves(&self, id: BrokerId) -> u32 {
        self.broker_ix
            .get(&id)
            .map_or(0, |&b| self.broker_load[b as usize])
    }
}

pub(crate) fn kind_name(k: &OutstandingKind) -> &'static str {
    match k {
        OutstandingKind::SetThrottles { .. } => "SetThrottles",
        OutstandingKind::Alter { .. } => "AlterReassignments",
        OutstandingKind::Cancel { .. } => "CancelReassignments",
        OutstandingKind::ClearThrottles => "ClearThrottles",
        OutstandingKind::Elect => "ElectPreferredLeaders",
    }
}
