//! A deterministic simulated cluster for testing and benchmarking the executor: partitions
//! with replicas, ISR and leaders; reassignments that copy data in simulated time under the
//! replication throttle and follow Kafka's semantics (add replicas, catch up, join the ISR,
//! then remove the old ones; a null target rolls back); a `__keel_state` log; and injected
//! faults (a broker dies, a move gets stuck, throttle or reassignment calls fail). [`run`]
//! plays host: it observes, steps, carries out actions, and can kill and rebuild the executor
//! from the persisted records after every step.
//!
//! Pure Rust, no IO, seeded randomness only.

use std::collections::{BTreeMap, BTreeSet};

use super::action::{Action, ObservedPartition, Step};
use super::core::{Executor, ThrottledReplicas};
use super::desired::{BrokerId, DesiredState};
use super::record::{self, ControlRecord, Outcome, PauseReason, Phase};

/// A small deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; seed 0 is remapped.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[derive(Debug, Clone)]
struct SimMove {
    target: Vec<BrokerId>,
    original: Vec<BrokerId>,
    adding: Vec<BrokerId>,
    copied: Vec<u64>,
}

/// One simulated partition.
#[derive(Debug, Clone)]
pub struct SimPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Replicas (during a move: target then removing, as Kafka reports).
    pub replicas: Vec<BrokerId>,
    /// ISR.
    pub isr: Vec<BrokerId>,
    /// Leader.
    pub leader: Option<BrokerId>,
    /// min.insync.replicas.
    pub min_isr: u16,
    /// Replica size, bytes.
    pub size_bytes: u64,
    mv: Option<SimMove>,
}

impl SimPartition {
    /// A healthy partition on `replicas`.
    pub fn new(topic: &str, partition: i32, replicas: Vec<BrokerId>, size_bytes: u64, min_isr: u16) -> SimPartition {
        SimPartition {
            topic: topic.into(),
            partition,
            leader: replicas.first().copied(),
            isr: replicas.clone(),
            replicas,
            min_isr,
            size_bytes,
            mv: None,
        }
    }

    /// Whether a reassignment is in flight.
    pub fn moving(&self) -> bool {
        self.mv.is_some()
    }

    /// What ListPartitionReassignments + Metadata report.
    pub fn observe(&self) -> ObservedPartition {
        let (adding, removing) = match &self.mv {
            Some(m) => (m.adding.clone(), m.original.iter().copied().filter(|b| !m.target.contains(b)).collect()),
            None => (Vec::new(), Vec::new()),
        };
        ObservedPartition {
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            min_isr: self.min_isr,
            adding,
            removing,
        }
    }
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next this-many SetThrottles calls fail.
    pub fail_throttles: u32,
    /// The next this-many AlterReassignments calls fail (not applied).
    pub fail_alters: u32,
    /// Partitions (index into [`SimCluster::partitions`]) whose moves never progress.
    pub stuck: BTreeSet<usize>,
    /// `(at ms, broker)`: the broker dies.
    pub kill_broker: Option<(u64, BrokerId)>,
    /// `(at ms, broker)`: the broker comes back.
    pub revive_broker: Option<(u64, BrokerId)>,
}

/// The simulated cluster.
#[derive(Debug, Clone)]
pub struct SimCluster {
    /// Simulated time, ms.
    pub now_ms: u64,
    /// Broker id → alive.
    pub brokers: BTreeMap<BrokerId, bool>,
    /// Partitions.
    pub partitions: Vec<SimPartition>,
    /// Faults.
    pub faults: Faults,
    /// Copy speed of unthrottled replication, bytes/s.
    pub unthrottled_bytes_per_sec: u64,
    /// `__keel_state`: the plan record (latest) and every control record in log order.
    pub plan_record: Option<String>,
    /// Control records, encoded, in log order.
    pub control_log: Vec<String>,
    /// Throttle rate per broker.
    pub rates: BTreeMap<BrokerId, u64>,
    /// Throttled (partition, broker) per topic: (leader side, follower side).
    pub throttled: BTreeMap<String, (ThrottledReplicas, ThrottledReplicas)>,
    /// Reassignments started, per partition.
    pub starts: Vec<u32>,
    /// Cancels applied, per partition.
    pub cancels: Vec<u32>,
    /// Elections that changed a leader, per partition.
    pub elections: Vec<u32>,
    /// Kafka-semantics or invariant violations seen.
    pub violations: Vec<String>,
    index: BTreeMap<(String, i32), usize>,
}

impl SimCluster {
    /// A cluster of `brokers` (all alive) and `partitions`.
    pub fn new(brokers: &[BrokerId], partitions: Vec<SimPartition>) -> SimCluster {
        let n = partitions.len();
        let index = partitions.iter().enumerate().map(|(i, p)| ((p.topic.clone(), p.partition), i)).collect();
        SimCluster {
            now_ms: 0,
            brokers: brokers.iter().map(|&b| (b, true)).collect(),
            partitions,
            faults: Faults::default(),
            unthrottled_bytes_per_sec: 1_000_000_000,
            plan_record: None,
            control_log: Vec::new(),
            rates: BTreeMap::new(),
            throttled: BTreeMap::new(),
            starts: vec![0; n],
            cancels: vec![0; n],
            elections: vec![0; n],
            violations: Vec::new(),
            index,
        }
    }

    fn alive(&self, b: BrokerId) -> bool {
        self.brokers.get(&b).copied().unwrap_or(false)
    }

    /// Sets a broker's liveness: a dead broker leaves every ISR (leaders move to another ISR
    /// member, or the partition goes offline); a revived one rejoins the ISR of partitions
    /// it fully holds.
    pub fn set_alive(&mut self, b: BrokerId, alive: bool) {
        self.brokers.insert(b, alive);
        for p in &mut self.partitions {
            if !alive {
                p.isr.retain(|&x| x != b);
                if p.leader == Some(b) {
                    p.leader = p.replicas.iter().copied().find(|x| p.isr.contains(x));
                }
            } else {
                let adding = p.mv.as_ref().is_some_and(|m| m.adding.contains(&b));
                if p.replicas.contains(&b) && !adding && !p.isr.contains(&b) {
                    p.isr.push(b);
                }
                if p.leader.is_none() {
                    p.leader = p.replicas.iter().copied().find(|x| p.isr.contains(x));
                }
            }
        }
    }

    /// Advances simulated time by `dt_ms`: faults fire, copies progress, moves complete.
    pub fn advance(&mut self, dt_ms: u64) {
        let end = self.now_ms + dt_ms;
        let slice = 500u64;
        while self.now_ms < end {
            let dt = slice.min(end - self.now_ms);
            self.now_ms += dt;
            if let Some((at, b)) = self.faults.kill_broker
                && self.now_ms >= at
            {
                self.faults.kill_broker = None;
                self.set_alive(b, false);
            }
            if let Some((at, b)) = self.faults.revive_broker
                && self.now_ms >= at
            {
                self.faults.revive_broker = None;
                self.set_alive(b, true);
            }
            self.progress(dt);
        }
    }

    fn progress(&mut self, dt_ms: u64) {
        // Concurrent copies into each destination share its throttle.
        let mut into: BTreeMap<BrokerId, u64> = BTreeMap::new();
        for p in &self.partitions {
            if let Some(m) = &p.mv {
                for (k, &b) in m.adding.iter().enumerate() {
                    if m.copied[k] < p.size_bytes {
                        *into.entry(b).or_default() += 1;
                    }
                }
            }
        }
        for pi in 0..self.partitions.len() {
            if self.partitions[pi].mv.is_none() || self.faults.stuck.contains(&pi) {
                continue;
            }
            let leader_alive = self.partitions[pi].leader.is_some_and(|l| self.alive(l));
            let p = &self.partitions[pi];
            let Some(m) = &p.mv else { continue };
            let mut copied = m.copied.clone();
            for (k, &b) in m.adding.iter().enumerate() {
                if !leader_alive || !self.alive(b) || copied[k] >= p.size_bytes {
                    continue;
                }
                let throttled = self.throttled.get(&p.topic).is_some_and(|t| t.1.contains(&(p.partition, b)));
                let rate = match (throttled, self.rates.get(&b)) {
                    (true, Some(&r)) => r / into.get(&b).copied().unwrap_or(1).max(1),
                    _ => self.unthrottled_bytes_per_sec,
                };
                copied[k] = (copied[k] + rate * dt_ms / 1000).min(p.size_bytes);
            }
            let size = p.size_bytes;
            let p = &mut self.partitions[pi];
            if let Some(m) = &mut p.mv {
                for (k, &b) in m.adding.iter().enumerate() {
                    if copied[k] >= size && !p.isr.contains(&b) {
                        p.isr.push(b);
                    }
                }
                m.copied = copied;
            }
            self.try_complete(pi);
        }
    }

    fn try_complete(&mut self, pi: usize) {
        let p = &mut self.partitions[pi];
        let Some(m) = &p.mv else { return };
        if !m.target.iter().all(|b| p.isr.contains(b)) {
            return;
        }
        // Kafka: old replicas go only once every target replica is in the ISR.
        let target = m.target.clone();
        p.replicas = target.clone();
        p.isr = target.iter().copied().filter(|b| p.isr.contains(b)).collect();
        if p.leader.is_none_or(|l| !target.contains(&l)) {
            p.leader = target.iter().copied().find(|b| p.isr.contains(b));
        }
        p.mv = None;
        if p.isr.len() < target.len() {
            let name = format!("{}-{}", p.topic, p.partition);
            self.violations.push(format!("{name}: completed with ISR {:?} below target {:?}", p.isr, target));
        }
    }

    /// Checks that no partition lost an in-sync replica: every replica on a live broker
    /// (other than ones being added) is in the ISR, and no replica set shrank below its RF.
    pub fn check_no_replica_lost(&mut self, rf: &[usize]) {
        for (pi, p) in self.partitions.iter().enumerate() {
            let adding: &[BrokerId] = p.mv.as_ref().map_or(&[], |m| &m.adding);
            for &b in &p.replicas {
                if self.alive(b) && !adding.contains(&b) && !p.isr.contains(&b) {
                    self.violations.push(format!("{}-{}: live replica {b} out of ISR at {} ms", p.topic, p.partition, self.now_ms));
                }
            }
            let heading = p.observe().heading_to().count();
            if heading != rf[pi] {
                self.violations.push(format!("{}-{}: RF {heading}, expected {}", p.topic, p.partition, rf[pi]));
            }
        }
    }

    /// Carries out one cluster action. `Err` is the failure message the host reports.
    pub fn apply(&mut self, a: &Action) -> Result<(), String> {
        match a {
            Action::PersistDesiredState { plan, control } => {
                if let Some(d) = plan {
                    self.plan_record = Some(record::encode_plan(d));
                }
                self.control_log.push(control.encode());
                Ok(())
            }
            Action::SetThrottles { throttles, .. } => {
                if self.faults.fail_throttles > 0 {
                    self.faults.fail_throttles -= 1;
                    return Err("IncrementalAlterConfigs: REQUEST_TIMED_OUT".into());
                }
                for &(b, r) in &throttles.rates {
                    self.rates.insert(b, r);
                }
                for t in &throttles.topics {
                    self.throttled
                        .insert(t.topic.clone(), (t.leader.iter().copied().collect(), t.follower.iter().copied().collect()));
                }
                Ok(())
            }
            Action::AlterReassignments { moves, .. } => {
                if self.faults.fail_alters > 0 {
                    self.faults.fail_alters -= 1;
                    return Err("AlterPartitionReassignments: NOT_CONTROLLER".into());
                }
                for mv in moves {
                    let Some(&pi) = self.index.get(&(mv.topic.clone(), mv.partition)) else {
                        return Err(format!("UNKNOWN_TOPIC_OR_PARTITION {}-{}", mv.topic, mv.partition));
                    };
                    self.start_move(pi, &mv.replicas);
                }
                Ok(())
            }
            Action::CancelReassignments { partitions, .. } => {
                for (t, p) in partitions {
                    if let Some(&pi) = self.index.get(&(t.clone(), *p)) {
                        self.cancel_move(pi);
                    }
                }
                Ok(())
            }
            Action::ClearThrottles { brokers, topics, .. } => {
                for b in brokers {
                    self.rates.remove(b);
                }
                for t in topics {
                    self.throttled.remove(t);
                }
                Ok(())
            }
            Action::ElectPreferredLeaders { partitions, .. } => {
                for (t, p) in partitions {
                    if let Some(&pi) = self.index.get(&(t.clone(), *p)) {
                        let part = &mut self.partitions[pi];
                        let pref = part.replicas[0];
                        if part.isr.contains(&pref) && part.leader != Some(pref) {
                            part.leader = Some(pref);
                            self.elections[pi] += 1;
                        }
                    }
                }
                Ok(())
            }
            Action::Pause { .. } | Action::Done { .. } => Ok(()),
        }
    }

    fn start_move(&mut self, pi: usize, target: &[BrokerId]) {
        let p = &mut self.partitions[pi];
        if p.mv.is_some() || p.replicas == target {
            return;
        }
        if target.len() != p.replicas.len() {
            self.violations.push(format!("{}-{}: reassignment changes RF to {}", p.topic, p.partition, target.len()));
        }
        let original = p.replicas.clone();
        let adding: Vec<BrokerId> = target.iter().copied().filter(|b| !original.contains(b)).collect();
        let mut replicas = target.to_vec();
        replicas.extend(original.iter().copied().filter(|b| !target.contains(b)));
        p.replicas = replicas;
        p.mv = Some(SimMove { target: target.to_vec(), original, copied: vec![0; adding.len()], adding });
        self.starts[pi] += 1;
        self.try_complete(pi);
    }

    fn cancel_move(&mut self, pi: usize) {
        let p = &mut self.partitions[pi];
        let Some(m) = p.mv.take() else { return };
        p.replicas = m.original.clone();
        p.isr.retain(|b| m.original.contains(b));
        if p.leader.is_none_or(|l| !m.original.contains(&l)) {
            p.leader = m.original.iter().copied().find(|b| p.isr.contains(b));
        }
        self.cancels[pi] += 1;
    }

    /// Feeds every broker and partition to `ex`.
    pub fn observe_into(&self, ex: &mut Executor) {
        for (&b, &alive) in &self.brokers {
            ex.observe_broker(b, alive);
        }
        for p in &self.partitions {
            ex.observe_partition(&p.topic, p.partition, &p.observe());
        }
    }
}

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Holder id of every executor incarnation.
    pub holder: String,
    /// When to kill the executor (drop its state) and rebuild it from `__keel_state`.
    pub kill: Kill,
    /// Seed for kill points.
    pub seed: u64,
    /// Give up after this many steps.
    pub max_steps: usize,
    /// Most simulated time to advance between steps, ms.
    pub max_advance_ms: u64,
    /// A paused executor counts as settled after this much simulated time without resuming.
    pub settle_paused_ms: u64,
    /// Print every step's actions to stderr (debugging).
    pub trace: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            holder: "sidecar-1".into(),
            kill: Kill::Never,
            seed: 1,
            max_steps: 100_000,
            max_advance_ms: 5_000,
            settle_paused_ms: 600_000,
            trace: false,
        }
    }
}

/// When [`run`] kills the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// Never.
    Never,
    /// Every incarnation lives 1 to 3 steps (seeded) and dies part-way through the actions of
    /// its last step (after a seeded number of them were carried out, results unreported).
    Randomly,
    /// Once, in step `step` (1-based), after `cut` of its actions were carried out.
    AtStep {
        /// Step number.
        step: usize,
        /// Actions carried out before dying.
        cut: usize,
    },
}

/// How a [`run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// The executor reported `Done`.
    Done(Outcome),
    /// Paused and stayed paused for the settle time.
    Paused(PauseReason),
    /// Ran out of steps (a bug: neither converged nor paused).
    Stalled,
}

/// What happened in a [`run`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How it ended.
    pub end: RunEnd,
    /// Steps taken.
    pub steps: usize,
    /// Executor incarnations after the first.
    pub restarts: usize,
    /// Invariant violations seen by the host (and the simulator's).
    pub violations: Vec<String>,
    /// Largest number of moves seen on one broker at once.
    pub max_broker_moves: u32,
}

fn rebuild(sim: &SimCluster, desired: &DesiredState, holder: &str) -> Executor {
    let restored = sim.plan_record.as_ref().and_then(|p| {
        let d = record::decode_plan(p.as_bytes()).ok()?;
        let id = record::plan_id(&d);
        let last = sim.control_log.iter().rev().filter_map(|c| ControlRecord::decode(c.as_bytes()).ok()).find(|c| c.plan_id == id)?;
        Executor::restore(d, last, holder).ok()
    });
    let mut ex = restored.unwrap_or_else(|| Executor::new(desired.clone(), holder));
    // The tail of the log is enough here: every incarnation shares one holder id.
    let tail = sim.control_log.len().saturating_sub(8);
    for c in &sim.control_log[tail..] {
        if let Ok(rec) = ControlRecord::decode(c.as_bytes()) {
            ex.observe_control_record(&rec);
        }
    }
    ex
}

/// Plays host for `desired` on `sim` until the executor is done, has stayed paused for
/// `settle_paused_ms`, or `max_steps` pass. Checks after every step: no broker has more
/// moves in flight than the per-broker cap, the cluster cap holds, every issued target is the
/// desired one, and no replica is lost.
pub fn run(sim: &mut SimCluster, desired: &DesiredState, opts: &RunOptions) -> RunReport {
    let mut rng = Rng::new(opts.seed);
    let mut ex = rebuild(sim, desired, &opts.holder);
    let mut seen_log = sim.control_log.len();
    let rf: Vec<usize> = sim.partitions.iter().map(|p| p.replicas.len()).collect();
    let mut report = RunReport { end: RunEnd::Stalled, steps: 0, restarts: 0, violations: Vec::new(), max_broker_moves: 0 };
    let mut paused_since: Option<u64> = None;
    let cap_b = desired.limits.per_broker_concurrency;
    let cap_c = desired.limits.cluster_concurrency as usize;
    let mut life = 1 + rng.below(3) as usize;
    for _ in 0..opts.max_steps {
        report.steps += 1;
        sim.observe_into(&mut ex);
        let step: Step = ex.step(sim.now_ms);
        if opts.trace {
            eprintln!("step {} at {} ms, phase {:?}: {:?}", report.steps, sim.now_ms, ex.phase(), step.actions);
        }
        // Carry out the actions in order, stopping at the first failure; with kills, stop
        // part-way at a seeded point without reporting results.
        life = life.saturating_sub(1);
        let kill_now = match opts.kill {
            Kill::Never => false,
            Kill::Randomly => life == 0,
            Kill::AtStep { step, .. } => step == report.steps,
        };
        let cut = match opts.kill {
            _ if !kill_now => usize::MAX,
            Kill::AtStep { cut, .. } => cut,
            _ => rng.below(step.actions.len() as u64 + 1) as usize,
        };
        let mut done = None;
        for (k, a) in step.actions.iter().enumerate() {
            if k >= cut {
                break;
            }
            if let Action::AlterReassignments { moves, .. } = a {
                for mv in moves {
                    match desired.index_of(&mv.topic, mv.partition) {
                        Some(i) if desired.target(i as usize) == mv.replicas.as_slice() => {}
                        _ => report.violations.push(format!("issued a target not in the desired state: {mv:?}")),
                    }
                }
            }
            if let Action::Done { outcome } = a {
                done = Some(*outcome);
            }
            let res = sim.apply(a);
            if let Some(id) = a.id() {
                match res {
                    Ok(()) => ex.action_succeeded(id),
                    Err(e) => {
                        ex.action_failed(id, &e);
                        break;
                    }
                }
            }
        }
        for c in &sim.control_log[seen_log..] {
            if let Ok(rec) = ControlRecord::decode(c.as_bytes()) {
                ex.observe_control_record(&rec);
            } else {
                report.violations.push(format!("control record does not decode: {c}"));
            }
        }
        seen_log = sim.control_log.len();
        // Invariants after the step.
        let mut per_broker: BTreeMap<BrokerId, u32> = BTreeMap::new();
        let mut in_flight = 0;
        for p in &sim.partitions {
            let o = p.observe();
            if o.in_flight() {
                in_flight += 1;
                for b in o.adding.iter().chain(o.removing.iter()) {
                    *per_broker.entry(*b).or_default() += 1;
                }
            }
        }
        for (&b, &n) in &per_broker {
            report.max_broker_moves = report.max_broker_moves.max(n);
            if n > cap_b {
                report.violations.push(format!("broker {b} has {n} moves in flight, cap {cap_b}"));
            }
        }
        if in_flight > cap_c {
            report.violations.push(format!("{in_flight} moves in flight, cluster cap {cap_c}"));
        }
        sim.check_no_replica_lost(&rf);
        if let Some(o) = done
            && !kill_now
        {
            report.end = RunEnd::Done(o);
            break;
        }
        if let Phase::Paused { reason } = ex.phase() {
            let since = *paused_since.get_or_insert(sim.now_ms);
            if sim.now_ms >= since + opts.settle_paused_ms {
                report.end = RunEnd::Paused(reason.clone());
                break;
            }
        } else {
            paused_since = None;
        }
        sim.advance(step.poll_after_ms.min(opts.max_advance_ms));
        if kill_now {
            ex = rebuild(sim, desired, &opts.holder);
            seen_log = sim.control_log.len();
            report.restarts += 1;
            life = 1 + rng.below(3) as usize;
        }
    }
    report.violations.extend(sim.violations.iter().cloned());
    report
}
