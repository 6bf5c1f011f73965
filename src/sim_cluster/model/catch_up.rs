//! Followers catching up after their broker comes back. In Kafka a restarted follower is
//! not in the ISR: it fetches from the leader until it reaches the log end (within
//! `replica.lag.time.max.ms`), and only then does the leader add it back to the ISR. The
//! simulator models that:
//!
//! - when a broker comes back, each partition it holds as a follower (not as a replica a
//!   reassignment is still adding, which [`super::moves`] copies) starts a catch-up of the
//!   bytes the partition took in while the broker was down (`bytes_in_per_sec` × downtime);
//! - the catch-up copies from the leader at the same rates as reassignment copies (network
//!   in/out shared with every other copy through those brokers, and the follower/leader
//!   replication throttles when the topic's throttled-replica lists name the replicas),
//!   minus the partition's own ingest (a follower slower than the producers never catches
//!   up, as in Kafka);
//! - once nothing is left and at least one fetch round ([`FETCH_ROUND_MS`]) has passed since
//!   it came back, the follower rejoins the ISR, and a reassignment waiting for it completes.
//!
//! A partition with no live leader does not catch up (there is nothing to fetch from). A
//! revived broker that was the last ISR member of an offline partition leads it at once: it
//! holds everything the ISR had.

use super::{BrokerId, ClusterState};

/// The shortest time a revived follower takes to rejoin the ISR: one fetch round
/// (Kafka's `replica.fetch.wait.max.ms` default), ms of simulated time.
pub const FETCH_ROUND_MS: u64 = 500;

/// One follower catching up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// Bytes still behind the leader.
    pub left: u64,
    /// When its broker came back, simulated ms.
    pub since_ms: u64,
}

impl ClusterState {
    /// Starts (or extends) the catch-up of broker `b`'s replica of partition index `p`, which
    /// was down for `down_ms`.
    pub(super) fn start_catch_up(&mut self, p: u32, b: BrokerId, down_ms: u64) {
        let part = &self.partitions[p as usize];
        let behind = (part.bytes_in_per_sec.max(0.0) * down_ms as f64 / 1000.0) as u64;
        let now = self.now_ms;
        let c = self.catching_up.entry((p, b)).or_insert(CatchUp {
            left: 0,
            since_ms: now,
        });
        c.left = c.left.saturating_add(behind);
        c.since_ms = now;
    }

    /// Whether the catch-up of `b` in partition index `p` can copy now: `b` still a replica
    /// out of the ISR, alive, and a live leader to fetch from.
    pub(super) fn catch_up_active(&self, p: u32, b: BrokerId) -> bool {
        let part = &self.partitions[p as usize];
        part.replicas.contains(&b)
            && !part.isr.contains(&b)
            && self.is_alive(b)
            && part.leader != -1
            && part.leader != b
            && self.is_alive(part.leader)
    }

    /// The next time a caught-up follower's fetch round ends, after now.
    pub(super) fn next_catch_up_round(&self) -> Option<u64> {
        self.catching_up
            .iter()
            .filter(|&(&(p, b), c)| c.left == 0 && self.catch_up_active(p, b))
            .map(|(_, c)| c.since_ms.saturating_add(FETCH_ROUND_MS))
            .filter(|&t| t > self.now_ms)
            .min()
    }

    /// Drops catch-ups that no longer apply (the replica left the partition or is in the
    /// ISR again) and moves the caught-up followers whose fetch round is over into the ISR.
    pub(super) fn join_caught_up(&mut self) {
        let partitions = &self.partitions;
        self.catching_up.retain(|&(p, b), _| {
            let part = &partitions[p as usize];
            part.replicas.contains(&b) && !part.isr.contains(&b)
        });
        let now = self.now_ms;
        let ready: Vec<(u32, BrokerId)> = self
            .catching_up
            .iter()
            .filter(|&(&(p, b), c)| {
                c.left == 0
                    && now >= c.since_ms.saturating_add(FETCH_ROUND_MS)
                    && self.catch_up_active(p, b)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in &ready {
            self.catching_up.remove(k);
        }
        self.catch_up(ready);
    }
}
