//! Leadership actions of a [`Balancer`]: single leadership moves, chains (A hands a
//! leadership to B, B one of its own to C) and, for the leader count, trades (two light
//! leaderships for one heavy one), all count-neutral for replicas.

use super::Balancer;
use super::MAX_TRIES;
use super::lists::{Cands, List, order};
use crate::goals::M_NW_OUT;
use crate::state::{leadership_delta, tol};

/// Leaderships of the middle broker tried per first link of a leadership chain.
const CHAIN_FANOUT: usize = 32;

/// A leadership chain: `(p, position of p's new leader, q, position of q's new leader)`.
type Chain = (usize, usize, usize, usize);

/// A leadership move found by a search, `(partition, position of the new leader)`, and the
/// stale list entries the search saw.
type Found = (Option<(usize, usize)>, Vec<(u64, u32)>);

impl Balancer<'_, '_> {
    /// Whether the leadership moves `moves` (partition, new leader's position), made
    /// together, lower this goal's violation and are acceptable for every other goal.
    pub(super) fn leadership_moves_help(&self, moves: &[(usize, usize)]) -> bool {
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

    pub(super) fn chain_ok(&self, p: usize, pos_p: usize, q: usize, pos_q: usize) -> bool {
        self.leadership_moves_help(&[(p, pos_p), (q, pos_q)])
    }

    /// Leader count only: broker `x` trades leaderships so its count moves by one while
    /// its leadership-sensitive load (network out, CPU, leader bytes in) stays about level.
    /// Shedding (`shed`): it gives two light leaderships away and takes one heavy one over;
    /// filling: it takes two light ones over and gives one heavy one away. Partners not at
    /// their band's edge are tried first, then all of them.
    pub(super) fn try_leadership_trade(&mut self, x: usize, shed: bool) -> bool {
        self.trade(x, shed, true) || self.trade(x, shed, false)
    }

    /// One trade search; `edge`: only with partners not at their band's edge.
    fn trade(&mut self, x: usize, shed: bool, edge: bool) -> bool {
        let st = &*self.st;
        // Weight of a leadership for the goals the count must not disturb.
        let weight = |p: usize| leadership_delta(st.c, p)[M_NW_OUT];
        // (weight, partition, x's position in it) of the leaderships x holds and could take.
        // With `edge`, only leaderships whose other side is not already at its band's edge: a
        // follower below the top (for a leadership x gives away), or a leader above the
        // bottom (for one x takes over). The others cost that side about as much as x gains,
        // so they rarely pass the gain check, and they crowd out the few candidates tried
        // below.
        let count = |b: usize| st.metric[b][self.k];
        let may_gain =
            |b: usize| !edge || (self.band.participates[b] && count(b) < self.band.hi[b]);
        let may_lose = |b: usize| !edge || !self.band.participates[b] || count(b) > self.band.lo[b];
        let followers = |p: usize| {
            let start = st.c.partitions[p].start as usize;
            (1..usize::from(st.c.partitions[p].rf)).filter(move |&pos| {
                let b = st.assign[start + pos] as usize;
                may_gain(b)
            })
        };
        let mut leads: Vec<(f64, usize, usize)> = Vec::new();
        let mut follows: Vec<(f64, usize, usize)> = Vec::new();
        for (p, pos) in st.movable_positions_on(x) {
            if pos == 0 {
                if followers(p).next().is_some() {
                    leads.push((weight(p), p, pos));
                }
            } else if may_lose(st.leader_of(p) as usize) {
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
                followers(p).map(|pos| (p, pos)).collect()
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
    pub(super) fn try_leadership_chain_from(&mut self, a: usize) -> bool {
        let found = self.find_chain_from(a);
        self.apply_chain(found)
    }

    pub(super) fn find_chain_from(&self, a: usize) -> Option<Chain> {
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
    pub(super) fn try_leadership_chain_to(&mut self, c: usize) -> bool {
        let found = self.find_chain_to(c);
        self.apply_chain(found)
    }

    pub(super) fn find_chain_to(&self, c: usize) -> Option<Chain> {
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
    pub(super) fn still_leading<'l>(
        &'l self,
        list: &'l Cands,
        b: usize,
    ) -> impl Iterator<Item = usize> + 'l {
        list.iter()
            .rev()
            .map(|&(_, p)| p as usize)
            .filter(move |&p| self.st.leader_of(p) as usize == b)
    }

    /// Slots of a [`List::Follows`] list that are still followers on `b`, largest first.
    pub(super) fn still_following<'l>(
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
    pub(super) fn apply_chain(&mut self, found: Option<Chain>) -> bool {
        let Some((p, pos_p, q, pos_q)) = found else {
            return false;
        };
        self.do_leadership_move(p, pos_p);
        self.do_leadership_move(q, pos_q);
        true
    }

    /// Moves one leadership off broker `a` to a follower, if one is acceptable.
    pub(super) fn try_leadership_from(&mut self, a: usize) -> bool {
        self.ensure(List::Leads, a);
        let (found, stale) = self.find_leadership_from(a);
        self.prune(List::Leads, a, stale);
        self.lead(found)
    }

    /// Moves one leadership onto broker `b` from a partition it follows, if acceptable.
    pub(super) fn try_leadership_to(&mut self, b: usize) -> bool {
        self.ensure(List::Follows, b);
        let (found, stale) = self.find_leadership_to(b);
        self.prune(List::Follows, b, stale);
        self.lead(found)
    }

    pub(super) fn lead(&mut self, found: Option<(usize, usize)>) -> bool {
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
    pub(super) fn find_leadership_from(&self, a: usize) -> Found {
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
    pub(super) fn find_leadership_to(&self, b: usize) -> Found {
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
}
