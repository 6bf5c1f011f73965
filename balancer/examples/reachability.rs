//! Reachability diagnostic for mixed-capacity clusters: are all soft-goal bands reachable at
//! once, ignoring how many moves it takes?
//!
//! For each generated `--hetero` cluster of the quality sweep it plans as usual, then runs a
//! simulated-annealing search that ignores movement cost, starting from the planned
//! assignment (`input` as the 6th argument starts from the input snapshot instead, which
//! may break rack awareness to begin with; the report counts such partitions):
//! random replica moves, swaps of two replicas and leadership changes, with rack awareness
//! as a hard constraint (a move that puts two replicas of a partition on one rack is never
//! made) and capacity, replica count, every resource band (disk, network in, network out,
//! CPU) and leader count / leader bytes-in in the objective, in that order of weight. It
//! prints, per cluster, the brokers outside each band after the plan and in the best
//! assignment the search found, and that assignment's worst distance from each band (in %
//! of the band centre). An all-in-band assignment proves the bands reachable; not finding
//! one is evidence, not proof, that they are not.
//!
//! With `moves` (or `moves-input`, from the input snapshot) the search also charges every
//! replica not on a broker of its partition's input replica set (`REACH_MU` per replica,
//! default 0.01), proposes sending moved replicas home (alone or swapped with a replica of
//! their home broker), raises the band terms' weight from 1 to 1,000 over the run so it
//! ends in band, starts at temperature `REACH_T0` (default 0.0002), and reports the fewest
//! moved replicas among the all-in-band assignments it visited: how few moves the bands
//! need, found by example (an upper bound on the true minimum, not a lower bound).
//!
//! `cargo run --release -p keel-balancer --example reachability [BROKERS RACKS REPLICAS SEEDS ITERATIONS [input|plan|moves|moves-input|leaders] [SKEW [SEED]]]`
//!
//! With `leaders` the search starts from the plan and changes leaderships only (can
//! leadership moves alone bring every band in?); SKEW and SEED run one cluster only.

// Index loops over parallel per-metric arrays read better than zips here.
#![allow(clippy::needless_range_loop)]

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::goals::count_band;
use keel_balancer::plan::apply;
use keel_balancer::{Cluster, PlanOptions, plan, snapshot};

/// Replica count, disk, network in, network out, CPU, leaders, leader bytes in.
const M: usize = 7;
const NAMES: [&str; M] = [
    "count", "disk", "nw-in", "nw-out", "cpu", "leaders", "ldr-b-in",
];
/// Objective weight per metric (priority order: count, resources, then leadership).
const WEIGHT: [f64; M] = [10.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.3];
/// Capacity limits (fraction of capacity) of disk, network in, network out, CPU.
const CAP: [f64; 4] = [0.8, 0.8, 0.8, 0.7];
/// Band margin for threshold 1.10.
const MARGIN: f64 = 0.09;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Search<'c> {
    c: &'c Cluster,
    /// Broker of each slot; slot `start` of a partition is its leader.
    assign: Vec<u32>,
    slot_part: Vec<u32>,
    metric: Vec<[f64; M]>,
    lo: Vec<[f64; M]>,
    hi: Vec<[f64; M]>,
    limit: Vec<[f64; 4]>,
    /// The input's brokers of each slot (a replica is moved if its partition's input replica
    /// set does not contain its broker).
    orig: Vec<u32>,
    /// Objective cost per moved replica (0: movement is free).
    mu: f64,
    /// Weight of the band and capacity terms (raised during a movement-cost search, so
    /// it ends in band).
    vw: f64,
    /// Replicas not on a broker of their partition's input replica set.
    moved: usize,
    /// Slots on each broker, and each slot's index in its broker's list.
    slots_on: Vec<Vec<u32>>,
    slot_pos: Vec<u32>,
}

fn contrib(c: &Cluster, p: usize, leader: bool) -> [f64; M] {
    let part = &c.partitions[p];
    let l = part.replica_load(leader);
    let lead = if leader { 1.0 } else { 0.0 };
    [1.0, l[0], l[1], l[2], l[3], lead, lead * part.bytes_in]
}

impl<'c> Search<'c> {
    fn new(c: &'c Cluster, orig: &Cluster, mu: f64) -> Self {
        let nb = c.brokers.len();
        let mut slot_part = vec![0u32; c.replicas.len()];
        for (p, part) in c.partitions.iter().enumerate() {
            for s in part.start..part.start + u32::from(part.rf) {
                slot_part[s as usize] = p as u32;
            }
        }
        let mut s = Search {
            c,
            assign: c.replicas.clone(),
            slot_part,
            metric: vec![[0.0; M]; nb],
            lo: vec![[0.0; M]; nb],
            hi: vec![[0.0; M]; nb],
            limit: c
                .brokers
                .iter()
                .map(|b| std::array::from_fn(|r| CAP[r] * b.capacity[r]))
                .collect(),
            orig: orig.replicas.clone(),
            mu,
            vw: 1.0,
            moved: 0,
            slots_on: vec![Vec::new(); nb],
            slot_pos: vec![0; c.replicas.len()],
        };
        for slot in 0..s.assign.len() {
            let b = s.assign[slot] as usize;
            s.slot_pos[slot] = s.slots_on[b].len() as u32;
            s.slots_on[b].push(slot as u32);
            if s.is_moved(s.slot_part[slot] as usize, s.assign[slot]) {
                s.moved += 1;
            }
            let p = s.slot_part[slot] as usize;
            let con = contrib(c, p, slot == c.partitions[p].start as usize);
            let b = s.assign[slot] as usize;
            for m in 0..M {
                s.metric[b][m] += con[m];
            }
        }
        let unit = |b: usize, m: usize| match m {
            1..=4 => c.brokers[b].capacity[m - 1],
            6 => c.brokers[b].capacity[1],
            _ => 1.0,
        };
        for m in 0..M {
            let total: f64 = (0..nb).map(|b| s.metric[b][m]).sum();
            let denom: f64 = (0..nb).map(|b| unit(b, m)).sum();
            let avg = total / denom;
            for b in 0..nb {
                if m == 0 || m == 5 {
                    let (l, h) = count_band(avg, avg * MARGIN);
                    (s.lo[b][m], s.hi[b][m]) = (l, h);
                } else {
                    s.lo[b][m] = avg * (1.0 - MARGIN) * unit(b, m);
                    s.hi[b][m] = avg * (1.0 + MARGIN) * unit(b, m);
                }
            }
        }
        s
    }

    /// Whether broker `b` is outside partition `p`'s input replica set.
    fn is_moved(&self, p: usize, b: u32) -> bool {
        !self.orig[self.part_slots(p)].contains(&b)
    }

    /// Objective change of the moved-replica count if slot `s` goes to broker `to`.
    fn move_cost(&self, s: usize, to: u32) -> f64 {
        let p = self.slot_part[s] as usize;
        let d = i32::from(self.is_moved(p, to)) - i32::from(self.is_moved(p, self.assign[s]));
        self.mu * f64::from(d)
    }

    /// Puts slot `s` on broker `to` (lists and moved count; metrics are the caller's).
    fn relocate(&mut self, s: usize, to: u32) {
        let p = self.slot_part[s] as usize;
        let from = self.assign[s];
        self.moved =
            self.moved + usize::from(self.is_moved(p, to)) - usize::from(self.is_moved(p, from));
        let list = &mut self.slots_on[from as usize];
        let i = self.slot_pos[s] as usize;
        list.swap_remove(i);
        if let Some(&x) = list.get(i) {
            self.slot_pos[x as usize] = i as u32;
        }
        self.slot_pos[s] = self.slots_on[to as usize].len() as u32;
        self.slots_on[to as usize].push(s as u32);
        self.assign[s] = to;
    }

    /// Replica move of slot `s` to `to` at temperature `t`, if rack awareness allows and
    /// the annealing rule accepts it; returns the accepted objective change.
    fn try_move(&mut self, rng: &mut Rng, t: f64, s: usize, to: u32) -> f64 {
        let a = self.assign[s];
        let p = self.slot_part[s] as usize;
        if a == to || !self.rack_ok(p, s, to) {
            return 0.0;
        }
        let d = self.slot_contrib(s);
        let dj = self.delta(a as usize, to as usize, &d) + self.move_cost(s, to);
        if dj <= 0.0 || rng.unit() < (-dj / t).exp() {
            self.shift(a as usize, to as usize, &d);
            self.relocate(s, to);
            return dj;
        }
        0.0
    }

    /// Swap of slots `s1` and `s2` (on different brokers, different partitions) at
    /// temperature `t`; returns the accepted objective change.
    fn try_swap(&mut self, rng: &mut Rng, t: f64, s1: usize, s2: usize) -> f64 {
        let (a, b) = (self.assign[s1], self.assign[s2]);
        let (p, q) = (self.slot_part[s1] as usize, self.slot_part[s2] as usize);
        if a == b || p == q || !self.rack_ok(p, s1, b) || !self.rack_ok(q, s2, a) {
            return 0.0;
        }
        let mut d = self.slot_contrib(s1);
        let d2 = self.slot_contrib(s2);
        for m in 0..M {
            d[m] -= d2[m];
        }
        let dj =
            self.delta(a as usize, b as usize, &d) + self.move_cost(s1, b) + self.move_cost(s2, a);
        if dj <= 0.0 || rng.unit() < (-dj / t).exp() {
            self.shift(a as usize, b as usize, &d);
            self.relocate(s1, b);
            self.relocate(s2, a);
            return dj;
        }
        0.0
    }

    /// A moved slot's way home: an input broker of its partition that does not host it now.
    fn home(&self, s: usize) -> Option<u32> {
        let p = self.slot_part[s] as usize;
        if !self.is_moved(p, self.assign[s]) {
            return None;
        }
        self.orig[self.part_slots(p)]
            .iter()
            .copied()
            .find(|&b| !self.part_slots(p).any(|x| self.assign[x] == b))
    }

    fn viol(&self, b: usize, m: usize, v: f64) -> f64 {
        let (lo, hi) = (self.lo[b][m], self.hi[b][m]);
        let t = 1e-9 * (1.0 + v.abs());
        if v > hi + t {
            v - hi
        } else if v < lo - t {
            lo - v
        } else {
            0.0
        }
    }

    fn cost(&self, b: usize, v: &[f64; M]) -> f64 {
        let mut f = 0.0;
        for m in 0..M {
            let centre = 0.5 * (self.lo[b][m] + self.hi[b][m]).max(f64::MIN_POSITIVE);
            f += WEIGHT[m] * self.viol(b, m, v[m]) / centre * 2.0;
        }
        for r in 0..4 {
            f += 100.0 * (v[r + 1] - self.limit[b][r]).max(0.0) / self.limit[b][r];
        }
        self.vw * f
    }

    fn total(&self) -> f64 {
        (0..self.metric.len())
            .map(|b| self.cost(b, &self.metric[b]))
            .sum()
    }

    fn part_slots(&self, p: usize) -> std::ops::Range<usize> {
        let part = &self.c.partitions[p];
        part.start as usize..part.start as usize + usize::from(part.rf)
    }

    /// Whether partition `p` keeps its replicas on distinct brokers and racks (as far as
    /// racks allow) if slot `slot` goes to `to`.
    fn rack_ok(&self, p: usize, slot: usize, to: u32) -> bool {
        let racks = self.c.racks.len().max(1);
        let rf = usize::from(self.c.partitions[p].rf);
        let limit = rf.div_ceil(racks);
        let r_to = self.c.brokers[to as usize].rack_idx;
        let mut same = 1;
        for s in self.part_slots(p) {
            if s == slot {
                continue;
            }
            let b = self.assign[s];
            if b == to {
                return false;
            }
            if self.c.brokers[b as usize].rack_idx == r_to {
                same += 1;
            }
        }
        same <= limit
    }

    /// Cost change if `a` changes by `-d` and `b` by `+d`.
    fn delta(&self, a: usize, b: usize, d: &[f64; M]) -> f64 {
        let (mut na, mut nb) = (self.metric[a], self.metric[b]);
        for m in 0..M {
            na[m] -= d[m];
            nb[m] += d[m];
        }
        self.cost(a, &na) + self.cost(b, &nb)
            - self.cost(a, &self.metric[a])
            - self.cost(b, &self.metric[b])
    }

    fn shift(&mut self, a: usize, b: usize, d: &[f64; M]) {
        for m in 0..M {
            self.metric[a][m] -= d[m];
            self.metric[b][m] += d[m];
        }
    }

    fn slot_contrib(&self, s: usize) -> [f64; M] {
        let p = self.slot_part[s] as usize;
        contrib(self.c, p, s == self.c.partitions[p].start as usize)
    }

    /// One annealing step at temperature `t`; returns the accepted cost change.
    fn step(&mut self, rng: &mut Rng, t: f64, leaders_only: bool) -> f64 {
        let nb = self.metric.len();
        let n = self.assign.len();
        let k = if leaders_only {
            2
        } else {
            rng.below(if self.mu > 0.0 { 5 } else { 3 })
        };
        match k {
            0 => {
                let s = rng.below(n);
                let to = rng.below(nb) as u32;
                return self.try_move(rng, t, s, to);
            }
            1 => {
                let (s1, s2) = (rng.below(n), rng.below(n));
                return self.try_swap(rng, t, s1, s2);
            }
            // Movement cost on: send a moved replica home, alone or swapped with a replica
            // of its home broker.
            3 | 4 => {
                let s = rng.below(n);
                let Some(home) = self.home(s) else {
                    return 0.0;
                };
                if k == 3 {
                    return self.try_move(rng, t, s, home);
                }
                let list = &self.slots_on[home as usize];
                if list.is_empty() {
                    return 0.0;
                }
                let s2 = list[rng.below(list.len())] as usize;
                return self.try_swap(rng, t, s, s2);
            }
            _ => {
                let p = rng.below(self.c.partitions.len());
                let rf = usize::from(self.c.partitions[p].rf);
                if rf < 2 {
                    return 0.0;
                }
                let start = self.c.partitions[p].start as usize;
                let pos = 1 + rng.below(rf - 1);
                let (a, b) = (
                    self.assign[start] as usize,
                    self.assign[start + pos] as usize,
                );
                let l = contrib(self.c, p, true);
                let f = contrib(self.c, p, false);
                let d: [f64; M] = std::array::from_fn(|m| l[m] - f[m]);
                let dj = self.delta(a, b, &d);
                if dj <= 0.0 || rng.unit() < (-dj / t).exp() {
                    self.shift(a, b, &d);
                    let (s0, s1) = (start, start + pos);
                    self.assign.swap(s0, s1);
                    self.slots_on[a][self.slot_pos[s0] as usize] = s1 as u32;
                    self.slots_on[b][self.slot_pos[s1] as usize] = s0 as u32;
                    self.slot_pos.swap(s0, s1);
                    return dj;
                }
            }
        }
        0.0
    }

    /// Partitions with more replicas on one rack than rack awareness allows.
    fn rack_violations(&self) -> usize {
        (0..self.c.partitions.len())
            .filter(|&p| {
                !self
                    .part_slots(p)
                    .all(|s| self.rack_ok(p, s, self.assign[s]))
            })
            .count()
    }

    /// Brokers outside each band, and the worst distance from it in % of the band centre.
    fn outside(&self) -> ([usize; M], [f64; M]) {
        let (mut n, mut worst) = ([0; M], [0.0f64; M]);
        for b in 0..self.metric.len() {
            for m in 0..M {
                let v = self.viol(b, m, self.metric[b][m]);
                if v > 0.0 {
                    n[m] += 1;
                    let centre = 0.5 * (self.lo[b][m] + self.hi[b][m]);
                    worst[m] = worst[m].max(100.0 * v / centre);
                }
            }
        }
        (n, worst)
    }
}

fn show(n: &[usize; M]) -> String {
    let v: Vec<String> = (0..M)
        .filter(|&m| n[m] > 0)
        .map(|m| format!("{}={}", NAMES[m], n[m]))
        .collect();
    if v.is_empty() {
        "all in band".into()
    } else {
        v.join(" ")
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(d);
    let (brokers, racks, replicas, seeds) = (num(1, 24), num(2, 4), num(3, 6000), num(4, 2));
    let iterations = num(5, 4_000_000) as usize;
    // Start the search from the input snapshot (`input`) or from the planned assignment
    // (default); `moves` starts from the plan and charges each moved replica (see below).
    let mode = args.get(6).map(String::as_str).unwrap_or("plan");
    let from_input = mode == "input" || mode == "moves-input";
    // `leaders`: from the plan, changing leaderships only.
    let leaders_only = mode == "leaders";
    // Optional: only this skew (7th argument) and seed (8th).
    let only_skew: Option<f64> = args.get(7).and_then(|s| s.parse().ok());
    let only_seed: Option<u64> = args.get(8).and_then(|s| s.parse().ok());
    // Movement cost per moved replica in the objective (0.01: about what one average
    // replica's worth of resource-band violation costs at the start; the band terms' weight
    // then rises 1,000-fold, so the search ends in band). Of 0.0005, 0.002, 0.01 and 0.05,
    // tried on one cluster, 0.01 found the fewest moves.
    let mu = if mode.starts_with("moves") {
        std::env::var("REACH_MU")
            .ok()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0.01)
    } else {
        0.0
    };
    println!(
        "skew seed | after plan | best found (worst distance, % of band centre) | verdict{}",
        if mu > 0.0 {
            " | plan moves, fewest moves found with every band in band"
        } else {
            ""
        }
    );
    for skew in [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0] {
        for seed in 1..=seeds {
            if only_skew.is_some_and(|x| x != skew) || only_seed.is_some_and(|x| x != seed) {
                continue;
            }
            let o = GenOptions {
                brokers: brokers as u32,
                racks: racks as u32,
                replicas,
                skew,
                hetero: true,
                seed,
                ..GenOptions::default()
            };
            let c = snapshot::parse_str(&generate_string(&o)?)?;
            let p = plan(&c, &PlanOptions::default(), &mut |_| {})?;
            let planned = apply(&c, &p.reassignments);
            let (mut input, after) = (c.clone(), Search::new(&planned, &c, 0.0).outside().0);
            input.elect_preferred_leaders();
            let mut s = Search::new(if from_input { &input } else { &planned }, &c, mu);
            let mut rng = Rng(seed ^ (skew * 1000.0) as u64);
            let mut f = s.total() + mu * s.moved as f64;
            let (mut best, mut best_assign, mut best_metric) =
                (f, s.assign.clone(), s.metric.clone());
            // Fewest moved replicas among the all-in-band states visited.
            let mut fewest = if s.total() <= 0.0 {
                s.moved
            } else {
                usize::MAX
            };
            let t0m = std::env::var("REACH_T0")
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0.0002);
            let (t0, t1) = if mu > 0.0 {
                (t0m, 1e-6f64)
            } else {
                (0.01f64, 1e-6f64)
            };
            for i in 0..iterations {
                let x = i as f64 / iterations as f64;
                let t = t0 * (t1 / t0).powf(x);
                if mu > 0.0 && i % 4096 == 0 {
                    // The band terms' weight rises from 1 to 1,000 over the run.
                    s.vw = 1000f64.powf(x);
                    f = s.total() + mu * s.moved as f64;
                }
                f += s.step(&mut rng, t, leaders_only);
                if mu > 0.0 {
                    if s.moved < fewest && f - mu * s.moved as f64 <= 1e-9 && s.total() <= 0.0 {
                        fewest = s.moved;
                        best_assign.clone_from(&s.assign);
                        best_metric.clone_from(&s.metric);
                    }
                    continue;
                }
                if f < best - 1e-12 {
                    best = f;
                    best_assign.clone_from(&s.assign);
                    best_metric.clone_from(&s.metric);
                }
                if best <= 0.0 {
                    break;
                }
            }
            if std::env::var_os("REACH_DEBUG").is_some() {
                let (n, _) = s.outside();
                eprintln!(
                    "last state: moved {} viol {:.5} outside {}",
                    s.moved,
                    s.total(),
                    show(&n)
                );
            }
            s.assign = best_assign;
            s.metric = best_metric;
            let (n, worst) = s.outside();
            let worst: Vec<String> = (0..M)
                .filter(|&m| n[m] > 0)
                .map(|m| format!("{}:{:.2}%", NAMES[m], worst[m]))
                .collect();
            let racks = s.rack_violations();
            let verdict = if racks > 0 {
                "rack awareness broken in the best assignment"
            } else if n.iter().all(|&x| x == 0) {
                "reachable (all in band found)"
            } else if n[..5].iter().all(|&x| x == 0) {
                "count and resources reachable; leadership not reached"
            } else {
                "not reached (evidence, not proof)"
            };
            let moves = if mu > 0.0 {
                let f = if fewest == usize::MAX {
                    "none in band".to_string()
                } else {
                    fewest.to_string()
                };
                format!(" | {} {f}", p.cost.replica_moves)
            } else {
                String::new()
            };
            println!(
                "{skew:>4} {seed:>4} | {} | {} ({}) | {verdict}{moves}",
                show(&after),
                show(&n),
                worst.join(" ")
            );
        }
    }
    Ok(())
}
