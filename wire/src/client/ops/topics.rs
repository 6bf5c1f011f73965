//! CreateTopics, sent to the controller. Per-topic failures (`TOPIC_ALREADY_EXISTS`, ...) are
//! returned as outcomes; `NOT_CONTROLLER` is retried.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count (ignored when `assignments` is given).
    pub partitions: i32,
    /// Replication factor (ignored when `assignments` is given).
    pub replication_factor: i16,
    /// Explicit replica lists, one per partition, in partition order.
    pub assignments: Option<Vec<Vec<i32>>>,
    /// Topic configs (`cleanup.policy=compact`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and replication factor `rf`.
    pub fn new(name: impl Into<String>, partitions: i32, rf: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor: rf,
            assignments: None,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// The outcome for one topic.
#[derive(Debug)]
pub struct TopicOutcome {
    /// Topic name.
    pub name: String,
    /// `None` on success; else the error (e.g. `TopicAlreadyExists`).
    pub error: Option<WireError>,
}

impl TopicOutcome {
    /// Success, or the topic already existed.
    pub fn exists(&self) -> bool {
        match &self.error {
            None => true,
            Some(WireError::Kafka { error, .. }) => *error == ResponseError::TopicAlreadyExists,
            Some(_) => false,
        }
    }

    /// Success, or the topic did not exist (for deletions).
    pub fn gone(&self) -> bool {
        match &self.error {
            None => true,
            Some(WireError::Kafka { error, .. }) => {
                *error == ResponseError::UnknownTopicOrPartition
            }
            Some(_) => false,
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

impl KafkaClient {
    /// Creates topics (`validate_only` checks without creating).
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Result<Vec<TopicOutcome>> {
        let timeout = i32::try_from(self.config().request_timeout.as_millis()).unwrap_or(i32::MAX);
        let outcomes = self
            .call(
                &Target::Controller,
                None,
                |_| {
                    CreateTopicsRequest::default()
                        .with_timeout_ms(timeout)
                        .with_validate_only(validate_only)
                        .with_topics(
                            topics
                                .iter()
                                .map(|t| {
                                    let (partitions, rf, assignments) = match &t.assignments {
                                        Some(a) => (
                                            -1,
                                            -1,
                                            a.iter()
                                                .enumerate()
                                                .map(|(i, replicas)| {
                                                    CreatableReplicaAssignment::default()
                                                        .with_partition_index(i as i32)
                                                        .with_broker_ids(
                                                            replicas
                                                                .iter()
                                                                .map(|b| BrokerId(*b))
                                                                .collect(),
                                                        )
                                                })
                                                .collect(),
                                        ),
                                        None => (t.partitions, t.replication_factor, Vec::new()),
                                    };
                                    CreatableTopic::default()
                                        .with_name(TopicName(s(&t.name)))
                                        .with_num_partitions(partitions)
                                        .with_replication_factor(rf)
                                        .with_assignments(assignments)
                                        .with_configs(
                                            t.configs
                                                .iter()
                                                .map(|(k, v)| {
                                                    CreatableTopicConfig::default()
                                                        .with_name(s(k))
                                                        .with_value(Some(s(v)))
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                },
                |response, _, conn| {
                    let broker = conn.node_id();
                    let mut outcomes = Vec::new();
                    for t in response.topics {
                        let name = t.name.0.to_string();
                        if t.error_code == ResponseError::NotController.code() {
                            return Err(WireError::Kafka {
                                api: "CreateTopics",
                                error: ResponseError::NotController,
                                context: ErrorContext {
                                    broker,
                                    ..Default::default()
                                },
                                message: None,
                            });
                        }
                        let error = check_code(
                            "CreateTopics",
                            t.error_code,
                            t.error_message.as_deref(),
                            || {
                                ErrorContext {
                                    broker,
                                    ..Default::default()
                                }
                                .topic(name.clone())
                            },
                        )
                        .err();
                        outcomes.push(TopicOutcome { name, error });
                    }
                    Ok(outcomes)
                },
            )
            .await?;
        // New topics change routing: the next leader lookup must see them.
        self.invalidate_metadata();
        Ok(outcomes)
    }
}
