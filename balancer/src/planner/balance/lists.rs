//! Per-broker candidate lists of a [`Balancer`]: replicas, leaderships and followerships
//! keyed by their contribution to the goal's metric, in ordered sets, and the try orders
//! the searches walk them in.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Bound;

use super::Balancer;
use crate::goals::M_REPLICAS;
use crate::state::{contrib, leadership_delta};

/// Candidates of one broker: (contribution as ordered bits, slot or partition).
/// Contributions are non-negative, so their IEEE bits order like their values.
pub(super) type Cands = BTreeSet<(u64, u32)>;

pub(super) fn key_of(v: f64) -> u64 {
    v.max(0.0).to_bits()
}

pub(super) fn val_of(k: u64) -> f64 {
    f64::from_bits(k)
}

/// Try order for an amount `want`. Replica count (keys are sizes): sizes closest to `want`
/// first. Other metrics: the largest contribution not above `want` first, then smaller
/// ones, then larger ones.
pub(super) fn order(
    set: &Cands,
    want: f64,
    count_mode: bool,
) -> Box<dyn Iterator<Item = (u64, u32)> + '_> {
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
pub(super) enum List {
    /// (contribution to k, slot) of its movable replicas (replica count: (size, slot)).
    Replicas = 0,
    /// (leadership delta of k, partition) of the partitions it leads.
    Leads = 1,
    /// (leadership delta of k, slot) of the replicas it follows.
    Follows = 2,
    /// (contribution to k, slot) of all its movable replicas, those contributing nothing
    /// to k included: the partners a swap may give back.
    Partners = 3,
}

/// Number of [`List`] kinds.
pub(super) const LISTS: usize = 4;

impl Balancer<'_, '_> {
    /// Builds broker `b`'s list of `kind` from the current assignment.
    pub(super) fn build(&self, kind: List, b: usize) -> Cands {
        let (k, st) = (self.k, &*self.st);
        // Building a list is search work like a check per replica (see `State::charge`).
        st.charge(st.slots_on[b].len() as u64);
        let slots = st.slots_on[b].iter().map(|&s| s as usize);
        let keyed: Vec<(f64, u32)> = match kind {
            List::Replicas | List::Partners => slots
                .filter(|&s| st.movable[st.slot_part[s] as usize])
                .map(|s| {
                    let c = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
                    (if k == M_REPLICAS { c[1] } else { c[k] }, s as u32)
                })
                .filter(|(c, _)| k == M_REPLICAS || kind == List::Partners || *c > 0.0)
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
    pub(super) fn ensure(&mut self, kind: List, b: usize) {
        if self.lists[kind as usize][b].is_none() {
            let built = self.build(kind, b);
            self.lists[kind as usize][b] = Some(built);
        }
    }

    /// Broker `b`'s list of `kind`: the cached one, or (not cached) a fresh one.
    pub(super) fn list(&self, kind: List, b: usize) -> Cow<'_, Cands> {
        match &self.lists[kind as usize][b] {
            Some(l) => Cow::Borrowed(l),
            None => Cow::Owned(self.build(kind, b)),
        }
    }

    /// Drops stale entries a search found in broker `b`'s list of `kind`.
    pub(super) fn prune(&mut self, kind: List, b: usize, stale: Vec<(u64, u32)>) {
        if let Some(l) = &mut self.lists[kind as usize][b] {
            for i in stale {
                l.remove(&i);
            }
        }
    }
}
