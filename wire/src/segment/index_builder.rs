//! One-shot index builders over a whole `.log` buffer. They walk the batches and feed
//! [`SegmentIndexer`], which holds Kafka's rule (see the `indexer` module docs). Whole,
//! well-formed v2 batches take a fast path that reads only the three header fields the
//! indexes need; anything else goes through [`BatchIter`], which reports exactly what is
//! wrong and where.

use super::indexer::{BuiltIndexes, DEFAULT_INDEX_INTERVAL_BYTES, SegmentIndexer};
use crate::batch::{BatchIter, LOG_OVERHEAD, LogEntry, V2_HEADER_LEN};
use crate::error::{Result, WireError};

/// The header fields of a whole, well-formed v2 batch at `pos` (magic 2, length at least a
/// header, all bytes present); `None` sends the caller to the checking iterator.
struct V2Fields {
    size: usize,
    last_offset: i64,
    max_timestamp: i64,
}

impl V2Fields {
    /// Kafka's `ensureValid` CRC check, with the batch iterator's error on mismatch.
    fn check_crc(&self, log: &[u8], pos: usize) -> Result<()> {
        let b = log.get(pos..pos + self.size).unwrap_or(&[]);
        let stored = b
            .get(17..21)
            .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        let computed = crate::crc::crc32c(b.get(21..).unwrap_or(&[]));
        if stored == computed {
            Ok(())
        } else {
            Err(WireError::CrcMismatch {
                position: pos as u64,
                stored,
                computed,
            })
        }
    }
}

#[inline]
fn whole_v2_batch(log: &[u8], pos: usize) -> Option<V2Fields> {
    let h = log.get(pos..)?.first_chunk::<V2_HEADER_LEN>()?;
    if h[16] != 2 {
        return None;
    }
    let length = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    if length < (V2_HEADER_LEN - LOG_OVERHEAD) as i32 {
        return None;
    }
    let size = LOG_OVERHEAD + length as usize;
    if log.len() - pos < size {
        return None;
    }
    let base = i64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let delta = i32::from_be_bytes([h[23], h[24], h[25], h[26]]);
    let max_timestamp =
        i64::from_be_bytes([h[35], h[36], h[37], h[38], h[39], h[40], h[41], h[42]]);
    Some(V2Fields {
        size,
        last_offset: base.wrapping_add(i64::from(delta)),
        max_timestamp,
    })
}

/// Builds both indexes of a closed segment from its `.log` bytes in one pass.
#[derive(Debug, Clone, Copy)]
pub struct SegmentIndexBuilder {
    pub base_offset: i64,
    pub index_interval_bytes: u32,
    /// Check every v2 batch's CRC-32C, as Kafka's recovery does (off by default: the index
    /// does not depend on it).
    pub verify_crc: bool,
    /// Stop at a truncated or corrupt tail and index what comes before it, as Kafka's
    /// recovery truncates the log there; otherwise such a tail is an error.
    pub stop_at_invalid_tail: bool,
    /// Leave out the final time index entry (the active segment's view).
    pub active: bool,
}

impl SegmentIndexBuilder {
    pub fn new(base_offset: i64) -> Self {
        SegmentIndexBuilder {
            base_offset,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            verify_crc: false,
            stop_at_invalid_tail: false,
            active: false,
        }
    }

    pub fn index_interval_bytes(mut self, bytes: u32) -> Self {
        self.index_interval_bytes = bytes;
        self
    }

    pub fn verify_crc(mut self, on: bool) -> Self {
        self.verify_crc = on;
        self
    }

    pub fn stop_at_invalid_tail(mut self, on: bool) -> Self {
        self.stop_at_invalid_tail = on;
        self
    }

    pub fn active(mut self, on: bool) -> Self {
        self.active = on;
        self
    }

    fn run(&self, log: &[u8], offsets: bool, times: bool) -> Result<BuiltIndexes> {
        let mut ix =
            SegmentIndexer::new(self.base_offset, self.index_interval_bytes).only(offsets, times);
        let mut pos = 0usize;
        while pos < log.len() {
            // Fast path: a whole, well-formed v2 batch; read the three fields the index needs.
            if let Some(v2) = whole_v2_batch(log, pos) {
                if self.verify_crc
                    && let Err(e) = v2.check_crc(log, pos)
                {
                    if self.stop_at_invalid_tail {
                        break;
                    }
                    return Err(e);
                }
                ix.append(
                    v2.size as u64,
                    v2.last_offset,
                    v2.max_timestamp,
                    v2.last_offset,
                )?;
                pos += v2.size;
                continue;
            }
            // Anything else (legacy message, truncated or corrupt header) goes through the
            // batch iterator, which says exactly what is wrong and where.
            let rest = log.get(pos..).unwrap_or(&[]);
            let entry = match BatchIter::with_base_position(rest, pos as u64).next() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(_)) if self.stop_at_invalid_tail => break,
                Some(Err(e)) => return Err(e),
            };
            if self.verify_crc
                && let LogEntry::V2(b) = &entry
            {
                match b.validate_crc() {
                    Ok(()) => {}
                    Err(_) if self.stop_at_invalid_tail => break,
                    Err(e) => return Err(e),
                }
            }
            ix.append_entry(&entry)?;
            pos += entry.size();
        }
        if self.active {
            Ok(ix.finish_active())
        } else {
            ix.finish()
        }
    }

    /// Builds `.index` and `.timeindex` bytes.
    pub fn build(&self, log: &[u8]) -> Result<BuiltIndexes> {
        self.run(log, true, true)
    }
}

/// Builds only the `.index` of a segment from its `.log` bytes.
#[derive(Debug, Clone, Copy)]
pub struct OffsetIndexBuilder(pub SegmentIndexBuilder);

impl OffsetIndexBuilder {
    /// Default interval (4096 bytes), no CRC check, error on a bad tail.
    pub fn new(base_offset: i64) -> Self {
        OffsetIndexBuilder(SegmentIndexBuilder::new(base_offset))
    }

    pub fn index_interval_bytes(self, bytes: u32) -> Self {
        OffsetIndexBuilder(self.0.index_interval_bytes(bytes))
    }

    /// The `.index` bytes Kafka writes for this `.log`.
    pub fn build(&self, log: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0.run(log, true, false)?.offset_index)
    }
}

/// Builds only the `.timeindex` of a segment from its `.log` bytes.
#[derive(Debug, Clone, Copy)]
pub struct TimeIndexBuilder(pub SegmentIndexBuilder);

impl TimeIndexBuilder {
    pub fn new(base_offset: i64) -> Self {
        TimeIndexBuilder(SegmentIndexBuilder::new(base_offset))
    }

    pub fn index_interval_bytes(self, bytes: u32) -> Self {
        TimeIndexBuilder(self.0.index_interval_bytes(bytes))
    }

    /// Leave out the final entry, as the active segment's file.
    pub fn active(self, on: bool) -> Self {
        TimeIndexBuilder(self.0.active(on))
    }

    /// The `.timeindex` bytes Kafka writes for this `.log`.
    pub fn build(&self, log: &[u8]) -> Result<Vec<u8>> {
        Ok(self.0.run(log, false, true)?.time_index)
    }
}
