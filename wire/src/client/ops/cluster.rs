//! Metadata and DescribeCluster
//! ([KIP-700](https://cwiki.apache.org/confluence/display/KAFKA/KIP-700%3A+Add+Describe+Cluster+API)).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::cluster::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};
use crate::client::connection::Connection;
use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

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

/// Turns a Metadata response into [`ClusterMetadata`]. Topic-level errors other than
/// "unknown topic" fail the call (leader elections in progress are retriable).
pub(crate) fn parse_metadata(response: MetadataResponse) -> Result<ClusterMetadata> {
    check_code("Metadata", response.error_code, None, ErrorContext::default)?;
    let mut brokers = BTreeMap::new();
    for b in response.brokers {
        let id = b.node_id.0;
        brokers.insert(
            id,
            BrokerInfo {
                id,
                host: b.host.to_string(),
                port: port(b.port, id, "Metadata")?,
                rack: b.rack.map(|r| r.to_string()),
                fenced: false,
            },
        );
    }
    let mut topics = BTreeMap::new();
    for t in response.topics {
        let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
        if t.error_code == ResponseError::UnknownTopicOrPartition.code() {
            continue;
        }
        check_code("Metadata", t.error_code, None, || {
            ErrorContext::default().topic(name.clone())
        })?;
        let mut partitions: Vec<PartitionInfo> = t
            .partitions
            .into_iter()
            .map(|p| PartitionInfo {
                partition: p.partition_index,
                leader: (p.leader_id.0 >= 0).then_some(p.leader_id.0),
                leader_epoch: p.leader_epoch,
                replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                error: ResponseError::try_from_code(p.error_code),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        topics.insert(
            name.clone(),
            TopicInfo {
                name,
                topic_id: t.topic_id.to_string(),
                is_internal: t.is_internal,
                partitions,
            },
        );
    }
    Ok(ClusterMetadata {
        cluster_id: response.cluster_id.map(|c| c.to_string()),
        controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
        brokers,
        topics,
    })
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
    /// also refreshes the routing cache (and is shared with it, not copied).
    pub async fn metadata(&self, topics: Option<&[String]>) -> Result<Arc<ClusterMetadata>> {
        match topics {
            None => self.refresh_metadata().await,
            Some(_) => Ok(Arc::new(self.fetch_metadata(topics).await?)),
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
