//! # Live-cluster snapshots
//!
//! Owns `keel snapshot`'s library side: reading a live Kafka-protocol cluster over the admin
//! protocol into a `keel.cluster/v1` snapshot (`/work/shared/formats/cluster-snapshot.md`),
//! the balancer's input. The sidecar calls [`capture`] with its own client.
//!
//! - brokers and racks: Metadata and DescribeCluster
//!   ([KIP-700](https://cwiki.apache.org/confluence/display/KAFKA/KIP-700%3A+Add+Describe+Cluster+API));
//! - replicas and leaders: Metadata (the ISR only feeds a warning; the format has no field);
//! - sizes: DescribeLogDirs ([KIP-113](https://cwiki.apache.org/confluence/display/KAFKA/KIP-113%3A+Support+replicas+movement+between+log+directories)),
//!   disk capacity from its volume sizes ([KIP-827](https://cwiki.apache.org/confluence/display/KAFKA/KIP-827%3A+Expose+log+dirs+total+and+usable+space+via+Kafka+API));
//! - rates: log-end-offset growth over a sample window ([`rates`]), bytes out = bytes in ×
//!   consumer fan-out;
//! - capacities: a capacity file ([`capacity`]);
//! - capability flags: ApiVersions of every broker
//!   ([KIP-35](https://cwiki.apache.org/confluence/display/KAFKA/KIP-35+-+Retrieving+protocol+version)).
//!
//! An API a broker lacks never fails the capture: it becomes a [`Warning`] and the field
//! keeps its default. The pure parts ([`assemble`], [`rates`], [`capacity`], [`json`]) take
//! answers and return values; [`capture()`](capture::capture) is the thin async shell.

pub mod assemble;
#[cfg(test)]
mod assemble_tests;
pub mod capacity;
pub mod capture;
pub mod error;
pub mod json;
pub mod layout;
pub mod rates;
pub mod warning;

pub use capacity::CapacityFile;
pub use capture::{Captured, SnapshotOptions, capture};
pub use error::{Result, SnapshotError};
pub use json::write_snapshot;
pub use warning::{Capabilities, Capability, Warning};
