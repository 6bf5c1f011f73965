//! Scoring of the joint phase: each broker's out-of-band distance over the resource goals
//! (as a fraction of its band centre), the leader-count distance and the distance from the
//! band centres, and the change an action makes to them.

use super::{CENTRE_WEIGHT, Joint};
use crate::goals::{M_LEADERS, METRICS};
use crate::state::{Metrics, State, add};

/// Change of the score: resource distance, leader-count distance, distance from centres.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Delta {
    pub(super) res: f64,
    pub(super) lead: f64,
    pub(super) centre: f64,
    /// Change in the plan's net replica moves (replicas not on a broker of their
    /// partition's input replica set): +1 for a replica leaving its input broker, -1 for
    /// one coming back, 0 for a leadership move or a replica moved again.
    pub(super) moved: i32,
}

impl Delta {
    pub(super) fn acceptable(&self) -> bool {
        self.res < -1e-9 || (self.res <= 1e-12 && self.lead < -1e-9)
    }

    /// Larger is better (only compared among acceptable actions): the score's gain per net
    /// replica move it costs (a leadership move, or a swap of replicas that moved already,
    /// costs none; a replica leaving its input broker one), so a swap of two untouched
    /// replicas must gain three times what a leadership move gains to win.
    pub(super) fn value(&self) -> f64 {
        let gain = -self.res - 1e-2 * self.lead - CENTRE_WEIGHT * self.centre;
        let per = 1.0 + f64::from(self.moved.max(0));
        if gain >= 0.0 { gain / per } else { gain * per }
    }

    pub(super) fn with_moved(mut self, moved: i32) -> Delta {
        self.moved = moved;
        self
    }
}

/// Net replica moves added if the replica of partition `p` on broker `from` goes to `to`.
pub(super) fn moved_change(st: &State<'_>, p: usize, from: usize, to: usize) -> i32 {
    i32::from(st.off_input(p, to as u32)) - i32::from(st.off_input(p, from as u32))
}

impl Joint<'_, '_> {
    pub(super) fn centre(&self, m: usize, b: usize) -> Option<(f64, f64)> {
        let band = self.st.bands[m].as_ref()?;
        if !band.participates[b] {
            return None;
        }
        let c = 0.5 * (band.lo[b] + band.hi[b]);
        let half = 0.5 * (band.hi[b] - band.lo[b]);
        Some((c.max(f64::MIN_POSITIVE), half.max(f64::MIN_POSITIVE)))
    }

    /// (resource distance, leader distance, centre distance) of broker `b` at metrics `v`.
    pub(super) fn cost(&self, b: usize, v: &Metrics) -> (f64, f64, f64) {
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
    pub(super) fn delta(&self, a: usize, b: usize, d: &Metrics) -> Delta {
        let mut neg = *d;
        neg.iter_mut().for_each(|x| *x = -*x);
        self.delta_many(&[(a, neg), (b, *d)])
    }

    /// Score change if each broker's metrics change by its amount (up to four brokers; a
    /// broker may appear more than once).
    pub(super) fn delta_many(&self, changes: &[(usize, Metrics)]) -> Delta {
        self.charge(1);
        let mut merged: [(usize, Metrics); 4] = [(usize::MAX, [0.0; METRICS]); 4];
        let mut n = 0;
        for (b, d) in changes {
            match merged[..n].iter().position(|m| m.0 == *b) {
                Some(i) => add(&mut merged[i].1, d, 1.0),
                None if n < merged.len() => {
                    merged[n] = (*b, *d);
                    n += 1;
                }
                None => return Delta::default(),
            }
        }
        let mut out = Delta::default();
        for &(x, d) in &merged[..n] {
            let old = self.st.metric[x];
            let mut new = old;
            add(&mut new, &d, 1.0);
            let (r0, l0, c0) = self.base[x];
            let (r1, l1, c1) = self.cost(x, &new);
            out.res += r1 - r0;
            out.lead += l1 - l0;
            out.centre += c1 - c0;
        }
        out
    }

    /// Per metric, how much the score of broker `b` rises per unit of that metric added
    /// (out-of-band slope plus a small pull toward the centre).
    /// With `leaders_only` (the broker being fixed is out of band in leader count alone), the
    /// leader-count slope dominates, so candidates are ranked by what they do for it.
    pub(super) fn slope(&self, b: usize, leaders_only: bool) -> Metrics {
        let (res_w, lead_w) = if leaders_only {
            (0.3, 1.0)
        } else {
            (1.0, 1e-2)
        };
        let mut g = [0.0; METRICS];
        let v = &self.st.metric[b];
        for &m in &self.goals.resources {
            if let (Some(band), Some((c, half))) = (&self.st.bands[m], self.centre(m, b)) {
                let s = if band.viol(b, v[m]) > 0.0 {
                    if v[m] > c { 1.0 } else { -1.0 }
                } else {
                    0.0
                };
                g[m] = res_w * (s + 0.1 * (v[m] - c) / half) / c;
            }
        }
        if self.goals.leaders
            && let (Some(band), Some((c, _))) =
                (&self.st.bands[M_LEADERS], self.centre(M_LEADERS, b))
        {
            let v = v[M_LEADERS];
            if band.viol(b, v) > 0.0 {
                g[M_LEADERS] = if v > c { lead_w } else { -lead_w } / c;
            }
        }
        g
    }
}
