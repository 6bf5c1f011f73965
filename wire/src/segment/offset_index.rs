//! The `.index` file: a sparse map from offsets to byte positions in the segment's `.log`.
//!
//! Each 8-byte entry is a relative offset (i32, offset minus the segment's base offset) and a
//! byte position (i32) in the `.log`, big-endian, in strictly increasing order of both. Kafka
//! preallocates the file to `segment.index.bytes` (10 MiB by default) while the segment is
//! active and trims it to the written entries when the segment rolls or the broker shuts down
//! cleanly. The written part of an untrimmed file ends at its first all-zero entry: Kafka
//! never indexes the batch at position 0 (it appends an entry only once more than
//! `index.interval.bytes` bytes were written since the last one, counting from 0), so a real
//! entry is never all zero.

use super::be::{i32_from, written_len};
use crate::error::{Result, WireError};

const FILE_KIND: &str = ".index";

/// One offset index entry with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffsetIndexEntry {
    /// Absolute offset: the last offset of the batch that starts at `position`.
    pub offset: i64,
    /// Byte position of that batch in the `.log`.
    pub position: u32,
}

/// A validated view of an `.index` file's bytes. Construction checks the length, trims the
/// zero-filled preallocated tail and checks that offsets and positions increase, so lookups
/// can binary search.
#[derive(Debug, Clone, Copy)]
pub struct OffsetIndex<'a> {
    base_offset: i64,
    entries: &'a [u8],
}

impl<'a> OffsetIndex<'a> {
    /// Size of one entry in bytes.
    pub const ENTRY_SIZE: usize = 8;

    /// Reads the index of the segment whose base offset is `base_offset` (the number in the
    /// file name). Errors name the byte position of the first bad entry.
    pub fn parse(bytes: &'a [u8], base_offset: i64) -> Result<Self> {
        let used = written_len(bytes, Self::ENTRY_SIZE, 0, FILE_KIND)?;
        let entries = bytes.get(..used).unwrap_or(&[]);
        let mut prev: Option<(i32, i32)> = None;
        for (i, e) in entries.chunks_exact(Self::ENTRY_SIZE).enumerate() {
            let at = (i * Self::ENTRY_SIZE) as u64;
            let rel = i32_from(e, 0).unwrap_or(0);
            let pos = i32_from(e, 4).unwrap_or(0);
            let bad = |reason: String| WireError::FileFormat {
                file_kind: FILE_KIND,
                position: at,
                reason: format!("entry {i}: {reason}"),
            };
            if rel < 0 {
                return Err(bad(format!("negative relative offset {rel}")));
            }
            if pos < 0 {
                return Err(bad(format!("negative position {pos}")));
            }
            if base_offset.checked_add(i64::from(rel)).is_none() {
                return Err(bad(format!(
                    "base offset {base_offset} + relative offset {rel} overflows"
                )));
            }
            if let Some((prel, ppos)) = prev {
                if rel <= prel {
                    return Err(bad(format!(
                        "relative offset {rel} does not increase (previous {prel})"
                    )));
                }
                if pos <= ppos {
                    return Err(bad(format!(
                        "position {pos} does not increase (previous {ppos})"
                    )));
                }
            }
            prev = Some((rel, pos));
        }
        Ok(OffsetIndex {
            base_offset,
            entries,
        })
    }

    /// The segment's base offset.
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
    pub fn entry(&self, n: usize) -> Option<OffsetIndexEntry> {
        let o = n.checked_mul(Self::ENTRY_SIZE)?;
        let rel = i32_from(self.entries, o)?;
        let pos = i32_from(self.entries, o + 4)?;
        Some(OffsetIndexEntry {
            offset: self.base_offset + i64::from(rel),
            position: pos as u32,
        })
    }

    /// The last entry, or Kafka's `(base offset, 0)` when the index is empty.
    pub fn last_entry(&self) -> OffsetIndexEntry {
        self.len()
            .checked_sub(1)
            .and_then(|n| self.entry(n))
            .unwrap_or(OffsetIndexEntry {
                offset: self.base_offset,
                position: 0,
            })
    }

    /// All entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = OffsetIndexEntry> + 'a {
        let base = self.base_offset;
        self.entries.chunks_exact(Self::ENTRY_SIZE).map(move |e| {
            let rel = i32_from(e, 0).unwrap_or(0);
            let pos = i32_from(e, 4).unwrap_or(0);
            OffsetIndexEntry {
                offset: base + i64::from(rel),
                position: pos as u32,
            }
        })
    }

    /// Index of the last entry whose offset is `<= target`, if any (binary search).
    pub fn floor_slot(&self, target: i64) -> Option<usize> {
        let rel = target.checked_sub(self.base_offset)?;
        if rel < 0 {
            return None;
        }
        let rel = i32::try_from(rel).unwrap_or(i32::MAX);
        // Number of entries with relative offset <= rel.
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let r = i32_from(self.entries, mid * Self::ENTRY_SIZE).unwrap_or(i32::MAX);
            if r <= rel {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Kafka's `OffsetIndex.lookup`: the entry with the largest offset `<= target`, or
    /// `(base offset, 0)` when there is none (the scan then starts at the segment's start).
    pub fn lookup(&self, target: i64) -> OffsetIndexEntry {
        self.floor_slot(target)
            .and_then(|n| self.entry(n))
            .unwrap_or(OffsetIndexEntry {
                offset: self.base_offset,
                position: 0,
            })
    }
}

impl OffsetIndex<'_> {
    /// Kafka's `fetchUpperBoundOffset`: the first entry whose position is `>= position`
    /// (for a read of `fetch_size` bytes from `start`, pass `start + fetch_size`), which
    /// bounds how far a read must go. `None` when every entry is before `position`.
    pub fn upper_bound_by_position(&self, position: u64) -> Option<OffsetIndexEntry> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // Positions were checked non-negative by `parse`.
            let p = i32_from(self.entries, mid * Self::ENTRY_SIZE + 4).unwrap_or(i32::MAX) as u64;
            if p < position {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.entry(lo)
    }
}

/// Appends one `.index` entry (relative offset, position) to `out`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, relative_offset: i32, position: i32) {
    out.extend_from_slice(&relative_offset.to_be_bytes());
    out.extend_from_slice(&position.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(entries: &[(i32, i32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(r, p) in entries {
            encode_entry(&mut v, r, p);
        }
        v
    }

    #[test]
    fn lookup_returns_floor_entry_or_segment_start() {
        let b = bytes(&[(10, 4200), (25, 8500), (40, 12800)]);
        let idx = OffsetIndex::parse(&b, 1000).unwrap();
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.lookup(999).position, 0);
        assert_eq!(idx.lookup(1005).offset, 1000);
        assert_eq!(idx.lookup(1010).position, 4200);
        assert_eq!(idx.lookup(1024).position, 4200);
        assert_eq!(idx.lookup(1025).position, 8500);
        assert_eq!(idx.lookup(i64::MAX).position, 12800);
        assert_eq!(idx.lookup(i64::MIN).position, 0);
    }

    #[test]
    fn upper_bound_by_position_finds_first_entry_at_or_after() {
        let b = bytes(&[(10, 4200), (25, 8500), (40, 12800)]);
        let idx = OffsetIndex::parse(&b, 1000).unwrap();
        assert_eq!(idx.upper_bound_by_position(0).unwrap().offset, 1010);
        assert_eq!(idx.upper_bound_by_position(4200).unwrap().offset, 1010);
        assert_eq!(idx.upper_bound_by_position(4201).unwrap().offset, 1025);
        assert_eq!(idx.upper_bound_by_position(12800).unwrap().position, 12800);
        assert!(idx.upper_bound_by_position(12801).is_none());
    }

    #[test]
    fn preallocated_zero_tail_is_not_entries() {
        let mut b = bytes(&[(3, 5000), (9, 9100)]);
        b.resize(1024, 0);
        let idx = OffsetIndex::parse(&b, 0).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.last_entry().offset, 9);
        let all_zero = vec![0u8; 4096];
        assert!(OffsetIndex::parse(&all_zero, 0).unwrap().is_empty());
    }

    #[test]
    fn stray_bytes_after_zero_tail_are_reported_with_position() {
        let mut b = bytes(&[(3, 5000)]);
        b.resize(64, 0);
        b[41] = 1;
        let err = OffsetIndex::parse(&b, 0).unwrap_err();
        assert!(
            matches!(err, WireError::FileFormat { position: 41, .. }),
            "{err}"
        );
    }

    #[test]
    fn partial_entry_and_disorder_are_errors() {
        let mut b = bytes(&[(3, 5000)]);
        b.push(7);
        assert!(matches!(
            OffsetIndex::parse(&b, 0).unwrap_err(),
            WireError::FileFormat { position: 8, .. }
        ));
        let b = bytes(&[(3, 5000), (3, 6000)]);
        assert!(matches!(
            OffsetIndex::parse(&b, 0).unwrap_err(),
            WireError::FileFormat { position: 8, .. }
        ));
        let b = bytes(&[(3, 5000), (4, 5000)]);
        assert!(OffsetIndex::parse(&b, 0).is_err());
    }
}
