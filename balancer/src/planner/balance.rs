//! Greedy, incremental balancing of one per-broker metric inside its band.
//!
//! Brokers above the band shed load (largest-fitting candidate first, onto the least-loaded
//! acceptable destination); brokers below the band pull load from the most-loaded ones.
//! Leadership moves are tried before replica moves for goals they affect, and swaps are
//! tried when no single move is acceptable. Every move must strictly reduce the current
//! goal's violation and pass [`State::replica_move_ok`] (hard goals and earlier goals).

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::goals::{M_DISK, M_REPLICAS, METRICS};
use crate::state::{Band, State, contrib, leadership_delta, tol};

/// Bound on candidate evaluations per shed/fill step, so pathological inputs stay fast.
const MAX_TRIES: usize = 4000;

/// Candidates of one broker: (contribution as ordered bits, slot or partition).
/// Contributions are non-negative, so their IEEE bits order like their values.
type Cands = BTreeSet<(u64, u32)>;

fn key_of(v: f64) -> u64 {
    v.max(0.0).to_bits()
}

fn val_of(k: u64) -> f64 {
    f64::from_bits(k)
}

/// Try order for an amount `want`. Replica count (keys are sizes): sizes closest to `want`
/// first. Other metrics: the largest contribution not above `want` first, then smaller
/// ones, then larger ones.
fn order(set: &Cands, want: f64, count_mode: bool) -> Box<dyn Iterator<Item = (u64, u32)> + '_> {
    let w = key_of(want);
    if count_mode {
        let below = set.range(..(w, 0)).rev().copied().peekable();
        let above = set.range((w, 0)..).copied().peekable();
        Box::new(Closest { below, above, want })
    } else {
        Box::new(
            set.range(..=(w, u32::MAX)).rev().copied().chain(
                set.range((Bound::Excluded((w, u32::MAX)), Bound::Unbounded))
                    .copied(),
            ),
        )
    }
}

struct Closest<B: Iterator<Item = (u64, u32)>, A: Iterator<Item = (u64, u32)>> {
    below: std::iter::Peekable<B>,
    above: std::iter::Peekable<A>,
    want: f64,
}

impl<B: Iterator<Item = (u64, u32)>, A: Iterator<Item = (u64, u32)>> Iterator for Closest<B, A> {
    type Item = (u64, u32);
    fn next(&mut self) -> Option<(u64, u32)> {
        let take_above = match (self.below.peek(), self.above.peek()) {
            (None, None) => return None,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(b), Some(a)) => val_of(a.0) - self.want <= self.want - val_of(b.0),
        };
        if take_above {
            self.above.next()
        } else {
            self.below.next()
        }
    }
}

pub(crate) struct Balancer<'s, 'c> {
    pub st: &'s mut State<'c>,
    pub k: usize,
    pub band: Band,
    pub goal: u8,
    pub leadership_first: bool,
    pub allow_swaps: bool,
    /// Per broker: (contribution to k, slot) of its replicas, sorted by contribution desc
    /// (for the replica-count metric: (size, slot) ascending). Entries go stale lazily.
    cache: Vec<Option<Cands>>,
    /// Per broker: (leadership delta of k, partition) of partitions it leads, desc.
    lead_cache: Vec<Option<Cands>>,
    /// Per broker: (leadership delta of k, slot) of replicas it follows, desc.
    follow_cache: Vec<Option<Cands>>,
    /// Destinations in ascending order of metric k (kept sorted as moves happen).
    dests: Vec<usize>,
    pub moves: u64,
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
            cache: vec![None; nb],
            lead_cache: vec![None; nb],
            follow_cache: vec![None; nb],
            dests: Vec::new(),
            moves: 0,
        }
    }

    fn viol(&self, b: usize, v: f64) -> f64 {
        self.band.viol(b, v)
    }

    /// Reduction of this goal's violation if `d` moves from broker `a` to broker `b`.
    fn gain(&self, a: usize, b: usize, d: f64) -> f64 {
        let (va, vb) = (self.st.metric[a][self.k], self.st.metric[b][self.k]);
        self.viol(a, va) + self.viol(b, vb) - self.viol(a, va - d) - self.viol(b, vb + d)
    }

    fn build_list(&self, a: usize) -> Cands {
        let k = self.k;
        let st = &*self.st;
        st.slots_on[a]
            .iter()
            .filter(|&&s| st.movable[st.slot_part[s as usize] as usize])
            .map(|&s| {
                let p = st.slot_part[s as usize] as usize;
                let c = contrib(st.c, p, st.is_leader_slot(s as usize));
                if k == M_REPLICAS {
                    (c[1], s)
                } else {
                    (c[k], s)
                }
            })
            .filter(|(c, _)| k == M_REPLICAS || *c > 0.0)
            .map(|(c, s)| (key_of(c), s))
            .collect()
    }

    /// Takes broker `a`'s candidate set out of the cache (put it back afterwards).
    fn take_list(&mut self, a: usize) -> Cands {
        match self.cache[a].take() {
            Some(v) => v,
            None => self.build_list(a),
        }
    }

    fn take_lead_list(&mut self, a: usize) -> Cands {
        if let Some(v) = self.lead_cache[a].take() {
            return v;
        }
        let st = &*self.st;
        st.slots_on[a]
            .iter()
            .filter(|&&s| st.is_leader_slot(s as usize))
            .map(|&s| {
                let p = st.slot_part[s as usize] as usize;
                (leadership_delta(st.c, p)[self.k], p as u32)
            })
            .filter(|x| x.0 > 0.0)
            .map(|(c, p)| (key_of(c), p))
            .collect()
    }

    fn take_follow_list(&mut self, b: usize) -> Cands {
        if let Some(v) = self.follow_cache[b].take() {
            return v;
        }
        let st = &*self.st;
        st.slots_on[b]
            .iter()
            .filter(|&&s| !st.is_leader_slot(s as usize))
            .map(|&s| {
                let p = st.slot_part[s as usize] as usize;
                (leadership_delta(st.c, p)[self.k], s)
            })
            .filter(|x| x.0 > 0.0)
            .map(|(c, s)| (key_of(c), s))
            .collect()
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
        for _ in 0..rounds {
            let before = self.moves;
            self.cache.iter_mut().for_each(|c| *c = None);
            self.lead_cache.iter_mut().for_each(|c| *c = None);
            self.follow_cache.iter_mut().for_each(|c| *c = None);
            self.sort_dests();
            let nb = self.st.nb();
            let mut over: Vec<usize> = (0..nb).filter(|&b| self.over(b)).collect();
            over.sort_by(|&x, &y| {
                let ex = self.st.metric[x][self.k] - self.band.hi[x];
                let ey = self.st.metric[y][self.k] - self.band.hi[y];
                ey.total_cmp(&ex).then(x.cmp(&y))
            });
            for a in over {
                while self.over(a) && self.shed_one(a) {}
            }
            let mut under: Vec<usize> = (0..nb).filter(|&b| self.under(b)).collect();
            under.sort_by(|&x, &y| {
                let dx = self.band.lo[x] - self.st.metric[x][self.k];
                let dy = self.band.lo[y] - self.st.metric[y][self.k];
                dy.total_cmp(&dx).then(x.cmp(&y))
            });
            for b in under {
                while self.under(b) && self.fill_one(b) {}
            }
            if self.moves == before {
                break;
            }
        }
    }

    fn try_leadership_from(&mut self, a: usize) -> bool {
        let k = self.k;
        let excess = self.st.metric[a][k] - self.band.hi[a];
        let mut list = self.take_lead_list(a);
        let mut found = None;
        let mut tries = 0;
        let mut stale = Vec::new();
        for i in order(&list, excess, false) {
            let p = i.1 as usize;
            if self.st.leader_of(p) as usize != a {
                stale.push(i);
                continue;
            }
            tries += 1;
            if tries > MAX_TRIES {
                break;
            }
            let d = leadership_delta(self.st.c, p)[k];
            let rf = usize::from(self.st.c.partitions[p].rf);
            let start_slot = self.st.c.partitions[p].start as usize;
            let mut best: Option<(f64, usize)> = None;
            for pos in 1..rf {
                let b = self.st.assign[start_slot + pos] as usize;
                if !self.band.participates[b] {
                    continue;
                }
                if self.gain(a, b, d) > tol(d) && self.st.leadership_ok(p, pos) {
                    let r = self.st.ratio(k, b);
                    if best.is_none_or(|(br, _)| r < br) {
                        best = Some((r, pos));
                    }
                }
            }
            if let Some((_, pos)) = best {
                found = Some((p, pos));
                stale.push(i);
                break;
            }
        }
        for i in stale {
            list.remove(&i);
        }
        self.lead_cache[a] = Some(list);
        if let Some((p, pos)) = found {
            self.do_leadership_move(p, pos);
            return true;
        }
        false
    }

    fn try_leadership_to(&mut self, b: usize) -> bool {
        let k = self.k;
        let deficit = self.band.lo[b] - self.st.metric[b][k];
        let mut list = self.take_follow_list(b);
        let mut found = None;
        let mut tries = 0;
        let mut stale = Vec::new();
        for i in order(&list, deficit, false) {
            let s = i.1 as usize;
            if self.st.assign[s] as usize != b || self.st.is_leader_slot(s) {
                stale.push(i);
                continue;
            }
            tries += 1;
            if tries > MAX_TRIES {
                break;
            }
            let p = self.st.slot_part[s] as usize;
            let start = self.st.c.partitions[p].start as usize;
            let a = self.st.assign[start] as usize;
            let d = leadership_delta(self.st.c, p)[k];
            if self.gain(a, b, d) > tol(d) && self.st.leadership_ok(p, s - start) {
                found = Some((p, s - start));
                stale.push(i);
                break;
            }
        }
        for i in stale {
            list.remove(&i);
        }
        self.follow_cache[b] = Some(list);
        if let Some((p, pos)) = found {
            self.do_leadership_move(p, pos);
            return true;
        }
        false
    }

    fn shed_one(&mut self, a: usize) -> bool {
        if self.leadership_first && self.try_leadership_from(a) {
            return true;
        }
        let k = self.k;
        let excess = self.st.metric[a][k] - self.band.hi[a];
        let want = if k == M_REPLICAS {
            self.count_target_size(a)
        } else {
            excess
        };
        let mut list = self.take_list(a);
        let mut stale = Vec::new();
        let mut budget = MAX_TRIES;
        let found = self.shed_search(a, &list, want, None, &mut stale, &mut budget);
        for i in stale {
            list.remove(&i);
        }
        self.cache[a] = Some(list);
        if let Some((s, b)) = found {
            self.do_replica_move(s, b);
            return true;
        }
        if !self.leadership_first && k != M_REPLICAS && self.try_leadership_from(a) {
            return true;
        }
        self.allow_swaps && self.try_swap(a, excess)
    }

    /// Finds a replica on `a` and a destination for it (`only` or the sorted destinations);
    /// the first pass keeps topic spreads inside their band on the destination.
    fn shed_search(
        &self,
        a: usize,
        list: &Cands,
        want: f64,
        only: Option<usize>,
        stale: &mut Vec<(u64, u32)>,
        budget: &mut usize,
    ) -> Option<(usize, usize)> {
        let topic_aware = !self.st.topic_band.is_empty() && !self.st.topic_locked;
        let single = only.map(|b| [b]);
        let dests: &[usize] = match &single {
            Some(one) => one,
            None => &self.dests,
        };
        for pass in 0..2 {
            if pass == 1 && !topic_aware {
                break;
            }
            for i in order(list, want, self.k == M_REPLICAS) {
                let s = i.1 as usize;
                if self.st.assign[s] as usize != a {
                    if pass == 0 {
                        stale.push(i);
                    }
                    continue;
                }
                let d = self.contrib_k(s);
                for &b in dests {
                    if b == a {
                        continue;
                    }
                    if *budget == 0 {
                        break;
                    }
                    *budget -= 1;
                    if pass == 0 && topic_aware && self.topic_would_overflow(s, b) {
                        continue;
                    }
                    if self.gain(a, b, d) > tol(d) && self.st.replica_move_ok(s, b as u32) {
                        if pass == 1 {
                            stale.clear();
                        }
                        stale.push(i);
                        return Some((s, b));
                    }
                }
                if *budget == 0 {
                    break;
                }
            }
        }
        None
    }

    fn topic_would_overflow(&self, s: usize, b: usize) -> bool {
        let t = self.st.c.partitions[self.st.slot_part[s] as usize].topic as usize;
        f64::from(self.st.topic_count[t * self.st.nb() + b]) + 1.0 > self.st.topic_band[t].1
    }

    fn fill_one(&mut self, b: usize) -> bool {
        if self.leadership_first && self.try_leadership_to(b) {
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
            let mut list = self.take_list(a);
            let mut stale = Vec::new();
            let found = self.shed_search(a, &list, want, Some(b), &mut stale, &mut budget);
            for i in stale {
                list.remove(&i);
            }
            self.cache[a] = Some(list);
            if let Some((s, b)) = found {
                self.do_replica_move(s, b);
                return true;
            }
        }
        !self.leadership_first && k != M_REPLICAS && self.try_leadership_to(b)
    }

    /// Swap a large replica on `a` with a smaller one on a less-loaded broker: replica counts
    /// stay put while metric `k` moves from `a` to the other broker.
    fn try_swap(&mut self, a: usize, excess: f64) -> bool {
        let k = self.k;
        if k == M_REPLICAS || k >= METRICS {
            return false;
        }
        let mut tries = 0;
        let mine = self.take_list(a);
        let dests: Vec<usize> = self
            .dests
            .iter()
            .copied()
            .filter(|&b| b != a)
            .take(8)
            .collect();
        let mut found = None;
        'outer: for b in dests {
            let room = (self.band.hi[b] - self.st.metric[b][k]).max(0.0);
            let theirs = self.take_list(b);
            for &(c1, s1) in mine.iter().rev().take(256) {
                let (c1, s1) = (val_of(c1), s1 as usize);
                if self.st.assign[s1] as usize != a {
                    continue;
                }
                let ideal = c1 - excess.min(room.max(excess * 0.5));
                let near: Vec<(u64, u32)> =
                    order(&theirs, ideal.max(0.0), false).take(16).collect();
                for (c2, s2) in near {
                    let (c2, s2) = (val_of(c2), s2 as usize);
                    tries += 1;
                    if tries > MAX_TRIES {
                        self.cache[b] = Some(theirs);
                        break 'outer;
                    }
                    if self.st.assign[s2] as usize != b || c2 >= c1 {
                        continue;
                    }
                    if self.gain(a, b, c1 - c2) > tol(c1) && self.st.swap_ok(s1, s2) {
                        found = Some((s1, s2, b));
                        self.cache[b] = Some(theirs);
                        break 'outer;
                    }
                }
            }
            self.cache[b] = Some(theirs);
        }
        self.cache[a] = Some(mine);
        if let Some((s1, s2, b)) = found {
            self.st.move_replica(s1, b as u32, self.goal);
            self.st.move_replica(s2, a as u32, self.goal);
            self.st.swaps.push((s1 as u32, s2 as u32));
            self.moves += 2;
            self.touch(a);
            self.touch(b);
            // Slots arrived on both brokers: their lists need a rebuild to see them.
            self.cache[a] = None;
            self.cache[b] = None;
            return true;
        }
        false
    }
}
