//! The desired state the executor converges toward: every partition's target replica list
//! (the plan's final assignments, `replicas[0]` the preferred leader) and the limits that
//! pace the work (throttle, per-broker and cluster concurrency, error budget, lease).
//!
//! Partitions are held densely, sorted by `(topic, partition)`, so a partition's index is
//! stable across restarts and every per-partition table in the executor is a plain vector.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{BalancerError, Result};
use crate::model::Cluster;
use crate::plan::Reassignment;

/// A Kafka broker id.
pub type BrokerId = i32;

/// Limits and timing of an execution. Defaults follow Kafka's reassignment tool and Cruise
/// Control: 5 concurrent moves per broker, 1250 in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Replication throttle set as both `leader.` and `follower.replication.throttled.rate`
    /// on every broker a move touches, bytes/s.
    pub throttle_bytes_per_sec: u64,
    /// Concurrent moves per broker; a move counts against every broker it adds to or
    /// removes from.
    pub per_broker_concurrency: u32,
    /// Concurrent moves in the whole cluster.
    pub cluster_concurrency: u32,
    /// Transient alerts (failed or timed-out actions, stuck moves) tolerated before pausing.
    pub error_budget: u32,
    /// Resume by itself once the cluster is healthy again after a health pause.
    pub auto_resume: bool,
    /// Lease length in `__keel_state`, ms.
    pub lease_ms: u64,
    /// An action with no reported result after this long counts as failed, ms.
    pub action_timeout_ms: u64,
    /// A move is stuck when it runs longer than `stuck_factor` × its throttled copy time
    /// plus `stuck_grace_ms`. The copy time assumes the move shares the throttle with
    /// `per_broker_concurrency` copies: bytes × per_broker_concurrency ÷ throttle.
    pub stuck_factor: u32,
    /// See `stuck_factor`, ms.
    pub stuck_grace_ms: u64,
    /// How often the host should poll when nothing else is due, ms.
    pub poll_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            throttle_bytes_per_sec: 50_000_000,
            per_broker_concurrency: 5,
            cluster_concurrency: 1250,
            error_budget: 3,
            auto_resume: true,
            lease_ms: 30_000,
            action_timeout_ms: 30_000,
            stuck_factor: 4,
            stuck_grace_ms: 120_000,
            poll_ms: 2_000,
        }
    }
}

impl Limits {
    /// Checks that every limit is usable; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("limits.throttle_bytes_per_sec", self.throttle_bytes_per_sec),
            (
                "limits.per_broker_concurrency",
                u64::from(self.per_broker_concurrency),
            ),
            (
                "limits.cluster_concurrency",
                u64::from(self.cluster_concurrency),
            ),
            ("limits.lease_ms", self.lease_ms),
            ("limits.action_timeout_ms", self.action_timeout_ms),
            ("limits.stuck_factor", u64::from(self.stuck_factor)),
            ("limits.poll_ms", self.poll_ms),
        ];
        for (path, v) in positive {
            if v == 0 {
                return Err(BalancerError::Plan {
                    path: path.into(),
                    message: "must be greater than 0".into(),
                });
            }
        }
        Ok(())
    }
}

/// One partition's target, as given by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Target replicas (broker ids), preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// Size of one replica, bytes (orders the moves, smallest first).
    pub size_bytes: u64,
}

/// One partition of a [`DesiredState`]; its replicas are `replicas[start .. start + rf]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesiredPartition {
    /// Index into [`DesiredState::topics`].
    pub topic: u32,
    /// Partition number.
    pub partition: i32,
    /// Replica size, bytes.
    pub size_bytes: u64,
    /// Offset of the first target replica in [`DesiredState::replicas`].
    pub start: u32,
    /// Target replication factor.
    pub rf: u8,
}

/// The desired state: targets sorted by `(topic, partition)`, and the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    /// Topic names, sorted.
    pub topics: Vec<String>,
    /// Partitions sorted by `(topic, partition)`; the index is the partition's dense id.
    pub partitions: Vec<DesiredPartition>,
    /// Target replicas of every partition, flat.
    pub replicas: Vec<BrokerId>,
    /// Limits.
    pub limits: Limits,
}

impl DesiredState {
    /// Builds a desired state; errors name the offending `targets[i]` field.
    pub fn new(mut targets: Vec<TargetPartition>, limits: Limits) -> Result<DesiredState> {
        limits.validate()?;
        for (i, t) in targets.iter().enumerate() {
            check_target(&format!("targets[{i}]"), &t.replicas)?;
            if t.partition < 0 {
                return Err(plan_err(
                    format!("targets[{i}].partition"),
                    format!("negative partition {}", t.partition),
                ));
            }
        }
        targets
            .sort_by(|a, b| (a.topic.as_str(), a.partition).cmp(&(b.topic.as_str(), b.partition)));
        let mut topics: Vec<String> = Vec::new();
        let mut partitions = Vec::with_capacity(targets.len());
        let mut replicas = Vec::new();
        for (i, t) in targets.into_iter().enumerate() {
            if topics.last() != Some(&t.topic) {
                topics.push(t.topic.clone());
            } else if partitions
                .last()
                .is_some_and(|p: &DesiredPartition| p.partition == t.partition)
            {
                return Err(plan_err(
                    format!("targets[{i}]"),
                    format!("partition {}-{} appears twice", t.topic, t.partition),
                ));
            }
            let start = u32::try_from(replicas.len()).map_err(|_| {
                plan_err(
                    "targets".to_string(),
                    "more than 4 billion replicas".to_string(),
                )
            })?;
            partitions.push(DesiredPartition {
                topic: (topics.len() - 1) as u32,
                partition: t.partition,
                size_bytes: t.size_bytes,
                start,
                rf: t.replicas.len() as u8,
            });
            replicas.extend_from_slice(&t.replicas);
        }
        Ok(DesiredState {
            topics,
            partitions,
            replicas,
            limits,
        })
    }

    /// The desired state of a balancer plan: every reassignment's final replicas on `c`.
    pub fn from_plan(
        c: &Cluster,
        reassignments: &[Reassignment],
        limits: Limits,
    ) -> Result<DesiredState> {
        let mut targets = Vec::with_capacity(reassignments.len());
        for (i, r) in reassignments.iter().enumerate() {
            let Some(part) = c.partitions.get(r.partition as usize) else {
                return Err(plan_err(
                    format!("reassignments[{i}].partition"),
                    format!("no partition {}", r.partition),
                ));
            };
            let mut replicas = Vec::with_capacity(r.replicas.len());
            for (j, &b) in r.replicas.iter().enumerate() {
                let Some(broker) = c.brokers.get(b as usize) else {
                    return Err(plan_err(
                        format!("reassignments[{i}].replicas[{j}]"),
                        format!("no broker index {b}"),
                    ));
                };
                replicas.push(broker.id);
            }
            targets.push(TargetPartition {
                topic: c.topics[part.topic as usize].clone(),
                partition: part.partition,
                replicas,
                size_bytes: part.size_bytes,
            });
        }
        DesiredState::new(targets, limits)
    }

    /// Number of partitions.
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Whether the plan has no partitions.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// Target replicas of partition `i`.
    pub fn target(&self, i: usize) -> &[BrokerId] {
        let p = &self.partitions[i];
        &self.replicas[p.start as usize..p.start as usize + usize::from(p.rf)]
    }

    /// Topic name of partition `i`.
    pub fn topic_of(&self, i: usize) -> &str {
        &self.topics[self.partitions[i].topic as usize]
    }

    /// Dense index of `topic`-`partition`, by binary search.
    pub fn index_of(&self, topic: &str, partition: i32) -> Option<u32> {
        let t = self
            .topics
            .binary_search_by(|x| x.as_str().cmp(topic))
            .ok()? as u32;
        self.partitions
            .binary_search_by(|p| (p.topic, p.partition).cmp(&(t, partition)))
            .ok()
            .map(|i| i as u32)
    }

    /// Every broker id named by a target, sorted.
    pub fn target_brokers(&self) -> Vec<BrokerId> {
        let set: BTreeMap<BrokerId, ()> = self.replicas.iter().map(|&b| (b, ())).collect();
        set.into_keys().collect()
    }
}

fn plan_err(path: String, message: String) -> BalancerError {
    BalancerError::Plan { path, message }
}

pub(crate) fn check_target(path: &str, replicas: &[BrokerId]) -> Result<()> {
    if replicas.is_empty() {
        return Err(plan_err(
            format!("{path}.replicas"),
            "empty replica list".into(),
        ));
    }
    if replicas.len() > usize::from(u8::MAX) {
        return Err(plan_err(
            format!("{path}.replicas"),
            format!("{} replicas, at most 255", replicas.len()),
        ));
    }
    for (j, b) in replicas.iter().enumerate() {
        if *b < 0 {
            return Err(plan_err(
                format!("{path}.replicas[{j}]"),
                format!("negative broker id {b}"),
            ));
        }
        if replicas[..j].contains(b) {
            return Err(plan_err(
                format!("{path}.replicas[{j}]"),
                format!("duplicate broker {b}"),
            ));
        }
    }
    Ok(())
}
