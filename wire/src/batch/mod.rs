//! Record batches: the unit Kafka writes to its log and sends over the wire.
//!
//! [`BatchIter`] walks a buffer (a whole `.log` file or a fetch response's records) batch by
//! batch, reading only the 17 bytes of each header it needs to find the next one. Each item
//! is a [`LogEntry`]: a v2 [`RecordBatch`] view with every header field, or a legacy magic
//! 0/1 message ([`LegacyMessage`]) that is recognised and reported but not decoded further.
//!
//! v2 layout (all big-endian), from Kafka's `DefaultRecordBatch`:
//!
//! | offset | field |
//! |---|---|
//! | 0 | base offset i64 |
//! | 8 | batch length i32 (bytes after this field) |
//! | 12 | partition leader epoch i32 |
//! | 16 | magic i8 (= 2) |
//! | 17 | CRC-32C u32 over bytes 21.. |
//! | 21 | attributes i16 |
//! | 23 | last offset delta i32 |
//! | 27 | base timestamp i64 |
//! | 35 | max timestamp i64 |
//! | 43 | producer id i64 |
//! | 51 | producer epoch i16 |
//! | 53 | base sequence i32 |
//! | 57 | record count i32 |
//! | 61 | records |
//!
//! [`RecordBatch::records`] decodes the records ([`record`]) with every codec
//! ([`compression`]); [`RecordBatchBuilder`] ([`encode`]) writes batches.

pub mod compression;
pub mod encode;
mod header;
mod iter;
pub mod record;
pub mod record_iter;
pub mod varint;

pub use compression::MAX_DECOMPRESSED_BATCH_BYTES;
pub use encode::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RecordBatchBuilder,
};
pub use header::{
    Compression, LOG_OVERHEAD, LegacyMessage, LogEntry, RecordBatch, TimestampType, V2_HEADER_LEN,
};
pub use iter::BatchIter;
pub use record::{
    BatchContext, ControlRecord, ControlRecordType, EndTxnMarker, Header, HeaderIter, OwnedHeader,
    OwnedRecord, Record,
};
pub use record_iter::{RecordIter, Records};
