//! What goes in and out of the executor: observations the host feeds it, and the actions it
//! asks the host to carry out (each with an [`ActionId`] the host reports back with
//! [`super::Executor::action_succeeded`] or [`super::Executor::action_failed`]).
//!
//! The host carries out a step's actions in order and stops at the first failure.

use std::sync::Arc;

use super::desired::{BrokerId, DesiredState};
use super::record::{ControlRecord, Outcome, PauseReason};

/// Identifies one action so its result can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionId(pub u64);

/// One partition as the cluster reports it: Metadata (replicas, ISR, leader), the topic's
/// `min.insync.replicas`, and ListPartitionReassignments (adding, removing; both empty when no
/// reassignment is in flight).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedPartition {
    /// Current replicas; during a reassignment, the target followed by the replicas being
    /// removed (Kafka's order).
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Leader, `None` when offline.
    pub leader: Option<BrokerId>,
    /// `min.insync.replicas` of the topic.
    pub min_isr: u16,
    /// Replicas being added by an in-flight reassignment.
    pub adding: Vec<BrokerId>,
    /// Replicas being removed by an in-flight reassignment.
    pub removing: Vec<BrokerId>,
}

impl ObservedPartition {
    /// Whether a reassignment is in flight.
    pub fn in_flight(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replica list the partition is headed to: `replicas` without `removing`.
    pub fn heading_to(&self) -> impl Iterator<Item = BrokerId> + '_ {
        self.replicas
            .iter()
            .copied()
            .filter(|b| !self.removing.contains(b))
    }

    /// Under-replicated (ISR smaller than the replica set it is headed to) or offline.
    pub fn unhealthy(&self) -> bool {
        self.leader.is_none() || self.isr.len() < self.heading_to().count()
    }

    /// ISR below `min.insync.replicas`.
    pub fn below_min_isr(&self) -> bool {
        self.isr.len() < usize::from(self.min_isr)
    }
}

/// One partition's new replica list in an AlterPartitionReassignments request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Target replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
}

/// Throttled replicas of one topic: values of `leader.replication.throttled.replicas`
/// (existing replicas of moving partitions) and `follower.replication.throttled.replicas`
/// (replicas being added), each the full list for the topic, as `(partition, broker)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicThrottle {
    /// Topic.
    pub topic: String,
    /// Leader-side throttled replicas.
    pub leader: Vec<(i32, BrokerId)>,
    /// Follower-side throttled replicas.
    pub follower: Vec<(i32, BrokerId)>,
}

/// Throttle configs to set with IncrementalAlterConfigs (SET operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttles {
    /// Brokers that get `leader.` and `follower.replication.throttled.rate`, with the rate
    /// in bytes/s.
    pub rates: Vec<(BrokerId, u64)>,
    /// Topics whose throttled-replica lists change.
    pub topics: Vec<TopicThrottle>,
}

/// An action for the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write to `__keel_state`: first the plan record if present (encode it with
    /// [`super::record::encode_plan`]), then the control record under
    /// [`ControlRecord::key`]. The host acknowledges by feeding every control record it
    /// reads back, in log order, to [`super::Executor::observe_control_record`]. No cluster
    /// action is issued until this write is read back.
    PersistDesiredState {
        /// The plan record, on the first write of a plan only.
        plan: Option<Arc<DesiredState>>,
        /// The control record.
        control: ControlRecord,
    },
    /// IncrementalAlterConfigs on brokers and topics.
    SetThrottles {
        /// Result id.
        id: ActionId,
        /// What to set.
        throttles: Throttles,
    },
    /// AlterPartitionReassignments with these targets.
    AlterReassignments {
        /// Result id.
        id: ActionId,
        /// Targets, smallest move first.
        moves: Vec<Move>,
    },
    /// AlterPartitionReassignments with null targets: roll these in-flight moves back.
    CancelReassignments {
        /// Result id.
        id: ActionId,
        /// `(topic, partition)`.
        partitions: Vec<(String, i32)>,
    },
    /// IncrementalAlterConfigs DELETE of the throttle rates on `brokers` and of the
    /// throttled-replica lists on `topics`.
    ClearThrottles {
        /// Result id.
        id: ActionId,
        /// Brokers.
        brokers: Vec<BrokerId>,
        /// Topics.
        topics: Vec<String>,
    },
    /// ElectLeaders (PREFERRED) for these partitions.
    ElectPreferredLeaders {
        /// Result id.
        id: ActionId,
        /// `(topic, partition)`.
        partitions: Vec<(String, i32)>,
    },
    /// The executor paused itself (tell the operator); nothing for the cluster.
    Pause {
        /// Why.
        reason: PauseReason,
    },
    /// Finished; the host may stop.
    Done {
        /// How.
        outcome: Outcome,
    },
}

impl Action {
    /// The id to report a result with, for cluster actions.
    pub fn id(&self) -> Option<ActionId> {
        match self {
            Action::SetThrottles { id, .. }
            | Action::AlterReassignments { id, .. }
            | Action::CancelReassignments { id, .. }
            | Action::ClearThrottles { id, .. }
            | Action::ElectPreferredLeaders { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// What one [`super::Executor::step`] returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// Actions, in the order to carry them out.
    pub actions: Vec<Action>,
    /// Call `step` again after at most this long (ms), after feeding fresh observations.
    pub poll_after_ms: u64,
}
