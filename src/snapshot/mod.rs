//! # Live-cluster snapshots
//!
//! `keel snapshot`: reads a live cluster over Kafka's admin protocol into a `keel.cluster/v1`
//! snapshot. Being built.
