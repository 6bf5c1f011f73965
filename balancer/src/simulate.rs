//! Simulated execution of a plan, paced the way the executor paces it ([`crate::executor`]):
//! a partition's reassignment starts as soon as every broker it adds a replica to or removes
//! one from has a free slot under the per-broker concurrency limit (and the cluster has one
//! under the cluster limit), smallest reassignment (bytes copied) first, and holds those slots
//! until every new replica of the partition is in sync. There are no batches: a slot that
//! frees is taken by the next waiting move at once. Then come leadership moves and a
//! preferred-leader election ([KIP-460]). Pure: simulated time only.
//!
//! Copies run under the replication throttle ([KIP-73]), which the executor sets on every
//! broker of a moving partition both as `follower.replication.throttled.rate` (what the
//! broker fetches for its new replicas) and as `leader.replication.throttled.rate` (what it
//! serves to them). A copy is limited on both ends: the concurrent copies into its
//! destination share the destination's inbound throttle, and the concurrent copies its
//! source serves share the source's outbound throttle, so a copy runs at
//! `throttle / max(copies into its destination, copies out of its source)`, recomputed
//! whenever a copy into that destination or out of that source starts or ends. A leader is
//! not charged a slot by the executor, so one leader may feed many copies at once and its
//! outbound share is often the binding one. Equal shares are an estimate on the slow side:
//! a copy held back by one end leaves the other end's unused share idle instead of handing
//! it to the other copies there. (The executor's own simulated cluster,
//! [`crate::executor::testing`], models the destination share only.)
//!
//! A new replica copies from the partition's current leader (or, if that broker is dead, the
//! first live old replica). It is counted on the destination's disk when its copy starts; the
//! old replicas are deleted when every new replica of the partition is in sync. That gives the
//! peak extra disk per broker.
//!
//! [KIP-73]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-73+Replication+Quotas
//! [KIP-460]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::model::Cluster;
use crate::plan::{Cost, ExecutionOptions, Reassignment};

/// Result of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Cost (bytes, cross-rack bytes, peak extra disk, time).
    pub cost: Cost,
    /// (seconds, cumulative bytes copied), at most ~500 points.
    pub progress: Vec<(f64, u64)>,
    /// (seconds, replica copies running from then on), at most ~1000 points: the
    /// concurrency over time.
    pub running: Vec<(f64, u32)>,
    /// Most replica copies running at once.
    pub peak_running: u32,
    /// When leadership moves and the preferred-leader election ran (seconds).
    pub leadership_at: f64,
}

/// One partition's reassignment that copies data: the unit the concurrency limits count.
struct Unit {
    /// Brokers it adds a replica to or removes one from (each holds one of its slots).
    brokers: Vec<u32>,
    /// Its copies, indices into `copies`.
    copies: Vec<u32>,
    /// Copies still running or not started.
    outstanding: usize,
    /// Replicas it removes, deleted from disk when it completes.
    removed: Vec<u32>,
    size: u64,
}

/// One new replica being copied.
struct Copy {
    unit: u32,
    dest: u32,
    /// The broker it copies from ([`NO_SOURCE`]: no live old replica; only the destination
    /// limits it).
    src: u32,
    /// Bytes left as of `since`.
    remaining: f64,
    /// Bytes/s since `since`.
    rate: f64,
    since: f64,
    /// Bumped when the rate changes, so stale finish events are skipped.
    version: u32,
}

/// Per-broker bookkeeping of running copies and slots.
struct Brokers {
    /// Units holding a slot of the broker.
    slots: Vec<u32>,
    /// Running copies into the broker.
    inbound: Vec<Vec<u32>>,
    /// Running copies the broker serves as their source.
    outbound: Vec<Vec<u32>>,
    /// Moves that need a slot of the broker, in all.
    demand: Vec<u32>,
    /// Waiting units (by their position in the start order) blocked on the broker's slots;
    /// index `nb` is the cluster-wide limit.
    waiting: Vec<BinaryHeap<Reverse<u32>>>,
}

/// Waiting units a freed broker may look at and leave waiting per event (bounds the work
/// when moves wait on several busy brokers at once, as the executor's bounded scan does).
const WAKE_BUDGET: usize = 4;

/// Brokers of `rescan` retried per event.
const RESCAN: usize = 2;

/// [`Copy::src`] of a copy with no live source broker.
const NO_SOURCE: u32 = u32::MAX;

/// Event time as heap key: times are non-negative, so their IEEE bits order like them.
fn time_key(t: f64) -> u64 {
    t.max(0.0).to_bits()
}

struct Sim<'a> {
    /// Brokers (or `nb`) with room whose queue was not fully tried (see [`Sim::wake`]).
    rescan: BTreeSet<usize>,
    /// Units in the executor's start order.
    order: Vec<u32>,
    copies: Vec<Copy>,
    units: Vec<Unit>,
    b: Brokers,
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    throttle: f64,
    conc: u32,
    cluster_conc: u32,
    running_units: u32,
    running_copies: u32,
    disk: Vec<f64>,
    disk0: &'a [f64],
    peak: Vec<f64>,
}

impl Sim<'_> {
    fn rate_of(&self, i: usize) -> f64 {
        let c = &self.copies[i];
        let into = self.b.inbound[c.dest as usize].len();
        let out = self.b.outbound.get(c.src as usize).map_or(0, Vec::len);
        self.throttle / into.max(out).max(1) as f64
    }

    /// Brings copy `i` to time `now` at its old rate and schedules its end at its new rate.
    fn rerate(&mut self, i: usize, now: f64) {
        let rate = self.rate_of(i);
        let c = &mut self.copies[i];
        c.remaining = (c.remaining - c.rate * (now - c.since)).max(0.0);
        c.since = now;
        if (rate - c.rate).abs() <= f64::EPSILON * rate && c.version > 0 {
            return;
        }
        c.rate = rate;
        c.version += 1;
        let end = now + c.remaining / rate;
        self.heap
            .push(Reverse((time_key(end), i as u32, c.version)));
    }

    /// Re-rates the running copies into `dest` and those served by `src`.
    fn rerate_around(&mut self, dest: u32, src: u32, now: f64) {
        for k in 0..self.b.inbound[dest as usize].len() {
            let i = self.b.inbound[dest as usize][k];
            self.rerate(i as usize, now);
        }
        for k in 0..self.b.outbound.get(src as usize).map_or(0, Vec::len) {
            let i = self.b.outbound[src as usize][k];
            self.rerate(i as usize, now);
        }
    }

    /// The broker (or `nb` for the cluster limit) whose slots block unit `u`, if any: of
    /// several full ones, the one most moves need (it frees least often for this unit's
    /// other brokers), so a waiting unit is rarely woken only to wait again elsewhere.
    fn blocker(&self, u: usize) -> Option<usize> {
        if self.running_units >= self.cluster_conc {
            return Some(self.b.slots.len());
        }
        self.units[u]
            .brokers
            .iter()
            .map(|&b| b as usize)
            .filter(|&b| self.b.slots[b] >= self.conc)
            .max_by_key(|&b| (self.b.demand[b], std::cmp::Reverse(b)))
    }

    fn start(&mut self, u: usize, now: f64) {
        self.running_units += 1;
        for &b in &self.units[u].brokers {
            self.b.slots[b as usize] += 1;
        }
        let size = self.units[u].size as f64;
        for k in 0..self.units[u].copies.len() {
            let i = self.units[u].copies[k] as usize;
            let (dest, src) = (self.copies[i].dest, self.copies[i].src);
            let d = dest as usize;
            self.disk[d] += size;
            self.peak[d] = self.peak[d].max(self.disk[d] - self.disk0[d]);
            self.copies[i].since = now;
            self.b.inbound[d].push(i as u32);
            if let Some(out) = self.b.outbound.get_mut(src as usize) {
                out.push(i as u32);
            }
            self.running_copies += 1;
            self.rerate_around(dest, src, now);
        }
    }

    /// Starts the unit at position `pos` of the start order, or queues it on what blocks it.
    fn try_start(&mut self, pos: u32, now: f64) -> bool {
        let u = self.order[pos as usize] as usize;
        match self.blocker(u) {
            None => {
                self.start(u, now);
                true
            }
            Some(b) => {
                self.b.waiting[b].push(Reverse(pos));
                false
            }
        }
    }

    /// Tries the waiting units of `b` (a broker index, or `nb` for the cluster limit) in
    /// start order while `b` has room: each starts or waits on the next broker that blocks
    /// it. At most `budget` of them may go on waiting (`None`: no limit); when the budget runs
    /// out with room left, `b` is remembered in `rescan` and tried again on the next event.
    fn wake(&mut self, b: usize, now: f64, budget: Option<usize>) {
        let nb = self.b.slots.len();
        let mut left = budget.unwrap_or(usize::MAX);
        loop {
            let room = if b == nb {
                self.running_units < self.cluster_conc
            } else {
                self.b.slots[b] < self.conc
            };
            if !room || self.b.waiting[b].is_empty() {
                self.rescan.remove(&b);
                return;
            }
            if left == 0 {
                self.rescan.insert(b);
                return;
            }
            let Some(Reverse(pos)) = self.b.waiting[b].pop() else {
                return;
            };
            if !self.try_start(pos, now) {
                left -= 1;
            }
        }
    }
}

/// Simulates executing `reassignments` on `c`.
pub fn simulate(
    c: &Cluster,
    reassignments: &[Reassignment],
    exec: &ExecutionOptions,
) -> Simulation {
    let nb = c.brokers.len();
    let mut units: Vec<Unit> = Vec::new();
    let mut copies: Vec<Copy> = Vec::new();
    let mut leadership_moves = 0u64;
    let mut cost = Cost {
        execution: Some(*exec),
        ..Cost::default()
    };
    for r in reassignments {
        let p = r.partition as usize;
        let part = &c.partitions[p];
        let old = c.replicas_of(p);
        let src = if c.brokers[part.leader as usize].state.can_host() {
            Some(part.leader)
        } else {
            old.iter()
                .copied()
                .find(|&b| c.brokers[b as usize].state.can_host())
        };
        let added: Vec<u32> = r
            .replicas
            .iter()
            .copied()
            .filter(|b| !old.contains(b))
            .collect();
        if old.contains(&r.replicas[0]) && r.replicas[0] != part.leader {
            leadership_moves += 1;
        }
        if added.is_empty() {
            continue;
        }
        let removed: Vec<u32> = old
            .iter()
            .copied()
            .filter(|b| !r.replicas.contains(b))
            .collect();
        let u = units.len() as u32;
        let mut ids = Vec::with_capacity(added.len());
        for &dest in &added {
            cost.replica_moves += 1;
            cost.bytes_moved += part.size_bytes;
            if let Some(s) = src
                && c.brokers[s as usize].rack_idx != c.brokers[dest as usize].rack_idx
            {
                cost.cross_rack_bytes += part.size_bytes;
            }
            ids.push(copies.len() as u32);
            copies.push(Copy {
                unit: u,
                dest,
                src: src.unwrap_or(NO_SOURCE),
                remaining: part.size_bytes as f64,
                rate: 0.0,
                since: 0.0,
                version: 0,
            });
        }
        let mut brokers: Vec<u32> = added.iter().chain(&removed).copied().collect();
        brokers.sort_unstable();
        units.push(Unit {
            brokers,
            outstanding: ids.len(),
            copies: ids,
            removed,
            size: part.size_bytes,
        });
    }
    // Partitions the plan leaves alone but whose leader is not `replicas[0]`: the final
    // preferred-leader election moves their leadership.
    let mut listed = reassignments
        .iter()
        .map(|r| r.partition as usize)
        .peekable();
    for (p, part) in c.partitions.iter().enumerate() {
        while listed.next_if(|&q| q < p).is_some() {}
        if listed.peek() == Some(&p) {
            continue;
        }
        if part.leader != c.replicas[part.start as usize] {
            leadership_moves += 1;
        }
    }
    // The executor's order: smallest copy volume first, ties in partition order (the units
    // are in partition order already).
    let mut order: Vec<u32> = (0..units.len() as u32).collect();
    order.sort_by_key(|&u| {
        let unit = &units[u as usize];
        (unit.size.saturating_mul(unit.copies.len() as u64), u)
    });
    let disk0: Vec<f64> = c.broker_loads().iter().map(|l| l[0]).collect();
    let mut demand = vec![0u32; nb];
    for unit in &units {
        for &b in &unit.brokers {
            demand[b as usize] += 1;
        }
    }
    let mut sim = Sim {
        rescan: BTreeSet::new(),
        order,
        copies,
        b: Brokers {
            slots: vec![0; nb],
            inbound: vec![Vec::new(); nb],
            outbound: vec![Vec::new(); nb],
            demand,
            waiting: vec![BinaryHeap::new(); nb + 1],
        },
        units,
        heap: BinaryHeap::new(),
        throttle: exec.throttle_bytes_per_sec.max(1.0),
        conc: exec.concurrency_per_broker.max(1),
        cluster_conc: exec.cluster_concurrency.max(1),
        running_units: 0,
        running_copies: 0,
        disk: disk0.clone(),
        disk0: &disk0,
        peak: vec![0.0; nb],
    };
    // Queues hold positions in the start order, so each pops in the executor's order.
    let total_copies = sim.copies.len();
    let mut now = 0.0;
    for pos in 0..sim.order.len() as u32 {
        sim.try_start(pos, now);
    }
    let total_bytes = cost.bytes_moved;
    let mut done_bytes = 0u64;
    let mut progress = vec![(0.0, 0u64)];
    let mut running = vec![(0.0, sim.running_copies)];
    let mut peak_running = sim.running_copies;
    let sample_every = (total_copies / 400).max(1);
    let mut completed = 0usize;
    loop {
        if sim.heap.is_empty() {
            // Nothing runs: every waiting unit can start; try them all.
            for b in 0..=nb {
                sim.wake(b, now, None);
            }
        }
        let Some(Reverse((key, i, version))) = sim.heap.pop() else {
            break;
        };
        let i = i as usize;
        if sim.copies[i].version != version {
            continue;
        }
        now = f64::from_bits(key);
        let (dest, src, u) = (sim.copies[i].dest, sim.copies[i].src, sim.copies[i].unit);
        sim.copies[i].remaining = 0.0;
        sim.copies[i].version += 1;
        sim.b.inbound[dest as usize].retain(|&x| x as usize != i);
        if let Some(out) = sim.b.outbound.get_mut(src as usize) {
            out.retain(|&x| x as usize != i);
        }
        sim.running_copies -= 1;
        sim.rerate_around(dest, src, now);
        let unit = &mut sim.units[u as usize];
        done_bytes += unit.size;
        completed += 1;
        unit.outstanding -= 1;
        if unit.outstanding == 0 {
            for k in 0..unit.removed.len() {
                let b = sim.units[u as usize].removed[k] as usize;
                sim.disk[b] -= sim.units[u as usize].size as f64;
            }
            sim.running_units -= 1;
            let brokers = sim.units[u as usize].brokers.clone();
            for &b in &brokers {
                sim.b.slots[b as usize] -= 1;
            }
            for &b in &brokers {
                sim.wake(b as usize, now, Some(WAKE_BUDGET));
            }
            sim.wake(nb, now, Some(WAKE_BUDGET));
            // A few brokers left with room by an exhausted budget get another try.
            let again: Vec<usize> = sim.rescan.iter().take(RESCAN).copied().collect();
            for b in again {
                sim.wake(b, now, Some(WAKE_BUDGET));
            }
        }
        peak_running = peak_running.max(sim.running_copies);
        if completed.is_multiple_of(sample_every) || completed == total_copies {
            progress.push((now, done_bytes));
            running.push((now, sim.running_copies));
        }
    }
    if progress
        .last()
        .is_none_or(|x| x.1 != total_bytes || x.0 != now)
    {
        progress.push((now, done_bytes));
    }
    let leadership_at = now;
    if leadership_moves > 0 {
        now += exec.leadership_batch_secs;
    }
    // Final preferred-leader election.
    now += exec.leadership_batch_secs;
    cost.leadership_moves = leadership_moves;
    for (b, &pk) in sim.peak.iter().enumerate() {
        if pk > 0.0 {
            cost.peak_extra_disk.insert(c.brokers[b].id, pk as u64);
        }
    }
    cost.max_peak_extra_disk = sim.peak.iter().fold(0.0f64, |a, &b| a.max(b)) as u64;
    cost.estimated_seconds = now;
    Simulation {
        cost,
        progress,
        running,
        peak_running,
        leadership_at,
    }
}
