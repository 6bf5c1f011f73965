//! Reassignments in simulated time, with Kafka's semantics
//! ([KIP-455](https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment)):
//! the target replicas not yet held are added (`adding`), each copies the partition from the
//! leader and joins the ISR once caught up; when every target replica is in the ISR the
//! replicas not in the target (`removing`) are dropped and, if the leader was one of them,
//! leadership moves to the first in-sync target replica. A null target cancels: the replica
//! set goes back to the original.
//!
//! Copy rate of one adding replica `b` fed by leader `L`: the lowest of `b`'s network-in
//! capacity and `L`'s network-out capacity (each shared by every copy through that broker),
//! `b`'s `follower.replication.throttled.rate` when the topic's
//! `follower.replication.throttled.replicas` names `partition:b` (or `*`), and `L`'s
//! `leader.replication.throttled.rate` when `leader.replication.throttled.replicas` names
//! `partition:L` (or `*`), each shared by the throttled copies through that broker.

use std::collections::HashMap;

use super::configs::{
    FOLLOWER_THROTTLED_RATE, FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_RATE,
    LEADER_THROTTLED_REPLICAS, throttle_list_contains,
};
use super::{BrokerId, ClusterState};

/// One reassignment in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Replicas before the reassignment started.
    pub original: Vec<BrokerId>,
    /// Target replicas, in preferred order.
    pub target: Vec<BrokerId>,
    /// Target replicas not in the original set.
    pub adding: Vec<BrokerId>,
    /// Original replicas not in the target.
    pub removing: Vec<BrokerId>,
    /// Bytes copied so far to each of `adding`.
    pub copied: Vec<u64>,
}

impl Move {
    /// Whether `b` is being added and has not caught up yet.
    pub fn is_adding_uncaught(&self, b: BrokerId) -> bool {
        self.adding.contains(&b)
    }

    /// Bytes copied to `b`, if `b` is being added.
    pub fn copied_to(&self, b: BrokerId) -> Option<u64> {
        self.adding
            .iter()
            .position(|&x| x == b)
            .map(|k| self.copied[k])
    }
}

/// Why a reassignment request was refused: Kafka's error code and a message.
pub type Refusal = (i16, String);

/// INVALID_REPLICA_ASSIGNMENT.
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
/// NO_REASSIGNMENT_IN_PROGRESS.
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// What a copy feeds.
#[derive(Clone, Copy)]
enum CopyTo {
    /// The replica at this position in the move's `adding`.
    Adding(usize),
    /// A revived follower catching up ([`super::catch_up`]).
    CatchUp(BrokerId),
}

/// One copy in progress: partition index, what it feeds, rate (bytes per simulated second,
/// net of the partition's ingest for catch-ups) and bytes left.
struct Copy {
    p: u32,
    to: CopyTo,
    rate: f64,
    left: u64,
}

impl ClusterState {
    /// Starts, changes or (with `None`) cancels the reassignment of partition index `p`.
    pub fn alter_reassignment(
        &mut self,
        p: u32,
        target: Option<Vec<BrokerId>>,
    ) -> Result<(), Refusal> {
        let Some(target) = target else {
            return self.cancel_reassignment(p);
        };
        if target.is_empty() {
            return Err((
                INVALID_REPLICA_ASSIGNMENT,
                "the target replica set is empty".into(),
            ));
        }
        for (i, b) in target.iter().enumerate() {
            if target[..i].contains(b) {
                return Err((
                    INVALID_REPLICA_ASSIGNMENT,
                    format!("broker {b} appears twice in the target replicas"),
                ));
            }
            if self.broker_idx(*b).is_none() {
                return Err((
                    INVALID_REPLICA_ASSIGNMENT,
                    format!("broker {b} in the target replicas does not exist"),
                ));
            }
        }
        let previous = self.moves.remove(&p);
        let part = &self.partitions[p as usize];
        let original = previous
            .as_ref()
            .map_or_else(|| part.replicas.clone(), |m| m.original.clone());
        let adding: Vec<BrokerId> = target
            .iter()
            .copied()
            .filter(|b| !original.contains(b))
            .collect();
        let removing: Vec<BrokerId> = original
            .iter()
            .copied()
            .filter(|b| !target.contains(b))
            .collect();
        let copied = adding
            .iter()
            .map(|&b| previous.as_ref().and_then(|m| m.copied_to(b)).unwrap_or(0))
            .collect();
        let mut replicas = target.clone();
        replicas.extend(removing.iter().copied());
        let part = &mut self.partitions[p as usize];
        part.isr.retain(|b| replicas.contains(b));
        part.replicas = replicas;
        self.generation += 1;
        if previous.is_none() && adding.is_empty() && removing.is_empty() {
            // Same replica set: only the order may change.
            self.partitions[p as usize].replicas = target;
            return Ok(());
        }
        self.moves.insert(
            p,
            Move {
                original,
                target,
                adding,
                removing,
                copied,
            },
        );
        self.try_complete(p);
        Ok(())
    }

    fn cancel_reassignment(&mut self, p: u32) -> Result<(), Refusal> {
        let Some(m) = self.moves.remove(&p) else {
            return Err((
                NO_REASSIGNMENT_IN_PROGRESS,
                "no reassignment is in progress for this partition".into(),
            ));
        };
        let part = &mut self.partitions[p as usize];
        part.isr.retain(|b| m.original.contains(b));
        part.replicas = m.original;
        if !part.replicas.contains(&part.leader) {
            part.leader = part
                .replicas
                .iter()
                .copied()
                .find(|b| part.isr.contains(b))
                .unwrap_or(-1);
            part.leader_epoch += 1;
        }
        self.generation += 1;
        Ok(())
    }

    /// Completes the move of partition index `p` if every target replica is in the ISR.
    pub(super) fn try_complete(&mut self, p: u32) {
        let Some(m) = self.moves.get(&p) else { return };
        let part = &self.partitions[p as usize];
        if !m.target.iter().all(|b| part.isr.contains(b)) {
            return;
        }
        let target = m.target.clone();
        self.moves.remove(&p);
        let alive: Vec<bool> = target.iter().map(|&b| self.is_alive(b)).collect();
        let part = &mut self.partitions[p as usize];
        part.isr.retain(|b| target.contains(b));
        if !target.contains(&part.leader) {
            part.leader = target
                .iter()
                .zip(&alive)
                .find(|(b, alive)| **alive && part.isr.contains(b))
                .map_or(-1, |(b, _)| *b);
            part.leader_epoch += 1;
        }
        part.replicas = target;
        self.generation += 1;
    }

    /// The copies in progress now, with their rates (bytes per simulated second).
    fn copies(&self) -> Vec<Copy> {
        struct Raw {
            p: u32,
            to: CopyTo,
            dest: BrokerId,
            src: BrokerId,
            left: u64,
            follower_throttled: bool,
            leader_throttled: bool,
        }
        let mut raw = Vec::new();
        for (&p, m) in &self.moves {
            if self.stuck.contains(&p) {
                continue;
            }
            let part = &self.partitions[p as usize];
            let src = part.leader;
            if src == -1 || !self.is_alive(src) {
                continue;
            }
            let configs = &self.topics[part.topic as usize].configs;
            let listed = |key: &str, b: BrokerId| {
                configs
                    .get(key)
                    .is_some_and(|v| throttle_list_contains(v, part.partition, b))
            };
            for (k, &dest) in m.adding.iter().enumerate() {
                if m.copied[k] >= part.size_bytes || !self.is_alive(dest) {
                    continue;
                }
                raw.push(Raw {
                    p,
                    to: CopyTo::Adding(k),
                    dest,
                    src,
                    left: part.size_bytes - m.copied[k],
                    follower_throttled: listed(FOLLOWER_THROTTLED_REPLICAS, dest),
                    leader_throttled: listed(LEADER_THROTTLED_REPLICAS, src),
                });
            }
        }
        for (&(p, dest), c) in &self.catching_up {
            if c.left == 0 || !self.catch_up_active(p, dest) {
                continue;
            }
            let part = &self.partitions[p as usize];
            let src = part.leader;
            let configs = &self.topics[part.topic as usize].configs;
            let listed = |key: &str, b: BrokerId| {
                configs
                    .get(key)
                    .is_some_and(|v| throttle_list_contains(v, part.partition, b))
            };
            raw.push(Raw {
                p,
                to: CopyTo::CatchUp(dest),
                dest,
                src,
                left: c.left,
                follower_throttled: listed(FOLLOWER_THROTTLED_REPLICAS, dest),
                leader_throttled: listed(LEADER_THROTTLED_REPLICAS, src),
            });
        }
        let mut into: HashMap<BrokerId, [u32; 2]> = HashMap::new();
        let mut out: HashMap<BrokerId, [u32; 2]> = HashMap::new();
        for c in &raw {
            let i = into.entry(c.dest).or_default();
            i[0] += 1;
            i[1] += u32::from(c.follower_throttled);
            let o = out.entry(c.src).or_default();
            o[0] += 1;
            o[1] += u32::from(c.leader_throttled);
        }
        raw.into_iter()
            .map(|c| {
                let dest = &self.brokers[self.broker_idx(c.dest).unwrap_or(0)];
                let src = &self.brokers[self.broker_idx(c.src).unwrap_or(0)];
                let [n_in, thr_in] = into.get(&c.dest).copied().unwrap_or([1, 1]);
                let [n_out, thr_out] = out.get(&c.src).copied().unwrap_or([1, 1]);
                let mut rate = (dest.network_in / f64::from(n_in.max(1)))
                    .min(src.network_out / f64::from(n_out.max(1)));
                if c.follower_throttled
                    && let Some(r) = rate_config(&dest.configs, FOLLOWER_THROTTLED_RATE)
                {
                    rate = rate.min(r / f64::from(thr_in.max(1)));
                }
                if c.leader_throttled
                    && let Some(r) = rate_config(&src.configs, LEADER_THROTTLED_RATE)
                {
                    rate = rate.min(r / f64::from(thr_out.max(1)));
                }
                if let CopyTo::CatchUp(_) = c.to {
                    // The leader keeps taking writes: the follower gains only the difference.
                    rate -= self.partitions[c.p as usize].bytes_in_per_sec.max(0.0);
                }
                Copy {
                    p: c.p,
                    to: c.to,
                    rate: rate.max(0.0),
                    left: c.left,
                }
            })
            .collect()
    }

    /// Advances simulated time to `now_ms`: scheduled faults fire at their time, copies
    /// progress at their rates (recomputed whenever a copy finishes or a fault fires), caught
    /// up replicas join the ISR, and finished moves complete. Time never goes backwards.
    pub fn advance_to(&mut self, now_ms: u64) {
        self.fire_due_faults();
        self.join_caught_up();
        while self.now_ms < now_ms {
            let copies = self.copies();
            let next_fault = self.faults.next_due().filter(|&t| t > self.now_ms);
            let mut step_end = now_ms
                .min(next_fault.unwrap_or(u64::MAX))
                .min(self.next_catch_up_round().unwrap_or(u64::MAX));
            for c in &copies {
                if c.rate > 0.0 {
                    let ms = (c.left as f64 / c.rate * 1000.0).ceil().max(1.0);
                    let finish = self.now_ms.saturating_add(ms as u64);
                    step_end = step_end.min(finish);
                }
            }
            let dt_s = (step_end - self.now_ms) as f64 / 1000.0;
            let mut finished = Vec::new();
            for c in &copies {
                let moved = (c.rate * dt_s) as u64;
                let k = match c.to {
                    CopyTo::Adding(k) => k,
                    CopyTo::CatchUp(b) => {
                        if let Some(cu) = self.catching_up.get_mut(&(c.p, b)) {
                            cu.left = if moved >= c.left {
                                0
                            } else {
                                cu.left.saturating_sub(moved)
                            };
                        }
                        continue;
                    }
                };
                let Some(m) = self.moves.get_mut(&c.p) else {
                    continue;
                };
                let size = self.partitions[c.p as usize].size_bytes;
                m.copied[k] = m.copied[k].saturating_add(moved).min(size);
                if moved >= c.left || m.copied[k] >= size {
                    m.copied[k] = size;
                    finished.push((c.p, m.adding[k]));
                }
            }
            self.now_ms = step_end;
            self.catch_up(finished);
            self.join_caught_up();
            self.fire_due_faults();
        }
        // Replicas of empty partitions (size 0) catch up at once.
        let instant: Vec<(u32, BrokerId)> = self
            .moves
            .iter()
            .filter(|(p, _)| !self.stuck.contains(p))
            .flat_map(|(&p, m)| {
                let part = &self.partitions[p as usize];
                let leader_alive = part.leader != -1 && self.is_alive(part.leader);
                m.adding
                    .iter()
                    .enumerate()
                    .filter(move |(k, _)| leader_alive && m.copied[*k] >= part.size_bytes)
                    .map(move |(_, &b)| (p, b))
            })
            .filter(|&(p, b)| {
                self.is_alive(b)
                    && !self.partitions[p as usize].isr.contains(&b)
                    && !self.catching_up.contains_key(&(p, b))
            })
            .collect();
        self.catch_up(instant);
    }

    /// Caught-up replicas join the ISR; their moves complete when they can.
    pub(super) fn catch_up(&mut self, finished: Vec<(u32, BrokerId)>) {
        for (p, b) in finished {
            let part = &mut self.partitions[p as usize];
            if !part.isr.contains(&b) {
                part.isr.push(b);
                self.generation += 1;
            }
            self.try_complete(p);
        }
    }
}

/// A throttle rate config of a broker, in bytes/s.
fn rate_config(configs: &std::collections::BTreeMap<String, String>, key: &str) -> Option<f64> {
    configs.get(key).and_then(|v| v.parse::<f64>().ok())
}
