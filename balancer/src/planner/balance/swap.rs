//! Count-neutral swaps of a [`Balancer`]: a replica heavy in the goal's metric on one broker
//! is exchanged for a lighter replica of another partition on a second broker. Both brokers
//! keep their replica count, so a resource goal can move load between brokers whose counts
//! already sit at the edge of their band, which single moves cannot (Cruise Control's
//! resource-distribution goals try swaps after moves the same way).
//!
//! Mixed capacities need this most: the replica-count goal gives a 0.5× and a 2× broker the
//! same number of replicas, so the big one must end up with the larger and hotter ones, and
//! only swaps get them there once counts are locked.
//!
//! The search pairs the broker to fix with the brokers at the other end of the goal's order
//! and keeps only replicas that could legally cross (not hosted there, rack awareness kept).
//! For each pair it first works out how far every other metric may move between the two
//! brokers (hard limits, and the bands of the goals already optimised, may not get worse on
//! either), then tries the giving broker's heaviest replicas against the taking broker's
//! lightest ones and takes the swap that lowers this goal's violation most, counting what it
//! does for the goals not optimised yet too, within a budget of pairs. The taken swap passes
//! [`crate::state::State::swap_ok`] (topic spread as well).
//!
//! Before, swaps were tried one partner at a time by the goal's metric alone; on mixed
//! capacities nearly every such candidate failed rack awareness or the locked disk band.

use super::Balancer;
use super::lists::List;
use crate::goals::{M_REPLICAS, METRICS};
use crate::state::{Metrics, contrib, tol};

/// Brokers paired with the broker a swap fixes (the least loaded in the goal's metric when it
/// sheds, the most loaded when it fills).
const SWAP_PARTNERS: usize = 8;

/// Replicas of the giving broker tried per pair, heaviest in the goal's metric first.
const SWAP_GIVE: usize = 48;

/// Replicas of the taking broker tried as partners, lightest in the goal's metric first.
const SWAP_TAKE: usize = 512;

/// Pairs and list entries one swap search may look at (eligible or not), so searches stay
/// bounded on brokers with tens of thousands of replicas.
const SWAP_BUDGET: usize = 60_000;

/// Per metric, how much of it one exchange may move from the giving to the taking broker.
#[derive(Debug, Clone, Copy)]
struct Limits {
    lo: Metrics,
    hi: Metrics,
}

impl Limits {
    fn allow(&self, delta: &Metrics) -> bool {
        (0..METRICS).all(|m| delta[m] >= self.lo[m] && delta[m] <= self.hi[m])
    }
}

/// The best swap found so far: `s1` goes from broker `g` to `t`, `s2` from `t` to `g`.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f64,
    s1: usize,
    s2: usize,
    g: usize,
    t: usize,
}

impl Balancer<'_, '_> {
    /// Shed side: broker `a` (above its band) gives a heavy replica to one of the least
    /// loaded brokers and takes a lighter one back.
    pub(super) fn try_swap_from(&mut self, a: usize) -> bool {
        let takers: Vec<usize> = self
            .dests
            .iter()
            .copied()
            .filter(|&b| b != a)
            .take(SWAP_PARTNERS)
            .collect();
        self.swap_among(&[a], &takers)
    }

    /// Fill side: broker `b` (below its band) takes a heavy replica from one of the most
    /// loaded brokers and gives a lighter one back.
    pub(super) fn try_swap_into(&mut self, b: usize) -> bool {
        let givers: Vec<usize> = self
            .dests
            .iter()
            .rev()
            .copied()
            .filter(|&a| a != b)
            .take(SWAP_PARTNERS)
            .collect();
        self.swap_among(&givers, &[b])
    }

    /// Carries out the best swap between any giver and any taker, if one helps.
    fn swap_among(&mut self, givers: &[usize], takers: &[usize]) -> bool {
        if self.k == M_REPLICAS || self.k >= METRICS {
            return false;
        }
        for &g in givers {
            self.ensure(List::Replicas, g);
        }
        for &t in takers {
            self.ensure(List::Partners, t);
        }
        let mut budget = SWAP_BUDGET;
        let mut best: Option<Candidate> = None;
        'pairs: for &g in givers {
            for &t in takers {
                if g != t {
                    self.best_swap_between(g, t, &mut budget, &mut best);
                }
                if budget == 0 {
                    break 'pairs;
                }
            }
        }
        match best {
            Some(x) => {
                self.do_swap(x.g, x.t, x.s1, x.s2);
                true
            }
            None => false,
        }
    }

    /// Updates `best` with the best acceptable swap of a replica on `g` (heavier in the
    /// goal's metric) for one on `t`.
    fn best_swap_between(
        &self,
        g: usize,
        t: usize,
        budget: &mut usize,
        best: &mut Option<Candidate>,
    ) {
        let (k, st) = (self.k, &*self.st);
        let need = (st.metric[g][k] - self.band.hi[g]).max(self.band.lo[t] - st.metric[t][k]);
        if need <= 0.0 {
            return;
        }
        let limits = self.swap_limits(g, t);
        let scale = (self.band.hi[g] + self.band.hi[t]).max(f64::MIN_POSITIVE);
        // The taker's replicas that could go to `g`, lightest in the goal's metric first.
        let theirs = self.list(List::Partners, t);
        let mut partners: Vec<(usize, Metrics)> = Vec::new();
        for &(_, s2) in theirs.iter() {
            if *budget == 0 || partners.len() >= SWAP_TAKE {
                break;
            }
            *budget -= 1;
            let s2 = s2 as usize;
            let q = st.slot_part[s2] as usize;
            if st.assign[s2] as usize == t
                && !st.hosts(q, g as u32)
                && st.rack_viol(q, t as u32, g as u32) <= st.rack_viol(q, t as u32, t as u32)
            {
                partners.push((s2, contrib(st.c, q, st.is_leader_slot(s2))));
            }
        }
        let mine = self.list(List::Replicas, g);
        let mut given = 0;
        for &(_, s1) in mine.iter().rev() {
            if *budget == 0 || given >= SWAP_GIVE {
                return;
            }
            *budget -= 1;
            let s1 = s1 as usize;
            let p = st.slot_part[s1] as usize;
            if st.assign[s1] as usize != g
                || st.hosts(p, t as u32)
                || st.rack_viol(p, g as u32, t as u32) > st.rack_viol(p, g as u32, g as u32)
            {
                continue;
            }
            given += 1;
            let con1 = contrib(st.c, p, st.is_leader_slot(s1));
            for &(s2, con2) in &partners {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                let mut delta = con1;
                for m in 0..METRICS {
                    delta[m] -= con2[m];
                }
                if delta[k] <= 0.0 || !limits.allow(&delta) {
                    continue;
                }
                let gain = self.gain(g, t, delta[k]);
                if gain <= tol(con1[k]) {
                    continue;
                }
                let score = gain / scale + self.later_gain_of(&delta, g, t);
                if best.is_none_or(|b| score > b.score + 1e-12)
                    && st.slot_part[s2] as usize != p
                    && st.swap_ok(s1, s2)
                {
                    *best = Some(Candidate {
                        score,
                        s1,
                        s2,
                        g,
                        t,
                    });
                }
            }
        }
    }

    /// How far each other metric may move from `g` to `t` in one exchange: hard limits and
    /// the bands of goals already optimised may not get worse on either broker.
    fn swap_limits(&self, g: usize, t: usize) -> Limits {
        let st = &*self.st;
        let mut out = Limits {
            lo: [f64::NEG_INFINITY; METRICS],
            hi: [f64::INFINITY; METRICS],
        };
        for m in 0..METRICS {
            if m == self.k {
                continue;
            }
            // New values allowed on each broker, as [low, high].
            let mut range = |b: usize, sign: f64| {
                let v = st.metric[b][m];
                let (mut lo, mut hi) = (f64::NEG_INFINITY, st.hard_hi[b][m].max(v));
                if st.locked[m]
                    && let Some(band) = &st.bands[m]
                    && band.participates[b]
                {
                    let now = band.viol(b, v);
                    lo = band.lo[b] - now;
                    hi = hi.min(band.hi[b] + now);
                }
                let (lo, hi) = (lo - tol(lo), hi + tol(hi));
                // g: new = v - d; t: new = v + d.
                let (dlo, dhi) = if sign < 0.0 {
                    (v - hi, v - lo)
                } else {
                    (lo - v, hi - v)
                };
                out.lo[m] = out.lo[m].max(dlo);
                out.hi[m] = out.hi[m].min(dhi);
            };
            range(g, -1.0);
            range(t, 1.0);
        }
        out
    }

    /// Exchanges replica `s1` (on `a`) with replica `s2` (on `b`).
    pub(super) fn do_swap(&mut self, a: usize, b: usize, s1: usize, s2: usize) {
        self.st.move_replica(s1, b as u32, self.goal);
        self.st.move_replica(s2, a as u32, self.goal);
        self.st.swaps.push((s1 as u32, s2 as u32));
        self.moves += 2;
        self.touch(a);
        self.touch(b);
        // Slots arrived on both brokers: their lists need a rebuild to see them.
        for kind in [List::Replicas, List::Partners] {
            self.lists[kind as usize][a] = None;
            self.lists[kind as usize][b] = None;
        }
    }
}
