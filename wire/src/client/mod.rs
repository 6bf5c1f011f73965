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

pub mod cluster;
pub mod config;
pub mod connection;
mod context;
pub mod kafka_client;
pub mod ops;
mod sasl;
pub mod scram;
pub mod secret;
pub mod stream;
pub mod tls;

pub use config::{ClientConfig, RetryPolicy, SaslConfig, SaslMechanism, TlsConfig};
pub use context::{ErrorContext, check_code, message_suffix};
pub use cluster::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo};
pub use kafka_client::{AdminClient, KafkaClient, Target};
pub use ops::cluster::ClusterDescription;
pub use ops::configs::{AlterConfigOp, ConfigChange, ConfigEntry, ConfigResource, ConfigSource};
pub use ops::log_dirs::{LogDirInfo, ReplicaLogInfo};
pub use ops::offsets::{OffsetSpec, PartitionOffset};
pub use ops::quotas::{QuotaAlteration, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch};
pub use ops::reassign::{OngoingReassignment, PartitionOutcome, first_error};
pub use ops::records::{FetchOptions, FetchedRecords, ProduceAck};
pub use ops::topics::{NewTopic, TopicOutcome};
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
