//! # Kafka admin client
//!
//! Owns keel's async (tokio) client for Kafka-protocol brokers: bootstrap, ApiVersions
//! negotiation per connection ([KIP-35](https://cwiki.apache.org/confluence/display/KAFKA/KIP-35+-+Retrieving+protocol+version)),
//! metadata-based routing to partition leaders or the controller, pipelined requests matched
//! by correlation id, timeouts, retries with exponential backoff and jitter, reconnects,
//! TLS (rustls) and SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512
//! ([KIP-43](https://cwiki.apache.org/confluence/display/KAFKA/KIP-43%3A+Kafka+SASL+enhancements),
//! [KIP-84](https://cwiki.apache.org/confluence/display/KAFKA/KIP-84%3A+Support+SASL+SCRAM+mechanisms),
//! [KIP-152](https://cwiki.apache.org/confluence/display/KAFKA/KIP-152+-+Improve+diagnostics+for+SASL+authentication+failures),
//! RFC 5802 / RFC 7677), and the admin operations keel needs, with typed results.
//!
//! Secrets are held in [`Secret`], which never prints its value.
//!
//! Every operation checks per-item error codes and returns [`crate::WireError::Kafka`] with
//! the broker/topic/partition it concerns. An API the broker does not advertise gives
//! [`crate::WireError::Unsupported`], which callers can treat as a capability flag.
//! [`crate::WireError::is_retriable`] says whether a failure was transient.
//!
//! ```no_run
//! # async fn demo() -> keel_wire::Result<()> {
//! use keel_wire::client::{ClientConfig, ConfigChange, ConfigResource, KafkaClient};
//! let client = KafkaClient::connect(ClientConfig::new("127.0.0.1:9092")).await?;
//! let cluster = client.describe_cluster().await?;
//! for broker in &cluster.brokers {
//!     let throttle = ConfigChange::set("leader.replication.throttled.rate", "10485760");
//!     client
//!         .incremental_alter_configs(&ConfigResource::Broker(broker.id), &[throttle], false)
//!         .await?;
//! }
//! let moves = [("orders".to_string(), 0, Some(vec![2, 1, 0]))];
//! keel_wire::client::first_error(client.alter_partition_reassignments(&moves).await?)?;
//! # Ok(())
//! # }
//! ```

pub mod cluster;
pub mod config;
pub mod connection;
mod context;
pub mod kafka_client;
pub mod metadata_reader;
pub mod ops;
pub mod routing;
mod sasl;
pub mod scram;
pub mod secret;
pub mod stream;
pub mod tls;

pub use cluster::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};
pub use config::{ClientConfig, RetryPolicy, SaslConfig, SaslMechanism, TlsConfig};
pub use context::{ErrorContext, check_code, message_suffix};
pub use kafka_client::{AdminClient, KafkaClient, Target};
pub use metadata_reader::{BrokerIds, MetadataReader, PartitionEntry, TopicHead};
pub use ops::cluster::ClusterDescription;
pub use ops::cluster::MetadataHead;
pub use ops::configs::{AlterConfigOp, ConfigChange, ConfigEntry, ConfigResource, ConfigSource};
pub use ops::log_dirs::{LogDirInfo, ReplicaLogInfo};
pub use ops::offsets::{OffsetSpec, PartitionOffset};
pub use ops::quotas::{QuotaAlteration, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch};
pub use ops::reassign::{OngoingReassignment, PartitionOutcome, first_error};
pub use ops::records::{FetchOptions, FetchedRecords, ProduceAck};
pub use ops::topics::{NewTopic, TopicOutcome};
pub use routing::{MetadataVisitor, Routing};
pub use secret::Secret;

/// A static name for an API key, for errors and logs.
pub fn api_label(api_key: i16) -> &'static str {
    use kafka_protocol::messages::ApiKey;
    match ApiKey::try_from(api_key) {
        Ok(ApiKey::Produce) => "Produce",
        Ok(ApiKey::Fetch) => "Fetch",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::SaslHandshake) => "SaslHandshake",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::CreateTopics) => "CreateTopics",
        Ok(ApiKey::DeleteTopics) => "DeleteTopics",
        Ok(ApiKey::DescribeConfigs) => "DescribeConfigs",
        Ok(ApiKey::AlterConfigs) => "AlterConfigs",
        Ok(ApiKey::DescribeLogDirs) => "DescribeLogDirs",
        Ok(ApiKey::SaslAuthenticate) => "SaslAuthenticate",
        Ok(ApiKey::ElectLeaders) => "ElectLeaders",
        Ok(ApiKey::IncrementalAlterConfigs) => "IncrementalAlterConfigs",
        Ok(ApiKey::AlterPartitionReassignments) => "AlterPartitionReassignments",
        Ok(ApiKey::ListPartitionReassignments) => "ListPartitionReassignments",
        Ok(ApiKey::DescribeClientQuotas) => "DescribeClientQuotas",
        Ok(ApiKey::AlterClientQuotas) => "AlterClientQuotas",
        Ok(ApiKey::DescribeCluster) => "DescribeCluster",
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        _ => "request",
    }
}
