//! DescribeLogDirs (the replicas on the broker the request reached, sizes from the snapshot
//! or from how far a move has copied) and ListOffsets (offsets that grow with the partition's
//! bytes-in rate in simulated time, or the in-memory log's).

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    DescribeLogDirsRequest, DescribeLogDirsResponse, ListOffsetsRequest, ListOffsetsResponse,
};

use super::{
    Ctx, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, sb, tn,
};
use crate::sim_cluster::model::{ClusterState, RECORD_BYTES};

/// The one log dir every simulated broker has.
pub(in crate::sim_cluster) const LOG_DIR: &str = "/var/lib/kafka/data";

/// DescribeLogDirs for the broker the connection is to.
pub(in crate::sim_cluster) fn describe_log_dirs(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if let Some(code) = ctx.fail {
        return DescribeLogDirsResponse::default().with_error_code(code);
    }
    let wanted: Option<HashSet<u32>> = req.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .filter_map(|&p| state.partition_idx(t.topic.0.as_str(), p))
            })
            .collect()
    });
    let mut by_topic: BTreeMap<u32, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    let mut used = 0u64;
    for pi in state.replicas_on(ctx.broker) {
        let bytes = state.replica_bytes(pi, ctx.broker);
        used += bytes;
        if wanted.as_ref().is_some_and(|w| !w.contains(&pi)) {
            continue;
        }
        let p = &state.partitions[pi as usize];
        let lag = p.size_bytes.saturating_sub(bytes) / RECORD_BYTES;
        by_topic.entry(p.topic).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(p.partition)
                .with_partition_size(i64::try_from(bytes).unwrap_or(i64::MAX))
                .with_offset_lag(i64::try_from(lag).unwrap_or(i64::MAX)),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(tn(state.topic_name(t)))
                .with_partitions(partitions)
        })
        .collect();
    let total = state
        .broker_idx(ctx.broker)
        .map_or(0, |b| state.brokers[b].disk_bytes);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(sb(LOG_DIR))
        .with_topics(topics)
        .with_total_bytes(i64::try_from(total).unwrap_or(i64::MAX))
        .with_usable_bytes(i64::try_from(total.saturating_sub(used)).unwrap_or(i64::MAX));
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// ListOffsets: -1 latest, -2 earliest, -3 max timestamp, else the first offset at or after
/// the timestamp. Only the leader answers.
pub(in crate::sim_cluster) fn list_offsets(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    if let Some(code) = ctx.fail {
                        return base.with_error_code(code);
                    }
                    let Some(pi) = state.partition_idx(t.name.0.as_str(), p.partition_index) else {
                        return base.with_error_code(UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let part = &state.partitions[pi as usize];
                    if part.leader == -1 {
                        return base.with_error_code(LEADER_NOT_AVAILABLE);
                    }
                    if part.leader != ctx.broker {
                        return base.with_error_code(NOT_LEADER_OR_FOLLOWER);
                    }
                    let (start, end) = state.offsets(pi);
                    let offset = match p.timestamp {
                        -1 | -3 => end,
                        -2 | -4 => start,
                        ts => match &part.log {
                            Some(log) => log.offset_for_timestamp(ts),
                            None => end,
                        },
                    };
                    base.with_offset(offset)
                        .with_leader_epoch(part.leader_epoch)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
