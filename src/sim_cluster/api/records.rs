//! CreateTopics, and Produce / Fetch on the in-memory logs of created topics (the executor's
//! compacted `__keel_state` lives there). Snapshot partitions have no log: Produce to one is
//! acknowledged at its simulated log end and dropped, Fetch from one returns no records.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    BrokerId as Bid, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    ProduceRequest, ProduceResponse,
};

use super::{
    Ctx, INVALID_REQUEST, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
    sb, uuid_of,
};
use crate::sim_cluster::model::configs::{ConfigTarget, validate_topic_configs};
use crate::sim_cluster::model::{BrokerId, ClusterState};

const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const CORRUPT_MESSAGE: i16 = 2;

fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Replica assignment for a new topic: `rf` consecutive live brokers per partition, starting
/// at a position derived from the name.
fn assign(state: &ClusterState, name: &str, partitions: i32, rf: usize) -> Vec<Vec<BrokerId>> {
    let live: Vec<BrokerId> = state
        .brokers
        .iter()
        .filter(|b| b.alive)
        .map(|b| b.id)
        .collect();
    let start = name.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    (0..partitions as usize)
        .map(|p| {
            (0..rf)
                .map(|j| live[(start + p + j) % live.len()])
                .collect()
        })
        .collect()
}

type Planned = Result<(Vec<Vec<BrokerId>>, BTreeMap<String, String>), (i16, String)>;

fn plan_topic(
    state: &ClusterState,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Planned {
    let name = t.name.0.as_str();
    if !valid_topic_name(name) {
        return Err((
            INVALID_TOPIC_EXCEPTION,
            format!("invalid topic name {name:?}"),
        ));
    }
    if state.topic_idx(name).is_some() {
        return Err((
            TOPIC_ALREADY_EXISTS,
            format!("topic {name:?} already exists"),
        ));
    }
    let configs: BTreeMap<String, String> = t
        .configs
        .iter()
        .map(|c| {
            let value = c
                .value
                .as_ref()
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            (c.name.as_str().to_owned(), value)
        })
        .collect();
    validate_topic_configs(&configs)?;
    let live = state.brokers.iter().filter(|b| b.alive).count();
    if !t.assignments.is_empty() {
        let mut assignment = vec![Vec::new(); t.assignments.len()];
        for a in &t.assignments {
            let ids: Vec<BrokerId> = a.broker_ids.iter().map(|b| b.0).collect();
            let slot = usize::try_from(a.partition_index)
                .ok()
                .and_then(|i| assignment.get_mut(i));
            let distinct = ids.iter().enumerate().all(|(i, b)| !ids[..i].contains(b));
            match slot {
                Some(slot)
                    if slot.is_empty()
                        && !ids.is_empty()
                        && distinct
                        && ids.iter().all(|&b| state.broker_idx(b).is_some()) =>
                {
                    *slot = ids
                }
                _ => {
                    return Err((
                        INVALID_REPLICA_ASSIGNMENT,
                        format!("invalid assignment for partition {}", a.partition_index),
                    ));
                }
            }
        }
        return Ok((assignment, configs));
    }
    let partitions = if t.num_partitions == -1 {
        1
    } else {
        t.num_partitions
    };
    if !(1..=100_000).contains(&partitions) {
        return Err((INVALID_PARTITIONS, format!("{partitions} partitions")));
    }
    let rf = if t.replication_factor == -1 {
        live.min(3)
    } else {
        usize::try_from(t.replication_factor).unwrap_or(0)
    };
    if rf == 0 || rf > live {
        return Err((
            INVALID_REPLICATION_FACTOR,
            format!(
                "replication factor {} with {live} live brokers",
                t.replication_factor
            ),
        ));
    }
    Ok((assign(state, name, partitions, rf), configs))
}

/// CreateTopics.
pub(in crate::sim_cluster) fn create_topics(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::new();
    for (i, t) in req.topics.iter().enumerate() {
        let base = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        if let Some(code) = ctx.fail {
            results.push(base.with_error_code(code));
            continue;
        }
        if req.topics[..i].iter().any(|o| o.name == t.name) {
            results.push(base.with_error_code(INVALID_REQUEST));
            continue;
        }
        let (assignment, configs) = match plan_topic(state, t) {
            Ok(planned) => planned,
            Err((code, message)) => {
                results.push(
                    base.with_error_code(code)
                        .with_error_message(Some(sb(&message))),
                );
                continue;
            }
        };
        let partitions = assignment.len() as i32;
        let rf = assignment.first().map_or(0, Vec::len) as i16;
        let base = base
            .with_num_partitions(partitions)
            .with_replication_factor(rf);
        if req.validate_only {
            results.push(base);
            continue;
        }
        let ti = state.add_topic(t.name.0.as_str(), assignment, configs);
        let described = state
            .describe_configs(ConfigTarget::Topic(ti), None)
            .into_iter()
            .map(|c| {
                CreatableTopicConfigs::default()
                    .with_name(sb(&c.name))
                    .with_value(c.value.as_deref().map(sb))
                    .with_config_source(c.source)
            })
            .collect();
        results.push(
            base.with_topic_id(uuid_of(&state.topics[ti as usize].id).topic_id)
                .with_configs(Some(described)),
        );
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// The error code for a partition request that must reach the leader, if any.
fn leader_error(
    state: &ClusterState,
    ctx: &Ctx<'_>,
    topic: &str,
    partition: i32,
) -> Result<u32, i16> {
    if let Some(code) = ctx.fail {
        return Err(code);
    }
    let pi = state
        .partition_idx(topic, partition)
        .ok_or(UNKNOWN_TOPIC_OR_PARTITION)?;
    match state.partitions[pi as usize].leader {
        -1 => Err(LEADER_NOT_AVAILABLE),
        l if l != ctx.broker => Err(NOT_LEADER_OR_FOLLOWER),
        _ => Ok(pi),
    }
}

/// Produce. `acks == 0` requests get no answer (the caller checks).
pub(in crate::sim_cluster) fn produce(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: ProduceRequest,
) -> ProduceResponse {
    let responses = req
        .topic_data
        .into_iter()
        .map(|t| {
            let partition_responses = t
                .partition_data
                .into_iter()
                .map(|p| {
                    let base = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1);
                    let pi = match leader_error(state, ctx, t.name.0.as_str(), p.index) {
                        Ok(pi) => pi,
                        Err(code) => return base.with_error_code(code),
                    };
                    let part = &state.partitions[pi as usize];
                    if req.acks == -1 && part.isr.len() < state.min_insync_replicas(part.topic) {
                        return base.with_error_code(NOT_ENOUGH_REPLICAS);
                    }
                    let (start, end) = state.offsets(pi);
                    let part = &mut state.partitions[pi as usize];
                    let Some(log) = part.log.as_mut() else {
                        return base.with_base_offset(end).with_log_start_offset(start);
                    };
                    let Some(records) = p.records else {
                        return base.with_error_code(CORRUPT_MESSAGE);
                    };
                    match log.append(&records) {
                        Ok(offset) => {
                            part.size_bytes = log.size_bytes();
                            base.with_base_offset(offset).with_log_start_offset(0)
                        }
                        Err((code, message)) => base
                            .with_error_code(code)
                            .with_error_message(Some(sb(&message))),
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_partition_responses(partition_responses)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

/// Fetch (sessionless). Returns the answer and how many record bytes it carries.
pub(in crate::sim_cluster) fn fetch(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: &FetchRequest,
) -> (FetchResponse, usize) {
    let mut budget = usize::try_from(req.max_bytes.max(1)).unwrap_or(usize::MAX);
    let mut total = 0usize;
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let base = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_preferred_read_replica(Bid(-1));
                    let pi = match leader_error(state, ctx, t.topic.0.as_str(), p.partition) {
                        Ok(pi) => pi,
                        Err(code) => return base.with_error_code(code),
                    };
                    let (start, end) = state.offsets(pi);
                    let base = base
                        .with_high_watermark(end)
                        .with_last_stable_offset(end)
                        .with_log_start_offset(start);
                    let Some(log) = &state.partitions[pi as usize].log else {
                        return base.with_records(Some(bytes::Bytes::new()));
                    };
                    let max = usize::try_from(p.partition_max_bytes.max(1))
                        .unwrap_or(usize::MAX)
                        .min(budget.max(1));
                    match log.read(p.fetch_offset, max) {
                        Ok(records) => {
                            budget = budget.saturating_sub(records.len());
                            total += records.len();
                            base.with_records(Some(records))
                        }
                        Err((code, _)) => base.with_error_code(code),
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default()
            .with_error_code(0)
            .with_session_id(0)
            .with_responses(responses),
        total,
    )
}
