//! Leader count only: leadership paths (ejection chains) for the compound actions of
//! `exchange`.
//!
//! A broker `x` below the leader-count band takes a leadership over from `v1`, which takes one
//! over from `v2`, and so on up to a broker above the bottom of the band; a broker above the
//! band gives one to `v1`, which gives one of its own to `v2`, up to a broker below the top.
//! Every broker in between keeps its count, and its load changes by the difference of the
//! two leaderships, which must keep its locked goals (network out, CPU, ...) at least as
//! good: the search only extends a path through a broker where that holds, so on clusters
//! whose large brokers sit at one edge of their network-out band and small ones at the other,
//! it finds the few paths along which the weights fit. `x`'s own side is checked against the
//! room the exchanges it may combine with make.

use super::Balancer;
use crate::goals::M_NW_OUT;
use crate::state::{Metrics, add, leadership_delta};

/// Most links in a path.
const PATH_DEPTH: usize = 4;
/// Complete paths collected per search.
const PATHS: usize = 48;
/// Next links tried per broker (the ones that change its load least first).
const BRANCH: usize = 6;
/// Replicas walked per search (each broker expanded walks all of its replicas).
const PATH_WALK: usize = 40_000;

/// A leadership move: (partition, position of its new leader).
pub(super) type Move = (usize, usize);

/// Search state of one path search.
struct Search<'a> {
    x: usize,
    shed: bool,
    /// Brokers on the current path (x first).
    on_path: Vec<usize>,
    path: Vec<Move>,
    found: Vec<Vec<Move>>,
    walked: usize,
    /// x's own load changes from the exchanges it may combine with (the zero change first).
    x_changes: &'a [Metrics],
}

impl Balancer<'_, '_> {
    /// Leadership paths from `x` (see the module docs), shortest first as found by a
    /// depth-first search bounded by [`PATH_DEPTH`], [`PATHS`] and [`PATH_WALK`]; `x_changes`:
    /// the changes of x's load from the exchanges a path may be combined with.
    pub(super) fn leadership_paths(
        &self,
        x: usize,
        shed: bool,
        x_changes: &[Metrics],
    ) -> Vec<Vec<Move>> {
        let mut s = Search {
            x,
            shed,
            on_path: vec![x],
            path: Vec::new(),
            found: Vec::new(),
            walked: 0,
            x_changes,
        };
        for depth in 1..=PATH_DEPTH {
            s.on_path.truncate(1);
            s.path.clear();
            self.extend(&mut s, x, [0.0; crate::goals::METRICS], depth);
            if s.found.len() >= PATHS || s.walked >= PATH_WALK {
                break;
            }
        }
        s.found
    }

    /// Extends the path at broker `v`, whose load has changed by `carry` so far, by up to
    /// `left` links, recording the paths that can end at `v` or after it.
    fn extend(&self, s: &mut Search<'_>, v: usize, carry: Metrics, left: usize) {
        let st = &*self.st;
        let band = &self.band;
        let count = |b: usize| st.metric[b][self.k];
        // Whether broker u can end a path (take one more leadership, or lose one).
        let ends = |u: usize| {
            if s.shed {
                band.participates[u] && count(u) < band.hi[u]
            } else {
                !band.participates[u] || count(u) > band.lo[u]
            }
        };
        if v != s.x && left == 0 {
            if ends(v) && st.change_ok(v, &carry) && s.found.len() < PATHS {
                s.found.push(s.path.clone());
            }
            return;
        }
        if left == 0 || s.found.len() >= PATHS || s.walked >= PATH_WALK {
            return;
        }
        // One unit per replica walked, charged before the walk.
        if !st.charge(st.slots_on[v].len() as u64) {
            s.walked = PATH_WALK;
            return;
        }
        // Next links from v: (how far v's network out moves, in v's capacity, the move, the
        // next broker).
        let mut links: Vec<(f64, Move, usize)> = Vec::new();
        let cap = st.c.brokers[v].capacity[M_NW_OUT - 1].max(f64::MIN_POSITIVE);
        for (q, pos) in st.movable_positions_on(v) {
            s.walked += 1;
            if (pos == 0) != s.shed {
                continue;
            }
            let d = leadership_delta(st.c, q);
            let start = st.c.partitions[q].start as usize;
            let mut change = carry;
            add(&mut change, &d, if s.shed { -1.0 } else { 1.0 });
            let fits = |change: &Metrics| {
                if v == s.x {
                    s.x_changes.iter().any(|e| {
                        let mut c = *change;
                        add(&mut c, e, 1.0);
                        st.change_ok(v, &c)
                    })
                } else {
                    st.change_ok(v, change)
                }
            };
            if !fits(&change) {
                continue;
            }
            // The last link must reach a broker that can end the path; brokers that can
            // are tried first on the way.
            let mut push = |m: Move, u: usize| {
                let end = ends(u);
                if !s.on_path.contains(&u) && (end || left > 1) {
                    let key = change[M_NW_OUT].abs() / cap + if end { 0.0 } else { 1e6 };
                    links.push((key, m, u));
                }
            };
            if s.shed {
                for fpos in 1..usize::from(st.c.partitions[q].rf) {
                    let u = st.assign[start + fpos] as usize;
                    if band.participates[u] {
                        push((q, fpos), u);
                    }
                }
            } else {
                push((q, pos), st.assign[start] as usize);
            }
        }
        links.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, m, u) in links.into_iter().take(BRANCH) {
            if s.found.len() >= PATHS || s.walked >= PATH_WALK {
                return;
            }
            let d = leadership_delta(st.c, m.0);
            let mut next = [0.0; crate::goals::METRICS];
            add(&mut next, &d, if s.shed { 1.0 } else { -1.0 });
            s.path.push(m);
            s.on_path.push(u);
            self.extend(s, u, next, left - 1);
            s.path.pop();
            s.on_path.pop();
        }
    }
}
