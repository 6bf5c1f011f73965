//! Metadata and DescribeCluster
//! ([KIP-700](https://cwiki.apache.org/confluence/display/KAFKA/KIP-700%3A+Add+Describe+Cluster+API)).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::cluster::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};
use crate::client::connection::Connection;
use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::client::metadata_reader::{MetadataReader, PartitionEntry, TopicHead};
use crate::client::routing::MetadataVisitor;
use crate::error::{Result, WireError};
use crate::frame::DecodedResponse;

/// DescribeCluster's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller id (in KRaft, a live broker that forwards to the quorum).
    pub controller_id: Option<i32>,
    /// Brokers sorted by id.
    pub brokers: Vec<BrokerInfo>,
}

fn port(port: i32, broker: i32, api: &'static str) -> Result<u16> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| WireError::Protocol {
            reason: format!("{api}: broker {broker} advertises invalid port {port}"),
        })
}

/// The Metadata request for `topics` (all topics when `None`).
pub(crate) fn metadata_request(topics: Option<&[String]>) -> MetadataRequest {
    MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                })
                .collect()
        }))
}

/// What a Metadata response says besides its topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataHead {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// Controller id as Metadata reports it (in KRaft a random live broker), if any.
    pub controller_id: Option<i32>,
    /// Brokers by id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
}

/// Reads a Metadata response topic by topic into `visitor` (see [`MetadataReader`]) and
/// returns its brokers, cluster id and controller. Fails on malformed bytes, an invalid
/// broker port or a top-level error code (v13+).
pub fn read_metadata(
    response: &DecodedResponse,
    visitor: &mut impl MetadataVisitor,
) -> Result<MetadataHead> {
    let (mut reader, head) =
        MetadataReader::new(&response.body, response.api_version, response.body_position)?;
    let mut brokers = BTreeMap::new();
    for b in &head.brokers {
        brokers.insert(
            b.node_id,
            BrokerInfo {
                id: b.node_id,
                host: b.host.to_owned(),
                port: port(b.port, b.node_id, "Metadata")?,
                rack: b.rack.map(str::to_owned),
                fenced: false,
            },
        );
    }
    let (mut topics, mut partitions, mut replicas) = (0usize, 0usize, 0usize);
    let mut counting = reader.clone();
    while counting.next_topic()?.is_some() {
        topics += 1;
        while let Some(p) = counting.next_partition()? {
            partitions += 1;
            replicas += p.replicas.len();
        }
    }
    counting.finish()?;
    visitor.totals(topics, partitions, replicas);
    while let Some(topic) = reader.next_topic()? {
        visitor.topic(&topic);
        while let Some(partition) = reader.next_partition()? {
            visitor.partition(&partition);
        }
    }
    let code = reader.finish()?;
    check_code("Metadata", code, None, ErrorContext::default)?;
    Ok(MetadataHead {
        cluster_id: head.cluster_id.map(str::to_owned),
        controller_id: (head.controller_id >= 0).then_some(head.controller_id),
        brokers,
    })
}

/// A topic id as text (`8-4-4-4-12` lowercase hex, like a UUID).
fn topic_id_text(id: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Builds a full [`ClusterMetadata`] from a Metadata response read topic by topic. Topic
/// errors other than "unknown topic" fail the build (leader elections in progress are
/// retriable).
#[derive(Debug, Default)]
pub(crate) struct FullMetadataBuilder {
    topics: BTreeMap<String, TopicInfo>,
    current: Option<TopicInfo>,
    error: Option<WireError>,
}

impl FullMetadataBuilder {
    fn end_topic(&mut self) {
        if let Some(mut t) = self.current.take() {
            t.partitions.sort_by_key(|p| p.partition);
            self.topics.insert(t.name.clone(), t);
        }
    }

    /// The metadata, or the first topic error.
    pub(crate) fn finish(mut self, head: MetadataHead) -> Result<ClusterMetadata> {
        self.end_topic();
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(ClusterMetadata {
            cluster_id: head.cluster_id,
            controller_id: head.controller_id,
            brokers: head.brokers,
            topics: self.topics,
        })
    }
}

impl MetadataVisitor for FullMetadataBuilder {
    fn topic(&mut self, topic: &TopicHead<'_>) {
        self.end_topic();
        let name = topic.name.unwrap_or_default();
        if topic.error_code == ResponseError::UnknownTopicOrPartition.code() {
            return;
        }
        if let Err(e) = check_code("Metadata", topic.error_code, None, || {
            ErrorContext::default().topic(name)
        }) {
            self.error.get_or_insert(e);
            return;
        }
        self.current = Some(TopicInfo {
            name: name.to_owned(),
            topic_id: topic_id_text(&topic.topic_id),
            is_internal: topic.is_internal,
            partitions: Vec::new(),
        });
    }

    fn partition(&mut self, p: &PartitionEntry<'_>) {
        if let Some(t) = &mut self.current {
            t.partitions.push(PartitionInfo {
                partition: p.partition,
                leader: (p.leader >= 0).then_some(p.leader),
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.iter().collect(),
                isr: p.isr.iter().collect(),
                offline_replicas: p.offline_replicas.iter().collect(),
                error: ResponseError::try_from_code(p.error_code),
            });
        }
    }
}

/// Turns a DescribeCluster response into [`ClusterDescription`].
pub(crate) fn parse_describe_cluster(
    response: DescribeClusterResponse,
    conn: &Connection,
) -> Result<ClusterDescription> {
    check_code(
        "DescribeCluster",
        response.error_code,
        response.error_message.as_deref(),
        || ErrorContext::default().resource(conn.label().to_owned()),
    )?;
    let mut brokers = response
        .brokers
        .into_iter()
        .map(|b| {
            let id = b.broker_id.0;
            Ok(BrokerInfo {
                id,
                host: b.host.to_string(),
                port: port(b.port, id, "DescribeCluster")?,
                rack: b.rack.map(|r| r.to_string()),
                fenced: b.is_fenced,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    brokers.sort_by_key(|b| b.id);
    Ok(ClusterDescription {
        cluster_id: response.cluster_id.to_string(),
        controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
        brokers,
    })
}

impl KafkaClient {
    /// Metadata for `topics` (all topics when `None`), fresh from a broker. A full fetch
    /// also refreshes the routing cache.
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<Arc<ClusterMetadata>> {
        match topics {
            None => self.refresh_metadata().await,
            Some(_) => Ok(Arc::new(self.fetch_full_metadata(topics).await?.0)),
        }
    }

    /// DescribeCluster: cluster id, controller, brokers with racks. Also updates the
    /// controller used for routing.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let description = self
            .call(
                &Target::Any,
                None,
                |_| DescribeClusterRequest::default(),
                |response, _, conn| parse_describe_cluster(response, conn),
            )
            .await?;
        self.set_controller(description.controller_id);
        Ok(description)
    }
}
