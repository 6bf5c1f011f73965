//! One reconcile step: lease and outbox first, then the phase's work (issue the next batch,
//! pause, roll back, finish). Cost per step: O(actions + moves in flight + partitions scanned
//! for the batch), with no re-sort; the move order is sorted once, when every partition has
//! been observed.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::action::{Action, ActionId, Move, Step, Throttles, TopicThrottle};
use super::core::{
    Executor, Outstanding, OutstandingKind, PartitionStatus, PendingPersist, kind_name,
};
use super::desired::BrokerId;
use super::record::{CONTROL_FORMAT, ControlRecord, MoveProgress, Outcome, PauseReason, Phase};

enum LeaseState {
    Held,
    Claimable,
    Fenced { until_ms: u64 },
}

impl Executor {
    /// Runs one reconcile step at `now` (ms, the host's clock) and returns what to do.
    pub fn step(&mut self, now: u64) -> Step {
        self.now = self.now.max(now);
        let now = self.now;
        self.step_no += 1;
        if self.step_no == 1 {
            for c in self.charged.values_mut() {
                if c.since_ms == u64::MAX {
                    c.since_ms = now;
                }
            }
        }
        let poll = self.desired.limits.poll_ms;
        let mut out = Vec::new();
        self.expire_actions(now);

        match self.lease_state(now) {
            LeaseState::Held => {}
            LeaseState::Claimable => {
                let stale = self.pending_persist.as_ref().is_none_or(|p| {
                    self.lease
                        .as_ref()
                        .is_some_and(|v| v.epoch >= p.epoch && v.holder != self.me)
                        || now >= p.at_ms + self.desired.limits.action_timeout_ms
                });
                if stale {
                    let epoch = self.lease.as_ref().map_or(1, |v| v.epoch + 1);
                    self.my_epoch = Some(epoch);
                    self.my_seq = 0;
                    self.claimed_at_ms = now;
                    out.push(self.persist(now));
                }
                return Step {
                    actions: out,
                    poll_after_ms: poll / 4,
                };
            }
            LeaseState::Fenced { until_ms } => {
                return Step {
                    actions: out,
                    poll_after_ms: poll.min(until_ms.saturating_sub(now)).max(1),
                };
            }
        }
        if let Some(p) = &self.pending_persist {
            if now >= p.at_ms + self.desired.limits.action_timeout_ms {
                self.alert("PersistDesiredState timed out".into());
                out.push(self.persist(now));
            }
            return Step {
                actions: out,
                poll_after_ms: (poll / 4).max(1),
            };
        }
        if self.observed < self.desired.len() {
            return Step {
                actions: out,
                poll_after_ms: poll,
            };
        }
        if self.order.is_empty() && !self.desired.is_empty() {
            self.build_order();
        }
        if self.fresh {
            // The plan starts now: what is unhealthy already is tolerated.
            self.fresh = false;
            self.baseline.extend(std::mem::take(&mut self.alerting));
            self.other_baseline
                .extend(std::mem::take(&mut self.other_alerting));
            self.dirty = true;
        }
        let renew_at = self.lease.as_ref().map_or(0, |v| {
            v.expires_at_ms
                .saturating_sub(self.desired.limits.lease_ms / 2)
        });
        if self.dirty || !self.plan_persisted || now >= renew_at {
            self.dirty = false;
            out.push(self.persist(now));
            return Step {
                actions: out,
                poll_after_ms: (poll / 4).max(1),
            };
        }

        match self.phase.clone() {
            Phase::Running => self.run(now, &mut out),
            Phase::Paused { reason } => {
                let healthy = self.alerting.is_empty()
                    && self.other_alerting.is_empty()
                    && self.below_min.is_empty()
                    && self.other_below_min.is_empty();
                if matches!(reason, PauseReason::Unhealthy { .. })
                    && self.desired.limits.auto_resume
                    && healthy
                {
                    self.phase = Phase::Running;
                    self.alerts = 0;
                    out.push(self.persist(now));
                }
            }
            Phase::Cancelling { throttles_cleared } => {
                self.cancel_step(now, throttles_cleared, &mut out)
            }
            Phase::Finishing { throttles_cleared } => {
                self.finish_step(now, throttles_cleared, &mut out)
            }
            Phase::Done { outcome } => out.push(Action::Done { outcome }),
        }
        let busy = out
            .iter()
            .any(|a| !matches!(a, Action::Done { .. } | Action::Pause { .. }));
        Step {
            actions: out,
            poll_after_ms: if busy { 0 } else { poll },
        }
    }

    fn lease_state(&self, now: u64) -> LeaseState {
        match &self.lease {
            None => LeaseState::Claimable,
            Some(v)
                if v.holder == self.me
                    && Some(v.epoch) == self.my_epoch
                    && now < self.act_until(v) =>
            {
                LeaseState::Held
            }
            Some(v)
                if v.holder == self.me
                    || now >= v.expires_at_ms
                    || matches!(v.phase, Phase::Done { .. }) =>
            {
                LeaseState::Claimable
            }
            Some(v) => LeaseState::Fenced {
                until_ms: v.expires_at_ms,
            },
        }
    }

    fn persist(&mut self, now: u64) -> Action {
        self.my_seq += 1;
        let epoch = self.my_epoch.unwrap_or(1);
        let mut baseline: Vec<(String, i32)> = self
            .baseline
            .iter()
            .map(|&i| {
                (
                    self.desired.topic_of(i as usize).to_string(),
                    self.desired.partitions[i as usize].partition,
                )
            })
            .collect();
        baseline.extend(self.other_baseline.iter().cloned());
        baseline.sort();
        let control = ControlRecord {
            format: CONTROL_FORMAT.into(),
            plan_id: self.plan_id.clone(),
            holder: self.me.clone(),
            epoch,
            seq: self.my_seq,
            claimed_at_ms: self.claimed_at_ms,
            expires_at_ms: now + self.desired.limits.lease_ms,
            phase: self.phase.clone(),
            baseline_unhealthy: baseline,
            alerts: self.alerts,
            last_alert: self.last_alert.clone(),
            moves: self
                .charged
                .iter()
                .filter(|(_, c)| c.own && c.since_ms != u64::MAX)
                .map(|(&i, c)| MoveProgress {
                    topic: self.desired.topic_of(i as usize).to_string(),
                    partition: self.desired.partitions[i as usize].partition,
                    since_ms: c.since_ms,
                    stuck_alerted: c.stuck_alerted,
                })
                .collect(),
            next_command: self.next_command,
        };
        let with_plan = !self.plan_persisted;
        self.pending_persist = Some(PendingPersist {
            seq: self.my_seq,
            epoch,
            at_ms: now,
            with_plan,
        });
        Action::PersistDesiredState {
            plan: with_plan.then(|| Arc::clone(&self.desired)),
            control,
        }
    }

    fn pause_with(&mut self, now: u64, reason: PauseReason, out: &mut Vec<Action>) {
        self.phase = Phase::Paused {
            reason: reason.clone(),
        };
        out.push(self.persist(now));
        out.push(Action::Pause { reason });
    }

    fn next_id(&mut self, kind: OutstandingKind, now: u64) -> ActionId {
        let id = ActionId(self.next_id);
        self.next_id += 1;
        self.outstanding.insert(
            id,
            Outstanding {
                kind,
                issued_at_ms: now,
                step: self.step_no,
            },
        );
        id
    }

    fn expire_actions(&mut self, now: u64) {
        let timeout = self.desired.limits.action_timeout_ms;
        let expired: Vec<ActionId> = self
            .outstanding
            .iter()
            .filter(|(_, o)| now >= o.issued_at_ms + timeout)
            .map(|(k, _)| *k)
            .collect();
        for id in expired {
            if let Some(o) = self.outstanding.remove(&id) {
                self.alert(format!("{} timed out", kind_name(&o.kind)));
                self.revert(o.kind);
            }
        }
    }

    fn health_problem(&self) -> Option<String> {
        if let Some(&i) = self.below_min.iter().next() {
            return Some(format!(
                "{} has ISR below min.insync.replicas",
                self.name(i)
            ));
        }
        if let Some((t, p)) = self.other_below_min.iter().next() {
            return Some(format!("{t}-{p} has ISR below min.insync.replicas"));
        }
        if let Some(&i) = self.alerting.iter().next() {
            return Some(format!(
                "{} is under-replicated or offline and not moving",
                self.name(i)
            ));
        }
        if let Some((t, p)) = self.other_alerting.iter().next() {
            return Some(format!("{t}-{p} is under-replicated or offline"));
        }
        None
    }

    fn name(&self, i: u32) -> String {
        format!(
            "{}-{}",
            self.desired.topic_of(i as usize),
            self.desired.partitions[i as usize].partition
        )
    }

    fn run(&mut self, now: u64, out: &mut Vec<Action>) {
        if let Some(detail) = self.health_problem() {
            return self.pause_with(now, PauseReason::Unhealthy { detail }, out);
        }
        // Stuck moves: only moves in flight are scanned (bounded by the cluster cap).
        let limits = self.desired.limits.clone();
        let mut stuck = Vec::new();
        for (&i, c) in &mut self.charged {
            if c.own && !c.stuck_alerted {
                // Up to `per_broker_concurrency` copies share a destination's throttle (and a
                // leader's), so one copy may run that many times slower than alone.
                let copy_ms = c
                    .bytes
                    .saturating_mul(1000)
                    .saturating_mul(u64::from(limits.per_broker_concurrency))
                    / limits.throttle_bytes_per_sec;
                let allowed =
                    copy_ms.saturating_mul(u64::from(limits.stuck_factor)) + limits.stuck_grace_ms;
                if now >= c.since_ms.saturating_add(allowed) {
                    c.stuck_alerted = true;
                    stuck.push(i);
                }
            }
        }
        for i in stuck {
            let what = format!("move of {} stuck", self.name(i));
            self.alert(what);
        }
        if self.alerts > limits.error_budget {
            let reason = PauseReason::ErrorBudget {
                alerts: self.alerts,
                last: self.last_alert.clone(),
            };
            return self.pause_with(now, reason, out);
        }
        if self.done == self.desired.len() && self.charged.is_empty() && self.outstanding.is_empty()
        {
            self.phase = Phase::Finishing {
                throttles_cleared: false,
            };
            out.push(self.persist(now));
            return;
        }
        if !self.outstanding.is_empty() {
            return;
        }
        let (batch, blocked) = self.select_batch();
        if batch.is_empty() {
            if self.charged.is_empty()
                && let Some(detail) = blocked
            {
                self.pause_with(now, PauseReason::Blocked { detail }, out);
            } else if let Some((&i, _)) = self.charged.iter().next()
                && self.charged.values().all(|c| c.stuck_alerted)
            {
                // Nothing can go and everything in flight is stuck: waiting would not end.
                let detail = format!(
                    "{} move(s) stuck, first {}",
                    self.charged.len(),
                    self.name(i)
                );
                self.pause_with(now, PauseReason::Blocked { detail }, out);
            }
            return;
        }
        let throttles = self.throttles_for(&batch);
        let rate_brokers: Vec<BrokerId> = throttles.rates.iter().map(|r| r.0).collect();
        let tid = self.next_id(OutstandingKind::SetThrottles { rate_brokers }, now);
        out.push(Action::SetThrottles { id: tid, throttles });
        let moves = batch
            .iter()
            .map(|&i| Move {
                topic: self.desired.topic_of(i as usize).to_string(),
                partition: self.desired.partitions[i as usize].partition,
                replicas: self.desired.target(i as usize).to_vec(),
            })
            .collect();
        for &i in &batch {
            self.set_status(i, PartitionStatus::Issued);
        }
        let aid = self.next_id(OutstandingKind::Alter { partitions: batch }, now);
        out.push(Action::AlterReassignments { id: aid, moves });
    }

    fn build_order(&mut self) {
        let d = &self.desired;
        let mut keyed: Vec<(u64, u32)> = (0..d.len())
            .map(|i| {
                let cur = &self.current[i];
                let adds = d.target(i).iter().filter(|b| !cur.contains(b)).count() as u64;
                (d.partitions[i].size_bytes.saturating_mul(adds), i as u32)
            })
            .collect();
        keyed.sort_unstable();
        self.order = keyed.into_iter().map(|(_, i)| i).collect();
        self.head = 0;
    }

    /// Picks the next moves, smallest first, under both caps. Also returns why a pending
    /// move could not go at all (a target broker is down, or it changes the RF).
    fn select_batch(&mut self) -> (Vec<u32>, Option<String>) {
        let limits = &self.desired.limits;
        let (cap_b, cap_c) = (
            limits.per_broker_concurrency,
            limits.cluster_concurrency as usize,
        );
        while self.head < self.order.len()
            && self.status[self.order[self.head] as usize] == PartitionStatus::Done
        {
            self.head += 1;
        }
        let mut batch = Vec::new();
        let mut blocked = None;
        // Bounded scan: a window from the head of the order (smallest moves first), then a
        // window rotating through the rest, so a step costs O(budget), not O(plan), when
        // the brokers of the smallest moves are busy. With nothing in flight the scan goes on
        // until it finds a move (or proves every pending one blocked).
        let budget = 4 * cap_c + 1024;
        let len = self.order.len();
        let nothing_active = self.charged.is_empty();
        let w1_end = (self.head + budget).min(len);
        let mut positions: Vec<(usize, usize)> = vec![(self.head, w1_end)];
        if w1_end < len {
            let start = self.cursor.clamp(w1_end, len);
            let end = (start + budget).min(len);
            positions.push((start, end));
            let wrapped = budget - (end - start);
            positions.push((w1_end, (w1_end + wrapped).min(start)));
            self.cursor = if end >= len { w1_end + wrapped } else { end };
            if nothing_active {
                positions.push((w1_end, len));
            }
        }
        let mut touched: Vec<u16> = Vec::new();
        let mut examined = 0usize;
        let positions = positions.into_iter().flat_map(|(a, b)| a..b);
        for k in positions {
            if self.charged.len() >= cap_c {
                break;
            }
            if self.saturated >= self.broker_ids.len() && !self.broker_ids.is_empty() {
                break;
            }
            examined += 1;
            if examined > 3 * budget && !(nothing_active && batch.is_empty()) {
                break;
            }
            let i = self.order[k];
            let iu = i as usize;
            if self.status[iu] != PartitionStatus::Pending {
                continue;
            }
            let target = self.desired.target(iu);
            let cur = &self.current[iu];
            if cur.len() != target.len() {
                blocked.get_or_insert_with(|| {
                    format!(
                        "{} target changes the replication factor from {} to {}",
                        self.name(i),
                        cur.len(),
                        target.len()
                    )
                });
                continue;
            }
            touched.clear();
            let mut dead = None;
            let mut adds = 0u64;
            for &b in target {
                if !cur.contains(&b) {
                    adds += 1;
                    let bx = self.broker_ix.get(&b).copied();
                    if bx.is_some_and(|x| !self.broker_alive[x as usize]) {
                        dead = Some(b);
                    }
                    touched.push(self.broker_ix.get(&b).copied().unwrap_or(u16::MAX));
                }
            }
            for &b in cur {
                if !target.contains(&b) {
                    touched.push(self.broker_ix.get(&b).copied().unwrap_or(u16::MAX));
                }
            }
            if let Some(b) = dead {
                blocked.get_or_insert_with(|| {
                    format!("{} moves onto broker {b}, which is down", self.name(i))
                });
                continue;
            }
            if touched
                .iter()
                .any(|&b| b != u16::MAX && self.broker_load[b as usize] >= cap_b)
            {
                continue;
            }
            // Brokers not seen yet get a dense index now.
            let mut brokers = Vec::with_capacity(touched.len());
            let ids: Vec<BrokerId> = target
                .iter()
                .filter(|b| !cur.contains(b))
                .chain(cur.iter().filter(|b| !target.contains(b)))
                .copied()
                .collect();
            for b in ids {
                brokers.push(self.broker(b));
            }
            let bytes = self.desired.partitions[iu].size_bytes.saturating_mul(adds);
            self.charge(i, brokers, bytes, true);
            batch.push(i);
        }
        (batch, blocked)
    }

    fn throttles_for(&mut self, batch: &[u32]) -> Throttles {
        let rate = self.desired.limits.throttle_bytes_per_sec;
        let mut rates = BTreeSet::new();
        let mut topics = BTreeSet::new();
        for &i in batch {
            let iu = i as usize;
            let part = self.desired.partitions[iu];
            let target = self.desired.target(iu);
            let lists = self.throttled.entry(part.topic).or_default();
            for &b in &self.current[iu] {
                lists.0.insert((part.partition, b));
                rates.insert(b);
            }
            for &b in target {
                if !self.current[iu].contains(&b) {
                    lists.1.insert((part.partition, b));
                }
                rates.insert(b);
            }
            topics.insert(part.topic);
        }
        let rates: Vec<(BrokerId, u64)> = rates
            .into_iter()
            .filter(|b| self.rate_set.insert(*b))
            .map(|b| (b, rate))
            .collect();
        let topics = topics
            .into_iter()
            .map(|t| {
                let (leader, follower) = self.throttled.get(&t).cloned().unwrap_or_default();
                TopicThrottle {
                    topic: self.desired.topics[t as usize].clone(),
                    leader: leader.into_iter().collect(),
                    follower: follower.into_iter().collect(),
                }
            })
            .collect();
        Throttles { rates, topics }
    }

    fn cancel_step(&mut self, now: u64, throttles_cleared: bool, out: &mut Vec<Action>) {
        let to_cancel: Vec<u32> = self
            .charged
            .iter()
            .filter(|(i, c)| {
                c.own && !c.cancel_sent && self.status[**i as usize] == PartitionStatus::InFlight
            })
            .map(|(i, _)| *i)
            .collect();
        if !to_cancel.is_empty() {
            let partitions = to_cancel
                .iter()
                .map(|&i| {
                    (
                        self.desired.topic_of(i as usize).to_string(),
                        self.desired.partitions[i as usize].partition,
                    )
                })
                .collect();
            for i in &to_cancel {
                if let Some(c) = self.charged.get_mut(i) {
                    c.cancel_sent = true;
                }
            }
            let id = self.next_id(
                OutstandingKind::Cancel {
                    partitions: to_cancel,
                },
                now,
            );
            out.push(Action::CancelReassignments { id, partitions });
            return;
        }
        let own_active = self.charged.values().any(|c| c.own);
        if own_active || !self.outstanding.is_empty() {
            return;
        }
        if !throttles_cleared {
            out.push(self.clear_throttles(now));
            return;
        }
        self.phase = Phase::Done {
            outcome: Outcome::Cancelled,
        };
        out.push(self.persist(now));
    }

    fn clear_throttles(&mut self, now: u64) -> Action {
        // Every broker known, not only those of this incarnation's moves: an earlier
        // incarnation may have throttled a source broker that no longer holds a replica.
        let mut brokers: BTreeSet<BrokerId> = self.desired.replicas.iter().copied().collect();
        brokers.extend(self.current.iter().flatten().copied());
        brokers.extend(self.broker_ids.iter().copied());
        let id = self.next_id(OutstandingKind::ClearThrottles, now);
        Action::ClearThrottles {
            id,
            brokers: brokers.into_iter().collect(),
            topics: self.desired.topics.clone(),
        }
    }

    fn finish_step(&mut self, now: u64, throttles_cleared: bool, out: &mut Vec<Action>) {
        if !self.outstanding.is_empty() {
            return;
        }
        if !throttles_cleared {
            out.push(self.clear_throttles(now));
            return;
        }
        if self.leader_off.is_empty() {
            self.phase = Phase::Done {
                outcome: Outcome::Converged,
            };
            out.push(self.persist(now));
            return;
        }
        let partitions = self
            .leader_off
            .iter()
            .map(|&i| {
                (
                    self.desired.topic_of(i as usize).to_string(),
                    self.desired.partitions[i as usize].partition,
                )
            })
            .collect();
        let id = self.next_id(OutstandingKind::Elect, now);
        out.push(Action::ElectPreferredLeaders { id, partitions });
    }
}
