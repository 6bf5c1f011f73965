//! AlterPartitionReassignments and ListPartitionReassignments
//! ([KIP-455](https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment)),
//! and ElectLeaders ([KIP-460](https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC)).
//! All go to the controller; `NOT_CONTROLLER` is retried after finding it again.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

/// The outcome for one partition of a batch request.
#[derive(Debug)]
pub struct PartitionOutcome {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// `None` on success; else the error, with context.
    pub error: Option<WireError>,
}

impl PartitionOutcome {
    /// The outcome of one partition's error code in an `api` answer from `broker`.
    fn from_code(
        api: &'static str,
        broker: Option<i32>,
        topic: &str,
        partition: i32,
        code: i16,
        message: Option<&str>,
    ) -> Self {
        let error = check_code(api, code, message, || {
            ErrorContext {
                broker,
                ..Default::default()
            }
            .topic(topic.to_string())
            .partition(partition)
        })
        .err();
        PartitionOutcome {
            topic: topic.to_string(),
            partition,
            error,
        }
    }
}

/// Fails with the first per-partition error, if any.
pub fn first_error(outcomes: Vec<PartitionOutcome>) -> Result<()> {
    match outcomes.into_iter().find_map(|o| o.error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The current replica set (old and new replicas during the move).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding: Vec<i32>,
    /// Replicas being removed.
    pub removing: Vec<i32>,
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_owned()))
}

fn group<T: Clone>(items: &[(String, i32, T)]) -> BTreeMap<&str, Vec<(i32, T)>> {
    let mut map: BTreeMap<&str, Vec<(i32, T)>> = BTreeMap::new();
    for (t, p, v) in items {
        map.entry(t.as_str()).or_default().push((*p, v.clone()));
    }
    map
}

fn timeout_ms(client: &KafkaClient) -> i32 {
    i32::try_from(client.config().request_timeout.as_millis()).unwrap_or(i32::MAX)
}

/// Per-item errors that mean "ask the controller again".
fn controller_moved(code: i16) -> bool {
    code == ResponseError::NotController.code()
}

impl KafkaClient {
    /// Starts (target `Some(replicas)`) or cancels (target `None`) reassignments of
    /// `(topic, partition, target)` entries. Per-partition failures are in the outcomes.
    pub async fn alter_partition_reassignments(
        &self,
        moves: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<PartitionOutcome>> {
        let grouped = group(moves);
        let timeout = timeout_ms(self);
        self.call(
            &Target::Controller,
            None,
            |_| {
                AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(timeout)
                    .with_topics(
                        grouped
                            .iter()
                            .map(|(t, ps)| {
                                ReassignableTopic::default()
                                    .with_name(topic_name(t))
                                    .with_partitions(
                                        ps.iter()
                                            .map(|(p, target)| {
                                                ReassignablePartition::default()
                                                    .with_partition_index(*p)
                                                    .with_replicas(target.as_ref().map(|r| {
                                                        r.iter().map(|b| BrokerId(*b)).collect()
                                                    }))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            },
            |response, _, conn| {
                let broker = conn.node_id();
                check_code(
                    "AlterPartitionReassignments",
                    response.error_code,
                    response.error_message.as_deref(),
                    || ErrorContext {
                        broker,
                        ..Default::default()
                    },
                )?;
                let mut outcomes = Vec::new();
                for t in response.responses {
                    let topic = t.name.0.to_string();
                    for p in t.partitions {
                        if controller_moved(p.error_code) {
                            return Err(WireError::Kafka {
                                api: "AlterPartitionReassignments",
                                error: ResponseError::NotController,
                                context: ErrorContext {
                                    broker,
                                    ..Default::default()
                                },
                                message: None,
                            });
                        }
                        outcomes.push(PartitionOutcome::from_code(
                            "AlterPartitionReassignments",
                            broker,
                            &topic,
                            p.partition_index,
                            p.error_code,
                            p.error_message.as_deref(),
                        ));
                    }
                }
                Ok(outcomes)
            },
        )
        .await
    }

    /// Reassignments in progress, for `partitions` (`(topic, partitions)`) or all.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<OngoingReassignment>> {
        let timeout = timeout_ms(self);
        self.call(
            &Target::Controller,
            None,
            |_| {
                ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(timeout)
                    .with_topics(partitions.map(|ts| {
                        ts.iter()
                            .map(|(t, ps)| {
                                ListPartitionReassignmentsTopics::default()
                                    .with_name(topic_name(t))
                                    .with_partition_indexes(ps.clone())
                            })
                            .collect()
                    }))
            },
            |response, _, conn| {
                check_code(
                    "ListPartitionReassignments",
                    response.error_code,
                    response.error_message.as_deref(),
                    || ErrorContext {
                        broker: conn.node_id(),
                        ..Default::default()
                    },
                )?;
                let mut out = Vec::new();
                for t in response.topics {
                    let topic = t.name.0.to_string();
                    for p in t.partitions {
                        out.push(OngoingReassignment {
                            topic: topic.clone(),
                            partition: p.partition_index,
                            replicas: p.replicas.iter().map(|b| b.0).collect(),
                            adding: p.adding_replicas.iter().map(|b| b.0).collect(),
                            removing: p.removing_replicas.iter().map(|b| b.0).collect(),
                        });
                    }
                }
                out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                Ok(out)
            },
        )
        .await
    }

    /// Preferred-leader election for `partitions` (`(topic, partitions)`), or for every
    /// partition when `None`. `ELECTION_NOT_NEEDED` counts as success.
    pub async fn elect_preferred_leaders(
        &self,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<PartitionOutcome>> {
        let timeout = timeout_ms(self);
        self.call(
            &Target::Controller,
            None,
            |_| {
                ElectLeadersRequest::default()
                    .with_election_type(0)
                    .with_timeout_ms(timeout)
                    .with_topic_partitions(partitions.map(|ts| {
                        ts.iter()
                            .map(|(t, ps)| {
                                TopicPartitions::default()
                                    .with_topic(topic_name(t))
                                    .with_partitions(ps.clone())
                            })
                            .collect()
                    }))
            },
            |response, _, conn| {
                let broker = conn.node_id();
                check_code("ElectLeaders", response.error_code, None, || ErrorContext {
                    broker,
                    ..Default::default()
                })?;
                let mut outcomes = Vec::new();
                for r in response.replica_election_results {
                    let topic = r.topic.0.to_string();
                    for p in r.partition_result {
                        if controller_moved(p.error_code) {
                            return Err(WireError::Kafka {
                                api: "ElectLeaders",
                                error: ResponseError::NotController,
                                context: ErrorContext {
                                    broker,
                                    ..Default::default()
                                },
                                message: None,
                            });
                        }
                        let code = if p.error_code == ResponseError::ElectionNotNeeded.code() {
                            0
                        } else {
                            p.error_code
                        };
                        outcomes.push(PartitionOutcome::from_code(
                            "ElectLeaders",
                            broker,
                            &topic,
                            p.partition_id,
                            code,
                            p.error_message.as_deref(),
                        ));
                    }
                }
                Ok(outcomes)
            },
        )
        .await
    }
}
