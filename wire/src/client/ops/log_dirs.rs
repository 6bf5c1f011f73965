//! DescribeLogDirs ([KIP-113](https://cwiki.apache.org/confluence/display/KAFKA/KIP-113%3A+Support+replicas+movement+between+log+directories),
//! sizes per dir in [KIP-827](https://cwiki.apache.org/confluence/display/KAFKA/KIP-827%3A+Expose+log+dirs+total+and+usable+space+via+Kafka+API)):
//! the log dirs of one broker with the size of every replica in them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::{DescribeLogDirsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::Result;

/// One replica in a log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLogInfo {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Bytes on disk.
    pub size_bytes: i64,
    /// How far this replica lags the log end (or the current replica, for a future one).
    pub offset_lag: i64,
    /// Whether this is a future replica (being moved between dirs).
    pub is_future: bool,
}

/// One log dir of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirInfo {
    /// The broker that owns the dir.
    pub broker: i32,
    /// Absolute path on the broker.
    pub path: String,
    /// An error for this dir (e.g. `KafkaStorageError` for an offline dir).
    pub error: Option<ResponseError>,
    /// Replicas in the dir.
    pub replicas: Vec<ReplicaLogInfo>,
    /// Total bytes of the volume (v4+; `None` before).
    pub total_bytes: Option<i64>,
    /// Usable bytes of the volume (v4+; `None` before).
    pub usable_bytes: Option<i64>,
}

impl KafkaClient {
    /// Describes the log dirs of `broker`, for `topics` (`(topic, partitions)`) or all.
    pub async fn describe_log_dirs(
        &self,
        broker: i32,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<LogDirInfo>> {
        self.call(
            &Target::Broker(broker),
            None,
            |_| {
                DescribeLogDirsRequest::default().with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|(t, ps)| {
                            DescribableLogDirTopic::default()
                                .with_topic(TopicName(StrBytes::from_string(t.clone())))
                                .with_partitions(ps.clone())
                        })
                        .collect()
                }))
            },
            |response, version, _| {
                check_code("DescribeLogDirs", response.error_code, None, || {
                    ErrorContext::broker(broker)
                })?;
                Ok(response
                    .results
                    .into_iter()
                    .map(|dir| LogDirInfo {
                        broker,
                        path: dir.log_dir.to_string(),
                        error: ResponseError::try_from_code(dir.error_code),
                        replicas: dir
                            .topics
                            .into_iter()
                            .flat_map(|t| {
                                let topic = t.name.0.to_string();
                                t.partitions.into_iter().map(move |p| ReplicaLogInfo {
                                    topic: topic.clone(),
                                    partition: p.partition_index,
                                    size_bytes: p.partition_size,
                                    offset_lag: p.offset_lag,
                                    is_future: p.is_future_key,
                                })
                            })
                            .collect(),
                        total_bytes: (version >= 4 && dir.total_bytes >= 0)
                            .then_some(dir.total_bytes),
                        usable_bytes: (version >= 4 && dir.usable_bytes >= 0)
                            .then_some(dir.usable_bytes),
                    })
                    .collect())
            },
        )
        .await
    }
}

impl KafkaClient {
    /// [`KafkaClient::describe_log_dirs`] on every broker in the cluster metadata, all at
    /// once. Each broker has its own result, so one broker that lacks the API (an
    /// [`crate::WireError::Unsupported`]) or is down does not hide the others.
    pub async fn describe_all_log_dirs(
        &self,
    ) -> Result<std::collections::BTreeMap<i32, Result<Vec<LogDirInfo>>>> {
        let meta = self.routing().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for &broker in meta.brokers.keys() {
            let client = self.clone();
            tasks.spawn(async move { (broker, client.describe_log_dirs(broker, None).await) });
        }
        let mut out = std::collections::BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((broker, result)) => {
                    out.insert(broker, result);
                }
                Err(e) => {
                    return Err(crate::WireError::Protocol {
                        reason: format!("DescribeLogDirs task failed: {e}"),
                    });
                }
            }
        }
        Ok(out)
    }
}
