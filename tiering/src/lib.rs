//! # keel-tiering
//!
//! Owns tiered storage of Kafka log segments in blob storage through `object_store`: which
//! closed segments are eligible, uploading them with their indexes under unique keys, the
//! per-partition segment manifest (the commit point, written with conditional puts),
//! remote and local retention, the remote read path, and orphan garbage collection.
//!
//! Manifest, eligibility and retention logic are pure (they take `now` and inputs and return
//! decisions); uploads, reads and deletes are thin async shells over `object_store`.
//!
//! Follows [KIP-405](https://cwiki.apache.org/confluence/display/KAFKA/KIP-405%3A+Kafka+Tiered+Storage)
//! (segment states COPY_SEGMENT_STARTED/FINISHED, DELETE_SEGMENT_STARTED/FINISHED).
//!
//! Modules:
//! - [`manifest`]: the per-partition [`SegmentManifest`], its KIP-405 states and binary codec;
//! - [`eligibility`], [`retention`], [`config`]: the pure decision cores;

pub mod config;
pub mod eligibility;
pub mod error;
pub mod manifest;
pub mod retention;

pub use config::TierConfig;
pub use error::{Result, TieringError};
pub use manifest::{ObjectChecksums, ObjectKind, RemoteSegment, SegmentManifest, SegmentState};
