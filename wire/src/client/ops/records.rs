//! Produce (of pre-encoded record batch bytes) and Fetch, for keel's own topics. Both go to
//! the partition leader; `NOT_LEADER_OR_FOLLOWER` and friends are retried after a metadata
//! refresh. Produce is capped at v12 (later versions name topics by id only), Fetch at v11
//! (see `MAX_FETCH_VERSION`).

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

/// Highest Produce/Fetch version keel sends (v13 identifies topics by id only).
const MAX_RECORDS_VERSION: i16 = 12;

/// Highest Fetch version keel sends. v12 is the first flexible Fetch; tansu 0.6 answers it
/// with a tagged field v12 does not define, which the decoder rightly refuses. v11 carries
/// everything keel reads (records, high watermark, log start and last stable offset), and
/// every broker from Kafka 2.3 to 4.x serves it.
const MAX_FETCH_VERSION: i16 = 11;

/// Where a produced batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceAck {
    /// Offset of the first record of the batch.
    pub base_offset: i64,
    /// Broker append time when the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// The partition's log start offset.
    pub log_start_offset: i64,
}

/// What a Fetch returned for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecords {
    /// The raw record batches, as the broker stores them (possibly ending in a partial batch).
    pub records: Bytes,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset (-1 when unknown).
    pub last_stable_offset: i64,
    /// The log start offset (-1 when unknown).
    pub log_start_offset: i64,
}

/// Fetch limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// Most bytes for the partition.
    pub max_bytes: i32,
    /// How long the broker may wait for `min_bytes`.
    pub max_wait_ms: i32,
    /// Bytes the broker waits for before answering.
    pub min_bytes: i32,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_bytes: 1024 * 1024,
            max_wait_ms: 500,
            min_bytes: 1,
        }
    }
}

impl KafkaClient {
    /// Appends `records` (one or more encoded v2 record batches) to `topic`/`partition` with
    /// `acks=all`.
    pub async fn produce(&self, topic: &str, partition: i32, records: Bytes) -> Result<ProduceAck> {
        let timeout = i32::try_from(self.config().request_timeout.as_millis()).unwrap_or(i32::MAX);
        self.call(
            &Target::Leader {
                topic: topic.to_owned(),
                partition,
            },
            Some(MAX_RECORDS_VERSION),
            |_| {
                ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(timeout)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partition_data(vec![
                                PartitionProduceData::default()
                                    .with_index(partition)
                                    .with_records(Some(records.clone())),
                            ]),
                    ])
            },
            |response, _, conn| {
                let context = || {
                    ErrorContext {
                        broker: conn.node_id(),
                        ..Default::default()
                    }
                    .topic(topic)
                    .partition(partition)
                };
                let p = response
                    .responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == topic)
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index == partition)
                    .ok_or_else(|| WireError::Protocol {
                        reason: format!("Produce answer lacks the partition{}", context()),
                    })?;
                let message = p.error_message.as_ref().map(|m| m.to_string()).or_else(|| {
                    p.record_errors.first().map(|r| {
                        format!(
                            "record {}: {}",
                            r.batch_index,
                            r.batch_index_error_message.as_deref().unwrap_or("rejected")
                        )
                    })
                });
                check_code("Produce", p.error_code, message.as_deref(), context)?;
                Ok(ProduceAck {
                    base_offset: p.base_offset,
                    log_append_time_ms: p.log_append_time_ms,
                    log_start_offset: p.log_start_offset,
                })
            },
        )
        .await
    }

    /// Fetches record batches of `topic`/`partition` from `offset` (read-uncommitted,
    /// sessionless).
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        options: FetchOptions,
    ) -> Result<FetchedRecords> {
        self.call(
            &Target::Leader {
                topic: topic.to_owned(),
                partition,
            },
            Some(MAX_FETCH_VERSION),
            |_| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(options.max_wait_ms)
                    .with_min_bytes(options.min_bytes)
                    .with_max_bytes(options.max_bytes)
                    .with_isolation_level(0)
                    .with_session_id(0)
                    .with_session_epoch(-1)
                    .with_topics(vec![
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partitions(vec![
                                FetchPartition::default()
                                    .with_partition(partition)
                                    .with_current_leader_epoch(-1)
                                    .with_fetch_offset(offset)
                                    .with_last_fetched_epoch(-1)
                                    .with_log_start_offset(-1)
                                    .with_partition_max_bytes(options.max_bytes),
                            ]),
                    ])
            },
            |response, _, conn| {
                let context = || {
                    ErrorContext {
                        broker: conn.node_id(),
                        ..Default::default()
                    }
                    .topic(topic)
                    .partition(partition)
                };
                check_code("Fetch", response.error_code, None, context)?;
                let p = response
                    .responses
                    .into_iter()
                    .filter(|t| t.topic.0.as_str() == topic)
                    .flat_map(|t| t.partitions.into_iter())
                    .find(|p| p.partition_index == partition)
                    .ok_or_else(|| WireError::Protocol {
                        reason: format!("Fetch answer lacks the partition{}", context()),
                    })?;
                check_code("Fetch", p.error_code, None, context)?;
                Ok(FetchedRecords {
                    records: p.records.unwrap_or_default(),
                    high_watermark: p.high_watermark,
                    last_stable_offset: p.last_stable_offset,
                    log_start_offset: p.log_start_offset,
                })
            },
        )
        .await
    }
}
