//! Leader count only: a leadership exchange that makes room, taken together with the move
//! that fixes the count.
//!
//! On mixed-capacity clusters a small broker below the leader-count band often cannot take
//! any leadership over: its network out and CPU sit at the top of their (locked) bands, the
//! lightest partitions it follows are led by brokers at the bottom of the count band, and the
//! heavier ones do not fit. It can make room by exchanging leaderships with a partner `F`: it
//! hands a heavy leadership `a` to `F` (a follower of `a`) and takes a lighter one `b` over
//! from `F` (which leads `b`), so `F`'s count is unchanged and its load grows by the
//! difference. With that room it can take one more leadership `m` over from a broker above
//! the bottom of the band. The three moves are checked and made together, so nothing is
//! moved unless the count improves (a broker above the band does the mirror image: it takes
//! a heavy leadership over from `F` for a light one, and gives one away).

use super::Balancer;
use super::MAX_TRIES;
use crate::goals::M_NW_OUT;
use crate::goals::METRICS;
use crate::state::{Metrics, add, leadership_delta, tol};

/// Exchanges and count moves kept for the pairing (the most room first, the lightest first).
const EXCHANGES: usize = 16;
const COUNT_MOVES: usize = 24;
/// Chains kept for the pairing, and second links tried per first link.
const CHAINS: usize = 32;
const CHAIN_LEGS: usize = 4;
/// Most leadership moves in one compound action.
const MAX_MOVES: usize = 6;

use super::paths::Move;

impl Balancer<'_, '_> {
    /// Broker `x` (below the band unless `shed`) exchanges two leaderships with a partner and
    /// moves one more (see the module docs); all three together, if acceptable.
    pub(super) fn try_leadership_exchange(&mut self, x: usize, shed: bool) -> bool {
        let Some(moves) = self.find_exchange(x, shed) else {
            return false;
        };
        for (p, pos) in moves {
            self.do_leadership_move(p, pos);
        }
        true
    }

    fn find_exchange(&self, x: usize, shed: bool) -> Option<Vec<Move>> {
        let st = &*self.st;
        let weight = |p: usize| leadership_delta(st.c, p)[M_NW_OUT];
        let count = |b: usize| st.metric[b][self.k];
        let band = &self.band;
        // x's leaderships (weight, partition) and followerships (weight, partition, x's
        // position, leader).
        let mut leads: Vec<(f64, usize)> = Vec::new();
        let mut follows: Vec<(f64, usize, usize, usize)> = Vec::new();
        for (p, pos) in st.movable_positions_on(x) {
            if pos == 0 {
                leads.push((weight(p), p));
            } else {
                follows.push((weight(p), p, pos, st.leader_of(p) as usize));
            }
        }
        if !st.charge((leads.len() + follows.len()) as u64) {
            return None;
        }
        // Exchanges (room made for x, x's lead handed to F, F's lead taken by x): x's load
        // falls when it is below the band, rises when above.
        let mut exchanges: Vec<(f64, Move, Move)> = Vec::new();
        for &(wa, a) in &leads {
            let start = st.c.partitions[a].start as usize;
            for fpos in 1..usize::from(st.c.partitions[a].rf) {
                let f = st.assign[start + fpos] as usize;
                if !band.participates[f] {
                    continue;
                }
                if !st.charge(follows.len() as u64) {
                    return None;
                }
                for &(wb, b, xpos, lb) in &follows {
                    let room = if shed { wb - wa } else { wa - wb };
                    if lb == f && room > 0.0 {
                        exchanges.push((room, (a, fpos), (b, xpos)));
                    }
                }
            }
        }
        exchanges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut kept: Vec<(Move, Move)> = Vec::new();
        for &(_, e1, e2) in &exchanges {
            if kept.len() >= EXCHANGES {
                break;
            }
            if st.leadership_moves_ok(&[e1, e2]) {
                kept.push((e1, e2));
            }
        }
        // Count moves, lightest first: below the band x takes a leadership over from a
        // leader above the bottom; above it, x gives one to a follower below the top.
        let may_lose = |g: usize| !band.participates[g] || count(g) > band.lo[g];
        let may_gain = |r: usize| band.participates[r] && count(r) < band.hi[r];
        let mut singles: Vec<(f64, Move)> = Vec::new();
        // Where that partner is at its band's edge: a chain, the partner passing one
        // leadership on (taking one over from a broker above the bottom, or giving one to a
        // follower below the top), weighed by how little the partner's load changes.
        let mut chains: Vec<(f64, Move, Move)> = Vec::new();
        let chain_legs = |g: usize, m: usize, wm: f64, first: Move| {
            let mut legs: Vec<(f64, Move)> = Vec::new();
            // One unit per replica of g walked, charged before the walk.
            if !st.charge(st.slots_on[g].len() as u64) {
                return Vec::new();
            }
            for (q, gpos) in st.movable_positions_on(g) {
                if q == m || (gpos == 0) != shed {
                    continue;
                }
                let start = st.c.partitions[q].start as usize;
                if shed {
                    for pos in 1..usize::from(st.c.partitions[q].rf) {
                        let r = st.assign[start + pos] as usize;
                        if r != x && may_gain(r) {
                            legs.push(((weight(q) - wm).abs(), (q, pos)));
                        }
                    }
                } else {
                    let g2 = st.assign[start] as usize;
                    if g2 != x && may_lose(g2) {
                        legs.push(((weight(q) - wm).abs(), (q, gpos)));
                    }
                }
            }
            legs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            legs.into_iter()
                .take(CHAIN_LEGS)
                .map(|(d, leg)| (wm + d, first, leg))
                .collect::<Vec<_>>()
        };
        if shed {
            for &(w, m) in &leads {
                let start = st.c.partitions[m].start as usize;
                for pos in 1..usize::from(st.c.partitions[m].rf) {
                    let r = st.assign[start + pos] as usize;
                    if may_gain(r) {
                        singles.push((w, (m, pos)));
                    } else if band.participates[r] {
                        chains.extend(chain_legs(r, m, w, (m, pos)));
                    }
                }
            }
        } else {
            for &(w, m, xpos, g) in &follows {
                if may_lose(g) {
                    singles.push((w, (m, xpos)));
                } else {
                    chains.extend(chain_legs(g, m, w, (m, xpos)));
                }
            }
        }
        singles.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        singles.truncate(COUNT_MOVES);
        chains.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        chains.truncate(CHAINS);
        let mut tries = 0;
        let mut attempt = |moves: &[Move]| -> Option<Option<Vec<Move>>> {
            tries += 1;
            if tries > 2 * MAX_TRIES {
                return Some(None);
            }
            let distinct = moves
                .iter()
                .enumerate()
                .all(|(i, m)| moves[..i].iter().all(|n| n.0 != m.0));
            (distinct && self.compound_helps(moves)).then(|| Some(moves.to_vec()))
        };
        // One exchange and one move; one exchange and a chain; two exchanges and one move.
        for &(_, cm) in &singles {
            for &(e1, e2) in &kept {
                if let Some(found) = attempt(&[e1, e2, cm]) {
                    return found;
                }
            }
        }
        for &(_, c1, c2) in &chains {
            for &(e1, e2) in &kept {
                if let Some(found) = attempt(&[e1, e2, c1, c2]) {
                    return found;
                }
            }
        }
        for &(_, cm) in &singles {
            for (i, &(e1, e2)) in kept.iter().enumerate() {
                for &(e3, e4) in &kept[i + 1..] {
                    if let Some(found) = attempt(&[e1, e2, e3, e4, cm]) {
                        return found;
                    }
                }
            }
        }
        // Longer leadership paths (see `paths`), alone or after one exchange.
        let mut x_changes: Vec<Metrics> = vec![[0.0; METRICS]];
        for &((a, _), (b, _)) in &kept {
            let mut e = leadership_delta(st.c, b);
            add(&mut e, &leadership_delta(st.c, a), -1.0);
            x_changes.push(e);
        }
        for path in self.leadership_paths(x, shed, &x_changes) {
            for ex in std::iter::once(None).chain(kept.iter().map(Some)) {
                let mut moves: Vec<Move> = Vec::with_capacity(MAX_MOVES);
                if let Some(&(e1, e2)) = ex {
                    moves.extend([e1, e2]);
                }
                moves.extend_from_slice(&path);
                if let Some(found) = attempt(&moves) {
                    return found;
                }
            }
        }
        None
    }

    /// Whether the leadership moves `moves` (distinct partitions), made together, lower the
    /// leader-count violation and are acceptable for every other goal.
    fn compound_helps(&self, moves: &[Move]) -> bool {
        let st = &*self.st;
        if moves.len() > MAX_MOVES {
            return false;
        }
        let mut changes: Vec<(usize, f64)> = Vec::with_capacity(2 * MAX_MOVES);
        for &(p, pos) in moves {
            let start = st.c.partitions[p].start as usize;
            let (from, to) = (st.assign[start] as usize, st.assign[start + pos] as usize);
            if !self.band.participates[to] {
                return false;
            }
            let d = leadership_delta(st.c, p)[self.k];
            changes.extend([(from, -d), (to, d)]);
        }
        let gain = self.merged_gain::<{ 2 * MAX_MOVES }>(&changes);
        gain > tol(1.0) && st.leadership_moves_ok(moves)
    }
}
