//! Log-segment files as a JVM Kafka broker writes them, and the sparse index builders.
//!
//! A partition directory (`<topic>-<partition>`) holds, per segment, files named after the
//! segment's base offset padded to 20 digits ([`SegmentFileName`]):
//!
//! | file | reader | format |
//! |---|---|---|
//! | `.log` | [`crate::batch::BatchIter`] | record batches back to back |
//! | `.index` | [`OffsetIndex`] | 8-byte entries: relative offset i32, position i32 |
//! | `.timeindex` | [`TimeIndex`] | 12-byte entries: timestamp i64, relative offset i32 |
//! | `.txnindex` | [`TxnIndex`] | 34-byte aborted transactions |
//! | `.snapshot` | [`ProducerSnapshot`] | producer-state snapshot (CRC-32C protected) |
//!
//! and once per partition a text `leader-epoch-checkpoint` ([`LeaderEpochCheckpoint`]). The
//! log directory holds the text checkpoints `replication-offset-checkpoint` (high
//! watermarks), `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint`
//! ([`OffsetCheckpoint`]). Everything is big-endian. Formats follow Kafka's `OffsetIndex`,
//! `TimeIndex`, `TransactionIndex`/`AbortedTxn`, `CheckpointFile`,
//! `LeaderEpochCheckpointFile`, `OffsetCheckpointFile` and `ProducerStateManager`; see
//! [KIP-33](https://cwiki.apache.org/confluence/display/KAFKA/KIP-33+-+Add+a+time+based+log+index)
//! (time index),
//! [KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging)
//! (transaction index, producer snapshots) and
//! [KIP-101](https://cwiki.apache.org/confluence/display/KAFKA/KIP-101+-+Alter+Replication+Protocol+to+use+Leader+Epoch+rather+than+High+Watermark+for+Truncation)
//! (leader epochs).
//!
//! Every reader works on bytes already in memory (`&[u8]`) and returns a
//! [`WireError`](crate::WireError) naming the file kind and the byte position (binary files)
//! or line (text files); none panics on any input. Only [`PartitionDir::scan`],
//! [`list_partition_dirs`], [`LogDirCheckpoints::read`] and the `read_file` helpers touch
//! the file system.
//!
//! # How to use
//!
//! ```no_run
//! use keel_wire::segment::{
//!     OffsetCheckpoint, OffsetIndex, PartitionDir, LeaderEpochCheckpoint, SegmentView,
//! };
//! # fn main() -> keel_wire::Result<()> {
//! // List the segments of a partition, oldest first, with their sibling files.
//! let dir = PartitionDir::scan("/var/lib/kafka/data/orders-3".as_ref())?;
//! for seg in &dir.segments {
//!     println!("{} log={:?} index={:?}", seg.base_offset, seg.log, seg.offset_index);
//! }
//! // High watermarks of the log dir; the partition's leader epochs.
//! let hw = OffsetCheckpoint::read_file("/var/lib/kafka/data/replication-offset-checkpoint".as_ref())?;
//! let high_watermark = hw.offset("orders", 3);
//! let epochs = LeaderEpochCheckpoint::read_file("/var/lib/kafka/data/orders-3/leader-epoch-checkpoint".as_ref())?;
//! let epoch_of_42 = epochs.epoch_for_offset(42);
//!
//! // An `.index` held in memory (for instance fetched from remote storage):
//! let index_bytes: Vec<u8> = std::fs::read("/tmp/00000000000000001000.index").unwrap_or_default();
//! let index = OffsetIndex::parse(&index_bytes, 1000)?;
//! let floor = index.lookup(1234); // largest entry with offset <= 1234, or (1000, 0)
//!
//! // Offset -> byte position of the batch holding it, index first, then a forward scan.
//! let log = std::fs::read("/tmp/00000000000000001000.log").unwrap_or_default();
//! let view = SegmentView::new(1000, &log, index, None);
//! if let Some(batch) = view.find_batch_for_offset(1234)? {
//!     println!("offset 1234 lives in the batch at byte {}", batch.position);
//! }
//! # let _ = (high_watermark, epoch_of_42, floor);
//! # Ok(()) }
//! ```
//!
//! Timestamp lookups (Kafka's `ListOffsets` by time) are
//! [`SegmentView::find_offset_by_timestamp`] (record-level, decoding the batch that matches)
//! and [`SegmentView::find_batch_for_timestamp`] (batch-level, header only).
//!
//! Rebuilding `.index` and `.timeindex` bytes from a `.log` exactly as the broker writes them
//! is [`SegmentIndexBuilder::build`] (or [`OffsetIndexBuilder`] / [`TimeIndexBuilder`] for
//! one of them); [`SegmentIndexer`] does the same incrementally, batch by batch.

mod be;
mod checkpoint;
mod file_name;
mod index_builder;
mod indexer;
mod log_dir;
mod lookup;
mod offset_index;
mod partition_dir;
mod producer_snapshot;
mod time_index;
mod txn_index;

pub use checkpoint::{
    EpochEntry, LEADER_EPOCH_CHECKPOINT_FILE, LOG_START_OFFSET_CHECKPOINT_FILE,
    LeaderEpochCheckpoint, OffsetCheckpoint, OffsetCheckpointEntry,
    RECOVERY_POINT_OFFSET_CHECKPOINT_FILE, REPLICATION_OFFSET_CHECKPOINT_FILE,
};
pub use file_name::{SegmentFileKind, SegmentFileName, TransientSuffix};
pub use index_builder::{OffsetIndexBuilder, SegmentIndexBuilder, TimeIndexBuilder};
pub use indexer::{BuiltIndexes, DEFAULT_INDEX_INTERVAL_BYTES, SegmentIndexer};
pub use log_dir::{LogDirCheckpoints, LogDirListing, list_partition_dirs};
pub use lookup::{BatchLocation, SegmentView, TimestampAndOffset};
pub use offset_index::{OffsetIndex, OffsetIndexEntry};
pub use partition_dir::{PartitionDir, PartitionDirName, PartitionDirState, SegmentFiles};
pub use producer_snapshot::{PRODUCER_SNAPSHOT_VERSION, ProducerSnapshot, ProducerSnapshotEntry};
pub use time_index::{NO_TIMESTAMP, TimeIndex, TimeIndexEntry};
pub use txn_index::{AbortedTxn, AbortedTxnSearch, TxnIndex};
