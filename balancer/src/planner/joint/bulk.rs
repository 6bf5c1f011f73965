//! Bulk first pass of the joint phase, for clusters with many replicas per broker.
//!
//! The exact search ([`Joint::run`]) ranks a broker's replicas again for every action it
//! takes, so one action costs O(replicas per broker), and a cluster with 13,000 replicas per
//! broker needs hundreds of thousands of actions: quadratic work (a 215-broker, 2.8M-replica
//! mixed cluster did not finish in 300 s). This pass ranks the replicas of a broker out of
//! band and of one partner once per pairing and walks both lists, taking every acceptable
//! move or swap in order (first improvement instead of best, each checked exactly with the
//! same score and the same hard-goal and locked-band checks as the exact search), so a
//! pairing costs O(replicas of both) plus O(1) per action. A few rounds over the brokers out
//! of band do most of the work; the exact search then finishes within what is left of the
//! plan's search budget (`State::charge`).
//!
//! Only on clusters with at least [`MIN_REPLICAS_PER_BROKER`] replicas per broker: below
//! that the exact search alone is cheap and makes fewer moves.

use super::{Action, Joint};
use crate::state::add;

/// Average replicas per taking-part broker from which the bulk pass runs.
pub(super) const MIN_REPLICAS_PER_BROKER: usize = 1_000;

/// Rounds over the brokers out of band (each stops early once a round takes nothing).
const ROUNDS: usize = 6;

/// Partners paired with each broker out of band per round.
const PARTNERS: usize = 4;

/// Replicas ranked on each side of a pairing.
const LIST: usize = 2_048;

/// Swap partners tried per replica of the broker out of band.
const TRIES: usize = 4;

/// Replicas in a row without an action that end a pairing.
const FAILS: usize = 128;

impl Joint<'_, '_> {
    /// Whether the brokers taking part hold enough replicas for the bulk pass to pay.
    pub(super) fn bulk_worthwhile(&self) -> bool {
        if self.brokers.is_empty() {
            return false;
        }
        let n: usize = self
            .brokers
            .iter()
            .map(|&b| self.st.slots_on[b].len())
            .sum();
        n / self.brokers.len() >= MIN_REPLICAS_PER_BROKER
    }

    /// Runs the bulk rounds; returns the replica and leadership moves made.
    pub(super) fn bulk(&mut self) -> u64 {
        let mut actions = 0;
        for _ in 0..ROUNDS {
            self.charge(self.brokers.len());
            let mut bad: Vec<(f64, usize)> = self
                .brokers
                .iter()
                .map(|&b| (self.base[b].0, b))
                .filter(|x| x.0 > 0.0)
                .collect();
            bad.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            let mut round = 0;
            for &(_, a) in &bad {
                if self.out_of_work() {
                    return actions + round;
                }
                if self.base[a].0 <= 0.0 {
                    continue;
                }
                round += self.bulk_leaderships(a);
                for b in self.partners(a, false, PARTNERS) {
                    if self.base[a].0 <= 0.0 || self.out_of_work() {
                        break;
                    }
                    round += self.bulk_pair(a, b);
                }
            }
            actions += round;
            if round == 0 {
                break;
            }
        }
        actions
    }

    /// One walk over `a`'s replicas: every acceptable leadership move off or onto `a`.
    fn bulk_leaderships(&mut self, a: usize) -> u64 {
        let slots = self.st.slots_on[a].clone();
        self.charge(slots.len());
        let mut n = 0;
        for s in slots {
            if self.base[a].0 <= 0.0 || self.out_of_work() {
                break;
            }
            let s = s as usize;
            if self.st.assign[s] as usize != a {
                continue;
            }
            let first = self.leadership_options(a, s).next();
            if let Some((action, _)) = first {
                n += self.take(action);
            }
        }
        n
    }

    /// One walk pairing `a` (out of band) with partner `b`: `a`'s replicas that help most in
    /// the direction between them, each moved to `b` or swapped for one of `b`'s replicas
    /// that help least, whichever is acceptable first.
    fn bulk_pair(&mut self, a: usize, b: usize) -> u64 {
        let (ga, gb) = (self.slope(a, false), self.slope(b, false));
        let mut dir = ga;
        add(&mut dir, &gb, -1.0);
        let mine = self.ranked(a, &dir, LIST, true);
        let theirs = self.ranked(b, &dir, LIST, false);
        let mut used = vec![false; theirs.len()];
        let (mut first, mut fails, mut n) = (0, 0, 0);
        for &(s1, c1, k1) in &mine {
            if self.base[a].0 <= 0.0 || fails >= FAILS || self.out_of_work() {
                break;
            }
            if self.st.assign[s1] as usize != a {
                continue;
            }
            if self.delta(a, b, &c1).acceptable() && self.st.replica_move_ok(s1, b as u32) {
                n += self.take(Action::Move(s1, b));
                fails = 0;
                continue;
            }
            let p = self.st.slot_part[s1] as usize;
            let mut done = false;
            if !self.st.hosts(p, b as u32) {
                while first < theirs.len()
                    && (used[first] || self.st.assign[theirs[first].0] as usize != b)
                {
                    first += 1;
                }
                let (mut t, mut tried) = (first, 0);
                while t < theirs.len() && tried < TRIES {
                    let (s2, c2, k2) = theirs[t];
                    if used[t] || self.st.assign[s2] as usize != b {
                        t += 1;
                        continue;
                    }
                    // Ranked: every further replica of `b` helps even less.
                    if k1 - k2 <= 0.0 {
                        break;
                    }
                    tried += 1;
                    let mut d = c1;
                    add(&mut d, &c2, -1.0);
                    if self.delta(a, b, &d).acceptable() && self.st.swap_ok(s1, s2) {
                        n += self.take(Action::Swap(s1, s2));
                        used[t] = true;
                        done = true;
                        break;
                    }
                    t += 1;
                }
            }
            if done {
                fails = 0;
            } else {
                fails += 1;
            }
        }
        n
    }
}
