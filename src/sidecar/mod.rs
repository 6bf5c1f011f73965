//! # The sidecar
//!
//! `keel sidecar --config keel.toml`: the rebalance, tiering and quota-distribution loops next
//! to JVM Kafka brokers. Being built.
