//! Joint resource phase for clusters whose brokers differ in capacity.
//!
//! On such clusters the resource goals (disk, network in, network out, CPU) cannot be met one
//! after another: the replica-count goal gives a 0.5x and a 2x broker the same number of
//! replicas, so the small broker needs replicas that are light in disk AND network in AND CPU
//! at once, and a disk pass that leaves it at the top of its disk band with small but hot
//! replicas leaves network in nothing to swap (every colder replica elsewhere is larger).
//!
//! This phase scores every action by the total out-of-band distance over all resource goals
//! at once (each metric as a fraction of the broker's band centre, so a 0.5x broker weighs
//! the same as a 2x one), and takes an action only if it lowers that total; an action that
//! leaves the resource total unchanged may lower the leader-count distance instead
//! (lexicographic, so leader count never costs a resource goal). Among acceptable actions
//! it prefers the largest gain per net replica move (a leadership move or a replica moved
//! again costs none, a replica leaving its input broker one; see `Delta::value`), the gain
//! including a small pull toward the band centres, so the goals that run afterwards keep
//! room. Actions: a leadership move (changes no replica count), a swap of
//! a replica on the broker being fixed for one on a partner broker (count-neutral: a heavy
//! replica off a small broker for a light one from a big broker), and a single replica move.
//! Every action passes the same checks as the per-goal passes
//! ([`State::replica_move_ok`], [`State::swap_ok`], [`State::leadership_ok`]): hard goals,
//! rack awareness and the locked replica-count band never get worse.
//!
//! The phase keeps taking the best action for the brokers most out of band (a wider search
//! when the usual one finds nothing) until none helps, or until the plan's search budget
//! (`State::charge`: every score evaluation, every replica ranked or walked, every broker
//! scanned per step) is down to the quarter it leaves for the goals after it. One exact step
//! costs O(replicas per broker), so on clusters with many replicas per broker a bulk pass
//! (`bulk`) first walks ranked lists once per broker pair. It is skipped while a broker is
//! above a hard resource limit (such a plan fails, or is best effort, and the bands are then
//! out of reach).
//!
//! Homogeneous clusters keep the per-goal passes (`planner::balance`): there every broker
//! needs the same mix, and those passes make fewer moves.
//!
//! Tried and dropped: a third tier that moved a broker's resources toward the inner half of
//! their bands while its leader count was out of band (it fixed leader count on the last
//! clusters, but later passes undid it, so re-planning a result moved replicas again).

use crate::goals::{M_CPU, M_DISK, M_LEADERS, M_NW_IN, M_NW_OUT, METRICS};
use crate::state::{Metrics, State, add, contrib, leadership_delta};

mod action;
mod bulk;
mod score;

use action::Action;
use score::{Delta, moved_change};

/// Resource metrics scored together (the first tier of the score).
const RESOURCES: [usize; 4] = [M_DISK, M_NW_IN, M_NW_OUT, M_CPU];

/// Partner brokers tried per broker being fixed (the ones with most room in its direction).
const PARTNERS: usize = 12;

/// Replicas of the broker being fixed tried per partner (best in the partner's direction).
const GIVE: usize = 32;

/// Replicas of the partner tried as swap partners (best in the opposite direction).
const TAKE: usize = 48;

/// Brokers tried per step with the narrow search (most out of band first).
const BROKERS_PER_STEP: usize = 8;

/// How widely [`Joint::best_for`] searches.
#[derive(Debug, Clone, Copy)]
struct Width {
    partners: usize,
    give: usize,
    take: usize,
}

impl Width {
    const NARROW: Width = Width {
        partners: PARTNERS,
        give: GIVE,
        take: TAKE,
    };
    /// Tried only once the narrow search finds nothing on any broker (near the end).
    const WIDE: Width = Width {
        partners: 64,
        give: 4 * GIVE,
        take: 4 * TAKE,
    };
}

/// Actions one phase may take (it converges long before on every cluster we tried).
const MAX_ACTIONS: usize = 50_000;

/// Hottest leaderships of the broker being fixed tried in a trade.
const TRADE_LED: usize = 16;

/// Coldest leaderships it could take over tried in a trade.
const TRADE_FOLLOWED: usize = 32;

/// Weight of the band-centre term when choosing among acceptable actions.
const CENTRE_WEIGHT: f64 = 1e-3;

/// Whether a broker is above a hard limit in a resource (the plan cannot meet the hard goals;
/// the joint phase would spend its budget on bands out of reach).
pub(crate) fn hard_limits_broken(st: &State<'_>) -> bool {
    (0..st.nb()).any(|b| {
        RESOURCES.iter().any(|&m| {
            let (v, hi) = (st.metric[b][m], st.hard_hi[b][m]);
            v > hi + crate::state::tol(hi)
        })
    })
}

/// Whether the brokers taking part in the resource goals differ in capacity.
pub(crate) fn mixed_capacities(st: &State<'_>) -> bool {
    let mut first: Option<[f64; 4]> = None;
    for (b, broker) in st.c.brokers.iter().enumerate() {
        if !st.dest_ok[b] {
            continue;
        }
        match first {
            None => first = Some(broker.capacity),
            Some(f) => {
                if (0..4).any(|r| (f[r] - broker.capacity[r]).abs() > 1e-9 * f[r].abs()) {
                    return true;
                }
            }
        }
    }
    false
}

/// The metrics the joint phase balances on this state: resource goals with a band, and
/// leader count as the second tier. `None` if no resource goal is on.
#[derive(Debug, Clone)]
pub(crate) struct JointGoals {
    pub resources: Vec<usize>,
    pub leaders: bool,
}

impl JointGoals {
    pub(crate) fn of(st: &State<'_>) -> Option<JointGoals> {
        let resources: Vec<usize> = RESOURCES
            .iter()
            .copied()
            .filter(|&m| st.bands[m].is_some())
            .collect();
        if resources.is_empty() {
            return None;
        }
        Some(JointGoals {
            resources,
            leaders: st.bands[M_LEADERS].is_some(),
        })
    }
}

struct Joint<'s, 'c> {
    st: &'s mut State<'c>,
    /// The phase stops once the plan's search budget is down to this.
    reserve: u64,
    /// Per broker, [`Joint::cost`] of its current metrics (kept up
    /// to date by [`Joint::run`] after every action).
    base: Vec<(f64, f64, f64)>,
    goals: JointGoals,
    /// Brokers that take part (can receive replicas and sit in the resource bands).
    brokers: Vec<usize>,
}

/// Runs the joint phase within the plan's search budget ([`State::charge`]); returns the
/// replica and leadership moves it made.
pub(crate) fn balance_jointly(st: &mut State<'_>, goals: &JointGoals) -> u64 {
    if st.out_of_work() {
        return 0;
    }
    // Leave a quarter of what is left for the goals after this phase.
    let reserve = st.work_left.get() / 4;
    let mut j = Joint::new(st, goals, reserve);
    let mut actions = 0;
    if j.bulk_worthwhile() {
        let before = j.st.work_left.get();
        actions += j.bulk();
        // After a bulk pass the exact search only polishes: it may spend at most what the
        // bulk pass spent (see `bulk`), the rest is left for the goals after this phase.
        let spent = before.saturating_sub(j.st.work_left.get());
        j.reserve = j.reserve.max(j.st.work_left.get().saturating_sub(spent));
    }
    actions += j.run();
    actions
}

impl<'s, 'c> Joint<'s, 'c> {
    /// The phase's view of `st`, stopping once the search budget is down to `reserve`.
    fn new(st: &'s mut State<'c>, goals: &JointGoals, reserve: u64) -> Self {
        let nb = st.nb();
        let brokers: Vec<usize> = (0..nb)
            .filter(|&b| {
                st.dest_ok[b]
                    && goals
                        .resources
                        .iter()
                        .any(|&m| st.bands[m].as_ref().is_some_and(|x| x.participates[b]))
            })
            .collect();
        let mut j = Joint {
            reserve,
            base: vec![(0.0, 0.0, 0.0); nb],
            st,
            goals: goals.clone(),
            brokers,
        };
        for b in 0..nb {
            j.refresh(b);
        }
        j
    }
}

impl Joint<'_, '_> {
    /// Charges `units` of work to the plan's search budget: one per score evaluation, and
    /// one per replica ranked or walked or broker scanned.
    fn charge(&self, units: usize) {
        self.st.charge(units as u64);
    }

    fn out_of_work(&self) -> bool {
        self.st.work_left.get() <= self.reserve
    }

    /// Recomputes the cached score of broker `b` (after its metrics changed).
    fn refresh(&mut self, b: usize) {
        let v = self.st.metric[b];
        self.base[b] = self.cost(b, &v);
    }

    fn run(&mut self) -> u64 {
        let mut actions = 0u64;
        for _ in 0..MAX_ACTIONS {
            self.charge(self.brokers.len());
            let mut bad: Vec<(f64, f64, usize)> = self
                .brokers
                .iter()
                .map(|&b| (self.base[b].0, self.base[b].1, b))
                .filter(|x| x.0 > 0.0 || x.1 > 0.0)
                .collect();
            if bad.is_empty() || self.out_of_work() {
                break;
            }
            bad.sort_by(|x, y| {
                y.0.total_cmp(&x.0)
                    .then(y.1.total_cmp(&x.1))
                    .then(x.2.cmp(&y.2))
            });
            // The usual search on the brokers most out of band; when it finds nothing, a
            // wider one (every partner, more replicas) on every broker out of band.
            let narrow = bad
                .iter()
                .take(BROKERS_PER_STEP)
                .map(|x| (x.2, Width::NARROW));
            let wide = bad
                .iter()
                .take(BROKERS_PER_STEP)
                .map(|x| (x.2, Width::WIDE));
            let found = narrow
                .chain(wide)
                .take_while(|_| !self.out_of_work())
                .find_map(|(a, w)| self.best_for(a, w));
            if self.out_of_work() {
                break;
            }
            match found {
                Some((action, _)) => actions += self.take(action),
                None => break,
            }
        }
        actions
    }

    fn keep(best: &mut Option<(Action, Delta)>, action: Action, d: Delta) {
        if d.acceptable() && best.is_none_or(|(_, x)| d.value() > x.value() + 1e-15) {
            *best = Some((action, d));
        }
    }

    /// The acceptable leadership moves replica `s` on broker `a` takes part in, with their
    /// score change: off `a` to each follower when `s` leads, onto `a` when it follows.
    fn leadership_options(&self, a: usize, s: usize) -> impl Iterator<Item = (Action, Delta)> {
        let st = &*self.st;
        let p = st.slot_part[s] as usize;
        let start = st.c.partitions[p].start as usize;
        let leads = s == start;
        let positions = if leads {
            1..usize::from(st.c.partitions[p].rf)
        } else {
            s - start..s - start + 1
        };
        let d = leadership_delta(st.c, p);
        positions.filter_map(move |pos| {
            let (from, to) = if leads {
                (a, st.assign[start + pos] as usize)
            } else {
                (st.assign[start] as usize, a)
            };
            let delta = self.delta(from, to, &d);
            (delta.acceptable() && st.leadership_ok(p, pos))
                .then_some((Action::Lead(p, pos), delta))
        })
    }

    /// The best acceptable action that involves broker `a`.
    fn best_for(&self, a: usize, w: Width) -> Option<(Action, Delta)> {
        let st = &*self.st;
        let mut best: Option<(Action, Delta)> = None;
        // Leadership moves off and onto `a`.
        self.charge(st.slots_on[a].len());
        for &s in &st.slots_on[a] {
            for (action, delta) in self.leadership_options(a, s as usize) {
                Self::keep(&mut best, action, delta);
            }
        }
        if best.is_none() && self.cost(a, &st.metric[a]).1 > 0.0 {
            best = self.best_trade(a);
        }
        // Partners with most room in the direction `a` needs.
        let leaders_only = self.cost(a, &st.metric[a]).0 <= 0.0;
        let ga = self.slope(a, leaders_only);
        let partners = self.partners(a, leaders_only, w.partners);
        for b in partners {
            let gb = self.slope(b, leaders_only);
            let mut dir = [0.0; METRICS];
            for m in 0..METRICS {
                dir[m] = ga[m] - gb[m];
            }
            let mine = self.ranked(a, &dir, w.give, true);
            let theirs = self.ranked(b, &dir, w.take, false);
            for &(s1, c1, k1) in &mine {
                let p = st.slot_part[s1] as usize;
                let m1 = moved_change(st, p, a, b);
                let delta = self.delta(a, b, &c1).with_moved(m1);
                if delta.acceptable() && st.replica_move_ok(s1, b as u32) {
                    Self::keep(&mut best, Action::Move(s1, b), delta);
                }
                if st.hosts(p, b as u32) {
                    continue;
                }
                for &(s2, c2, k2) in &theirs {
                    // Ranked: every further partner helps even less in `dir`.
                    if k1 - k2 <= 0.0 {
                        break;
                    }
                    let mut d = c1;
                    add(&mut d, &c2, -1.0);
                    let q = st.slot_part[s2] as usize;
                    let delta = self
                        .delta(a, b, &d)
                        .with_moved(m1 + moved_change(st, q, b, a));
                    if !delta.acceptable()
                        || best.is_some_and(|(_, x)| delta.value() <= x.value() + 1e-15)
                    {
                        continue;
                    }
                    if st.swap_ok(s1, s2) {
                        Self::keep(&mut best, Action::Swap(s1, s2), delta);
                    }
                }
            }
        }
        best
    }

    /// Up to `n` partner brokers for `a`, those with most room in the direction `a` needs first.
    fn partners(&self, a: usize, leaders_only: bool, n: usize) -> Vec<usize> {
        let ga = self.slope(a, leaders_only);
        self.charge(self.brokers.len());
        let mut partners: Vec<(f64, usize)> = self
            .brokers
            .iter()
            .copied()
            .filter(|&b| b != a)
            .map(|b| {
                let gb = self.slope(b, leaders_only);
                let room: f64 = (0..METRICS).map(|m| (ga[m] - gb[m]).abs()).sum();
                (room, b)
            })
            .collect();
        partners.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        partners.truncate(n);
        partners.into_iter().map(|x| x.1).collect()
    }

    /// Leader count out of band on `a`: the best [`Action::Trade`] (a hot leadership of `a`
    /// handed to one of its followers, a cold one taken over from its leader).
    fn best_trade(&self, a: usize) -> Option<(Action, Delta)> {
        let st = &*self.st;
        let mut led: Vec<(f64, usize)> = Vec::new();
        let mut followed: Vec<(f64, usize, usize)> = Vec::new();
        self.charge(st.slots_on[a].len());
        for (p, pos) in st.movable_positions_on(a) {
            let d = leadership_delta(st.c, p);
            let heat: f64 = RESOURCES
                .iter()
                .map(|&m| d[m] / self.centre(m, a).map_or(1.0, |x| x.0))
                .sum();
            if pos == 0 {
                led.push((-heat, p));
            } else {
                followed.push((heat, p, pos));
            }
        }
        let cmp = |x: &f64, y: &f64| x.total_cmp(y);
        led.sort_by(|x, y| cmp(&x.0, &y.0).then(x.1.cmp(&y.1)));
        followed.sort_by(|x, y| cmp(&x.0, &y.0).then(x.1.cmp(&y.1)));
        let mut best: Option<(Action, Delta)> = None;
        for &(_, p) in led.iter().take(TRADE_LED) {
            let start = st.c.partitions[p].start as usize;
            let dp = leadership_delta(st.c, p);
            let mut neg_p = dp;
            neg_p.iter_mut().for_each(|x| *x = -*x);
            for pos_p in 1..usize::from(st.c.partitions[p].rf) {
                let x = st.assign[start + pos_p] as usize;
                for &(_, q, pos_q) in followed.iter().take(TRADE_FOLLOWED) {
                    let y = st.leader_of(q) as usize;
                    let dq = leadership_delta(st.c, q);
                    let mut neg_q = dq;
                    neg_q.iter_mut().for_each(|x| *x = -*x);
                    let delta = self.delta_many(&[(a, neg_p), (x, dp), (a, dq), (y, neg_q)]);
                    if delta.acceptable()
                        && best.is_none_or(|(_, b)| delta.value() > b.value() + 1e-15)
                        && st.leadership_moves_ok(&[(p, pos_p), (q, pos_q)])
                    {
                        best = Some((Action::Trade(p, pos_p, q, pos_q), delta));
                    }
                }
            }
        }
        best
    }

    /// Up to `n` movable replicas on broker `b` with their contributions, ranked by their
    /// projection on `dir` (largest first if `largest`), with that projection.
    fn ranked(
        &self,
        b: usize,
        dir: &Metrics,
        n: usize,
        largest: bool,
    ) -> Vec<(usize, Metrics, f64)> {
        let st = &*self.st;
        self.charge(st.slots_on[b].len());
        let mut all: Vec<(f64, usize, Metrics)> = st.slots_on[b]
            .iter()
            .map(|&s| {
                let s = s as usize;
                let p = st.slot_part[s] as usize;
                let c = contrib(st.c, p, st.is_leader_slot(s));
                let key: f64 = (0..METRICS).map(|m| dir[m] * c[m]).sum();
                (if largest { -key } else { key }, s, c)
            })
            .filter(|x| st.movable[st.slot_part[x.1] as usize])
            .collect();
        let cmp = |x: &(f64, usize, Metrics), y: &(f64, usize, Metrics)| {
            x.0.total_cmp(&y.0).then(x.1.cmp(&y.1))
        };
        if all.len() > n {
            all.select_nth_unstable_by(n, cmp);
            all.truncate(n);
        }
        all.sort_by(cmp);
        let sign = if largest { -1.0 } else { 1.0 };
        all.into_iter().map(|(k, s, c)| (s, c, sign * k)).collect()
    }
}
