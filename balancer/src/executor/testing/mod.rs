//! A deterministic simulated cluster for testing and benchmarking the executor: partitions
//! with replicas, ISR and leaders; reassignments that copy data in simulated time under the
//! replication throttle and follow Kafka's semantics (add replicas, catch up, join the ISR,
//! then remove the old ones; a null target rolls back); a `__keel_state` log; and injected
//! faults (a broker dies, a move gets stuck, throttle or reassignment calls fail). [`run`]
//! plays host: it observes, steps, carries out actions, and can kill and rebuild the executor
//! from the persisted records after every step.
//!
//! Pure Rust, no IO, seeded randomness only.

mod host;

pub use host::{Kill, RunEnd, RunOptions, RunReport, run};

use std::collections::{BTreeMap, BTreeSet};

use super::action::{Action, ObservedPartition};
use super::core::{Executor, ThrottledReplicas};
use super::desired::BrokerId;
use super::record;

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
    pub fn new(
        topic: &str,
        partition: i32,
        replicas: Vec<BrokerId>,
        size_bytes: u64,
        min_isr: u16,
    ) -> SimPartition {
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
            Some(m) => (
                m.adding.clone(),
                m.original
                    .iter()
                    .copied()
                    .filter(|b| !m.target.contains(b))
                    .collect(),
            ),
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
        let index = partitions
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.topic.clone(), p.partition), i))
            .collect();
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
                let throttled = self
                    .throttled
                    .get(&p.topic)
                    .is_some_and(|t| t.1.contains(&(p.partition, b)));
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
        p.isr = target
            .iter()
            .copied()
            .filter(|b| p.isr.contains(b))
            .collect();
        if p.leader.is_none_or(|l| !target.contains(&l)) {
            p.leader = target.iter().copied().find(|b| p.isr.contains(b));
        }
        p.mv = None;
        if p.isr.len() < target.len() {
            let name = format!("{}-{}", p.topic, p.partition);
            self.violations.push(format!(
                "{name}: completed with ISR {:?} below target {:?}",
                p.isr, target
            ));
        }
    }

    /// Checks that no partition lost an in-sync replica: every replica on a live broker
    /// (other than ones being added) is in the ISR, and no replica set shrank below its RF.
    pub fn check_no_replica_lost(&mut self, rf: &[usize]) {
        for (pi, p) in self.partitions.iter().enumerate() {
            let adding: &[BrokerId] = p.mv.as_ref().map_or(&[], |m| &m.adding);
            for &b in &p.replicas {
                if self.alive(b) && !adding.contains(&b) && !p.isr.contains(&b) {
                    self.violations.push(format!(
                        "{}-{}: live replica {b} out of ISR at {} ms",
                        p.topic, p.partition, self.now_ms
                    ));
                }
            }
            let heading = p.observe().heading_to().count();
            if heading != rf[pi] {
                self.violations.push(format!(
                    "{}-{}: RF {heading}, expected {}",
                    p.topic, p.partition, rf[pi]
                ));
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
                    self.throttled.insert(
                        t.topic.clone(),
                        (
                            t.leader.iter().copied().collect(),
                            t.follower.iter().copied().collect(),
                        ),
                    );
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
                        return Err(format!(
                            "UNKNOWN_TOPIC_OR_PARTITION {}-{}",
                            mv.topic, mv.partition
                        ));
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
            Action::ClearThrottles {
                brokers, topics, ..
            } => {
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
            self.violations.push(format!(
                "{}-{}: reassignment changes RF to {}",
                p.topic,
                p.partition,
                target.len()
            ));
        }
        let original = p.replicas.clone();
        let adding: Vec<BrokerId> = target
            .iter()
            .copied()
            .filter(|b| !original.contains(b))
            .collect();
        let mut replicas = target.to_vec();
        replicas.extend(original.iter().copied().filter(|b| !target.contains(b)));
        p.replicas = replicas;
        p.mv = Some(SimMove {
            target: target.to_vec(),
            original,
            copied: vec![0; adding.len()],
            adding,
        });
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
