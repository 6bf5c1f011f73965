//! # Kafka-protocol cluster simulator
//!
//! `keel sim-cluster`: serves a simulated `keel.cluster/v1` cluster over the real Kafka
//! protocol. Being built.
