//! Greedy, incremental balancing of one per-broker metric inside its band.
//!
//! Brokers above the band shed load (largest-fitting candidate first, onto the least-loaded
//! acceptable destination); brokers below the band pull load from the most-loaded ones.
//! Leadership moves are tried before replica moves for goals they affect, and swaps are
//! tried when no single move is acceptable. Every move must strictly reduce the current
//! goal's violation and pass [`State::replica_move_ok`] (hard goals and earlier goals).

use crate::goals::{M_REPLICAS, METRICS};
use crate::state::{Band, State, contrib, leadership_delta, tol};

/// Bound on candidate evaluations per shed/fill step, so pathological inputs stay fast.
const MAX_TRIES: usize = 4000;

pub(crate) struct Balancer<'s, 'c> {
    pub st: &'s mut State<'c>,
    pub k: usize,
    pub band: Band,
    pub goal: u8,
    pub leadership_first: bool,
    pub allow_swaps: bool,
    /// Per-broker candidate list: (contribution to k, slot), sorted by contribution desc
    /// (for the replica-count metric: by size ascending).
    cache: Vec<Option<Vec<(f64, u32)>>>,
    pub moves: u64,
}

impl<'s, 'c> Balancer<'s, 'c> {
    pub fn new(st: &'s mut State<'c>, k: usize, band: Band, goal: u8, leadership_first: bool, allow_swaps: bool) -> Self {
        let nb = st.nb();
        Balancer { st, k, band, goal, leadership_first, allow_swaps, cache: vec![None; nb], moves: 0 }
    }

    fn viol(&self, b: usize, v: f64) -> f64 {
        self.band.viol(b, v)
    }

    /// Reduction of this goal's violation if `d` moves from broker `a` to broker `b`.
    fn gain(&self, a: usize, b: usize, d: f64) -> f64 {
        let (va, vb) = (self.st.metric[a][self.k], self.st.metric[b][self.k]);
        self.viol(a, va) + self.viol(b, vb) - self.viol(a, va - d) - self.viol(b, vb + d)
    }

    fn candidates(&mut self, a: usize) -> &Vec<(f64, u32)> {
        if self.cache[a].is_none() {
            let k = self.k;
            let st = &*self.st;
            let mut v: Vec<(f64, u32)> = st.slots_on[a]
                .iter()
                .filter(|&&s| st.movable[st.slot_part[s as usize] as usize])
                .map(|&s| {
                    let p = st.slot_part[s as usize] as usize;
                    let c = contrib(st.c, p, st.is_leader_slot(s as usize));
                    if k == M_REPLICAS { (c[1], s) } else { (c[k], s) }
                })
                .filter(|(c, _)| k == M_REPLICAS || *c > 0.0)
                .collect();
            if k == M_REPLICAS {
                v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            } else {
                v.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            }
            self.cache[a] = Some(v);
        }
        // Just filled above.
        #[allow(clippy::unwrap_used)]
        self.cache[a].as_ref().unwrap()
    }

    fn contrib_k(&self, slot: usize) -> f64 {
        let p = self.st.slot_part[slot] as usize;
        contrib(self.st.c, p, self.st.is_leader_slot(slot))[self.k]
    }

    /// Candidate indices of broker `a`'s list in try order for an amount `want`: largest
    /// contribution not above `want` first, then smaller ones, then larger ones.
    fn try_order(&mut self, a: usize, want: f64) -> Vec<u32> {
        let k = self.k;
        let list = self.candidates(a);
        if k == M_REPLICAS {
            return list.iter().map(|x| x.1).collect();
        }
        let start = list.partition_point(|x| x.0 > want);
        let mut out: Vec<u32> = list[start..].iter().map(|x| x.1).collect();
        out.extend(list[..start].iter().rev().map(|x| x.1));
        out
    }

    fn dests_ascending(&self) -> Vec<usize> {
        let st = &*self.st;
        let mut v: Vec<usize> =
            (0..st.nb()).filter(|&b| st.dest_ok[b] && self.band.participates[b]).collect();
        v.sort_by(|&x, &y| {
            st.ratio(self.k, x)
                .total_cmp(&st.ratio(self.k, y))
                .then(st.load_key(x).0.total_cmp(&st.load_key(y).0))
                .then(x.cmp(&y))
        });
        v
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
        let mut led: Vec<(f64, usize)> = self.st.slots_on[a]
            .iter()
            .filter(|&&s| self.st.is_leader_slot(s as usize))
            .map(|&s| {
                let p = self.st.slot_part[s as usize] as usize;
                (leadership_delta(self.st.c, p)[k], p)
            })
            .filter(|x| x.0 > 0.0)
            .collect();
        led.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let start = led.partition_point(|x| x.0 > excess);
        let order = led[start..].iter().chain(led[..start].iter().rev());
        for (tries, &(d, p)) in order.enumerate() {
            if tries > MAX_TRIES {
                break;
            }
            let rf = usize::from(self.st.c.partitions[p].rf);
            let start_slot = self.st.c.partitions[p].start as usize;
            let mut best: Option<(f64, usize)> = None;
            for pos in 1..rf {
                let b = self.st.assign[start_slot + pos] as usize;
                if !self.band.participates[b] {
                    continue;
                }
                let g = self.gain(a, b, d);
                if g > tol(d) && self.st.leadership_ok(p, pos) {
                    let r = self.st.ratio(k, b);
                    if best.is_none_or(|(br, _)| r < br) {
                        best = Some((r, pos));
                    }
                }
            }
            if let Some((_, pos)) = best {
                self.st.move_leadership(p, pos, self.goal);
                self.moves += 1;
                return true;
            }
        }
        false
    }

    fn try_leadership_to(&mut self, b: usize) -> bool {
        let k = self.k;
        let deficit = self.band.lo[b] - self.st.metric[b][k];
        let mut best: Option<(f64, usize, usize)> = None;
        for &s in &self.st.slots_on[b] {
            let s = s as usize;
            if self.st.is_leader_slot(s) {
                continue;
            }
            let p = self.st.slot_part[s] as usize;
            let start = self.st.c.partitions[p].start as usize;
            let a = self.st.assign[start] as usize;
            let d = leadership_delta(self.st.c, p)[k];
            if d <= 0.0 || d > deficit * 2.0 + tol(deficit) {
                continue;
            }
            let g = self.gain(a, b, d);
            if g > tol(d) && best.is_none_or(|(bg, _, _)| g > bg + tol(bg)) && self.st.leadership_ok(p, s - start) {
                best = Some((g, p, s - start));
            }
        }
        if let Some((_, p, pos)) = best {
            self.st.move_leadership(p, pos, self.goal);
            self.moves += 1;
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
        let dests = self.dests_ascending();
        let order = self.try_order(a, excess);
        let mut tries = 0;
        for &s in &order {
            let s = s as usize;
            if self.st.assign[s] as usize != a {
                continue;
            }
            let d = self.contrib_k(s);
            for &b in &dests {
                if b == a {
                    continue;
                }
                tries += 1;
                if self.gain(a, b, d) > tol(d) && self.st.replica_move_ok(s, b as u32) {
                    self.st.move_replica(s, b as u32, self.goal);
                    self.moves += 1;
                    return true;
                }
                if tries > MAX_TRIES {
                    break;
                }
            }
            if tries > MAX_TRIES {
                break;
            }
        }
        if !self.leadership_first && k != M_REPLICAS && self.try_leadership_from(a) {
            return true;
        }
        self.allow_swaps && self.try_swap(a, &dests, excess)
    }

    fn fill_one(&mut self, b: usize) -> bool {
        if self.leadership_first && self.try_leadership_to(b) {
            return true;
        }
        let k = self.k;
        let deficit = self.band.lo[b] - self.st.metric[b][k];
        let mut sources = self.dests_ascending();
        sources.reverse();
        let mut tries = 0;
        for &a in sources.iter().take(16) {
            if a == b {
                continue;
            }
            let order = self.try_order(a, deficit);
            for &s in &order {
                let s = s as usize;
                if self.st.assign[s] as usize != a {
                    continue;
                }
                tries += 1;
                let d = self.contrib_k(s);
                if self.gain(a, b, d) > tol(d) && self.st.replica_move_ok(s, b as u32) {
                    self.st.move_replica(s, b as u32, self.goal);
                    self.moves += 1;
                    return true;
                }
                if tries > MAX_TRIES {
                    return false;
                }
            }
        }
        false
    }

    /// Swap a large replica on `a` with a smaller one on a less-loaded broker: replica counts
    /// stay put while metric `k` moves from `a` to the other broker.
    fn try_swap(&mut self, a: usize, dests: &[usize], excess: f64) -> bool {
        let k = self.k;
        if k == M_REPLICAS || k >= METRICS {
            return false;
        }
        let mut tries = 0;
        let mine = self.try_order(a, f64::INFINITY);
        for &b in dests.iter().take(8) {
            if b == a {
                continue;
            }
            let room = (self.band.hi[b] - self.st.metric[b][k]).max(0.0);
            let theirs: Vec<(f64, u32)> = self.candidates(b).clone();
            for &s1 in mine.iter().take(256) {
                let s1 = s1 as usize;
                if self.st.assign[s1] as usize != a {
                    continue;
                }
                let c1 = self.contrib_k(s1);
                let ideal = c1 - excess.min(room.max(excess * 0.5));
                // `theirs` is sorted by contribution descending: first index at or below `ideal`.
                let start = theirs.partition_point(|x| x.0 > ideal.max(0.0));
                for &(c2, s2) in theirs[start..].iter().take(8).chain(theirs[..start].iter().rev().take(8)) {
                    let s2 = s2 as usize;
                    tries += 1;
                    if tries > MAX_TRIES {
                        return false;
                    }
                    if self.st.assign[s2] as usize != b || c2 >= c1 {
                        continue;
                    }
                    if self.gain(a, b, c1 - c2) > tol(c1) && self.st.swap_ok(s1, s2) {
                        self.st.move_replica(s1, b as u32, self.goal);
                        self.st.move_replica(s2, a as u32, self.goal);
                        self.st.swaps.push((s1 as u32, s2 as u32));
                        self.moves += 2;
                        self.cache[b] = None;
                        return true;
                    }
                }
            }
        }
        false
    }
}
