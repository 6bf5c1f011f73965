//! AlterPartitionReassignments, ListPartitionReassignments and ElectLeaders.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId as Bid,
    ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};

use super::{Ctx, UNKNOWN_TOPIC_OR_PARTITION, sb, tn};
use crate::sim_cluster::model::ClusterState;

/// ELECTION_NOT_NEEDED.
const ELECTION_NOT_NEEDED: i16 = 84;

/// AlterPartitionReassignments: start, change or (null replicas) cancel moves.
pub(in crate::sim_cluster) fn alter(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if let Some(code) = ctx.fail {
        return AlterPartitionReassignmentsResponse::default().with_error_code(code);
    }
    let responses = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let base = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let Some(pi) = state.partition_idx(t.name.0.as_str(), p.partition_index) else {
                        return base.with_error_code(UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let target = p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
                    match state.alter_reassignment(pi, target) {
                        Ok(()) => base,
                        Err((code, message)) => base
                            .with_error_code(code)
                            .with_error_message(Some(sb(&message))),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default().with_responses(responses)
}

/// ListPartitionReassignments: the moves in flight (all, or of the named partitions).
pub(in crate::sim_cluster) fn list(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if let Some(code) = ctx.fail {
        return ListPartitionReassignmentsResponse::default().with_error_code(code);
    }
    let wanted: Option<Vec<u32>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .filter_map(|&p| state.partition_idx(t.name.0.as_str(), p))
            })
            .collect()
    });
    let mut by_topic: std::collections::BTreeMap<u32, Vec<OngoingPartitionReassignment>> =
        Default::default();
    for (&pi, m) in &state.moves {
        if wanted.as_ref().is_some_and(|w| !w.contains(&pi)) {
            continue;
        }
        let p = &state.partitions[pi as usize];
        by_topic.entry(p.topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(p.partition)
                .with_replicas(p.replicas.iter().map(|&b| Bid(b)).collect())
                .with_adding_replicas(m.adding.iter().map(|&b| Bid(b)).collect())
                .with_removing_replicas(m.removing.iter().map(|&b| Bid(b)).collect()),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, partitions)| {
            OngoingTopicReassignment::default()
                .with_name(tn(state.topic_name(t)))
                .with_partitions(partitions)
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

/// ElectLeaders: preferred (type 0) or unclean (type 1), for the named partitions or all.
pub(in crate::sim_cluster) fn elect(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    if let Some(code) = ctx.fail {
        return ElectLeadersResponse::default().with_error_code(code);
    }
    let unclean = ctx.version >= 1 && req.election_type == 1;
    let elect = |state: &mut ClusterState, pi: u32| {
        if unclean {
            state.elect_unclean(pi)
        } else {
            state.elect_preferred(pi)
        }
    };
    let mut results = Vec::new();
    match req.topic_partitions {
        Some(topics) => {
            for t in topics {
                let partition_result = t
                    .partitions
                    .iter()
                    .map(|&p| {
                        let code = match state.partition_idx(t.topic.0.as_str(), p) {
                            None => UNKNOWN_TOPIC_OR_PARTITION,
                            Some(pi) => match elect(state, pi) {
                                Ok(true) => 0,
                                Ok(false) => ELECTION_NOT_NEEDED,
                                Err(code) => code,
                            },
                        };
                        PartitionResult::default()
                            .with_partition_id(p)
                            .with_error_code(code)
                    })
                    .collect();
                results.push(
                    ReplicaElectionResult::default()
                        .with_topic(t.topic)
                        .with_partition_result(partition_result),
                );
            }
        }
        None => {
            // Every partition; the answer lists the ones whose leader changed.
            let mut by_topic: std::collections::BTreeMap<u32, Vec<PartitionResult>> =
                Default::default();
            for pi in 0..state.partitions.len() as u32 {
                if elect(state, pi) == Ok(true) {
                    let p = &state.partitions[pi as usize];
                    by_topic
                        .entry(p.topic)
                        .or_default()
                        .push(PartitionResult::default().with_partition_id(p.partition));
                }
            }
            for (t, partition_result) in by_topic {
                results.push(
                    ReplicaElectionResult::default()
                        .with_topic(tn(state.topic_name(t)))
                        .with_partition_result(partition_result),
                );
            }
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}
