//! Greedy, incremental balancing of one per-broker metric inside its band.
//!
//! Brokers above the band shed load (largest-fitting candidate first, onto the least-loaded
//! acceptable destination); brokers below the band pull load from the most-loaded ones.
//! Leadership moves are tried before replica moves for goals they affect, and swaps are
//! tried when no single move is acceptable. Every move must strictly reduce the current
//! goal's violation and pass [`State::replica_move_ok`] (hard goals and earlier goals).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Bound;

use crate::goals::{M_DISK, M_LEADERS, M_NW_OUT, M_REPLICAS, METRICS};
use crate::state::{Band, State, contrib, leadership_delta, tol};

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

/// Acceptable swaps compared by their effect on later goals before one is taken.
const SWAP_LOOKAHEAD: usize = 1;

/// Leaderships of the middle broker tried per first link of a leadership chain.
const CHAIN_FANOUT: usize = 32;

/// A soft goal's band on one broker, with the tolerances of [`Band::viol`] applied.
#[derive(Debug, Clone, Copy, Default)]
struct Edges {
    participates: bool,
    lo: f64,
    hi: f64,
}

impl Edges {
    fn of(band: &Band, b: usize) -> Edges {
        let (lo, hi) = (band.lo[b], band.hi[b]);
        Edges {
            participates: band.participates[b],
            lo,
            hi,
        }
    }

    /// Same as [`Band::viol`].
    fn viol(&self, v: f64) -> f64 {
        if !self.participates {
            0.0
        } else if v > self.hi + tol(self.hi) {
            v - self.hi
        } else if v < self.lo - tol(self.lo) {
            self.lo - v
        } else {
            0.0
        }
    }
}

/// One later goal's band on the two brokers of a move (see [`Balancer::later_bands`]).
#[derive(Debug, Clone, Copy, Default)]
struct LaterBand {
    metric: usize,
    va: f64,
    vb: f64,
    a: Edges,
    b: Edges,
    base: f64,
    scale: f64,
}

/// The later goals' bands on the two brokers of a move.
struct LaterBands {
    n: usize,
    m: [LaterBand; METRICS],
}

/// Candidates of one broker: (contribution as ordered bits, slot or partition).
/// Contributions are non-negative, so their IEEE bits order like their values.
type Cands = BTreeSet<(u64, u32)>;

/// A leadership chain: `(p, position of p's new leader, q, position of q's new leader)`.
type Chain = (usize, usize, usize, usize);

/// A leadership move found by a search, `(partition, position of the new leader)`, and the
/// stale list entries the search saw.
type Found = (Option<(usize, usize)>, Vec<(u64, u32)>);

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

/// The candidate lists a balancer keeps per broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    /// (contribution to k, slot) of its movable replicas (replica count: (size, slot)).
    Replicas = 0,
    /// (leadership delta of k, partition) of the partitions it leads.
    Leads = 1,
    /// (leadership delta of k, slot) of the replicas it follows.
    Follows = 2,
}

pub(crate) struct Balancer<'s, 'c> {
    pub st: &'s mut State<'c>,
    pub k: usize,
    pub band: Band,
    pub goal: u8,
    pub leadership_first: bool,
    pub allow_swaps: bool,
    /// Per [`List`] kind and broker: its candidates, built on first use. Entries go stale
    /// lazily (searches skip and prune them); the lists are rebuilt every round.
    lists: [Vec<Option<Cands>>; 3],
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
            lists: [vec![None; nb], vec![None; nb], vec![None; nb]],
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
        let mut merged: [(usize, f64); 4] = [(usize::MAX, 0.0); 4];
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

    /// Whether the leadership moves `moves` (partition, new leader's position), made
    /// together, lower this goal's violation and are acceptable for every other goal.
    fn leadership_moves_help(&self, moves: &[(usize, usize)]) -> bool {
        let st = &*self.st;
        let mut changes = [(usize::MAX, 0.0); 6];
        let mut largest = 0.0f64;
        for (i, &(part, pos)) in moves.iter().enumerate() {
            let start = st.c.partitions[part].start as usize;
            let (from, to) = (st.assign[start] as usize, st.assign[start + pos] as usize);
            if !self.band.participates[to] {
                return false;
            }
            let d = leadership_delta(st.c, part)[self.k];
            largest = largest.max(d);
            changes[2 * i] = (from, -d);
            changes[2 * i + 1] = (to, d);
        }
        self.gain_of(&changes[..2 * moves.len()]) > tol(largest) && st.leadership_moves_ok(moves)
    }

    fn chain_ok(&self, p: usize, pos_p: usize, q: usize, pos_q: usize) -> bool {
        self.leadership_moves_help(&[(p, pos_p), (q, pos_q)])
    }

    /// Leader count only: broker `x` trades leaderships so its count moves by one while
    /// its leadership-sensitive load (network out, CPU, leader bytes in) stays about level.
    /// Shedding (`shed`): it gives two light leaderships away and takes one heavy one over;
    /// filling: it takes two light ones over and gives one heavy one away.
    fn try_leadership_trade(&mut self, x: usize, shed: bool) -> bool {
        let st = &*self.st;
        // Weight of a leadership for the goals the count must not disturb.
        let weight = |p: usize| leadership_delta(st.c, p)[M_NW_OUT];
        // (weight, partition, x's position in it) of the leaderships x holds and could take.
        let mut leads: Vec<(f64, usize, usize)> = Vec::new();
        let mut follows: Vec<(f64, usize, usize)> = Vec::new();
        for &s in &st.slots_on[x] {
            let s = s as usize;
            let p = st.slot_part[s] as usize;
            if !st.movable[p] {
                continue;
            }
            let pos = s - st.c.partitions[p].start as usize;
            if st.is_leader_slot(s) {
                leads.push((weight(p), p, pos));
            } else {
                follows.push((weight(p), p, pos));
            }
        }
        // Light ones first for the pair, heavy ones first for the single partner.
        let by_weight = |v: &mut Vec<(f64, usize, usize)>, heavy_first: bool| {
            v.sort_by(|a, b| {
                let o = a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if heavy_first { o.reverse() } else { o }
            });
        };
        let (pair, single) = if shed {
            (&mut leads, &mut follows)
        } else {
            (&mut follows, &mut leads)
        };
        by_weight(pair, false);
        by_weight(single, true);
        let pair: Vec<(f64, usize, usize)> = pair.iter().copied().take(12).collect();
        let single: Vec<(f64, usize, usize)> = single.iter().copied().take(8).collect();
        // A move of partition p (x leads it: to a follower; x follows it: to x).
        let options = |p: usize, pos_x: usize| -> Vec<(usize, usize)> {
            if pos_x == 0 {
                (1..usize::from(st.c.partitions[p].rf))
                    .map(|pos| (p, pos))
                    .collect()
            } else {
                vec![(p, pos_x)]
            }
        };
        let mut tries = 0;
        for &(_, q, qx) in &single {
            for (i, &(_, p1, p1x)) in pair.iter().enumerate() {
                for &(_, p2, p2x) in &pair[i + 1..] {
                    for m1 in options(p1, p1x) {
                        for m2 in options(p2, p2x) {
                            for mq in options(q, qx) {
                                tries += 1;
                                if tries > MAX_TRIES {
                                    return false;
                                }
                                let moves = [m1, m2, mq];
                                if self.leadership_moves_help(&moves) {
                                    for (p, pos) in moves {
                                        self.do_leadership_move(p, pos);
                                    }
                                    return true;
                                }
                            }
                        }
                    }
                }
            }
        }
        false
    }

    /// Broker `a` sheds one leadership through a chain: `p` goes from `a` to its follower
    /// `b`, and `b` hands one of its own leaderships `q` on to a follower `c`, so `b`'s
    /// load stays about the same. Used when no single leadership move is acceptable.
    fn try_leadership_chain_from(&mut self, a: usize) -> bool {
        let found = self.find_chain_from(a);
        self.apply_chain(found)
    }

    fn find_chain_from(&self, a: usize) -> Option<Chain> {
        let mine = self.list(List::Leads, a);
        let mut tries = 0;
        for p in self.still_leading(&mine, a) {
            let start = self.st.c.partitions[p].start as usize;
            for pos_p in 1..usize::from(self.st.c.partitions[p].rf) {
                let b = self.st.assign[start + pos_p] as usize;
                let theirs = self.list(List::Leads, b);
                for q in self.still_leading(&theirs, b).take(CHAIN_FANOUT) {
                    for pos_q in 1..usize::from(self.st.c.partitions[q].rf) {
                        tries += 1;
                        if tries > MAX_TRIES {
                            return None;
                        }
                        if self.chain_ok(p, pos_p, q, pos_q) {
                            return Some((p, pos_p, q, pos_q));
                        }
                    }
                }
            }
        }
        None
    }

    /// Broker `c` gains one leadership through a chain: `q`, led by `b` and followed by `c`,
    /// moves to `c`, and `b` takes over a leadership `p` from another broker `a`.
    fn try_leadership_chain_to(&mut self, c: usize) -> bool {
        let found = self.find_chain_to(c);
        self.apply_chain(found)
    }

    fn find_chain_to(&self, c: usize) -> Option<Chain> {
        let mine = self.list(List::Follows, c);
        let mut tries = 0;
        for sq in self.still_following(&mine, c) {
            let q = self.st.slot_part[sq] as usize;
            let start_q = self.st.c.partitions[q].start as usize;
            let b = self.st.assign[start_q] as usize;
            let theirs = self.list(List::Follows, b);
            for sp in self.still_following(&theirs, b).take(CHAIN_FANOUT) {
                let p = self.st.slot_part[sp] as usize;
                let pos_p = sp - self.st.c.partitions[p].start as usize;
                tries += 1;
                if tries > MAX_TRIES {
                    return None;
                }
                if self.chain_ok(p, pos_p, q, sq - start_q) {
                    return Some((p, pos_p, q, sq - start_q));
                }
            }
        }
        None
    }

    /// Partitions of a [`List::Leads`] list that `b` still leads, largest first.
    fn still_leading<'l>(&'l self, list: &'l Cands, b: usize) -> impl Iterator<Item = usize> + 'l {
        list.iter()
            .rev()
            .map(|&(_, p)| p as usize)
            .filter(move |&p| self.st.leader_of(p) as usize == b)
    }

    /// Slots of a [`List::Follows`] list that are still followers on `b`, largest first.
    fn still_following<'l>(
        &'l self,
        list: &'l Cands,
        b: usize,
    ) -> impl Iterator<Item = usize> + 'l {
        list.iter()
            .rev()
            .map(|&(_, s)| s as usize)
            .filter(move |&s| self.st.assign[s] as usize == b && !self.st.is_leader_slot(s))
    }

    /// Carries out a chain found by the searches above: `p` first, then `q`.
    fn apply_chain(&mut self, found: Option<Chain>) -> bool {
        let Some((p, pos_p, q, pos_q)) = found else {
            return false;
        };
        self.do_leadership_move(p, pos_p);
        self.do_leadership_move(q, pos_q);
        true
    }

    /// Builds broker `b`'s list of `kind` from the current assignment.
    fn build(&self, kind: List, b: usize) -> Cands {
        let (k, st) = (self.k, &*self.st);
        let slots = st.slots_on[b].iter().map(|&s| s as usize);
        let keyed: Vec<(f64, u32)> = match kind {
            List::Replicas => slots
                .filter(|&s| st.movable[st.slot_part[s] as usize])
                .map(|s| {
                    let c = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
                    (if k == M_REPLICAS { c[1] } else { c[k] }, s as u32)
                })
                .filter(|(c, _)| k == M_REPLICAS || *c > 0.0)
                .collect(),
            List::Leads | List::Follows => slots
                .filter(|&s| st.is_leader_slot(s) == (kind == List::Leads))
                .map(|s| {
                    let p = st.slot_part[s] as usize;
                    let id = if kind == List::Leads { p } else { s };
                    (leadership_delta(st.c, p)[k], id as u32)
                })
                .filter(|x| x.0 > 0.0)
                .collect(),
        };
        keyed.into_iter().map(|(c, id)| (key_of(c), id)).collect()
    }

    /// Builds broker `b`'s list of `kind` unless it is cached.
    fn ensure(&mut self, kind: List, b: usize) {
        if self.lists[kind as usize][b].is_none() {
            let built = self.build(kind, b);
            self.lists[kind as usize][b] = Some(built);
        }
    }

    /// Broker `b`'s list of `kind`: the cached one, or (not cached) a fresh one.
    fn list(&self, kind: List, b: usize) -> Cow<'_, Cands> {
        match &self.lists[kind as usize][b] {
            Some(l) => Cow::Borrowed(l),
            None => Cow::Owned(self.build(kind, b)),
        }
    }

    /// Drops stale entries a search found in broker `b`'s list of `kind`.
    fn prune(&mut self, kind: List, b: usize, stale: Vec<(u64, u32)>) {
        if let Some(l) = &mut self.lists[kind as usize][b] {
            for i in stale {
                l.remove(&i);
            }
        }
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
        self.probes = (PROBE_BUDGET / excess.max(1.0)).min(COUNT_LOOKAHEAD as f64) as usize;
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

    /// Moves one leadership off broker `a` to a follower, if one is acceptable.
    fn try_leadership_from(&mut self, a: usize) -> bool {
        self.ensure(List::Leads, a);
        let (found, stale) = self.find_leadership_from(a);
        self.prune(List::Leads, a, stale);
        self.lead(found)
    }

    /// Moves one leadership onto broker `b` from a partition it follows, if acceptable.
    fn try_leadership_to(&mut self, b: usize) -> bool {
        self.ensure(List::Follows, b);
        let (found, stale) = self.find_leadership_to(b);
        self.prune(List::Follows, b, stale);
        self.lead(found)
    }

    fn lead(&mut self, found: Option<(usize, usize)>) -> bool {
        match found {
            Some((p, pos)) => {
                self.do_leadership_move(p, pos);
                true
            }
            None => false,
        }
    }

    /// A partition led by `a` and the position of the follower (the least loaded in k)
    /// that should lead it; plus the stale list entries seen.
    fn find_leadership_from(&self, a: usize) -> Found {
        let k = self.k;
        let excess = self.st.metric[a][k] - self.band.hi[a];
        let list = self.list(List::Leads, a);
        let mut stale = Vec::new();
        let mut tries = 0;
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
            let start = self.st.c.partitions[p].start as usize;
            let best = (1..usize::from(self.st.c.partitions[p].rf))
                .filter(|&pos| {
                    let b = self.st.assign[start + pos] as usize;
                    self.band.participates[b]
                        && self.gain(a, b, d) > tol(d)
                        && self.st.leadership_ok(p, pos)
                })
                .min_by(|&x, &y| {
                    let rx = self.st.ratio(k, self.st.assign[start + x] as usize);
                    let ry = self.st.ratio(k, self.st.assign[start + y] as usize);
                    rx.total_cmp(&ry).then(x.cmp(&y))
                });
            if let Some(pos) = best {
                stale.push(i);
                return (Some((p, pos)), stale);
            }
        }
        (None, stale)
    }

    /// A partition `b` follows whose leadership should move to `b`, with `b`'s position.
    fn find_leadership_to(&self, b: usize) -> Found {
        let k = self.k;
        let deficit = self.band.lo[b] - self.st.metric[b][k];
        let list = self.list(List::Follows, b);
        let mut stale = Vec::new();
        let mut tries = 0;
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
                stale.push(i);
                return (Some((p, s - start)), stale);
            }
        }
        (None, stale)
    }

    fn shed_one(&mut self, a: usize) -> bool {
        if self.leadership_first
            && (self.try_leadership_from(a)
                || self.try_leadership_chain_from(a)
                || (self.k == M_LEADERS && self.try_leadership_trade(a, true)))
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
        self.allow_swaps && self.try_swap(a, excess)
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

    /// How much moving replica `s` from `a` to `b` lowers the violations of the soft goals
    /// not optimised yet, each relative to its band, summed.
    fn later_gain(&self, s: usize, a: usize, b: usize) -> f64 {
        let st = &*self.st;
        let con = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
        self.later_gain_of(&con, a, b)
    }

    /// The bands of the soft goals not optimised yet on brokers `a` and `b`, to score many
    /// moves from `a` to `b` quickly ([`Self::later_gain_on`]).
    fn later_bands(&self, a: usize, b: usize) -> LaterBands {
        let st = &*self.st;
        let mut out = LaterBands {
            n: 0,
            m: [LaterBand::default(); METRICS],
        };
        for m in 0..METRICS {
            if m == self.k || st.locked[m] {
                continue;
            }
            let Some(band) = &st.bands[m] else { continue };
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            out.m[out.n] = LaterBand {
                metric: m,
                va,
                vb,
                a: Edges::of(band, a),
                b: Edges::of(band, b),
                base: band.viol(a, va) + band.viol(b, vb),
                scale: (band.hi[a] + band.hi[b]).max(f64::MIN_POSITIVE),
            };
            out.n += 1;
        }
        out
    }

    /// [`Self::later_gain`] of moving replica `s` between the brokers of `bands`.
    fn later_gain_on(&self, bands: &LaterBands, s: usize) -> f64 {
        let st = &*self.st;
        let con = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
        bands.m[..bands.n]
            .iter()
            .map(|x| {
                let c = con[x.metric];
                (x.base - x.a.viol(x.va - c) - x.b.viol(x.vb + c)) / x.scale
            })
            .sum()
    }

    /// [`Self::later_gain`] of a metric change `con` leaving `a` for `b`.
    fn later_gain_of(&self, con: &[f64; METRICS], a: usize, b: usize) -> f64 {
        let st = &*self.st;
        let mut g = 0.0;
        for m in 0..METRICS {
            if m == self.k || st.locked[m] {
                continue;
            }
            let Some(band) = &st.bands[m] else { continue };
            let scale = (band.hi[a] + band.hi[b]).max(f64::MIN_POSITIVE);
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            g += (band.viol(a, va) + band.viol(b, vb)
                - band.viol(a, va - con[m])
                - band.viol(b, vb + con[m]))
                / scale;
        }
        g
    }

    fn topic_would_overflow(&self, s: usize, b: usize) -> bool {
        let t = self.st.c.partitions[self.st.slot_part[s] as usize].topic as usize;
        f64::from(self.st.topic_count[t * self.st.nb() + b]) + 1.0 > self.st.topic_band[t].1
    }

    fn fill_one(&mut self, b: usize) -> bool {
        if self.leadership_first
            && (self.try_leadership_to(b)
                || self.try_leadership_chain_to(b)
                || (self.k == M_LEADERS && self.try_leadership_trade(b, false)))
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
            || (self.allow_swaps && self.try_swap_into(b, deficit))
    }

    /// Fill side of [`Self::try_swap`]: one of the most loaded brokers exchanges a large
    /// replica for a smaller one of `b`, so `b` gains metric `k` while counts stay put.
    fn try_swap_into(&mut self, b: usize, deficit: f64) -> bool {
        if self.k == M_REPLICAS || self.k >= METRICS {
            return false;
        }
        let sources: Vec<usize> = self
            .dests
            .iter()
            .rev()
            .copied()
            .filter(|&a| a != b)
            .take(4)
            .collect();
        self.ensure(List::Replicas, b);
        for a in sources {
            self.ensure(List::Replicas, a);
            if let Some((s1, s2, _)) = self.find_swap(a, deficit, &[b]) {
                self.do_swap(a, b, s1, s2);
                return true;
            }
        }
        false
    }

    fn do_swap(&mut self, a: usize, b: usize, s1: usize, s2: usize) {
        self.st.move_replica(s1, b as u32, self.goal);
        self.st.move_replica(s2, a as u32, self.goal);
        self.st.swaps.push((s1 as u32, s2 as u32));
        self.moves += 2;
        self.touch(a);
        self.touch(b);
        // Slots arrived on both brokers: their lists need a rebuild to see them.
        self.lists[List::Replicas as usize][a] = None;
        self.lists[List::Replicas as usize][b] = None;
    }

    /// Swap a large replica on `a` with a smaller one on a less-loaded broker: replica counts
    /// stay put while metric `k` moves from `a` to the other broker.
    fn try_swap(&mut self, a: usize, excess: f64) -> bool {
        let k = self.k;
        if k == M_REPLICAS || k >= METRICS {
            return false;
        }
        let dests: Vec<usize> = self
            .dests
            .iter()
            .copied()
            .filter(|&b| b != a)
            .take(8)
            .collect();
        self.ensure(List::Replicas, a);
        for &b in &dests {
            self.ensure(List::Replicas, b);
        }
        let Some((s1, s2, b)) = self.find_swap(a, excess, &dests) else {
            return false;
        };
        self.do_swap(a, b, s1, s2);
        true
    }

    /// A large replica `s1` on `a` and a smaller one `s2` on one of `dests` whose exchange
    /// lowers this goal's violation and is acceptable.
    fn find_swap(&self, a: usize, excess: f64, dests: &[usize]) -> Option<(usize, usize, usize)> {
        let k = self.k;
        let mine = self.list(List::Replicas, a);
        let mut tries = 0;
        let mut best: Option<(f64, usize, usize, usize)> = None;
        let mut seen = 0usize;
        for &b in dests {
            let room = (self.band.hi[b] - self.st.metric[b][k]).max(0.0);
            let theirs = self.list(List::Replicas, b);
            for &(c1, s1) in mine.iter().rev().take(256) {
                let (c1, s1) = (val_of(c1), s1 as usize);
                if self.st.assign[s1] as usize != a {
                    continue;
                }
                let ideal = c1 - excess.min(room.max(excess * 0.5));
                for (c2, s2) in order(&theirs, ideal.max(0.0), false).take(16) {
                    let (c2, s2) = (val_of(c2), s2 as usize);
                    tries += 1;
                    if tries > MAX_TRIES {
                        return best.map(|x| (x.1, x.2, x.3));
                    }
                    if self.st.assign[s2] as usize != b || c2 >= c1 {
                        continue;
                    }
                    if self.gain(a, b, c1 - c2) > tol(c1) && self.st.swap_ok(s1, s2) {
                        let st = &*self.st;
                        let mut con =
                            contrib(st.c, st.slot_part[s1] as usize, st.is_leader_slot(s1));
                        let cq = contrib(st.c, st.slot_part[s2] as usize, st.is_leader_slot(s2));
                        for m in 0..METRICS {
                            con[m] -= cq[m];
                        }
                        let score = self.later_gain_of(&con, a, b);
                        if best.is_none_or(|x| score > x.0 + 1e-12) {
                            best = Some((score, s1, s2, b));
                        }
                        seen += 1;
                        if seen >= SWAP_LOOKAHEAD {
                            return best.map(|x| (x.1, x.2, x.3));
                        }
                    }
                }
            }
        }
        best.map(|x| (x.1, x.2, x.3))
    }
}
