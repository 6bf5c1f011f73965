//! Goals: what a plan must achieve (hard goals) and what it balances (soft goals), with
//! Cruise Control's defaults so results compare on the same definitions.
//!
//! Soft goals are distribution goals over one per-broker metric. Each has a balance band
//! `avg × (1 ± m)` with `m = (threshold − 1) × 0.9`; resources are compared as a fraction of
//! each broker's capacity, so brokers of different sizes balance by percentage. Topic replica
//! distribution uses threshold 3.0 with the band clamped to `avg ± [2, 40]` replicas.

use crate::error::{BalancerError, Result};

/// Per-broker metrics tracked by the planner, in this order in every `[f64; METRICS]`.
pub const METRICS: usize = 7;
/// Replica count.
pub const M_REPLICAS: usize = 0;
/// Disk bytes.
pub const M_DISK: usize = 1;
/// Network in, bytes/s.
pub const M_NW_IN: usize = 2;
/// Network out, bytes/s.
pub const M_NW_OUT: usize = 3;
/// CPU cores.
pub const M_CPU: usize = 4;
/// Leader count.
pub const M_LEADERS: usize = 5;
/// Bytes in of the partitions a broker leads.
pub const M_LEADER_BYTES_IN: usize = 6;

/// Every goal keel knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GoalKind {
    /// Hard: replicas of a partition on distinct racks (or as evenly spread as racks allow).
    RackAwareness,
    /// Hard: disk, network in/out ≤ 0.8 and CPU ≤ 0.7 of capacity.
    Capacity,
    /// Hard: at most `max_replicas_per_broker` replicas per broker.
    ReplicaLimit,
    /// Hard: dead/removing brokers hold nothing, demoting brokers lead nothing.
    BrokerStates,
    /// Soft: replica count per broker.
    ReplicaCount,
    /// Soft: disk usage (% of capacity).
    Disk,
    /// Soft: network in (% of capacity).
    NetworkIn,
    /// Soft: network out (% of capacity).
    NetworkOut,
    /// Soft: CPU (% of capacity).
    Cpu,
    /// Soft: leader count per broker.
    LeaderCount,
    /// Soft: bytes in of led partitions (% of network-in capacity).
    LeaderBytesIn,
    /// Soft: replicas of each topic per broker.
    TopicReplicaDistribution,
}

impl GoalKind {
    /// All goals in default priority order.
    pub const ALL: [GoalKind; 12] = [
        GoalKind::RackAwareness,
        GoalKind::Capacity,
        GoalKind::ReplicaLimit,
        GoalKind::BrokerStates,
        GoalKind::ReplicaCount,
        GoalKind::Disk,
        GoalKind::NetworkIn,
        GoalKind::NetworkOut,
        GoalKind::Cpu,
        GoalKind::LeaderCount,
        GoalKind::LeaderBytesIn,
        GoalKind::TopicReplicaDistribution,
    ];

    /// Name used on the command line, in tables and in plan JSON.
    pub fn name(self) -> &'static str {
        match self {
            GoalKind::RackAwareness => "rack-awareness",
            GoalKind::Capacity => "capacity",
            GoalKind::ReplicaLimit => "replica-limit",
            GoalKind::BrokerStates => "broker-states",
            GoalKind::ReplicaCount => "replica-count",
            GoalKind::Disk => "disk",
            GoalKind::NetworkIn => "network-in",
            GoalKind::NetworkOut => "network-out",
            GoalKind::Cpu => "cpu",
            GoalKind::LeaderCount => "leader-count",
            GoalKind::LeaderBytesIn => "leader-bytes-in",
            GoalKind::TopicReplicaDistribution => "topic-replica-distribution",
        }
    }

    /// Parses [`GoalKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        GoalKind::ALL.into_iter().find(|g| g.name() == s)
    }

    /// Whether this is a hard goal (a plan that breaks it is an error).
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            GoalKind::RackAwareness
                | GoalKind::Capacity
                | GoalKind::ReplicaLimit
                | GoalKind::BrokerStates
        )
    }

    /// The per-broker metric a soft distribution goal balances.
    pub fn metric(self) -> Option<usize> {
        Some(match self {
            GoalKind::ReplicaCount => M_REPLICAS,
            GoalKind::Disk => M_DISK,
            GoalKind::NetworkIn => M_NW_IN,
            GoalKind::NetworkOut => M_NW_OUT,
            GoalKind::Cpu => M_CPU,
            GoalKind::LeaderCount => M_LEADERS,
            GoalKind::LeaderBytesIn => M_LEADER_BYTES_IN,
            _ => return None,
        })
    }

    /// Whether leadership moves change this goal's metric.
    pub fn leadership_sensitive(self) -> bool {
        matches!(
            self,
            GoalKind::NetworkOut | GoalKind::Cpu | GoalKind::LeaderCount | GoalKind::LeaderBytesIn
        )
    }

    /// Default balance threshold (Cruise Control's).
    pub fn default_threshold(self) -> f64 {
        match self {
            GoalKind::TopicReplicaDistribution => 3.0,
            _ => 1.10,
        }
    }
}

/// One goal's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoalConfig {
    /// Which goal.
    pub kind: GoalKind,
    /// Switched on.
    pub enabled: bool,
    /// Lower runs first. Hard goals always run before soft goals.
    pub priority: u32,
    /// Balance threshold for soft goals (band `avg × (1 ± (threshold − 1) × 0.9)`).
    pub threshold: f64,
}

/// The goal set of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Goals {
    /// Every goal with its settings.
    pub goals: Vec<GoalConfig>,
    /// Capacity limits per resource as a fraction of capacity (disk, nw-in, nw-out, cpu).
    pub capacity_threshold: [f64; 4],
    /// Replica limit per broker.
    pub max_replicas_per_broker: u32,
}

impl Default for Goals {
    fn default() -> Self {
        Goals {
            goals: GoalKind::ALL
                .iter()
                .enumerate()
                .map(|(i, &kind)| GoalConfig {
                    kind,
                    enabled: true,
                    priority: i as u32,
                    threshold: kind.default_threshold(),
                })
                .collect(),
            capacity_threshold: [0.8, 0.8, 0.8, 0.7],
            max_replicas_per_broker: 10_000,
        }
    }
}

impl Goals {
    /// Keeps only the named goals switched on (hard goals stay on unless named with a
    /// leading `-`), in the given order as priority. `spec` is a comma-separated list, e.g.
    /// `replica-count,disk,-topic-replica-distribution`.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let mut goals = Goals::default();
        let items: Vec<&str> = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let positive: Vec<&str> = items
            .iter()
            .copied()
            .filter(|s| !s.starts_with('-'))
            .collect();
        for item in &items {
            let name = item.trim_start_matches('-');
            if GoalKind::parse(name).is_none() {
                let known: Vec<&str> = GoalKind::ALL.iter().map(|g| g.name()).collect();
                return Err(BalancerError::option(
                    "goals",
                    format!("unknown goal `{name}` (known: {})", known.join(", ")),
                ));
            }
        }
        for g in &mut goals.goals {
            let name = g.kind.name();
            if !positive.is_empty() && !g.kind.is_hard() {
                g.enabled = positive.contains(&name);
            }
            if let Some(pos) = positive.iter().position(|s| *s == name) {
                g.priority = if g.kind.is_hard() {
                    pos as u32
                } else {
                    100 + pos as u32
                };
            } else if !g.kind.is_hard() {
                g.priority += 100;
            }
            if items.iter().any(|s| s.strip_prefix('-') == Some(name)) {
                g.enabled = false;
            }
        }
        goals
            .goals
            .sort_by_key(|g| (!g.kind.is_hard(), g.priority, g.kind));
        Ok(goals)
    }

    /// Settings of one goal.
    pub fn get(&self, kind: GoalKind) -> Option<&GoalConfig> {
        self.goals.iter().find(|g| g.kind == kind)
    }

    /// Whether a goal is switched on.
    pub fn enabled(&self, kind: GoalKind) -> bool {
        self.get(kind).is_some_and(|g| g.enabled)
    }

    /// Sets a goal's threshold.
    pub fn set_threshold(&mut self, kind: GoalKind, threshold: f64) -> Result<()> {
        if !(threshold.is_finite() && threshold >= 1.0) {
            return Err(BalancerError::option(
                "threshold",
                format!("{} threshold must be >= 1.0, got {threshold}", kind.name()),
            ));
        }
        for g in &mut self.goals {
            if g.kind == kind {
                g.threshold = threshold;
            }
        }
        Ok(())
    }

    /// Enabled soft goals in priority order.
    pub fn soft_in_order(&self) -> Vec<GoalConfig> {
        let mut v: Vec<GoalConfig> = self
            .goals
            .iter()
            .copied()
            .filter(|g| g.enabled && !g.kind.is_hard())
            .collect();
        v.sort_by_key(|g| (g.priority, g.kind));
        v
    }
}

/// Margin `m` of a balance band for `threshold`.
pub fn band_margin(threshold: f64) -> f64 {
    (threshold - 1.0) * 0.9
}

/// Integer band `[lo, hi]` for a count metric with average `avg` and half-width `delta`.
/// The band always contains `floor(avg)..=ceil(avg)` so it is reachable.
pub fn count_band(avg: f64, delta: f64) -> (f64, f64) {
    let hi = (avg + delta).floor().max(avg.ceil());
    let lo = (avg - delta).ceil().min(avg.floor()).max(0.0);
    (lo, hi)
}

/// Band of the topic replica distribution goal for a topic averaging `avg` replicas per broker.
pub fn topic_band(avg: f64, threshold: f64) -> (f64, f64) {
    let delta = (avg * band_margin(threshold)).clamp(2.0, 40.0);
    ((avg - delta).floor().max(0.0), (avg + delta).ceil())
}
