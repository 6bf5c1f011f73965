//! Goal status of an assignment: for each goal, the value range across brokers, the band,
//! how many brokers lie outside it and how many hard violations remain. `keel plan` prints
//! this before and after a plan.

use serde::Serialize;

use crate::goals::{GoalKind, Goals, M_LEADERS, M_REPLICAS};
use crate::state::{Band, State, tol};

/// Status of one goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalStatus {
    /// Goal name.
    pub goal: &'static str,
    /// Hard goal.
    pub hard: bool,
    /// Smallest per-broker value (count, or fraction of capacity for resources).
    pub min: f64,
    /// Largest per-broker value.
    pub max: f64,
    /// Average over participating brokers.
    pub avg: f64,
    /// Band lower edge (fraction for resources), if a band applies.
    pub band_lo: Option<f64>,
    /// Band upper edge.
    pub band_hi: Option<f64>,
    /// Brokers (or topic×broker pairs) outside the band.
    pub out_of_band: usize,
    /// Hard violations (partitions, brokers or broker×resource pairs).
    pub violations: usize,
    /// Human-readable detail of the first violations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
}

fn ratio_unit(k: usize, st: &State<'_>, b: usize) -> f64 {
    match k {
        1..=4 => st.c.brokers[b].capacity[k - 1],
        6 => st.c.brokers[b].capacity[1],
        _ => 1.0,
    }
}

fn soft_status(st: &State<'_>, kind: GoalKind, k: usize, band: &Band) -> GoalStatus {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut out = 0;
    let mut lo = None;
    let mut hi = None;
    for b in 0..st.nb() {
        if !band.participates[b] {
            continue;
        }
        let r = st.ratio(k, b);
        min = min.min(r);
        max = max.max(r);
        if band.viol(b, st.metric[b][k]) > 0.0 {
            out += 1;
        }
        let u = ratio_unit(k, st, b);
        lo = Some(band.lo[b] / u);
        hi = Some(band.hi[b] / u);
    }
    if !min.is_finite() {
        min = 0.0;
        max = 0.0;
    }
    GoalStatus {
        goal: kind.name(),
        hard: false,
        min,
        max,
        avg: band.avg_ratio,
        band_lo: lo,
        band_hi: hi,
        out_of_band: out,
        violations: 0,
        detail: Vec::new(),
    }
}

/// Computes every enabled goal's status on `st` (bands must be set on `st`).
pub(crate) fn goal_status(st: &State<'_>, goals: &Goals) -> Vec<GoalStatus> {
    let mut v = Vec::new();
    for g in &goals.goals {
        if !g.enabled {
            continue;
        }
        if g.kind.is_hard() {
            let (violations, detail) = hard_violations(st, goals, g.kind);
            v.push(GoalStatus {
                goal: g.kind.name(),
                hard: true,
                min: 0.0,
                max: 0.0,
                avg: 0.0,
                band_lo: None,
                band_hi: None,
                out_of_band: 0,
                violations,
                detail,
            });
        } else if let Some(k) = g.kind.metric() {
            if let Some(band) = &st.bands[k] {
                v.push(soft_status(st, g.kind, k, band));
            }
        } else if g.kind == GoalKind::TopicReplicaDistribution && !st.topic_band.is_empty() {
            let nb = st.nb();
            let mut out = 0;
            let mut max_over = 0.0f64;
            for (t, &(lo, hi)) in st.topic_band.iter().enumerate() {
                for b in 0..nb {
                    if !st.topic_participates[b] {
                        continue;
                    }
                    let c = f64::from(st.topic_count[t * nb + b]);
                    if c > hi || c < lo {
                        out += 1;
                        max_over = max_over.max(c - hi).max(lo - c);
                    }
                }
            }
            v.push(GoalStatus {
                goal: g.kind.name(),
                hard: false,
                min: 0.0,
                max: max_over,
                avg: 0.0,
                band_lo: None,
                band_hi: None,
                out_of_band: out,
                violations: 0,
                detail: Vec::new(),
            });
        }
    }
    v
}

/// Counts a hard goal's violations and describes the first few.
pub(crate) fn hard_violations(
    st: &State<'_>,
    goals: &Goals,
    kind: GoalKind,
) -> (usize, Vec<String>) {
    let c = st.c;
    let mut n = 0;
    let mut detail = Vec::new();
    let mut note = |n: &mut usize, s: String| {
        *n += 1;
        if detail.len() < 5 {
            detail.push(s);
        }
    };
    match kind {
        GoalKind::RackAwareness => {
            for p in 0..c.partitions.len() {
                if st.rack_viol(p, u32::MAX, u32::MAX) > 0 {
                    note(
                        &mut n,
                        format!(
                            "partition {} has two replicas in one rack",
                            c.partition_name(p)
                        ),
                    );
                }
            }
        }
        GoalKind::Capacity => {
            for (b, broker) in c.brokers.iter().enumerate() {
                if !broker.state.can_host() {
                    continue;
                }
                for r in 0..4 {
                    let limit = goals.capacity_threshold[r] * broker.capacity[r];
                    let v = st.metric[b][r + 1];
                    if v > limit + tol(limit) {
                        note(
                            &mut n,
                            format!(
                                "broker {} {} at {:.1}% of capacity (limit {:.0}%)",
                                broker.id,
                                crate::model::Resource::ALL[r].name(),
                                100.0 * v / broker.capacity[r],
                                100.0 * goals.capacity_threshold[r]
                            ),
                        );
                    }
                }
            }
        }
        GoalKind::ReplicaLimit => {
            for (b, broker) in c.brokers.iter().enumerate() {
                let v = st.metric[b][M_REPLICAS];
                if v > f64::from(goals.max_replicas_per_broker) {
                    note(
                        &mut n,
                        format!(
                            "broker {} holds {} replicas (limit {})",
                            broker.id, v, goals.max_replicas_per_broker
                        ),
                    );
                }
            }
        }
        GoalKind::BrokerStates => {
            for (b, broker) in c.brokers.iter().enumerate() {
                if !broker.state.can_host() && st.metric[b][M_REPLICAS] > 0.0 {
                    note(
                        &mut n,
                        format!(
                            "{} broker {} still holds {} replicas",
                            broker.state.name(),
                            broker.id,
                            st.metric[b][M_REPLICAS]
                        ),
                    );
                } else if !broker.state.can_lead() && st.metric[b][M_LEADERS] > 0.0 {
                    note(
                        &mut n,
                        format!(
                            "{} broker {} still leads {} partitions",
                            broker.state.name(),
                            broker.id,
                            st.metric[b][M_LEADERS]
                        ),
                    );
                }
            }
        }
        _ => {}
    }
    (n, detail)
}
