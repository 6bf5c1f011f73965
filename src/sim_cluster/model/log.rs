//! In-memory partition logs for topics created through CreateTopics: Produce appends record
//! batches (magic 2) with offsets assigned, Fetch reads them back from an offset, ListOffsets
//! finds offsets by position or timestamp. Compacted topics keep every record (compaction is
//! best effort in Kafka too; readers take the last value per key), so `__keel_state` works.
//!
//! Only batch headers are read: the base offset is rewritten (it is outside the CRC), the
//! rest of each batch is kept byte for byte.

use bytes::{Bytes, BytesMut};

/// Bytes of a magic-2 record batch header.
const BATCH_HEADER_LEN: usize = 61;
/// CORRUPT_MESSAGE.
pub const CORRUPT_MESSAGE: i16 = 2;
/// OFFSET_OUT_OF_RANGE.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;

#[derive(Debug, Clone, PartialEq)]
struct StoredBatch {
    base: i64,
    last: i64,
    max_timestamp: i64,
    bytes: Bytes,
}

/// One partition's log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemLog {
    batches: Vec<StoredBatch>,
    next: i64,
    size: u64,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(x)
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

impl MemLog {
    /// First offset.
    pub fn start_offset(&self) -> i64 {
        0
    }

    /// Next offset to be written (the high watermark).
    pub fn end_offset(&self) -> i64 {
        self.next
    }

    /// Bytes stored.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// Appends the record batches in `records`, giving them offsets from the log end.
    /// Returns the base offset of the first batch, or CORRUPT_MESSAGE for bytes that are not
    /// whole magic-2 batches (nothing is appended then).
    pub fn append(&mut self, records: &[u8]) -> Result<i64, (i16, String)> {
        let corrupt = |reason: String| (CORRUPT_MESSAGE, reason);
        let mut pending = Vec::new();
        let mut at = 0usize;
        let mut next = self.next;
        while at < records.len() {
            let rest = &records[at..];
            if rest.len() < BATCH_HEADER_LEN {
                return Err(corrupt(format!(
                    "{} bytes at record position {at} are shorter than a batch header",
                    rest.len()
                )));
            }
            let length = be_i32(rest, 8);
            let total = usize::try_from(length).unwrap_or(0).saturating_add(12);
            if length < (BATCH_HEADER_LEN - 12) as i32 || total > rest.len() {
                return Err(corrupt(format!(
                    "batch at record position {at} claims length {length} with {} bytes left",
                    rest.len()
                )));
            }
            if rest[16] != 2 {
                return Err(corrupt(format!(
                    "batch at record position {at} has magic {} (only 2 is accepted)",
                    rest[16]
                )));
            }
            let last_delta = be_i32(rest, 23);
            if last_delta < 0 {
                return Err(corrupt(format!(
                    "batch at record position {at} has a negative last offset delta"
                )));
            }
            let mut bytes = BytesMut::from(&rest[..total]);
            bytes[..8].copy_from_slice(&next.to_be_bytes());
            let base = next;
            let last = base + i64::from(last_delta);
            pending.push(StoredBatch {
                base,
                last,
                max_timestamp: be_i64(rest, 35),
                bytes: bytes.freeze(),
            });
            next = last + 1;
            at += total;
        }
        if pending.is_empty() {
            return Err(corrupt(
                "the produce request carries no record batch".into(),
            ));
        }
        let base = self.next;
        self.next = next;
        self.size += records.len() as u64;
        self.batches.extend(pending);
        Ok(base)
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (at least one batch).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes, (i16, String)> {
        if offset < self.start_offset() || offset > self.next {
            return Err((
                OFFSET_OUT_OF_RANGE,
                format!("offset {offset} is outside [0, {}]", self.next),
            ));
        }
        let first = self.batches.partition_point(|b| b.last < offset);
        let mut out = BytesMut::new();
        for b in &self.batches[first..] {
            if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        Ok(out.freeze())
    }

    /// The first offset whose batch has a timestamp at or after `timestamp`, or the end.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> i64 {
        self.batches
            .iter()
            .find(|b| b.max_timestamp >= timestamp)
            .map_or(self.next, |b| b.base)
    }
}
