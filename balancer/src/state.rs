//! The planner's working state: the current assignment (slot 0 of each partition is its
//! leader: at the start the snapshot's actual `leader`, swapped to the front when it is not
//! `replicas[0]`; at the end the desired preferred leader), per-broker metrics updated incrementally on every move, per-broker
//! replica lists, per-topic replica counts, and the acceptance checks that keep hard goals
//! and already-optimised soft goals from getting worse.

use crate::goals::{M_DISK, M_LEADERS, M_REPLICAS, METRICS};
use crate::model::Cluster;

/// Sentinel in `last_goal` for partitions no goal touched.
pub(crate) const UNTOUCHED: u8 = u8::MAX;

/// Goal id of the final pass that moves replicas and leaderships back where no goal needs
/// them moved (its moves undo others, so they are not counted as a goal's work).
pub(crate) const UNDO: u8 = u8::MAX - 1;

pub(crate) type Metrics = [f64; METRICS];

pub(crate) fn tol(v: f64) -> f64 {
    1e-9 * (1.0 + v.abs())
}

/// Per-goal balance band of one metric.
#[derive(Debug, Clone)]
pub(crate) struct Band {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    pub participates: Vec<bool>,
    pub avg_ratio: f64,
}

impl Band {
    pub fn viol(&self, b: usize, v: f64) -> f64 {
        if !self.participates[b] {
            return 0.0;
        }
        let (lo, hi) = (self.lo[b], self.hi[b]);
        if v > hi + tol(hi) {
            v - hi
        } else if v < lo - tol(lo) {
            lo - v
        } else {
            0.0
        }
    }
}

#[derive(Debug)]
pub(crate) struct State<'c> {
    pub c: &'c Cluster,
    pub assign: Vec<u32>,
    pub slot_part: Vec<u32>,
    pub metric: Vec<Metrics>,
    pub topic_count: Vec<u32>,
    pub slots_on: Vec<Vec<u32>>,
    pub slot_pos: Vec<u32>,
    pub last_goal: Vec<u8>,
    pub rack_limit_racks: usize,
    /// Hard upper limits per broker per metric.
    pub hard_hi: Vec<Metrics>,
    /// Bands of soft goals, indexed by metric (None: goal off or not yet computed).
    pub bands: [Option<Band>; METRICS],
    /// Metrics whose goal is already optimised (moves must not make them worse).
    pub locked: [bool; METRICS],
    /// Topic replica distribution band per topic, and whether it is locked.
    pub topic_band: Vec<(f64, f64)>,
    pub topic_participates: Vec<bool>,
    pub topic_locked: bool,
    /// Brokers that may receive replicas.
    pub dest_ok: Vec<bool>,
    /// Partitions whose replicas may move.
    pub movable: Vec<bool>,
    /// Swaps done (slot pairs), so the plan can report them as swaps.
    pub swaps: Vec<(u32, u32)>,
    /// Replica and leadership moves made while planning, per goal id (a replica moved twice
    /// counts twice; a swap counts two replica moves).
    pub goal_moves: Vec<[u64; 2]>,
    /// Search work the soft goals may still spend (see [`State::charge`]); unlimited until
    /// the planner sets the soft goals' budget.
    pub work_left: std::cell::Cell<u64>,
    /// Search work spent so far.
    pub work_spent: std::cell::Cell<u64>,
    /// Charges refused because the budget was spent (each is one step of a search that went
    /// on after the budget ran out; the budget test bounds them).
    pub work_refused: std::cell::Cell<u64>,
}

impl<'c> State<'c> {
    pub fn new(c: &'c Cluster) -> Self {
        let nb = c.brokers.len();
        let mut assign = c.replicas.clone();
        // Plan from the actual leaders: the current leader takes slot 0 of its partition.
        for part in &c.partitions {
            let s = part.start as usize;
            let slots = &mut assign[s..s + usize::from(part.rf)];
            if let Some(i) = slots.iter().position(|&b| b == part.leader) {
                slots.swap(0, i);
            }
        }
        let mut slot_part = vec![0u32; assign.len()];
        for (p, part) in c.partitions.iter().enumerate() {
            let s = part.start as usize;
            for x in &mut slot_part[s..s + usize::from(part.rf)] {
                *x = p as u32;
            }
        }
        let mut st = State {
            c,
            metric: vec![[0.0; METRICS]; nb],
            topic_count: vec![0; c.topics.len() * nb],
            slots_on: vec![Vec::new(); nb],
            slot_pos: vec![0; assign.len()],
            last_goal: vec![UNTOUCHED; c.partitions.len()],
            rack_limit_racks: c.racks.len().max(1),
            hard_hi: vec![[f64::INFINITY; METRICS]; nb],
            bands: Default::default(),
            locked: [false; METRICS],
            topic_band: Vec::new(),
            topic_participates: vec![false; nb],
            topic_locked: false,
            dest_ok: c.brokers.iter().map(|b| b.state.can_host()).collect(),
            movable: vec![true; c.partitions.len()],
            swaps: Vec::new(),
            goal_moves: vec![[0; 2]; crate::goals::GoalKind::ALL.len()],
            work_left: std::cell::Cell::new(u64::MAX),
            work_spent: std::cell::Cell::new(0),
            work_refused: std::cell::Cell::new(0),
            slot_part,
            assign,
        };
        let mut counts = vec![0usize; nb];
        for &b in &st.assign {
            counts[b as usize] += 1;
        }
        for (b, n) in counts.iter().enumerate() {
            st.slots_on[b].reserve_exact(*n + n / 8 + 16);
        }
        for slot in 0..st.assign.len() {
            let b = st.assign[slot] as usize;
            let p = st.slot_part[slot] as usize;
            let part = &c.partitions[p];
            let con = contrib(c, p, slot == part.start as usize);
            add(&mut st.metric[b], &con, 1.0);
            st.topic_count[part.topic as usize * nb + b] += 1;
            st.slot_pos[slot] = st.slots_on[b].len() as u32;
            st.slots_on[b].push(slot as u32);
        }
        st
    }

    pub fn nb(&self) -> usize {
        self.c.brokers.len()
    }

    pub fn part_slots(&self, p: usize) -> &[u32] {
        let part = &self.c.partitions[p];
        let s = part.start as usize;
        &self.assign[s..s + usize::from(part.rf)]
    }

    pub fn leader_of(&self, p: usize) -> u32 {
        self.assign[self.c.partitions[p].start as usize]
    }

    pub fn is_leader_slot(&self, slot: usize) -> bool {
        self.c.partitions[self.slot_part[slot] as usize].start as usize == slot
    }

    /// `(partition, position of b in it)` for every movable partition broker `b` holds a
    /// replica of; position 0 means `b` leads it.
    pub fn movable_positions_on(&self, b: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.slots_on[b].iter().filter_map(move |&s| {
            let s = s as usize;
            let p = self.slot_part[s] as usize;
            self.movable[p].then(|| (p, s - self.c.partitions[p].start as usize))
        })
    }

    /// Rack-awareness violations of partition `p` if the replica on `from` went to `to`.
    pub fn rack_viol(&self, p: usize, from: u32, to: u32) -> usize {
        let rf = usize::from(self.c.partitions[p].rf);
        let limit = rf.div_ceil(self.rack_limit_racks);
        let mut racks = [0u32; 16];
        let mut counts = [0usize; 16];
        let mut n = 0;
        let mut viol = 0;
        for &b0 in self.part_slots(p) {
            let b = if b0 == from { to } else { b0 };
            let r = self.c.brokers[b as usize].rack_idx;
            match racks[..n].iter().position(|x| *x == r) {
                Some(i) => {
                    counts[i] += 1;
                    if counts[i] > limit {
                        viol += 1;
                    }
                }
                None if n < 16 => {
                    racks[n] = r;
                    counts[n] = 1;
                    n += 1;
                }
                None => {}
            }
        }
        viol
    }

    pub fn hosts(&self, p: usize, b: u32) -> bool {
        self.part_slots(p).contains(&b)
    }

    fn broker_ok(&self, b: usize, old: &Metrics, new: &Metrics) -> bool {
        let hard = &self.hard_hi[b];
        for k in 0..METRICS {
            if new[k] > hard[k] + tol(hard[k]) && new[k] > old[k] + tol(old[k]) {
                return false;
            }
            if self.locked[k]
                && let Some(band) = &self.bands[k]
                && band.viol(b, new[k]) > band.viol(b, old[k]) + tol(old[k])
            {
                return false;
            }
        }
        true
    }

    /// Whether broker `b` is outside partition `p`'s input replica set (a replica of `p` on
    /// `b` is a net move of the plan).
    pub fn off_input(&self, p: usize, b: u32) -> bool {
        !self.c.replicas_of(p).contains(&b)
    }

    /// Whether changing broker `b`'s metrics by `delta` keeps its hard limits and locked
    /// goals at least as good (no search work is charged: the caller charges its walk).
    pub fn change_ok(&self, b: usize, delta: &Metrics) -> bool {
        let mut new = self.metric[b];
        add(&mut new, delta, 1.0);
        self.broker_ok(b, &self.metric[b], &new)
    }

    fn topic_ok(&self, t: usize, a: usize, b: usize) -> bool {
        if !self.topic_locked {
            return true;
        }
        let nb = self.nb();
        let (lo, hi) = self.topic_band[t];
        let ca = f64::from(self.topic_count[t * nb + a]);
        let cb = f64::from(self.topic_count[t * nb + b]);
        let source_drops = self.topic_participates[a] && ca - 1.0 < lo;
        let dest_overflows = self.topic_participates[b] && cb + 1.0 > hi;
        !source_drops && !dest_overflows
    }

    /// Charges `units` of search work (one acceptance check, one score evaluation or one
    /// replica ranked or listed is one unit). Returns false, charging nothing, once the
    /// budget is spent: every acceptance check then refuses, so every search ends and the
    /// plan's total search work stays bounded.
    pub fn charge(&self, units: u64) -> bool {
        let left = self.work_left.get();
        if left == 0 {
            self.work_refused.set(self.work_refused.get() + 1);
            return false;
        }
        self.work_left.set(left.saturating_sub(units));
        self.work_spent.set(self.work_spent.get() + units);
        true
    }

    /// Whether the search budget is spent.
    pub fn out_of_work(&self) -> bool {
        self.work_left.get() == 0
    }

    /// Whether moving replica `slot` to broker `to` keeps every hard goal and every locked
    /// soft goal at least as good. The caller checks the current goal's gain.
    pub fn replica_move_ok(&self, slot: usize, to: u32) -> bool {
        if !self.charge(1) {
            return false;
        }
        let p = self.slot_part[slot] as usize;
        let from = self.assign[slot];
        if from == to || !self.dest_ok[to as usize] || !self.movable[p] || self.hosts(p, to) {
            return false;
        }
        if self.rack_viol(p, from, to) > self.rack_viol(p, from, from) {
            return false;
        }
        let con = contrib(self.c, p, self.is_leader_slot(slot));
        let (a, b) = (from as usize, to as usize);
        let mut na = self.metric[a];
        add(&mut na, &con, -1.0);
        let mut nb = self.metric[b];
        add(&mut nb, &con, 1.0);
        self.broker_ok(a, &self.metric[a], &na)
            && self.broker_ok(b, &self.metric[b], &nb)
            && self.topic_ok(self.c.partitions[p].topic as usize, a, b)
    }

    /// Whether making the replica at position `pos` of `p` the leader is acceptable.
    pub fn leadership_ok(&self, p: usize, pos: usize) -> bool {
        if !self.charge(1) || !self.movable[p] {
            return false;
        }
        let start = self.c.partitions[p].start as usize;
        let (a, b) = (
            self.assign[start] as usize,
            self.assign[start + pos] as usize,
        );
        let d = leadership_delta(self.c, p);
        let mut na = self.metric[a];
        add(&mut na, &d, -1.0);
        let mut nbm = self.metric[b];
        add(&mut nbm, &d, 1.0);
        self.broker_ok(a, &self.metric[a], &na) && self.broker_ok(b, &self.metric[b], &nbm)
    }

    /// Whether the leadership moves `moves` (partition, position of its new leader; distinct
    /// partitions), made together, are acceptable: every broker involved is checked on its
    /// combined change, so a chain A→B→C or a trade can pass leadership through a broker
    /// whose own metrics may not grow.
    pub fn leadership_moves_ok(&self, moves: &[(usize, usize)]) -> bool {
        if !self.charge(1) {
            return false;
        }
        let mut touched: [(usize, Metrics); 6] = [(usize::MAX, [0.0; METRICS]); 6];
        let mut n = 0;
        for (i, &(part, pos)) in moves.iter().enumerate() {
            if !self.movable[part] || moves[..i].iter().any(|m| m.0 == part) {
                return false;
            }
            let start = self.c.partitions[part].start as usize;
            let d = leadership_delta(self.c, part);
            let ends = [
                (self.assign[start] as usize, -1.0),
                (self.assign[start + pos] as usize, 1.0),
            ];
            for (b, sign) in ends {
                let i = match touched[..n].iter().position(|t| t.0 == b) {
                    Some(i) => i,
                    None if n < touched.len() => {
                        touched[n] = (b, self.metric[b]);
                        n += 1;
                        n - 1
                    }
                    None => return false,
                };
                add(&mut touched[i].1, &d, sign);
            }
        }
        touched[..n]
            .iter()
            .all(|(b, new)| self.broker_ok(*b, &self.metric[*b], new))
    }

    /// Whether swapping replica `s1` (on broker A) with replica `s2` (on broker B) is acceptable.
    pub fn swap_ok(&self, s1: usize, s2: usize) -> bool {
        if !self.charge(1) {
            return false;
        }
        let (p, q) = (self.slot_part[s1] as usize, self.slot_part[s2] as usize);
        let (a, b) = (self.assign[s1], self.assign[s2]);
        if p == q
            || a == b
            || !self.movable[p]
            || !self.movable[q]
            || self.hosts(p, b)
            || self.hosts(q, a)
        {
            return false;
        }
        if !self.dest_ok[a as usize] || !self.dest_ok[b as usize] {
            return false;
        }
        if self.rack_viol(p, a, b) > self.rack_viol(p, a, a)
            || self.rack_viol(q, b, a) > self.rack_viol(q, b, b)
        {
            return false;
        }
        let cp = contrib(self.c, p, self.is_leader_slot(s1));
        let cq = contrib(self.c, q, self.is_leader_slot(s2));
        let (ai, bi) = (a as usize, b as usize);
        let mut na = self.metric[ai];
        add(&mut na, &cp, -1.0);
        add(&mut na, &cq, 1.0);
        let mut nbm = self.metric[bi];
        add(&mut nbm, &cq, -1.0);
        add(&mut nbm, &cp, 1.0);
        let (tp, tq) = (
            self.c.partitions[p].topic as usize,
            self.c.partitions[q].topic as usize,
        );
        self.broker_ok(ai, &self.metric[ai], &na)
            && self.broker_ok(bi, &self.metric[bi], &nbm)
            && (tp == tq || (self.topic_ok(tp, ai, bi) && self.topic_ok(tq, bi, ai)))
    }

    pub fn move_replica(&mut self, slot: usize, to: u32, goal: u8) {
        let p = self.slot_part[slot] as usize;
        let from = self.assign[slot] as usize;
        let con = contrib(self.c, p, self.is_leader_slot(slot));
        add(&mut self.metric[from], &con, -1.0);
        add(&mut self.metric[to as usize], &con, 1.0);
        let nb = self.nb();
        let t = self.c.partitions[p].topic as usize;
        self.topic_count[t * nb + from] -= 1;
        self.topic_count[t * nb + to as usize] += 1;
        let pos = self.slot_pos[slot] as usize;
        let list = &mut self.slots_on[from];
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            self.slot_pos[moved as usize] = pos as u32;
        }
        self.slot_pos[slot] = self.slots_on[to as usize].len() as u32;
        self.slots_on[to as usize].push(slot as u32);
        self.assign[slot] = to;
        self.note(p, goal, 0);
    }

    fn note(&mut self, p: usize, goal: u8, kind: usize) {
        if goal == UNDO {
            return;
        }
        if let Some(g) = self.goal_moves.get_mut(usize::from(goal)) {
            g[kind] += 1;
        }
        self.last_goal[p] = goal;
    }

    pub fn move_leadership(&mut self, p: usize, pos: usize, goal: u8) {
        let s0 = self.c.partitions[p].start as usize;
        let s1 = s0 + pos;
        let (a, b) = (self.assign[s0] as usize, self.assign[s1] as usize);
        let d = leadership_delta(self.c, p);
        add(&mut self.metric[a], &d, -1.0);
        add(&mut self.metric[b], &d, 1.0);
        self.assign.swap(s0, s1);
        self.slots_on[a][self.slot_pos[s0] as usize] = s1 as u32;
        self.slots_on[b][self.slot_pos[s1] as usize] = s0 as u32;
        self.slot_pos.swap(s0, s1);
        self.note(p, goal, 1);
    }

    /// Utilisation-style value of metric `k` on broker `b` for ordering brokers.
    pub fn ratio(&self, k: usize, b: usize) -> f64 {
        let v = self.metric[b][k];
        if (1..=4).contains(&k) {
            v / self.c.brokers[b].capacity[k - 1]
        } else if k == 6 {
            v / self.c.brokers[b].capacity[1]
        } else {
            v
        }
    }

    /// Order used to break ties when picking among otherwise equal destinations.
    pub fn load_key(&self, b: usize) -> (f64, f64) {
        (self.metric[b][M_REPLICAS], self.ratio(M_DISK, b))
    }

    pub fn leaders_on(&self, b: usize) -> f64 {
        self.metric[b][M_LEADERS]
    }
}

/// Metric contribution of one replica of `p` (leading or following).
pub(crate) fn contrib(c: &Cluster, p: usize, leader: bool) -> Metrics {
    let part = &c.partitions[p];
    let l = part.replica_load(leader);
    let lead = if leader { 1.0 } else { 0.0 };
    [1.0, l[0], l[1], l[2], l[3], lead, lead * part.bytes_in]
}

/// Metric change of the new leader when leadership of `p` moves (the old leader gets the negation).
pub(crate) fn leadership_delta(c: &Cluster, p: usize) -> Metrics {
    let l = contrib(c, p, true);
    let f = contrib(c, p, false);
    let mut d = [0.0; METRICS];
    for k in 0..METRICS {
        d[k] = l[k] - f[k];
    }
    d
}

pub(crate) fn add(m: &mut Metrics, d: &Metrics, sign: f64) {
    for k in 0..METRICS {
        m[k] += sign * d[k];
    }
}
