//! The `.timeindex` file: a sparse map from timestamps to offsets
//! ([KIP-33](https://cwiki.apache.org/confluence/display/KAFKA/KIP-33+-+Add+a+time+based+log+index)).
//!
//! Each 12-byte entry is a timestamp (i64, ms) and a relative offset (i32), big-endian. The
//! timestamp is the largest seen in the segment so far and the offset is the last offset of
//! the batch that carried it; Kafka appends an entry only when the timestamp is strictly
//! greater than the last entry's (`TimeIndex.maybeAppend`), so timestamps strictly increase
//! and offsets never decrease. Like `.index`, the active segment's file is preallocated
//! (rounded down to a multiple of 12) and zero-filled. An entry of timestamp 0 at relative
//! offset 0 is possible only as the first entry; a file whose entries are all zero is read
//! as empty (preallocated space), which misreads the single-entry "timestamp 0 at the base
//! offset" index, a case only records stamped at the Unix epoch can produce.

use super::be::{i32_from, i64_from, written_len};
use crate::error::{Result, WireError};

const FILE_KIND: &str = ".timeindex";

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
pub const NO_TIMESTAMP: i64 = -1;

/// One time index entry with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeIndexEntry {
    /// Largest timestamp seen in the segment up to `offset`.
    pub timestamp: i64,
    /// Absolute offset: the last offset of the batch with that timestamp.
    pub offset: i64,
}

/// A validated view of a `.timeindex` file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct TimeIndex<'a> {
    base_offset: i64,
    entries: &'a [u8],
}

impl<'a> TimeIndex<'a> {
    /// Size of one entry in bytes.
    pub const ENTRY_SIZE: usize = 12;

    /// Reads the time index of the segment at `base_offset`. Errors name the byte position of
    /// the first bad entry.
    pub fn parse(bytes: &'a [u8], base_offset: i64) -> Result<Self> {
        let mut used = written_len(bytes, Self::ENTRY_SIZE, 1, FILE_KIND)?;
        // An all-zero entry 0 followed only by zeros is preallocated space, not an entry.
        if used == Self::ENTRY_SIZE && bytes.iter().take(Self::ENTRY_SIZE).all(|&b| b == 0) {
            used = 0;
        }
        let entries = bytes.get(..used).unwrap_or(&[]);
        let mut prev: Option<(i64, i32)> = None;
        for (i, e) in entries.chunks_exact(Self::ENTRY_SIZE).enumerate() {
            let at = (i * Self::ENTRY_SIZE) as u64;
            let ts = i64_from(e, 0).unwrap_or(0);
            let rel = i32_from(e, 8).unwrap_or(0);
            let bad = |reason: String| WireError::FileFormat {
                file_kind: FILE_KIND,
                position: at,
                reason: format!("entry {i}: {reason}"),
            };
            if rel < 0 {
                return Err(bad(format!("negative relative offset {rel}")));
            }
            if base_offset.checked_add(i64::from(rel)).is_none() {
                return Err(bad(format!(
                    "base offset {base_offset} + relative offset {rel} overflows"
                )));
            }
            match prev {
                None if ts <= NO_TIMESTAMP => {
                    return Err(bad(format!(
                        "timestamp {ts} is not above NO_TIMESTAMP (-1); Kafka never indexes it"
                    )));
                }
                Some((pts, _)) if ts <= pts => {
                    return Err(bad(format!(
                        "timestamp {ts} does not increase (previous {pts})"
                    )));
                }
                Some((_, prel)) if rel < prel => {
                    return Err(bad(format!(
                        "relative offset {rel} decreases (previous {prel})"
                    )));
                }
                _ => {}
            }
            prev = Some((ts, rel));
        }
        Ok(TimeIndex {
            base_offset,
            entries,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Number of written entries.
    pub fn len(&self) -> usize {
        self.entries.len() / Self::ENTRY_SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The written entries' bytes (what Kafka's trimmed file holds).
    pub fn written_bytes(&self) -> &'a [u8] {
        self.entries
    }

    /// Entry `n`, if there is one.
    pub fn entry(&self, n: usize) -> Option<TimeIndexEntry> {
        let o = n.checked_mul(Self::ENTRY_SIZE)?;
        Some(TimeIndexEntry {
            timestamp: i64_from(self.entries, o)?,
            offset: self.base_offset + i64::from(i32_from(self.entries, o + 8)?),
        })
    }

    /// All entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TimeIndexEntry> + 'a {
        let base = self.base_offset;
        self.entries
            .chunks_exact(Self::ENTRY_SIZE)
            .map(move |e| TimeIndexEntry {
                timestamp: i64_from(e, 0).unwrap_or(NO_TIMESTAMP),
                offset: base + i64::from(i32_from(e, 8).unwrap_or(0)),
            })
    }

    /// The last entry, or Kafka's `(NO_TIMESTAMP, base offset)` when empty. For a closed
    /// segment this is the segment's largest timestamp and the offset of its batch.
    pub fn last_entry(&self) -> TimeIndexEntry {
        self.len()
            .checked_sub(1)
            .and_then(|n| self.entry(n))
            .unwrap_or(TimeIndexEntry {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            })
    }

    /// Index of the last entry whose timestamp is `<= target`, if any.
    pub fn floor_slot(&self, target: i64) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = i64_from(self.entries, mid * Self::ENTRY_SIZE).unwrap_or(i64::MAX);
            if ts <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Kafka's `TimeIndex.lookup`: the entry with the largest timestamp `<= target`, or
    /// `(NO_TIMESTAMP, base offset)` when there is none.
    pub fn lookup(&self, target: i64) -> TimeIndexEntry {
        self.floor_slot(target)
            .and_then(|n| self.entry(n))
            .unwrap_or(TimeIndexEntry {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            })
    }
}

/// Appends one `.timeindex` entry to `out`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, timestamp: i64, relative_offset: i32) {
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&relative_offset.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(entries: &[(i64, i32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(t, r) in entries {
            encode_entry(&mut v, t, r);
        }
        v
    }

    #[test]
    fn lookup_returns_floor_entry_or_no_timestamp() {
        let b = bytes(&[(1_000, 4), (2_000, 9), (2_500, 9), (4_000, 30)]);
        let idx = TimeIndex::parse(&b, 100).unwrap();
        assert_eq!(idx.len(), 4);
        assert_eq!(
            idx.lookup(999),
            TimeIndexEntry {
                timestamp: NO_TIMESTAMP,
                offset: 100
            }
        );
        assert_eq!(idx.lookup(1_000).offset, 104);
        assert_eq!(idx.lookup(2_499).offset, 109);
        assert_eq!(idx.lookup(9_999).offset, 130);
        assert_eq!(idx.last_entry().timestamp, 4_000);
    }

    #[test]
    fn zero_tail_and_zero_first_entry() {
        let mut b = bytes(&[(0, 0), (5, 3)]);
        b.resize(120, 0);
        let idx = TimeIndex::parse(&b, 0).unwrap();
        assert_eq!(
            idx.len(),
            2,
            "timestamp 0 at the base offset is a real first entry"
        );
        assert!(TimeIndex::parse(&[0u8; 120], 0).unwrap().is_empty());
        assert!(TimeIndex::parse(&[0u8; 12], 0).unwrap().is_empty());
    }

    #[test]
    fn disorder_is_an_error_with_position() {
        let b = bytes(&[(5, 3), (5, 4)]);
        assert!(matches!(
            TimeIndex::parse(&b, 0).unwrap_err(),
            WireError::FileFormat { position: 12, .. }
        ));
        let b = bytes(&[(5, 3), (6, 2)]);
        assert!(TimeIndex::parse(&b, 0).is_err());
        let b = bytes(&[(-1, 3)]);
        assert!(TimeIndex::parse(&b, 0).is_err());
    }
}
