//! # Plan execution shell
//!
//! Drives the pure `keel_balancer::executor::Executor` against a live cluster over Kafka's admin
//! protocol (`keel execute`, the sidecar's rebalance loop). Being built.
