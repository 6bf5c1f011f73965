//! ListOffsets: earliest, latest or by-timestamp offsets, sent to each partition's leader
//! (partitions grouped per leader). Partitions that fail with a retriable error
//! (`NOT_LEADER_OR_FOLLOWER`, ...) are retried after a metadata refresh.

use std::collections::BTreeMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (next offset to be written).
    Latest,
    /// The offset of the record with the largest timestamp.
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    fn code(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// One partition's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The offset (-1 when no record matches a timestamp).
    pub offset: i64,
    /// The timestamp of that record (-1 for earliest/latest).
    pub timestamp: i64,
    /// The leader epoch, when the broker reports it.
    pub leader_epoch: Option<i32>,
}

impl KafkaClient {
    /// Looks up offsets for `(topic, partition, spec)` entries; the answer has one entry per
    /// request entry, in the same order.
    pub async fn list_offsets(
        &self,
        requests: &[(String, i32, OffsetSpec)],
    ) -> Result<Vec<PartitionOffset>> {
        let policy = self.config().retry;
        let mut answers: Vec<Option<PartitionOffset>> = vec![None; requests.len()];
        let mut attempt = 0u32;
        loop {
            let meta = self.routing().await?;
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            let mut last_retriable: Option<WireError> = None;
            // A request may name each partition once: repeats wait for the next round.
            let mut in_round: std::collections::BTreeSet<(&str, i32)> = Default::default();
            let mut deferred = false;
            for (i, (topic, partition, _)) in requests.iter().enumerate() {
                if answers[i].is_some() {
                    continue;
                }
                if !in_round.insert((topic.as_str(), *partition)) {
                    deferred = true;
                    continue;
                }
                match meta.leader_of(topic, *partition) {
                    Ok(leader) => by_leader.entry(leader).or_default().push(i),
                    Err(e) if e.is_retriable() => last_retriable = Some(e),
                    Err(e) => return Err(e),
                }
            }
            for (leader, indices) in by_leader {
                let results = self.list_offsets_on(leader, requests, &indices).await?;
                for (i, result) in indices.into_iter().zip(results) {
                    match result {
                        Ok(answer) => answers[i] = Some(answer),
                        Err(e) if e.is_retriable() => last_retriable = Some(e),
                        Err(e) => return Err(e),
                    }
                }
            }
            match last_retriable {
                None if deferred => {}
                None => return Ok(answers.into_iter().flatten().collect()),
                Some(e) if attempt + 1 >= policy.max_attempts => return Err(e),
                Some(e) => {
                    tracing::debug!(attempt, error = %e, "ListOffsets: retrying partitions");
                    self.invalidate_metadata();
                    tokio::time::sleep(policy.delay(attempt, 0.5)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One ListOffsets request to `leader` for the entries at `indices`; one result each.
    async fn list_offsets_on(
        &self,
        leader: i32,
        requests: &[(String, i32, OffsetSpec)],
        indices: &[usize],
    ) -> Result<Vec<Result<PartitionOffset>>> {
        let mut topics: BTreeMap<&str, Vec<(i32, OffsetSpec)>> = BTreeMap::new();
        for &i in indices {
            let (t, p, spec) = &requests[i];
            topics.entry(t.as_str()).or_default().push((*p, *spec));
        }
        self.call(
            &Target::Broker(leader),
            None,
            |_| {
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(
                        topics
                            .iter()
                            .map(|(t, ps)| {
                                ListOffsetsTopic::default()
                                    .with_name(TopicName(StrBytes::from_string((*t).to_owned())))
                                    .with_partitions(
                                        ps.iter()
                                            .map(|(p, spec)| {
                                                ListOffsetsPartition::default()
                                                    .with_partition_index(*p)
                                                    .with_current_leader_epoch(-1)
                                                    .with_timestamp(spec.code())
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            },
            |response, _, _| {
                let mut found = BTreeMap::new();
                for t in response.topics {
                    for p in t.partitions {
                        found.insert((t.name.0.to_string(), p.partition_index), p);
                    }
                }
                Ok(indices
                    .iter()
                    .map(|&i| {
                        let (topic, partition, _) = &requests[i];
                        let context = || {
                            ErrorContext::broker(leader)
                                .topic(topic.clone())
                                .partition(*partition)
                        };
                        let p = found.get(&(topic.clone(), *partition)).ok_or_else(|| {
                            WireError::Protocol {
                                reason: format!(
                                    "ListOffsets answer lacks the partition{}",
                                    context()
                                ),
                            }
                        })?;
                        check_code("ListOffsets", p.error_code, None, context)?;
                        Ok(PartitionOffset {
                            topic: topic.clone(),
                            partition: *partition,
                            offset: p.offset,
                            timestamp: p.timestamp,
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        })
                    })
                    .collect())
            },
        )
        .await
    }
}
