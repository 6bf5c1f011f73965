//! A plan and its two output forms: Kafka's reassignment JSON (what
//! `kafka-reassign-partitions.sh --execute` takes, [KIP-455]) and keel's plan JSON, which
//! lists every action with the goal it serves and the plan's cost.
//!
//! Multiple moves of one partition are collapsed into its final assignment; a partition
//! whose replica set is unchanged and whose `replicas[0]` is already the desired leader is
//! not in the reassignment JSON. The planner starts from each partition's actual `leader`
//! (which need not be `replicas[0]`), and every written list has the desired leader first,
//! so the preferred-leader election that ends an execution leaves the planned leaders.
//!
//! [KIP-455]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{BalancerError, Result};
use crate::goals::GoalKind;
use crate::model::Cluster;
use crate::simulate::simulate;
use crate::state::{State, UNTOUCHED};
use crate::status::GoalStatus;

/// How a plan is executed (for the cost model and the simulator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExecutionOptions {
    /// Replication throttle per broker, bytes/s (applies to a broker's inbound and outbound).
    pub throttle_bytes_per_sec: f64,
    /// Concurrent replica moves per broker (a move holds a slot on every broker it adds a
    /// replica to or removes one from, as the executor counts it).
    pub concurrency_per_broker: u32,
    /// Concurrent partition moves in the whole cluster (the executor's cluster cap).
    pub cluster_concurrency: u32,
    /// Seconds one batch of leadership moves takes.
    pub leadership_batch_secs: f64,
}

impl Default for ExecutionOptions {
    fn default() -> Self {
        ExecutionOptions {
            throttle_bytes_per_sec: 50e6,
            concurrency_per_broker: 5,
            cluster_concurrency: 1250,
            leadership_batch_secs: 1.0,
        }
    }
}

/// A partition's new replica list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// Partition index in the cluster.
    pub partition: u32,
    /// New replicas (broker indices), `replicas[0]` the preferred leader.
    pub replicas: Vec<u32>,
}

/// Kind of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A replica moves from one broker to another.
    ReplicaMove,
    /// Another in-sync replica becomes the preferred leader.
    LeadershipMove,
    /// Two partitions exchange a replica between two brokers.
    Swap,
}

/// One action of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    /// What happens.
    pub kind: ActionKind,
    /// `topic-partition`.
    pub partition: String,
    /// Source broker id (for a swap: the broker the first partition leaves).
    pub from: i32,
    /// Destination broker id.
    pub to: i32,
    /// For a swap: the other partition, moving `to` → `from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_partition: Option<String>,
    /// Bytes copied.
    pub bytes: u64,
    /// Goal this action serves.
    pub goal: &'static str,
}

/// Cost of executing a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Cost {
    /// Replica moves (new replicas created).
    pub replica_moves: u64,
    /// Leadership-only changes.
    pub leadership_moves: u64,
    /// Bytes copied.
    pub bytes_moved: u64,
    /// Bytes copied from a leader in another rack.
    pub cross_rack_bytes: u64,
    /// Peak extra disk per broker while executing (broker id → bytes), only brokers > 0.
    pub peak_extra_disk: BTreeMap<i32, u64>,
    /// Largest peak extra disk on one broker.
    pub max_peak_extra_disk: u64,
    /// Estimated execution time under the throttle and concurrency, seconds.
    pub estimated_seconds: f64,
    /// Execution settings assumed.
    pub execution: Option<ExecutionOptions>,
}

/// A plan: reassignments, the actions behind them, goal status and cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Changed partitions only, in partition order.
    pub reassignments: Vec<Reassignment>,
    /// Every action with its goal.
    pub actions: Vec<Action>,
    /// Goal status before.
    pub before: Vec<GoalStatus>,
    /// Goal status after.
    pub after: Vec<GoalStatus>,
    /// Lower bound on replica moves.
    pub lower_bound: u64,
    /// Cost.
    pub cost: Cost,
    /// Hard goals the input rules out, set aside by a best-effort plan (empty otherwise).
    pub infeasible: Vec<crate::planner::Infeasibility>,
    /// Moves each goal made while planning, before moves of one partition collapse into its
    /// final assignment and before unneeded moves are undone: where the plan's moves come from.
    pub moves_by_goal: Vec<GoalMoves>,
}

/// Moves one goal made while planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoalMoves {
    /// Goal name.
    pub goal: &'static str,
    /// Replica moves (a swap counts two).
    pub replica_moves: u64,
    /// Leadership moves.
    pub leadership_moves: u64,
}

fn goal_name(id: u8) -> &'static str {
    if id == UNTOUCHED {
        return "none";
    }
    GoalKind::ALL
        .get(usize::from(id))
        .map_or("none", |g| g.name())
}

impl Plan {
    pub(crate) fn from_state(
        st: &State<'_>,
        before: Vec<GoalStatus>,
        after: Vec<GoalStatus>,
        lower_bound: u64,
        exec: &ExecutionOptions,
    ) -> Plan {
        let c = st.c;
        let mut reassignments = Vec::new();
        for p in 0..c.partitions.len() {
            if let Some(replicas) = kafka_replicas(c.replicas_of(p), st.part_slots(p)) {
                reassignments.push(Reassignment {
                    partition: p as u32,
                    replicas,
                });
            }
        }
        let mut actions = Vec::new();
        // Swaps whose two partitions each ended with exactly that one exchange.
        let mut swapped: BTreeMap<u32, (u32, u32, u32)> = BTreeMap::new();
        for &(s1, s2) in &st.swaps {
            let (p, q) = (st.slot_part[s1 as usize], st.slot_part[s2 as usize]);
            let (a, b) = (st.assign[s2 as usize], st.assign[s1 as usize]);
            if single_exchange(c, st, p as usize, a, b) && single_exchange(c, st, q as usize, b, a)
            {
                swapped.insert(p, (q, a, b));
                swapped.insert(q, (u32::MAX, b, a));
            }
        }
        for r in &reassignments {
            let p = r.partition as usize;
            let old = c.replicas_of(p);
            let goal = goal_name(st.last_goal[p]);
            let size = c.partitions[p].size_bytes;
            if let Some(&(q, a, b)) = swapped.get(&r.partition) {
                if q != u32::MAX {
                    actions.push(Action {
                        kind: ActionKind::Swap,
                        partition: c.partition_name(p),
                        from: c.brokers[a as usize].id,
                        to: c.brokers[b as usize].id,
                        other_partition: Some(c.partition_name(q as usize)),
                        bytes: size + c.partitions[q as usize].size_bytes,
                        goal,
                    });
                }
            } else {
                let removed: Vec<u32> = old
                    .iter()
                    .copied()
                    .filter(|b| !r.replicas.contains(b))
                    .collect();
                let added: Vec<u32> = r
                    .replicas
                    .iter()
                    .copied()
                    .filter(|b| !old.contains(b))
                    .collect();
                for (from, to) in removed.iter().zip(&added) {
                    actions.push(Action {
                        kind: ActionKind::ReplicaMove,
                        partition: c.partition_name(p),
                        from: c.brokers[*from as usize].id,
                        to: c.brokers[*to as usize].id,
                        other_partition: None,
                        bytes: size,
                        goal,
                    });
                }
            }
            let leader = c.partitions[p].leader;
            if r.replicas[0] != leader && old.contains(&r.replicas[0]) {
                actions.push(leadership_action(c, p, leader, r.replicas[0], goal));
            }
        }
        // Partitions left out of the reassignment whose current leader is not `replicas[0]`:
        // the preferred-leader election at the end hands leadership back to `replicas[0]`,
        // which the planner chose (it moved leadership back to slot 0).
        let mut listed = reassignments
            .iter()
            .map(|r| r.partition as usize)
            .peekable();
        for (p, part) in c.partitions.iter().enumerate() {
            if listed.next_if_eq(&p).is_some() {
                continue;
            }
            let preferred = c.replicas[part.start as usize];
            if part.leader != preferred {
                let goal = goal_name(st.last_goal[p]);
                actions.push(leadership_action(c, p, part.leader, preferred, goal));
            }
        }
        let cost = simulate(c, &reassignments, exec).cost;
        let moves_by_goal = st
            .goal_moves
            .iter()
            .zip(GoalKind::ALL)
            .filter(|(m, _)| m[0] + m[1] > 0)
            .map(|(m, g)| GoalMoves {
                goal: g.name(),
                replica_moves: m[0],
                leadership_moves: m[1],
            })
            .collect();
        Plan {
            moves_by_goal,
            reassignments,
            actions,
            before,
            after,
            lower_bound,
            cost,
            infeasible: Vec::new(),
        }
    }

    /// Replica moves (new replicas created by the plan).
    pub fn replica_moves(&self) -> u64 {
        self.cost.replica_moves
    }

    /// Kafka reassignment JSON (`{"version":1,"partitions":[...]}`), one partition per line.
    pub fn to_kafka_json(&self, c: &Cluster) -> String {
        let mut out = String::from("{\"version\":1,\"partitions\":[");
        for (i, r) in self.reassignments.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            let part = &c.partitions[r.partition as usize];
            out.push_str("{\"topic\":");
            crate::snapshot::json_str(&mut out, &c.topics[part.topic as usize]);
            out.push_str(&format!(",\"partition\":{},\"replicas\":[", part.partition));
            let ids: Vec<String> = r
                .replicas
                .iter()
                .map(|&b| c.brokers[b as usize].id.to_string())
                .collect();
            out.push_str(&ids.join(","));
            out.push_str("]}");
        }
        out.push_str("\n]}\n");
        out
    }

    /// keel's plan JSON: actions with goals, reassignments, goal status and cost.
    pub fn to_keel_json(&self, c: &Cluster) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            format: &'static str,
            lower_bound_replica_moves: u64,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            infeasible_goals: &'a [crate::planner::Infeasibility],
            cost: &'a Cost,
            planner_moves_by_goal: &'a [GoalMoves],
            actions: &'a [Action],
            goals_before: &'a [GoalStatus],
            goals_after: &'a [GoalStatus],
            reassignments: Vec<KafkaPartition>,
        }
        let out = Out {
            format: "keel.plan/v1",
            lower_bound_replica_moves: self.lower_bound,
            infeasible_goals: &self.infeasible,
            cost: &self.cost,
            planner_moves_by_goal: &self.moves_by_goal,
            actions: &self.actions,
            goals_before: &self.before,
            goals_after: &self.after,
            reassignments: self.kafka_partitions(c),
        };
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    fn kafka_partitions(&self, c: &Cluster) -> Vec<KafkaPartition> {
        self.reassignments
            .iter()
            .map(|r| {
                let part = &c.partitions[r.partition as usize];
                KafkaPartition {
                    topic: c.topics[part.topic as usize].clone(),
                    partition: part.partition,
                    replicas: r
                        .replicas
                        .iter()
                        .map(|&b| c.brokers[b as usize].id)
                        .collect(),
                }
            })
            .collect()
    }
}

fn leadership_action(c: &Cluster, p: usize, from: u32, to: u32, goal: &'static str) -> Action {
    Action {
        kind: ActionKind::LeadershipMove,
        partition: c.partition_name(p),
        from: c.brokers[from as usize].id,
        to: c.brokers[to as usize].id,
        other_partition: None,
        bytes: 0,
        goal,
    }
}

/// The replica list to write for a partition whose replicas were `old` (snapshot order)
/// and whose planned assignment is `new` (`new[0]` the desired leader), or `None` when
/// Kafka needs no reassignment: same replica set and `old[0]` already the desired leader
/// (a mere reordering of followers is not worth a reassignment).
///
/// The planner replaces a moved replica in its position and a leadership move swaps the new
/// leader with position 0, so the list changes no more of the order than it has to.
pub(crate) fn kafka_replicas(old: &[u32], new: &[u32]) -> Option<Vec<u32>> {
    let same_set = old.len() == new.len() && old.iter().all(|b| new.contains(b));
    if same_set && old.first() == new.first() {
        return None;
    }
    Some(new.to_vec())
}

fn single_exchange(c: &Cluster, st: &State<'_>, p: usize, from: u32, to: u32) -> bool {
    let old = c.replicas_of(p);
    let new = st.part_slots(p);
    let removed: Vec<u32> = old.iter().copied().filter(|b| !new.contains(b)).collect();
    let added: Vec<u32> = new.iter().copied().filter(|b| !old.contains(b)).collect();
    removed == [from] && added == [to]
}

/// One partition of Kafka's reassignment JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// New replicas (broker ids), preferred leader first.
    pub replicas: Vec<i32>,
}

#[derive(Deserialize)]
struct KafkaPlanFile {
    version: i32,
    partitions: Vec<KafkaPartition>,
}

/// Reads a Kafka reassignment JSON against `c`. Errors name the field path.
pub fn parse_kafka_plan(c: &Cluster, text: &str) -> Result<Vec<Reassignment>> {
    let file: KafkaPlanFile = serde_json::from_str(text).map_err(|e| BalancerError::Plan {
        path: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    if file.version != 1 {
        return Err(BalancerError::Plan {
            path: "version".into(),
            message: format!("expected 1, found {}", file.version),
        });
    }
    let mut index: BTreeMap<(&str, i32), usize> = BTreeMap::new();
    for (p, part) in c.partitions.iter().enumerate() {
        index.insert((c.topics[part.topic as usize].as_str(), part.partition), p);
    }
    let mut out: Vec<Reassignment> = Vec::new();
    for (i, kp) in file.partitions.iter().enumerate() {
        let Some(&p) = index.get(&(kp.topic.as_str(), kp.partition)) else {
            return Err(BalancerError::Plan {
                path: format!("partitions[{i}]"),
                message: format!(
                    "partition {}-{} is not in the cluster",
                    kp.topic, kp.partition
                ),
            });
        };
        if kp.replicas.len() != usize::from(c.partitions[p].rf) {
            return Err(BalancerError::Plan {
                path: format!("partitions[{i}].replicas"),
                message: format!(
                    "changes the replication factor from {} to {}",
                    c.partitions[p].rf,
                    kp.replicas.len()
                ),
            });
        }
        let mut replicas = Vec::with_capacity(kp.replicas.len());
        for (j, id) in kp.replicas.iter().enumerate() {
            let b = c.broker_index(*id).ok_or_else(|| BalancerError::Plan {
                path: format!("partitions[{i}].replicas[{j}]"),
                message: format!("unknown broker id {id}"),
            })?;
            if replicas.contains(&b) {
                return Err(BalancerError::Plan {
                    path: format!("partitions[{i}].replicas[{j}]"),
                    message: format!("duplicate broker {id}"),
                });
            }
            replicas.push(b);
        }
        out.push(Reassignment {
            partition: p as u32,
            replicas,
        });
    }
    out.sort_by_key(|r| r.partition);
    Ok(out)
}

/// The cluster after executing `reassignments` and a preferred-leader election.
pub fn apply(c: &Cluster, reassignments: &[Reassignment]) -> Cluster {
    let mut out = c.clone();
    for r in reassignments {
        let part = &out.partitions[r.partition as usize];
        let s = part.start as usize;
        out.replicas[s..s + r.replicas.len()].copy_from_slice(&r.replicas);
    }
    out.elect_preferred_leaders();
    out
}
