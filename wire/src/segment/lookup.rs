//! Offset and timestamp lookups over one segment: the index narrows the search, then the
//! `.log` is scanned forward batch by batch, as Kafka's `LogSegment.translateOffset` and
//! `LogSegment.findOffsetByTimestamp` do.

use super::offset_index::OffsetIndex;
use super::time_index::TimeIndex;
use crate::batch::{BatchIter, LogEntry};
use crate::error::{Result, WireError};

/// Where a batch sits in a `.log`, with the header fields lookups care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLocation {
    /// Byte position of the batch in the `.log`.
    pub position: u64,
    /// Size in bytes, log overhead included.
    pub size: usize,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

impl BatchLocation {
    fn of(entry: &LogEntry<'_>) -> Self {
        match entry {
            LogEntry::V2(b) => BatchLocation {
                position: b.position(),
                size: b.size(),
                base_offset: b.base_offset(),
                last_offset: b.last_offset(),
                max_timestamp: b.max_timestamp(),
            },
            LogEntry::Legacy(m) => BatchLocation {
                position: m.position(),
                size: m.size(),
                base_offset: m.offset(),
                last_offset: m.offset(),
                max_timestamp: m.timestamp().unwrap_or(super::NO_TIMESTAMP),
            },
        }
    }
}

/// One segment's `.log` bytes with its parsed indexes.
#[derive(Debug, Clone, Copy)]
pub struct SegmentView<'a> {
    base_offset: i64,
    log: &'a [u8],
    offset_index: OffsetIndex<'a>,
    time_index: Option<TimeIndex<'a>>,
}

impl<'a> SegmentView<'a> {
    /// A segment at `base_offset` with its `.log` bytes and indexes (the time index is only
    /// needed for timestamp lookups; without it they scan from the start).
    pub fn new(
        base_offset: i64,
        log: &'a [u8],
        offset_index: OffsetIndex<'a>,
        time_index: Option<TimeIndex<'a>>,
    ) -> Self {
        SegmentView {
            base_offset,
            log,
            offset_index,
            time_index,
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    fn scan_from(&self, position: u32) -> Result<BatchIter<'a>> {
        let p = position as usize;
        let rest = self.log.get(p..).ok_or_else(|| WireError::FileFormat {
            file_kind: ".index",
            position: u64::from(position),
            reason: format!(
                "index points at byte {position}, past the end of the {}-byte .log",
                self.log.len()
            ),
        })?;
        Ok(BatchIter::with_base_position(rest, u64::from(position)))
    }

    /// Kafka's `translateOffset`: the first batch whose last offset is `>= offset`, found by
    /// scanning forward from the index's floor entry. `None` if the segment ends before it.
    pub fn find_batch_for_offset(&self, offset: i64) -> Result<Option<BatchLocation>> {
        let start = self.offset_index.lookup(offset).position;
        for entry in self.scan_from(start)? {
            let loc = BatchLocation::of(&entry?);
            if loc.last_offset >= offset {
                return Ok(Some(loc));
            }
        }
        Ok(None)
    }

    /// Byte position in the `.log` of the batch holding `offset` (or the first batch after
    /// it, if `offset` fell in a gap, e.g. after compaction).
    pub fn position_of_offset(&self, offset: i64) -> Result<Option<u64>> {
        Ok(self.find_batch_for_offset(offset)?.map(|b| b.position))
    }

    /// Kafka's `findOffsetByTimestamp` at batch level: the first batch at or after
    /// `starting_offset` whose max timestamp is `>= timestamp`. The scan starts at the
    /// offset index's floor for `max(time index floor offset, starting_offset)`. Kafka then
    /// looks inside that batch for the first record with a timestamp `>= timestamp`; decode
    /// the returned batch's records for that.
    pub fn find_batch_for_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<BatchLocation>> {
        let ts_floor = self
            .time_index
            .map_or(self.base_offset, |t| t.lookup(timestamp).offset);
        let start = self
            .offset_index
            .lookup(ts_floor.max(starting_offset))
            .position;
        for entry in self.scan_from(start)? {
            let loc = BatchLocation::of(&entry?);
            if loc.max_timestamp >= timestamp && loc.last_offset >= starting_offset {
                return Ok(Some(loc));
            }
        }
        Ok(None)
    }
}

/// A record found by timestamp: Kafka's `FileRecords.TimestampAndOffset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: i64,
    /// The batch's partition leader epoch, unless it is unset (-1).
    pub leader_epoch: Option<i32>,
    /// Position of the batch holding the record.
    pub batch_position: u64,
}

impl SegmentView<'_> {
    /// Kafka's `LogSegment.findOffsetByTimestamp`, down to the record: the first record at
    /// or after `starting_offset` whose timestamp is `>= timestamp`. Batches whose max
    /// timestamp is below the target are skipped without decoding; the others are decoded
    /// (decompressed if needed) record by record, as `FileRecords.searchForTimestamp` does.
    /// A legacy magic 1 message counts as one record with its own timestamp.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        starting_offset: i64,
    ) -> Result<Option<TimestampAndOffset>> {
        let ts_floor = self
            .time_index
            .map_or(self.base_offset, |t| t.lookup(timestamp).offset);
        let start = self
            .offset_index
            .lookup(ts_floor.max(starting_offset))
            .position;
        let mut scratch = Vec::new();
        for entry in self.scan_from(start)? {
            match entry? {
                LogEntry::V2(b) => {
                    if b.max_timestamp() < timestamp {
                        continue;
                    }
                    let leader_epoch = Some(b.partition_leader_epoch()).filter(|e| *e >= 0);
                    for r in b.records_with(&mut scratch)? {
                        let r = r?;
                        if r.timestamp() >= timestamp && r.offset() >= starting_offset {
                            return Ok(Some(TimestampAndOffset {
                                timestamp: r.timestamp(),
                                offset: r.offset(),
                                leader_epoch,
                                batch_position: b.position(),
                            }));
                        }
                    }
                }
                LogEntry::Legacy(m) => {
                    let ts = m.timestamp().unwrap_or(super::NO_TIMESTAMP);
                    if ts >= timestamp && m.offset() >= starting_offset {
                        return Ok(Some(TimestampAndOffset {
                            timestamp: ts,
                            offset: m.offset(),
                            leader_epoch: None,
                            batch_position: m.position(),
                        }));
                    }
                }
            }
        }
        Ok(None)
    }
}
