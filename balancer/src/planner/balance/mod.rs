//! Greedy, incremental balancing of one per-broker metric inside its band.
//!
//! Brokers above the band shed load (largest-fitting candidate first, onto the least-loaded
//! acceptable destination); brokers below the band pull load from the most-loaded ones.
//! Leadership moves are tried before replica moves for goals they affect, and swaps are
//! tried when no single move is acceptable. Every move must strictly reduce the current
//! goal's violation and pass [`State::replica_move_ok`] (hard goals and earlier goals).
//!
//! This file holds the driver (rounds of shedding and filling, replica moves with their
//! look-ahead); `leadership` the leadership moves, chains and trades; `swap` the
//! count-neutral swaps; `lists` the per-broker candidate lists; `lookahead` the scoring of a
//! move by what it does for the goals not optimised yet.

mod exchange;
mod leadership;
mod lists;
mod lookahead;
mod paths;
mod swap;

use crate::goals::{M_DISK, M_LEADERS, M_REPLICAS};
use crate::state::{Band, State, contrib, tol};
use lists::{Cands, LISTS, List, order};
use lookahead::LaterBands;

/// Bound on candidate evaluations per shed/fill step, so pathological inputs stay fast.
const MAX_TRIES: usize = 4000;

/// Acceptable replica moves compared (by their effect on later goals) before one is taken.
const LOOKAHEAD: usize = 4;

/// Replica count: further replicas of the shedding broker (in try order) scored for later
/// goals against the first acceptable move's destination before one is taken. Wider than
/// [`LOOKAHEAD`] because the count goal makes most of a plan's moves, and cheap because only
/// the best-scored ones are checked for acceptability.
const COUNT_LOOKAHEAD: usize = 64;

/// Total probes of [`COUNT_LOOKAHEAD`] one replica-count run may spend: on clusters whose
/// count excess is large (millions of replicas) fewer per move, so planning time stays linear.
const PROBE_BUDGET: f64 = 2_000_000.0;

/// Replica count on clusters whose count excess is small (up to [`WIDE_PROBE_BUDGET`] /
/// [`COUNT_LOOKAHEAD_WIDE`], about 2,000 replicas): twice [`COUNT_LOOKAHEAD`] candidates. Such
/// plans make few moves, so each extra disk or network-in move weighs most on the ratio to the
/// lower bound (24 brokers, skew 0.05: 229 moves for a bound of 193 instead of 233), and the
/// wider search costs little in all.
const COUNT_LOOKAHEAD_WIDE: usize = 128;

/// Total probes of [`COUNT_LOOKAHEAD_WIDE`] one replica-count run may spend.
const WIDE_PROBE_BUDGET: f64 = 250_000.0;

pub(crate) struct Balancer<'s, 'c> {
    pub st: &'s mut State<'c>,
    pub k: usize,
    pub band: Band,
    pub goal: u8,
    pub leadership_first: bool,
    pub allow_swaps: bool,
    /// Per [`List`] kind and broker: its candidates, built on first use. Entries go stale
    /// lazily (searches skip and prune them); the lists are rebuilt every round.
    lists: [Vec<Option<Cands>>; LISTS],
    /// Destinations in ascending order of metric k (kept sorted as moves happen).
    dests: Vec<usize>,
    pub moves: u64,
    /// Candidates probed per replica-count move (see [`COUNT_LOOKAHEAD`]).
    probes: usize,
}

impl<'s, 'c> Balancer<'s, 'c> {
    pub fn new(
        st: &'s mut State<'c>,
        k: usize,
        band: Band,
        goal: u8,
        leadership_first: bool,
        allow_swaps: bool,
    ) -> Self {
        let nb = st.nb();
        Balancer {
            st,
            k,
            band,
            goal,
            leadership_first,
            allow_swaps,
            lists: std::array::from_fn(|_| vec![None; nb]),
            dests: Vec::new(),
            moves: 0,
            probes: 0,
        }
    }

    fn viol(&self, b: usize, v: f64) -> f64 {
        self.band.viol(b, v)
    }

    /// Reduction of this goal's violation if `d` moves from broker `a` to broker `b`.
    fn gain(&self, a: usize, b: usize, d: f64) -> f64 {
        self.gain_of(&[(a, -d), (b, d)])
    }

    /// Reduction of this goal's violation if each broker's metric changes by its amount
    /// (a broker may appear more than once).
    fn gain_of(&self, changes: &[(usize, f64)]) -> f64 {
        self.merged_gain::<4>(changes)
    }

    /// [`Balancer::gain_of`] over up to `N` distinct brokers (0 if more).
    fn merged_gain<const N: usize>(&self, changes: &[(usize, f64)]) -> f64 {
        let mut merged: [(usize, f64); N] = [(usize::MAX, 0.0); N];
        let mut n = 0;
        for &(b, d) in changes {
            match merged[..n].iter().position(|m| m.0 == b) {
                Some(i) => merged[i].1 += d,
                None if n < merged.len() => {
                    merged[n] = (b, d);
                    n += 1;
                }
                None => return 0.0,
            }
        }
        merged[..n]
            .iter()
            .map(|&(b, d)| {
                let v = self.st.metric[b][self.k];
                self.viol(b, v) - self.viol(b, v + d)
            })
            .sum()
    }

    fn contrib_k(&self, slot: usize) -> f64 {
        let p = self.st.slot_part[slot] as usize;
        contrib(self.st.c, p, self.st.is_leader_slot(slot))[self.k]
    }

    /// For the replica-count goal: the replica size whose move keeps broker `a`'s disk
    /// moving toward the disk average at the same pace as its replica count.
    fn count_target_size(&self, a: usize) -> f64 {
        let m = &self.st.metric[a];
        let own_avg = if m[M_REPLICAS] > 0.0 {
            m[M_DISK] / m[M_REPLICAS]
        } else {
            0.0
        };
        let Some(disk) = &self.st.bands[M_DISK] else {
            return 0.0;
        };
        let excess_disk = m[M_DISK] - disk.avg_ratio * self.st.c.brokers[a].capacity[0];
        let excess_count = m[M_REPLICAS] - self.band.avg_ratio;
        if excess_count >= 1.0 {
            (excess_disk / excess_count).max(0.0)
        } else {
            own_avg
        }
    }

    fn key(&self, b: usize) -> (f64, f64) {
        (self.st.ratio(self.k, b), self.st.load_key(b).0)
    }

    fn less(&self, x: usize, y: usize) -> bool {
        let (kx, ky) = (self.key(x), self.key(y));
        kx.0.total_cmp(&ky.0)
            .then(kx.1.total_cmp(&ky.1))
            .then(x.cmp(&y))
            .is_lt()
    }

    fn sort_dests(&mut self) {
        let st = &*self.st;
        let mut v: Vec<usize> = (0..st.nb())
            .filter(|&b| st.dest_ok[b] && self.band.participates[b])
            .collect();
        v.sort_by(|&x, &y| {
            let (kx, ky) = (self.key(x), self.key(y));
            kx.0.total_cmp(&ky.0)
                .then(kx.1.total_cmp(&ky.1))
                .then(x.cmp(&y))
        });
        self.dests = v;
    }

    /// Restores the order of `dests` after broker `b`'s metrics changed.
    fn touch(&mut self, b: usize) {
        let Some(mut i) = self.dests.iter().position(|&x| x == b) else {
            return;
        };
        while i + 1 < self.dests.len() && self.less(self.dests[i + 1], self.dests[i]) {
            self.dests.swap(i, i + 1);
            i += 1;
        }
        while i > 0 && self.less(self.dests[i], self.dests[i - 1]) {
            self.dests.swap(i, i - 1);
            i -= 1;
        }
    }

    fn do_replica_move(&mut self, s: usize, b: usize) {
        let a = self.st.assign[s] as usize;
        self.st.move_replica(s, b as u32, self.goal);
        self.moves += 1;
        self.touch(a);
        self.touch(b);
    }

    fn do_leadership_move(&mut self, p: usize, pos: usize) {
        let start = self.st.c.partitions[p].start as usize;
        let (a, b) = (
            self.st.assign[start] as usize,
            self.st.assign[start + pos] as usize,
        );
        self.st.move_leadership(p, pos, self.goal);
        self.moves += 1;
        self.touch(a);
        self.touch(b);
    }

    fn over(&self, b: usize) -> bool {
        let hi = self.band.hi[b];
        self.band.participates[b] && self.st.metric[b][self.k] > hi + tol(hi)
    }

    fn under(&self, b: usize) -> bool {
        let lo = self.band.lo[b];
        self.band.participates[b] && self.st.metric[b][self.k] < lo - tol(lo)
    }

    /// Runs rounds of shedding and filling until the band holds or nothing helps.
    pub fn run(&mut self, rounds: usize) {
        let excess: f64 = (0..self.st.nb())
            .map(|b| self.viol(b, self.st.metric[b][self.k]))
            .sum();
        let excess = excess.max(1.0);
        self.probes = (PROBE_BUDGET / excess)
            .min(COUNT_LOOKAHEAD as f64)
            .max((WIDE_PROBE_BUDGET / excess).min(COUNT_LOOKAHEAD_WIDE as f64))
            as usize;
        for _ in 0..rounds {
            let before = self.moves;
            for l in &mut self.lists {
                l.iter_mut().for_each(|c| *c = None);
            }
            self.sort_dests();
            let nb = self.st.nb();
            let mut over: Vec<usize> = (0..nb).filter(|&b| self.over(b)).collect();
            over.sort_by(|&x, &y| {
                let ex = self.st.metric[x][self.k] - self.band.hi[x];
                let ey = self.st.metric[y][self.k] - self.band.hi[y];
                ey.total_cmp(&ex).then(x.cmp(&y))
            });
            for a in over {
                while self.over(a) && !self.st.out_of_work() && self.shed_one(a) {}
            }
            let mut under: Vec<usize> = (0..nb).filter(|&b| self.under(b)).collect();
            under.sort_by(|&x, &y| {
                let dx = self.band.lo[x] - self.st.metric[x][self.k];
                let dy = self.band.lo[y] - self.st.metric[y][self.k];
                dy.total_cmp(&dx).then(x.cmp(&y))
            });
            for b in under {
                while self.under(b) && !self.st.out_of_work() && self.fill_one(b) {}
            }
            if self.moves == before {
                break;
            }
        }
    }

    fn shed_one(&mut self, a: usize) -> bool {
        if self.leadership_first
            && (self.try_leadership_from(a)
                || self.try_leadership_chain_from(a)
                || (self.k == M_LEADERS
                    && (self.try_leadership_trade(a, true)
                        || self.try_leadership_exchange(a, true))))
        {
            return true;
        }
        let k = self.k;
        let excess = self.st.metric[a][k] - self.band.hi[a];
        let want = if k == M_REPLICAS {
            self.count_target_size(a)
        } else {
            excess
        };
        let mut budget = MAX_TRIES;
        if self.move_one_from(a, want, None, &mut budget) {
            return true;
        }
        if !self.leadership_first && k != M_REPLICAS && self.try_leadership_from(a) {
            return true;
        }
        self.allow_swaps && self.try_swap_from(a)
    }

    /// Moves one replica off `a` (onto `only`, or the best destination) if one helps.
    fn move_one_from(
        &mut self,
        a: usize,
        want: f64,
        only: Option<usize>,
        budget: &mut usize,
    ) -> bool {
        self.ensure(List::Replicas, a);
        let mut stale = Vec::new();
        let found = self.shed_search(a, want, only, &mut stale, budget);
        self.prune(List::Replicas, a, stale);
        match found {
            Some((s, b)) => {
                self.do_replica_move(s, b);
                true
            }
            None => false,
        }
    }

    /// Finds a replica on `a` and a destination for it (`only` or the sorted destinations);
    /// the first pass keeps topic spreads inside their band on the destination. Of the first
    /// [`LOOKAHEAD`] acceptable moves it takes the one that also helps the goals not yet
    /// optimised most, so later goals need fewer moves of their own.
    fn shed_search(
        &self,
        a: usize,
        want: f64,
        only: Option<usize>,
        stale: &mut Vec<(u64, u32)>,
        budget: &mut usize,
    ) -> Option<(usize, usize)> {
        let list = self.list(List::Replicas, a);
        let topic_aware = !self.st.topic_band.is_empty() && !self.st.topic_locked;
        let single = only.map(|b| [b]);
        let dests: &[usize] = match &single {
            Some(one) => one,
            None => &self.dests,
        };
        let count_mode = self.k == M_REPLICAS;
        for pass in 0..2 {
            if pass == 1 && !topic_aware {
                break;
            }
            // (score for later goals, list entry, slot, destination)
            let mut best: Option<(f64, (u64, u32), usize, usize)> = None;
            // Replica count: further candidates scored against the first move's destination
            // only (cheap), checked in score order afterwards.
            let mut probed: Vec<(f64, (u64, u32), usize)> = Vec::new();
            let mut probe_bands: Option<LaterBands> = None;
            let mut seen = 0;
            'candidates: for i in order(&list, want, count_mode) {
                let s = i.1 as usize;
                if self.st.assign[s] as usize != a {
                    if pass == 0 {
                        stale.push(i);
                    }
                    continue;
                }
                if count_mode && let Some((_, _, _, b0)) = best {
                    if *budget == 0 || probed.len() >= self.probes {
                        break 'candidates;
                    }
                    *budget -= 1;
                    let bands = probe_bands.get_or_insert_with(|| self.later_bands(a, b0));
                    probed.push((self.later_gain_on(bands, s), i, s));
                    continue;
                }
                let d = self.contrib_k(s);
                for &b in dests {
                    if b == a {
                        continue;
                    }
                    if *budget == 0 {
                        break 'candidates;
                    }
                    *budget -= 1;
                    if pass == 0 && topic_aware && self.topic_would_overflow(s, b) {
                        continue;
                    }
                    if self.gain(a, b, d) > tol(d) && self.st.replica_move_ok(s, b as u32) {
                        let score = self.later_gain(s, a, b);
                        if best.is_none_or(|x| score > x.0 + 1e-12) {
                            best = Some((score, i, s, b));
                        }
                        seen += 1;
                        if seen >= LOOKAHEAD {
                            break 'candidates;
                        }
                        continue 'candidates;
                    }
                }
            }
            if let Some((score0, _, _, b0)) = best
                && !probed.is_empty()
            {
                // Stable: equal scores keep the try order.
                probed.sort_by(|x, y| y.0.total_cmp(&x.0));
                for (score, i, s) in probed {
                    if score <= score0 + 1e-12 {
                        break;
                    }
                    if pass == 0 && topic_aware && self.topic_would_overflow(s, b0) {
                        continue;
                    }
                    let d = self.contrib_k(s);
                    if self.gain(a, b0, d) > tol(d) && self.st.replica_move_ok(s, b0 as u32) {
                        best = Some((score, i, s, b0));
                        break;
                    }
                }
            }
            if let Some((_, i, s, b)) = best {
                if pass == 1 {
                    stale.clear();
                }
                stale.push(i);
                return Some((s, b));
            }
            if *budget == 0 {
                break;
            }
        }
        None
    }

    fn topic_would_overflow(&self, s: usize, b: usize) -> bool {
        let t = self.st.c.partitions[self.st.slot_part[s] as usize].topic as usize;
        f64::from(self.st.topic_count[t * self.st.nb() + b]) + 1.0 > self.st.topic_band[t].1
    }

    fn fill_one(&mut self, b: usize) -> bool {
        if self.leadership_first
            && (self.try_leadership_to(b)
                || self.try_leadership_chain_to(b)
                || (self.k == M_LEADERS
                    && (self.try_leadership_trade(b, false)
                        || self.try_leadership_exchange(b, false))))
        {
            return true;
        }
        let k = self.k;
        let deficit = self.band.lo[b] - self.st.metric[b][k];
        let sources: Vec<usize> = self.dests.iter().rev().take(16).copied().collect();
        let mut budget = MAX_TRIES;
        for a in sources {
            if a == b {
                continue;
            }
            let want = if k == M_REPLICAS {
                self.count_target_size(a)
            } else {
                deficit
            };
            if self.move_one_from(a, want, Some(b), &mut budget) {
                return true;
            }
        }
        (!self.leadership_first && k != M_REPLICAS && self.try_leadership_to(b))
            || (self.allow_swaps && self.try_swap_into(b))
    }
}
