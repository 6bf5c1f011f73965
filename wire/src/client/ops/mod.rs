//! The admin operations, one file per area, each an `impl KafkaClient` block returning
//! typed results. Every operation checks per-item error codes and reports them as
//! [`crate::WireError::Kafka`] with topic/partition/broker context.

pub mod cluster;
pub mod configs;
pub mod delete_topics;
pub mod log_dirs;
pub mod offsets;
pub mod quotas;
pub mod reassign;
pub mod records;
pub mod topics;
