//! Provable lower bounds on the replica moves a full rebalance needs, to judge a plan's move
//! count against more than the issue's bound.
//!
//! The issue's bound ([`crate::Plan::lower_bound`]) counts replicas on drained brokers plus
//! replicas above the replica-count band. That is only what the replica-count goal needs.
//! [`move_bound`] also counts what the disk and network-in goals need on top of it: those two
//! metrics do not change with leadership, so only replica moves can bring them into their
//! bands, and a broker whose replica count is pinned to its band can change them only by
//! exchanging replicas.
//!
//! Per alive broker `b` holding `n` replicas, it finds the fewest replicas `b` must receive
//! (`k_in`) such that some number it gives away (`k_out`) leaves its replica count, disk and
//! network in all inside their bands, assuming the best case for each metric separately:
//! `b` gives away its smallest (or largest) replicas and receives the largest (or smallest)
//! replicas in the whole cluster. Every replica move has one destination, so the sum of these
//! minima over brokers is a lower bound on replica moves; the same on the giving side (plus
//! every replica on a drained broker) is another. The bound is the larger of the two. It
//! assumes nothing about racks, capacity or leadership, so the true minimum can only be higher.

// Index loops over parallel per-broker arrays read better than zips here.
#![allow(clippy::needless_range_loop)]

use crate::model::Cluster;
use crate::status::GoalStatus;

/// Lower bounds on the replica moves of a full rebalance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MoveBound {
    /// Replicas on dead or removing brokers (they all move).
    pub drained: u64,
    /// Replicas above the replica-count band, summed over brokers.
    pub count_excess: u64,
    /// Replicas missing below the replica-count band, summed over brokers.
    pub count_deficit: u64,
    /// Moves needed to bring replica count, disk and network in into their bands together
    /// (the larger of the receiving-side and giving-side sums).
    pub soft_goals: u64,
    /// Brokers (ids) on which no number of moves brings those three goals into band together.
    pub unreachable: Vec<i32>,
}

impl MoveBound {
    /// The issue's bound: drained replicas plus replicas above the replica-count band.
    pub fn issue_bound(&self) -> u64 {
        self.drained + self.count_excess
    }
}

/// Prefix sums of `v` (`out[k]` = sum of the first `k`).
fn prefix(v: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len() + 1);
    let mut s = 0.0;
    out.push(0.0);
    for x in v {
        s += x;
        out.push(s);
    }
    out
}

/// Smallest `k` with `p[k] >= need` (`p` nondecreasing), or `None`.
fn first_at_least(p: &[f64], need: f64) -> Option<usize> {
    let k = p.partition_point(|&x| x < need - slack(need));
    (k < p.len()).then_some(k)
}

/// Largest `k` with `p[k] <= limit` (`p` nondecreasing), or `None`.
fn last_at_most(p: &[f64], limit: f64) -> Option<usize> {
    p.partition_point(|&x| x <= limit + slack(limit))
        .checked_sub(1)
}

/// Float slack, generous so the bound never excludes a feasible case by rounding.
fn slack(v: f64) -> f64 {
    1e-7 * (1.0 + v.abs())
}

/// One broker-local metric: the broker's replicas' values smallest first and largest first
/// (prefix sums), the cluster's the same way, the broker's total and its band.
struct Metric<'a> {
    own_small: Vec<f64>,
    own_large: Vec<f64>,
    all_small: &'a [f64],
    all_large: &'a [f64],
    value: f64,
    lo: f64,
    hi: f64,
}

impl Metric<'_> {
    /// Range of `k_out` that can keep the metric in band when `k_in` replicas come in.
    fn out_range(&self, k_in: usize) -> Option<(usize, usize)> {
        if k_in >= self.all_large.len() {
            return None;
        }
        // Highest value reachable: give away the smallest, take the cluster's largest.
        let hi_k = last_at_most(&self.own_small, self.value + self.all_large[k_in] - self.lo)?;
        // Lowest: give away the largest, take the cluster's smallest.
        let lo_k = first_at_least(&self.own_large, self.value + self.all_small[k_in] - self.hi)?;
        (lo_k <= hi_k).then_some((lo_k, hi_k))
    }

    /// Range of `k_in` that can keep the metric in band when `k_out` replicas go.
    fn in_range(&self, k_out: usize) -> Option<(usize, usize)> {
        if k_out >= self.own_small.len() {
            return None;
        }
        let lo_k = first_at_least(self.all_large, self.lo - self.value + self.own_small[k_out])?;
        let hi_k = last_at_most(self.all_small, self.hi - self.value + self.own_large[k_out])?;
        (lo_k <= hi_k).then_some((lo_k, hi_k))
    }
}

fn intersect(a: (usize, usize), b: Option<(usize, usize)>) -> Option<(usize, usize)> {
    let b = b?;
    let r = (a.0.max(b.0), a.1.min(b.1));
    (r.0 <= r.1).then_some(r)
}

fn band_of(statuses: &[GoalStatus], goal: &str) -> Option<(f64, f64)> {
    statuses
        .iter()
        .find(|s| s.goal == goal)
        .and_then(|s| Some((s.band_lo?, s.band_hi?)))
}

/// Lower bounds on the replica moves of a full rebalance of `c`, with the soft-goal bands of
/// `before` (the [`crate::Plan::before`] statuses of a plan of `c`; a goal that is off there
/// is left out of the bound).
pub fn move_bound(c: &Cluster, before: &[GoalStatus]) -> MoveBound {
    let nb = c.brokers.len();
    let count_band = band_of(before, "replica-count").unwrap_or((0.0, f64::INFINITY));
    // Bands of resources are fractions of each broker's capacity.
    let resources: Vec<(usize, (f64, f64))> = [("disk", 0usize), ("network-in", 1)]
        .into_iter()
        .filter_map(|(g, r)| band_of(before, g).map(|b| (r, b)))
        .collect();
    let mut own: Vec<Vec<[f64; 2]>> = vec![Vec::new(); nb];
    let mut all: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (p, part) in c.partitions.iter().enumerate() {
        let v = [part.size_bytes as f64, part.bytes_in];
        for &b in c.replicas_of(p) {
            own[b as usize].push(v);
            if c.brokers[b as usize].state.can_host() {
                all[0].push(v[0]);
                all[1].push(v[1]);
            }
        }
    }
    // Replicas on drained brokers must land somewhere too: they are in the pool.
    for (b, list) in own.iter().enumerate() {
        if !c.brokers[b].state.can_host() {
            for v in list {
                all[0].push(v[0]);
                all[1].push(v[1]);
            }
        }
    }
    let mut all_small: Vec<Vec<f64>> = Vec::new();
    let mut all_large: Vec<Vec<f64>> = Vec::new();
    for v in &mut all {
        v.sort_by(f64::total_cmp);
        all_small.push(prefix(v));
        v.reverse();
        all_large.push(prefix(v));
    }
    let mut out = MoveBound {
        drained: 0,
        count_excess: 0,
        count_deficit: 0,
        soft_goals: 0,
        unreachable: Vec::new(),
    };
    let (mut need_in, mut need_out) = (0u64, 0u64);
    for b in 0..nb {
        let n = own[b].len();
        if !c.brokers[b].state.can_host() {
            out.drained += n as u64;
            continue;
        }
        let (lo, hi) = count_band;
        let excess = (n as f64 - hi).max(0.0).floor() as u64;
        let deficit = (lo - n as f64).max(0.0).ceil() as u64;
        out.count_excess += excess;
        out.count_deficit += deficit;
        let metrics: Vec<Metric<'_>> = resources
            .iter()
            .map(|&(r, (blo, bhi))| {
                let mut v: Vec<f64> = own[b].iter().map(|x| x[r]).collect();
                v.sort_by(f64::total_cmp);
                let own_small = prefix(&v);
                v.reverse();
                let own_large = prefix(&v);
                let cap = c.brokers[b].capacity[r];
                Metric {
                    value: own_small[n],
                    own_small,
                    own_large,
                    all_small: &all_small[r],
                    all_large: &all_large[r],
                    lo: blo * cap,
                    hi: bhi * cap,
                }
            })
            .collect();
        let nf = n as f64;
        // Fewest replicas in: count needs n + k_in - k_out inside [lo, hi].
        let mut min_in = None;
        let total = all_small[0].len() - 1;
        for k_in in 0..=(hi.min(total as f64) as usize).max(n).min(total) {
            let kf = k_in as f64;
            let c_lo = (nf + kf - hi).ceil().max(0.0) as usize;
            let c_hi = (nf + kf - lo).floor().min(nf);
            if c_hi < 0.0 || c_lo as f64 > c_hi {
                continue;
            }
            let mut range = Some((c_lo, c_hi as usize));
            for m in &metrics {
                range = range.and_then(|r| intersect(r, m.out_range(k_in)));
            }
            if range.is_some() {
                min_in = Some(k_in);
                break;
            }
        }
        let mut min_out = None;
        for k_out in 0..=n {
            let kf = k_out as f64;
            let c_lo = (lo - nf + kf).ceil().max(0.0) as usize;
            let c_hi = (hi - nf + kf).floor();
            if c_hi < 0.0 || c_lo as f64 > c_hi {
                continue;
            }
            let mut range = Some((c_lo, c_hi.min(1e12) as usize));
            for m in &metrics {
                range = range.and_then(|r| intersect(r, m.in_range(k_out)));
            }
            if range.is_some() {
                min_out = Some(k_out);
                break;
            }
        }
        match (min_in, min_out) {
            (Some(i), Some(o)) => {
                need_in += i as u64;
                need_out += o as u64;
            }
            _ => {
                // The replica count alone still needs this much.
                need_in += deficit;
                need_out += excess;
                out.unreachable.push(c.brokers[b].id);
            }
        }
    }
    out.soft_goals = need_in.max(need_out + out.drained);
    out
}
