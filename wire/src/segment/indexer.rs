//! Building `.index` and `.timeindex` bytes from a `.log` exactly as a Kafka broker does.
//!
//! Kafka's `LogSegment.append` (and `LogSegment.recover`, which rebuilds both indexes batch
//! by batch on unclean shutdown) keeps a count of bytes appended since the last index entry.
//! Before counting an append it checks `bytesSinceLastIndexEntry > indexIntervalBytes`
//! (strictly greater); when true it
//!
//! 1. appends an offset index entry: the append's *last* offset, at the byte position where
//!    the append *starts*;
//! 2. calls `TimeIndex.maybeAppend(maxTimestampSoFar, offsetOfMaxTimestampSoFar)`: the
//!    largest batch max-timestamp seen in the segment so far and the last offset of the
//!    batch that carried it, written only if that timestamp is strictly greater than the
//!    last time index entry's (initially `NO_TIMESTAMP` = -1, so batches without timestamps
//!    never produce entries);
//! 3. resets the count to 0, then adds the append's size.
//!
//! So the first batch (position 0) is never indexed, and each entry points at the first
//! batch that starts more than `index.interval.bytes` after the previous entry's batch.
//! When the segment rolls (`onBecomeInactiveSegment`), is closed, or is recovered, Kafka
//! appends one more time index entry for the segment's largest timestamp (again only if it
//! is greater than the last entry's), then trims both files. [`SegmentIndexer::finish`]
//! does that; [`SegmentIndexer::finish_active`] leaves it out, as the still-active
//! segment's files look.
//!
//! A produce request appends one batch per partition, and replication and recovery append
//! batch by batch too, so "append" here is one batch. (A follower may append several
//! batches in one call; its index can then be sparser than the leader's. Brokers 3.7.0-3.7.x
//! recorded a record-level offset for the max timestamp on the leader path, KAFKA-16310;
//! recovery and other versions use the batch's last offset, as here.) Kafka raises an
//! error when an offset does not fit the segment's 32-bit relative range or a batch
//! does not increase the offset; so does this builder, naming the batch's byte position.
//!
//! Kafka rolls a segment before its preallocated index fills (`segment.index.bytes`, 10 MiB:
//! 1,310,720 offset entries, 873,813 time entries); these builders do not cap the count.
//!
//! Checked byte for byte against the `.index` and `.timeindex` files of a real Kafka 3.9.1
//! broker (`tests/fixtures/kafka-broker/`, test `wire/tests/segment_kafka_broker.rs`).

use super::offset_index::encode_entry as encode_offset_entry;
use super::time_index::{NO_TIMESTAMP, encode_entry as encode_time_entry};
use crate::batch::LogEntry;
use crate::error::{Result, WireError};

/// Kafka's default `index.interval.bytes`.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;

const FILE_KIND: &str = ".log";

/// The indexes built from a `.log`, as trimmed files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuiltIndexes {
    /// `.index` bytes (empty if not requested).
    pub offset_index: Vec<u8>,
    /// `.timeindex` bytes (empty if not requested).
    pub time_index: Vec<u8>,
    /// Bytes of the log that were indexed (all of it unless a tail was cut off).
    pub indexed_bytes: u64,
    /// Batches (or legacy messages) walked.
    pub batches: u64,
}

/// Incremental index building, one append at a time, with Kafka's `LogSegment` state.
#[derive(Debug, Clone)]
pub struct SegmentIndexer {
    base_offset: i64,
    index_interval_bytes: u64,
    want_offsets: bool,
    want_times: bool,
    log_size: u64,
    bytes_since_last_entry: u64,
    last_indexed_offset: Option<i64>,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    last_time_entry: (i64, i64),
    batches: u64,
    offset_index: Vec<u8>,
    time_index: Vec<u8>,
}

impl SegmentIndexer {
    /// A fresh segment starting at `base_offset`, building both indexes.
    pub fn new(base_offset: i64, index_interval_bytes: u32) -> Self {
        SegmentIndexer {
            base_offset,
            index_interval_bytes: u64::from(index_interval_bytes),
            want_offsets: true,
            want_times: true,
            log_size: 0,
            bytes_since_last_entry: 0,
            last_indexed_offset: None,
            max_timestamp: NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            last_time_entry: (NO_TIMESTAMP, base_offset),
            batches: 0,
            offset_index: Vec::new(),
            time_index: Vec::new(),
        }
    }

    pub(super) fn only(mut self, offsets: bool, times: bool) -> Self {
        self.want_offsets = offsets;
        self.want_times = times;
        self
    }

    /// Bytes appended so far (the position the next append starts at).
    pub fn log_size(&self) -> u64 {
        self.log_size
    }

    fn relative(&self, offset: i64, position: u64) -> Result<i32> {
        offset
            .checked_sub(self.base_offset)
            .and_then(|r| i32::try_from(r).ok())
            .filter(|r| *r >= 0)
            .ok_or_else(|| WireError::FileFormat {
                file_kind: FILE_KIND,
                position,
                reason: format!(
                    "offset {offset} is outside the 32-bit relative range of base offset {}",
                    self.base_offset
                ),
            })
    }

    /// Kafka's `LogSegment.append` for an append of `size` bytes whose last offset is
    /// `largest_offset`, largest timestamp `largest_timestamp`, carried by the batch whose
    /// last offset is `offset_of_max_timestamp`.
    #[inline]
    pub fn append(
        &mut self,
        size: u64,
        largest_offset: i64,
        largest_timestamp: i64,
        offset_of_max_timestamp: i64,
    ) -> Result<()> {
        if size == 0 {
            return Ok(());
        }
        let position = self.log_size;
        self.relative(largest_offset, position)?;
        let end = position.saturating_add(size);
        if end > i32::MAX as u64 {
            return Err(WireError::FileFormat {
                file_kind: FILE_KIND,
                position,
                reason: format!("segment grows past 2 GiB ({end} bytes); Kafka positions are i32"),
            });
        }
        self.log_size = end;
        self.batches += 1;
        if largest_timestamp > self.max_timestamp {
            self.max_timestamp = largest_timestamp;
            self.offset_of_max_timestamp = offset_of_max_timestamp;
        }
        if self.bytes_since_last_entry > self.index_interval_bytes {
            if self.want_offsets {
                if let Some(last) = self.last_indexed_offset
                    && largest_offset <= last
                {
                    return Err(WireError::FileFormat {
                        file_kind: FILE_KIND,
                        position,
                        reason: format!(
                            "offset {largest_offset} is not above the last indexed offset {last}"
                        ),
                    });
                }
                let rel = self.relative(largest_offset, position)?;
                encode_offset_entry(&mut self.offset_index, rel, position as i32);
            }
            self.last_indexed_offset = Some(largest_offset);
            if self.want_times {
                self.maybe_append_time(position)?;
            }
            self.bytes_since_last_entry = 0;
        }
        self.bytes_since_last_entry += size;
        Ok(())
    }

    /// Kafka's `TimeIndex.maybeAppend(maxTimestampSoFar, offsetOfMaxTimestampSoFar)`.
    fn maybe_append_time(&mut self, position: u64) -> Result<()> {
        let (ts, offset) = (self.max_timestamp, self.offset_of_max_timestamp);
        let (last_ts, last_offset) = self.last_time_entry;
        if !self.time_index.is_empty() && offset < last_offset {
            return Err(WireError::FileFormat {
                file_kind: FILE_KIND,
                position,
                reason: format!(
                    "time index offset {offset} would go below the last entry's {last_offset}"
                ),
            });
        }
        if ts > last_ts {
            let rel = self.relative(offset, position)?;
            encode_time_entry(&mut self.time_index, ts, rel);
            self.last_time_entry = (ts, offset);
        }
        Ok(())
    }

    /// Appends one walked log entry (a batch per append, as recovery does).
    pub fn append_entry(&mut self, entry: &LogEntry<'_>) -> Result<()> {
        let (last_offset, max_ts) = match entry {
            LogEntry::V2(b) => (b.last_offset(), b.max_timestamp()),
            LogEntry::Legacy(m) => (m.offset(), m.timestamp().unwrap_or(NO_TIMESTAMP)),
        };
        let size = entry.size() as u64;
        self.append(size, last_offset, max_ts, last_offset)
            .map_err(|e| match e {
                WireError::FileFormat {
                    file_kind, reason, ..
                } => WireError::FileFormat {
                    file_kind,
                    position: entry.position(),
                    reason,
                },
                other => other,
            })
    }

    /// The indexes of a segment that has rolled, closed or been recovered: with the final
    /// time index entry for the segment's largest timestamp.
    pub fn finish(mut self) -> Result<BuiltIndexes> {
        if self.want_times {
            let position = self.log_size;
            self.maybe_append_time(position)?;
        }
        Ok(self.finish_active())
    }

    /// The indexes as the still-active segment's files hold them (no final entry).
    pub fn finish_active(self) -> BuiltIndexes {
        BuiltIndexes {
            offset_index: self.offset_index,
            time_index: self.time_index,
            indexed_bytes: self.log_size,
            batches: self.batches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends of `sizes` bytes, one offset each, timestamps as given.
    fn run(interval: u32, appends: &[(u64, i64)]) -> BuiltIndexes {
        let mut ix = SegmentIndexer::new(100, interval);
        for (i, &(size, ts)) in appends.iter().enumerate() {
            let off = 100 + i as i64;
            ix.append(size, off, ts, off).unwrap();
        }
        ix.finish().unwrap()
    }

    fn offsets(b: &[u8]) -> Vec<(i32, i32)> {
        b.chunks_exact(8)
            .map(|c| {
                (
                    i32::from_be_bytes(c[..4].try_into().unwrap()),
                    i32::from_be_bytes(c[4..].try_into().unwrap()),
                )
            })
            .collect()
    }

    fn times(b: &[u8]) -> Vec<(i64, i32)> {
        b.chunks_exact(12)
            .map(|c| {
                (
                    i64::from_be_bytes(c[..8].try_into().unwrap()),
                    i32::from_be_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn entry_needs_strictly_more_than_interval_bytes() {
        // 100-byte appends, interval 200: counts before appends 2,3,4,... are 0,100,200,300.
        let b = run(
            200,
            &[(100, 10), (100, 11), (100, 12), (100, 13), (100, 14)],
        );
        // Append 3 (position 300) sees 300 > 200; append 4 sees 100 (reset) > 200: no.
        assert_eq!(offsets(&b.offset_index), vec![(3, 300)]);
        // Time entry at the indexed append (13 at rel 3), then the final max (14 at rel 4).
        assert_eq!(times(&b.time_index), vec![(13, 3), (14, 4)]);
    }

    #[test]
    fn time_index_skips_non_increasing_max_and_active_lacks_final_entry() {
        let mut ix = SegmentIndexer::new(0, 0);
        // Interval 0: every append after the first is indexed.
        for (i, ts) in [50, 40, 40, 60, 55].into_iter().enumerate() {
            ix.append(10, i as i64, ts, i as i64).unwrap();
        }
        let active = ix.clone().finish_active();
        let closed = ix.finish().unwrap();
        assert_eq!(
            offsets(&active.offset_index),
            vec![(1, 10), (2, 20), (3, 30), (4, 40)]
        );
        // Max so far 50@0, 50@0 (skip: not greater), 60@3, 60@3 (skip).
        assert_eq!(times(&active.time_index), vec![(50, 0), (60, 3)]);
        // The final entry would repeat 60: skipped too.
        assert_eq!(closed.time_index, active.time_index);
    }

    #[test]
    fn no_timestamps_means_empty_time_index() {
        let b = run(0, &[(10, -1), (10, -1), (10, -1)]);
        assert_eq!(offsets(&b.offset_index).len(), 2);
        assert!(b.time_index.is_empty());
    }

    #[test]
    fn offset_out_of_relative_range_is_an_error() {
        let mut ix = SegmentIndexer::new(100, 4096);
        assert!(ix.append(10, 99, 0, 99).is_err());
        assert!(ix.append(10, 100 + i64::from(i32::MAX) + 1, 0, 0).is_err());
    }
}
