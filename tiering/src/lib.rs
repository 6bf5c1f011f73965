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
//! - [`keys`], [`store`], [`manifest_store`]: object keys, opening stores by URL, and the
//!   manifest commit (conditional put of a new generation);
//! - [`verify`], [`upload`], [`sync`]: verification before upload (whose batch CRCs give
//!   the object CRC through [`crc`]), the upload shell, and
//!   the sidecar's pass over a broker's log dir; [`multipart`], [`upload_parts`]: multipart
//!   uploads recorded by id before the first part, so they resume and GC can abort them;
//!   `upload_log`: the `put_multipart` path (local filesystem), with ramped part sizes;
//! - [`fetch`] (+ [`cache`]: index and hot-chunk caches, [`chunks`] for zstd-chunked
//!   objects): the remote read path; [`expire`]: remote retention;
//!   [`gc`]: orphan collection, with [`local_staging`] for the staging files a killed
//!   local-filesystem write leaves behind;
//! - [`fault`]: a fault-injecting store wrapper for crash-safety tests;
//! - [`ratelimit`]: byte-rate limits; [`testing`]: synthetic log dirs for tests and benches.

pub mod cache;
pub mod chunks;
pub mod config;
pub mod crc;
pub mod eligibility;
pub mod error;
pub mod expire;
pub mod fault;
pub mod fetch;
pub mod gc;
pub mod keys;
pub mod local_staging;
pub mod manifest;
pub mod manifest_store;
pub mod multipart;
mod part_io;
mod part_writer;
pub mod ratelimit;
pub mod retention;
mod started_gate;
pub mod store;
pub mod sync;
#[doc(hidden)]
pub mod testing;
pub mod upload;
pub mod upload_log;
pub mod upload_parts;
pub mod verify;

pub use config::TierConfig;
pub use error::{Result, TieringError};
pub use keys::TopicPartition;
pub use manifest::{ObjectChecksums, ObjectKind, RemoteSegment, SegmentManifest, SegmentState};
/// Re-exported so users (and keel's benches) name the same `object_store` version.
pub use object_store;
pub use store::TierStore;
