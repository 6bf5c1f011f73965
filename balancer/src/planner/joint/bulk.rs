//! Bulk first pass of the joint phase, for clusters with many replicas per broker.
//!
//! The exact search ([`Joint::run`]) ranks a broker's replicas again for every action it
//! takes, so one action costs O(replicas per broker), and a cluster with 13,000 replicas per
//! broker needs hundreds of thousands of actions: quadratic work (a 215-broker, 2.8M-replica
//! mixed cluster did not finish in 300 s). This pass ranks the replicas of a broker out of
//! band and of one partner once per pairing and walks both lists, taking every acceptable
//! move or swap in order (first improvement instead of best, each checked exactly with the
//! same score and the same hard-goal and locked-band checks as the exact search), so a
//! pairing costs O(replicas of both) plus O(1) per action. Rounds over the brokers out of
//! band, each paired with every partner in turn, do the work; the exact search then only
//! polishes, with at most as much of the plan's search budget (`State::charge`) as the bulk
//! pass spent: each exact search costs O(replicas per broker), and once the bulk pass is done
//! most of them find nothing (on a 50-broker, 100k-replica cluster the exact search spent
//! 107M units on 109 actions after the bulk pass had taken 87k actions for 14M).
//!
//! Only where the exact search alone would not finish within the budget left
//! ([`Joint::bulk_worthwhile`]): where it does, it makes fewer moves (24 brokers with 500
//! replicas each: the bulk pass made 10 % more, for an eighth of the time).

use super::{Action, Joint};
use crate::state::add;

/// Estimated search units the exact search spends per replica on a broker out of band, per
/// replica on an average broker: it needs a number of actions proportional to the replicas
/// out of band, and each costs O(replicas per broker). Measured: 24 brokers out of band with
/// 500 replicas each took 114M units (19 per replica per replica); 12 keeps such clusters
/// on the exact search and sends 750 per broker (which ran out of budget with 23 brokers
/// out of their disk band) to the bulk pass.
const EXACT_UNITS: u64 = 12;

/// Rounds over the brokers out of band (the pass stops early once a round takes nothing).
/// Later rounds are cheap: they only visit the brokers still out of band.
const ROUNDS: usize = 30;

/// Partners paired with each broker out of band per round, those with most room in its
/// direction first (so every broker on clusters of up to 64). The walk takes the first
/// acceptable action, and the partner ranked best by room is often not the one whose
/// replicas fit: with 4 partners and 6 rounds, 24 brokers with 1,000 replicas each (skew 1,
/// seed 1) kept 15 brokers out of their disk or network-in band and left them to the exact
/// search, which spent the plan's whole budget on them; with every partner the bulk pass
/// brings all 24 into band for 1.7M units. Fewer where a round with this many would cost
/// more than [`ROUND_SHARE`] of what is left of the budget (see [`Joint::bulk_partners`]).
const PARTNERS: usize = 64;

/// Partners per broker out of band when the budget affords no more.
const MIN_PARTNERS: usize = 4;

/// A round may plan to spend at most this share of the budget left to the phase: on a
/// 215-broker cluster with 13,000 replicas per broker, 64 partners for each of 215 brokers
/// would rank 56M replicas a round, more than the whole budget.
const ROUND_SHARE: u64 = 8;

/// Replicas ranked on each side of a pairing.
const LIST: usize = 2_048;

/// Swap partners tried per replica of the broker out of band.
const TRIES: usize = 4;

/// Replicas in a row without an action that end a pairing.
const FAILS: usize = 128;

impl Joint<'_, '_> {
    /// Whether the exact search alone would likely run out of the budget left to the phase
    /// ([`EXACT_UNITS`] per replica out of band per replica on an average broker).
    pub(super) fn bulk_worthwhile(&self) -> bool {
        if self.brokers.is_empty() {
            return false;
        }
        let out: u64 = self
            .brokers
            .iter()
            .filter(|&&b| self.base[b].0 > 0.0)
            .map(|&b| self.st.slots_on[b].len() as u64)
            .sum();
        let per_broker = self.replicas_per_broker() as u64;
        let left = self.st.work_left.get().saturating_sub(self.reserve);
        EXACT_UNITS.saturating_mul(out).saturating_mul(per_broker) > left
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
            let partners = self.bulk_partners(bad.len());
            let mut round = 0;
            for &(_, a) in &bad {
                if self.out_of_work() {
                    return actions + round;
                }
                if self.base[a].0 <= 0.0 {
                    continue;
                }
                round += self.bulk_leaderships(a);
                for b in self.partners(a, false, partners) {
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

    /// Average replicas on the brokers taking part.
    fn replicas_per_broker(&self) -> usize {
        let all: usize = self
            .brokers
            .iter()
            .map(|&b| self.st.slots_on[b].len())
            .sum();
        all / self.brokers.len().max(1)
    }

    /// Partners per broker for a round over `bad` brokers out of band: [`PARTNERS`], or as
    /// many as a [`ROUND_SHARE`] of the budget left to the phase pays for (a pairing ranks up
    /// to [`LIST`] replicas on each side), but at least [`MIN_PARTNERS`].
    fn bulk_partners(&self, bad: usize) -> usize {
        let left = self.st.work_left.get().saturating_sub(self.reserve);
        let pairing = 2 * self.replicas_per_broker().min(LIST) as u64;
        let affordable = left / ROUND_SHARE / (pairing * bad.max(1) as u64).max(1);
        (affordable as usize).clamp(MIN_PARTNERS, PARTNERS)
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
