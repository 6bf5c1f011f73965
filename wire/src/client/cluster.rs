//! Typed cluster metadata (brokers, racks, topics, partitions, leaders, controller) and the
//! pure routing questions asked of it: who leads this partition, where is that broker.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use super::context::ErrorContext;
use crate::error::{Result, WireError};

/// One broker as Metadata or DescribeCluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
    /// Fenced (DescribeCluster v2+ only; `false` otherwise).
    pub fenced: bool,
}

/// One partition's replica state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Leader node id, or `None` when there is no leader.
    pub leader: Option<i32>,
    /// Leader epoch (-1 when unknown).
    pub leader_epoch: i32,
    /// Replica assignment, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas on offline log dirs or brokers.
    pub offline_replicas: Vec<i32>,
    /// A per-partition error the broker reported (e.g. `LeaderNotAvailable`).
    pub error: Option<ResponseError>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (a UUID as text; all zeros before Metadata v10).
    pub topic_id: String,
    /// Whether the topic is internal (`__consumer_offsets`, ...).
    pub is_internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A Metadata answer: brokers, controller, topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// Controller id as Metadata reports it (in KRaft a random live broker), if any.
    pub controller_id: Option<i32>,
    /// Brokers by id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicInfo>,
}

impl ClusterMetadata {
    /// The broker with this id.
    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// The partition's metadata, or `UnknownTopicOrPartition`.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<&PartitionInfo> {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .ok_or_else(|| WireError::Kafka {
                api: "Metadata",
                error: ResponseError::UnknownTopicOrPartition,
                context: ErrorContext::default().topic(topic).partition(partition),
                message: Some("not in cluster metadata".to_owned()),
            })
    }

    /// The leader of a partition, or `LeaderNotAvailable` / `UnknownTopicOrPartition`
    /// (both retriable after a metadata refresh).
    pub fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        let p = self.partition(topic, partition)?;
        match p.leader {
            Some(leader) if self.brokers.contains_key(&leader) => Ok(leader),
            _ => Err(WireError::Kafka {
                api: "Metadata",
                error: ResponseError::LeaderNotAvailable,
                context: ErrorContext::default().topic(topic).partition(partition),
                message: Some("no live leader in cluster metadata".to_owned()),
            }),
        }
    }

    /// Number of partitions of all topics.
    pub fn partition_count(&self) -> usize {
        self.topics.values().map(|t| t.partitions.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterMetadata {
        let mut m = ClusterMetadata::default();
        m.brokers.insert(
            1,
            BrokerInfo {
                id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
                fenced: false,
            },
        );
        m.topics.insert(
            "t".into(),
            TopicInfo {
                name: "t".into(),
                topic_id: String::new(),
                is_internal: false,
                partitions: vec![
                    PartitionInfo {
                        partition: 0,
                        leader: Some(1),
                        leader_epoch: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        offline_replicas: vec![],
                        error: None,
                    },
                    PartitionInfo {
                        partition: 1,
                        leader: Some(7),
                        leader_epoch: 0,
                        replicas: vec![7],
                        isr: vec![],
                        offline_replicas: vec![7],
                        error: None,
                    },
                ],
            },
        );
        m
    }

    #[test]
    fn leader_of_names_missing_topic_and_leaderless_partition() {
        let m = sample();
        assert_eq!(m.leader_of("t", 0).unwrap(), 1);
        let e = m.leader_of("t", 1).unwrap_err();
        assert!(e.to_string().contains("LeaderNotAvailable"), "{e}");
        assert!(e.to_string().contains("partition 1"), "{e}");
        let e = m.leader_of("nope", 0).unwrap_err();
        assert!(e.to_string().contains("UnknownTopicOrPartition"), "{e}");
        assert!(e.to_string().contains("\"nope\""), "{e}");
    }
}
