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
//! `cargo run --release -p keel-balancer --example reachability [BROKERS RACKS REPLICAS SEEDS ITERATIONS [input|plan|leaders] [SKEW [SEED]]]`

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
}

fn contrib(c: &Cluster, p: usize, leader: bool) -> [f64; M] {
    let part = &c.partitions[p];
    let l = part.replica_load(leader);
    let lead = if leader { 1.0 } else { 0.0 };
    [1.0, l[0], l[1], l[2], l[3], lead, lead * part.bytes_in]
}

impl<'c> Search<'c> {
    fn new(c: &'c Cluster) -> Self {
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
        };
        for slot in 0..s.assign.len() {
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
        f
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
        let accept = |d: f64, rng: &mut Rng| d <= 0.0 || rng.unit() < (-d / t).exp();
        let kind = if leaders_only { 2 } else { rng.below(3) };
        match kind {
            0 => {
                let s = rng.below(n);
                let to = rng.below(nb) as u32;
                let a = self.assign[s];
                let p = self.slot_part[s] as usize;
                if a == to || !self.rack_ok(p, s, to) {
                    return 0.0;
                }
                let d = self.slot_contrib(s);
                let dj = self.delta(a as usize, to as usize, &d);
                if accept(dj, rng) {
                    self.shift(a as usize, to as usize, &d);
                    self.assign[s] = to;
                    return dj;
                }
            }
            1 => {
                let (s1, s2) = (rng.below(n), rng.below(n));
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
                let dj = self.delta(a as usize, b as usize, &d);
                if accept(dj, rng) {
                    self.shift(a as usize, b as usize, &d);
                    self.assign[s1] = b;
                    self.assign[s2] = a;
                    return dj;
                }
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
                if accept(dj, rng) {
                    self.shift(a, b, &d);
                    self.assign.swap(start, start + pos);
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
    // Start the search from the input snapshot (default) or from the planned assignment;
    // `leaders`: from the plan, changing leaderships only (can leadership moves alone
    // bring every band in?).
    let mode = args.get(6).map(String::as_str);
    let from_input = mode == Some("input");
    let leaders_only = mode == Some("leaders");
    // Optional: only this skew (7th argument) and seed (8th).
    let only_skew: Option<f64> = args.get(7).and_then(|s| s.parse().ok());
    let only_seed: Option<u64> = args.get(8).and_then(|s| s.parse().ok());
    println!("skew seed | after plan | best found (worst distance, % of band centre) | verdict");
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
            let (mut input, after) = (c.clone(), Search::new(&planned).outside().0);
            input.elect_preferred_leaders();
            let mut s = Search::new(if from_input { &input } else { &planned });
            let mut rng = Rng(seed ^ (skew * 1000.0) as u64);
            let mut f = s.total();
            let (mut best, mut best_assign, mut best_metric) =
                (f, s.assign.clone(), s.metric.clone());
            let (t0, t1) = (0.01f64, 1e-6f64);
            for i in 0..iterations {
                let t = t0 * (t1 / t0).powf(i as f64 / iterations as f64);
                f += s.step(&mut rng, t, leaders_only);
                if f < best - 1e-12 {
                    best = f;
                    best_assign.clone_from(&s.assign);
                    best_metric.clone_from(&s.metric);
                }
                if best <= 0.0 {
                    break;
                }
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
            println!(
                "{skew:>4} {seed:>4} | {} | {} ({}) | {verdict}",
                show(&after),
                show(&n),
                worst.join(" ")
            );
        }
    }
    Ok(())
}
