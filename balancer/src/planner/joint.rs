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
//! it prefers the one leaving both brokers closest to their band centres, so the goals that
//! run afterwards keep room. Actions: a leadership move (changes no replica count), a swap of
//! a replica on the broker being fixed for one on a partner broker (count-neutral: a heavy
//! replica off a small broker for a light one from a big broker), and a single replica move.
//! Every action passes the same checks as the per-goal passes
//! ([`State::replica_move_ok`], [`State::swap_ok`], [`State::leadership_ok`]): hard goals,
//! rack awareness and the locked replica-count band never get worse.
//!
//! Homogeneous clusters keep the per-goal passes (`planner::balance`): there every broker
//! needs the same mix, and those passes make fewer moves.

use crate::goals::{GoalKind, M_CPU, M_DISK, M_LEADERS, M_NW_IN, M_NW_OUT, METRICS};
use crate::state::{Metrics, State, add, contrib, leadership_delta};

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

/// Weight of the band-centre term when choosing among acceptable actions.
const CENTRE_WEIGHT: f64 = 1e-3;

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

/// Change of the score: resource distance, leader-count distance, distance from centres.
#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    res: f64,
    lead: f64,
    centre: f64,
}

impl Delta {
    fn acceptable(&self) -> bool {
        self.res < -1e-9 || (self.res <= 1e-12 && self.lead < -1e-9)
    }

    /// Larger is better (only compared among acceptable actions).
    fn value(&self) -> f64 {
        -self.res - 1e-2 * self.lead - CENTRE_WEIGHT * self.centre
    }
}

/// An action the phase may take.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Replica in slot `.0` moves to broker `.1`.
    Move(usize, usize),
    /// Replicas in slots `.0` and `.1` trade brokers.
    Swap(usize, usize),
    /// Partition `.0`: the replica at position `.1` becomes the leader.
    Lead(usize, usize),
}

struct Joint<'s, 'c> {
    st: &'s mut State<'c>,
    goals: JointGoals,
    /// Brokers that take part (can receive replicas and sit in the resource bands).
    brokers: Vec<usize>,
}

/// Runs the joint phase; returns the replica and leadership moves it made.
pub(crate) fn balance_jointly(st: &mut State<'_>, goals: &JointGoals) -> u64 {
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
        st,
        goals: goals.clone(),
        brokers,
    };
    j.run()
}

impl Joint<'_, '_> {
    fn centre(&self, m: usize, b: usize) -> Option<(f64, f64)> {
        let band = self.st.bands[m].as_ref()?;
        if !band.participates[b] {
            return None;
        }
        let c = 0.5 * (band.lo[b] + band.hi[b]);
        let half = 0.5 * (band.hi[b] - band.lo[b]);
        Some((c.max(f64::MIN_POSITIVE), half.max(f64::MIN_POSITIVE)))
    }

    /// (resource distance, leader distance, centre distance) of broker `b` at metrics `v`.
    fn cost(&self, b: usize, v: &Metrics) -> (f64, f64, f64) {
        let (mut res, mut lead, mut centre) = (0.0, 0.0, 0.0);
        for &m in &self.goals.resources {
            if let (Some(band), Some((c, half))) = (&self.st.bands[m], self.centre(m, b)) {
                res += band.viol(b, v[m]) / c;
                let d = (v[m] - c) / half;
                centre += d * d;
            }
        }
        if self.goals.leaders
            && let (Some(band), Some((c, _))) =
                (&self.st.bands[M_LEADERS], self.centre(M_LEADERS, b))
        {
            lead += band.viol(b, v[M_LEADERS]) / c;
        }
        (res, lead, centre)
    }

    /// Score change if broker `a` changes by `-d` and broker `b` by `+d`.
    fn delta(&self, a: usize, b: usize, d: &Metrics) -> Delta {
        let mut out = Delta::default();
        for (x, sign) in [(a, -1.0), (b, 1.0)] {
            let old = self.st.metric[x];
            let mut new = old;
            add(&mut new, d, sign);
            let (r0, l0, c0) = self.cost(x, &old);
            let (r1, l1, c1) = self.cost(x, &new);
            out.res += r1 - r0;
            out.lead += l1 - l0;
            out.centre += c1 - c0;
        }
        out
    }

    /// Per metric, how much the score of broker `b` rises per unit of that metric added
    /// (out-of-band slope plus a small pull toward the centre).
    fn slope(&self, b: usize) -> Metrics {
        let mut g = [0.0; METRICS];
        let v = &self.st.metric[b];
        for &m in &self.goals.resources {
            if let (Some(band), Some((c, half))) = (&self.st.bands[m], self.centre(m, b)) {
                let s = if band.viol(b, v[m]) > 0.0 {
                    if v[m] > c { 1.0 } else { -1.0 }
                } else {
                    0.0
                };
                g[m] = (s + 0.1 * (v[m] - c) / half) / c;
            }
        }
        if self.goals.leaders
            && let (Some(band), Some((c, _))) =
                (&self.st.bands[M_LEADERS], self.centre(M_LEADERS, b))
        {
            let v = v[M_LEADERS];
            if band.viol(b, v) > 0.0 {
                g[M_LEADERS] = if v > c { 1e-2 } else { -1e-2 } / c;
            }
        }
        g
    }

    fn run(&mut self) -> u64 {
        let mut actions = 0u64;
        for _ in 0..MAX_ACTIONS {
            let mut bad: Vec<(f64, f64, usize)> = self
                .brokers
                .iter()
                .map(|&b| {
                    let (r, l, _) = self.cost(b, &self.st.metric[b]);
                    (r, l, b)
                })
                .filter(|x| x.0 > 0.0 || x.1 > 0.0)
                .collect();
            if bad.is_empty() {
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
            let wide = bad.iter().map(|x| (x.2, Width::WIDE));
            let found = narrow.chain(wide).find_map(|(a, w)| self.best_for(a, w));
            match found {
                Some((action, d)) => actions += self.apply(action, &d),
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

    /// The best acceptable action that involves broker `a`.
    fn best_for(&self, a: usize, w: Width) -> Option<(Action, Delta)> {
        let st = &*self.st;
        let mut best: Option<(Action, Delta)> = None;
        // Leadership moves off and onto `a`.
        for &s in &st.slots_on[a] {
            let s = s as usize;
            let p = st.slot_part[s] as usize;
            let start = st.c.partitions[p].start as usize;
            let rf = usize::from(st.c.partitions[p].rf);
            let d = leadership_delta(st.c, p);
            if s == start {
                for pos in 1..rf {
                    let b = st.assign[start + pos] as usize;
                    let delta = self.delta(a, b, &d);
                    if delta.acceptable() && st.leadership_ok(p, pos) {
                        Self::keep(&mut best, Action::Lead(p, pos), delta);
                    }
                }
            } else {
                let from = st.assign[start] as usize;
                let delta = self.delta(from, a, &d);
                if delta.acceptable() && st.leadership_ok(p, s - start) {
                    Self::keep(&mut best, Action::Lead(p, s - start), delta);
                }
            }
        }
        // Partners with most room in the direction `a` needs.
        let ga = self.slope(a);
        let mut partners: Vec<(f64, usize)> = self
            .brokers
            .iter()
            .copied()
            .filter(|&b| b != a)
            .map(|b| {
                let gb = self.slope(b);
                let room: f64 = (0..METRICS).map(|m| (ga[m] - gb[m]).abs()).sum();
                (room, b)
            })
            .collect();
        partners.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        for &(_, b) in partners.iter().take(w.partners) {
            let gb = self.slope(b);
            let mut dir = [0.0; METRICS];
            for m in 0..METRICS {
                dir[m] = ga[m] - gb[m];
            }
            let mine = self.ranked(a, &dir, w.give, true);
            let theirs = self.ranked(b, &dir, w.take, false);
            for &(s1, c1) in &mine {
                let delta = self.delta(a, b, &c1);
                if delta.acceptable() && st.replica_move_ok(s1, b as u32) {
                    Self::keep(&mut best, Action::Move(s1, b), delta);
                }
                let p = st.slot_part[s1] as usize;
                if st.hosts(p, b as u32) {
                    continue;
                }
                for &(s2, c2) in &theirs {
                    let mut d = c1;
                    add(&mut d, &c2, -1.0);
                    let delta = self.delta(a, b, &d);
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

    /// Up to `n` movable replicas on broker `b` with their contributions, ranked by their
    /// projection on `dir` (largest first if `largest`).
    fn ranked(&self, b: usize, dir: &Metrics, n: usize, largest: bool) -> Vec<(usize, Metrics)> {
        let st = &*self.st;
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
        all.into_iter().map(|(_, s, c)| (s, c)).collect()
    }

    /// Carries out `action`, booking it to the resource goal it helps most.
    fn apply(&mut self, action: Action, _d: &Delta) -> u64 {
        let goal = self.goal_of(action);
        match action {
            Action::Move(s, b) => {
                self.st.move_replica(s, b as u32, goal);
                1
            }
            Action::Swap(s1, s2) => {
                let (a, b) = (self.st.assign[s1], self.st.assign[s2]);
                self.st.move_replica(s1, b, goal);
                self.st.move_replica(s2, a, goal);
                self.st.swaps.push((s1 as u32, s2 as u32));
                2
            }
            Action::Lead(p, pos) => {
                self.st.move_leadership(p, pos, goal);
                1
            }
        }
    }

    /// The goal whose distance the action lowers most (leader count if no resource's).
    fn goal_of(&self, action: Action) -> u8 {
        let st = &*self.st;
        let (a, b, d) = match action {
            Action::Move(s, b) => {
                let p = st.slot_part[s] as usize;
                (
                    st.assign[s] as usize,
                    b,
                    contrib(st.c, p, st.is_leader_slot(s)),
                )
            }
            Action::Swap(s1, s2) => {
                let (p, q) = (st.slot_part[s1] as usize, st.slot_part[s2] as usize);
                let mut d = contrib(st.c, p, st.is_leader_slot(s1));
                add(&mut d, &contrib(st.c, q, st.is_leader_slot(s2)), -1.0);
                (st.assign[s1] as usize, st.assign[s2] as usize, d)
            }
            Action::Lead(p, pos) => {
                let start = st.c.partitions[p].start as usize;
                (
                    st.assign[start] as usize,
                    st.assign[start + pos] as usize,
                    leadership_delta(st.c, p),
                )
            }
        };
        let mut best = (0.0, M_LEADERS);
        for &m in &self.goals.resources {
            let Some(band) = &st.bands[m] else { continue };
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            let gain = band.viol(a, va) - band.viol(a, va - d[m]) + band.viol(b, vb)
                - band.viol(b, vb + d[m]);
            let gain = gain / self.centre(m, a).map_or(1.0, |x| x.0);
            if gain > best.0 {
                best = (gain, m);
            }
        }
        let kind = GoalKind::ALL
            .into_iter()
            .find(|g| g.metric() == Some(best.1))
            .unwrap_or(GoalKind::LeaderCount);
        super::goal_id(kind)
    }
}
