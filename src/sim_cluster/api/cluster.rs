//! ApiVersions, Metadata and DescribeCluster: live brokers with their own addresses and racks,
//! the controller, and every topic's partitions (leader, epoch, replicas, ISR, offline replicas).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId as Bid, DescribeClusterRequest, DescribeClusterResponse,
    MetadataRequest, MetadataResponse,
};

use super::{Ctx, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION, sb, tn, uuid_of};
use crate::sim_cluster::guard::{SERVED, advertised};
use crate::sim_cluster::model::ClusterState;

/// The cluster id every simulated broker reports.
pub(in crate::sim_cluster) const CLUSTER_ID: &str = "keel-sim-cluster";

/// The served API versions; `error_code` 35 (UNSUPPORTED_VERSION) for a too-new request.
pub(in crate::sim_cluster) fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SERVED
        .iter()
        .filter_map(|&key| {
            advertised(key).map(|r| {
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(*r.start())
                    .with_max_version(*r.end())
            })
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

fn topic_entry(state: &ClusterState, t: u32, fail: Option<i16>) -> MetadataResponseTopic {
    let topic = &state.topics[t as usize];
    let partitions = topic
        .partitions
        .iter()
        .map(|&pi| {
            let p = &state.partitions[pi as usize];
            let offline = state.offline_replicas(p);
            let error = fail.unwrap_or(if p.leader == -1 {
                LEADER_NOT_AVAILABLE
            } else {
                0
            });
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.partition)
                .with_leader_id(Bid(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&b| Bid(b)).collect())
                .with_isr_nodes(p.isr.iter().map(|&b| Bid(b)).collect())
                .with_offline_replicas(offline.into_iter().map(Bid).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(fail.unwrap_or(0))
        .with_name(Some(tn(&topic.name)))
        .with_topic_id(uuid_of(&topic.id).topic_id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}

fn live_brokers(state: &ClusterState, ctx: &Ctx<'_>) -> Vec<(i32, String, i32, Option<String>)> {
    state
        .brokers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.alive)
        .filter_map(|(i, b)| {
            let addr = ctx.addrs.get(i)?;
            Some((
                b.id,
                addr.ip().to_string(),
                i32::from(addr.port()),
                b.rack.clone(),
            ))
        })
        .collect()
}

/// Metadata: every topic (or the requested ones, by name or id); unknown ones answer
/// UNKNOWN_TOPIC_OR_PARTITION.
pub(in crate::sim_cluster) fn metadata(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: MetadataRequest,
) -> MetadataResponse {
    let brokers = live_brokers(state, ctx)
        .into_iter()
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(Bid(id))
                .with_host(sb(&host))
                .with_port(port)
                .with_rack(rack.as_deref().map(sb))
        })
        .collect();
    let topics = match req.topics {
        None => (0..state.topics.len() as u32)
            .map(|t| topic_entry(state, t, ctx.fail))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .map(|w| {
                let by_name = w.name.as_ref().and_then(|n| state.topic_idx(n.0.as_str()));
                let by_id = || state.topic_by_id(w.topic_id.as_bytes());
                match by_name.or_else(by_id) {
                    Some(t) => topic_entry(state, t, ctx.fail),
                    None => MetadataResponseTopic::default()
                        .with_error_code(UNKNOWN_TOPIC_OR_PARTITION)
                        .with_name(w.name.clone())
                        .with_topic_id(w.topic_id),
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(sb(CLUSTER_ID)))
        .with_controller_id(Bid(state.controller_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(i32::MIN)
}

/// DescribeCluster: live brokers, controller, cluster id.
pub(in crate::sim_cluster) fn describe_cluster(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    _req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let brokers = live_brokers(state, ctx)
        .into_iter()
        .map(|(id, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(Bid(id))
                .with_host(sb(&host))
                .with_port(port)
                .with_rack(rack.as_deref().map(sb))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_error_code(ctx.fail.unwrap_or(0))
        .with_endpoint_type(1)
        .with_cluster_id(sb(CLUSTER_ID))
        .with_controller_id(Bid(state.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(i32::MIN)
}
