//! The `.txnindex` file: the aborted transactions whose markers fall in the segment
//! ([KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging)).
//!
//! Kafka's `AbortedTxn` entries are 34 bytes, big-endian, appended in marker order and never
//! preallocated: version i16 (0), producer id i64, first offset i64, last offset i64, last
//! stable offset i64. A fetch with `READ_COMMITTED` collects the entries overlapping its
//! range ([`TxnIndex::collect_aborted`], Kafka's `TransactionIndex.collectAbortedTxns`).
//! Kafka silently ignores a partial entry at the end of the file; keel reports it.

use super::be::{i16_from, i64_from};
use crate::error::{Result, WireError};

const FILE_KIND: &str = ".txnindex";

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AbortedTxn {
    /// Entry format version; Kafka writes 0 and rejects anything newer.
    pub version: i16,
    pub producer_id: i64,
    /// First offset of the transaction's data.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
    /// Last stable offset when the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// Size of one entry in bytes.
    pub const SIZE: usize = 34;
    /// The only version Kafka writes.
    pub const CURRENT_VERSION: i16 = 0;

    /// Appends the 34-byte encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }
}

/// The result of [`TxnIndex::collect_aborted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortedTxnSearch {
    pub aborted: Vec<AbortedTxn>,
    /// True when an entry's last stable offset reached the upper bound, so later segments
    /// need not be searched (Kafka's `TxnIndexSearchResult.isComplete`).
    pub complete: bool,
}

/// A decoded `.txnindex` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnIndex {
    pub entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Decodes a whole `.txnindex`. Errors name the byte position of the bad entry.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let partial = bytes.len() % AbortedTxn::SIZE;
        if partial != 0 {
            return Err(WireError::FileFormat {
                file_kind: FILE_KIND,
                position: (bytes.len() - partial) as u64,
                reason: format!(
                    "{partial} trailing bytes: a partial {}-byte aborted transaction entry",
                    AbortedTxn::SIZE
                ),
            });
        }
        let mut entries = Vec::with_capacity(bytes.len() / AbortedTxn::SIZE);
        for (i, e) in bytes.chunks_exact(AbortedTxn::SIZE).enumerate() {
            let at = (i * AbortedTxn::SIZE) as u64;
            let txn = AbortedTxn {
                version: i16_from(e, 0).unwrap_or(-1),
                producer_id: i64_from(e, 2).unwrap_or(-1),
                first_offset: i64_from(e, 10).unwrap_or(-1),
                last_offset: i64_from(e, 18).unwrap_or(-1),
                last_stable_offset: i64_from(e, 26).unwrap_or(-1),
            };
            if txn.version != AbortedTxn::CURRENT_VERSION {
                return Err(WireError::FileFormat {
                    file_kind: FILE_KIND,
                    position: at,
                    reason: format!(
                        "entry {i}: unknown aborted transaction version {} (Kafka writes {})",
                        txn.version,
                        AbortedTxn::CURRENT_VERSION
                    ),
                });
            }
            if txn.first_offset > txn.last_offset {
                return Err(WireError::FileFormat {
                    file_kind: FILE_KIND,
                    position: at,
                    reason: format!(
                        "entry {i}: first offset {} is after last offset {}",
                        txn.first_offset, txn.last_offset
                    ),
                });
            }
            entries.push(txn);
        }
        Ok(TxnIndex { entries })
    }

    /// Encodes the entries as Kafka writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * AbortedTxn::SIZE);
        for e in &self.entries {
            e.encode_into(&mut out);
        }
        out
    }

    /// The aborted transactions that overlap `[fetch_offset, upper_bound_offset)`, in file
    /// order, as Kafka's `collectAbortedTxns`: an entry overlaps when its last offset is
    /// `>= fetch_offset` and its first offset `< upper_bound_offset`; the search stops early
    /// (complete) at the first entry whose last stable offset is `>= upper_bound_offset`.
    pub fn collect_aborted(&self, fetch_offset: i64, upper_bound_offset: i64) -> AbortedTxnSearch {
        let mut aborted = Vec::new();
        for txn in &self.entries {
            if txn.last_offset >= fetch_offset && txn.first_offset < upper_bound_offset {
                aborted.push(*txn);
            }
            if txn.last_stable_offset >= upper_bound_offset {
                return AbortedTxnSearch {
                    aborted,
                    complete: true,
                };
            }
        }
        AbortedTxnSearch {
            aborted,
            complete: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            version: 0,
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn round_trips_and_collects_overlapping() {
        let idx = TxnIndex {
            entries: vec![txn(1, 0, 10, 0), txn(2, 5, 20, 11), txn(3, 30, 40, 50)],
        };
        let bytes = idx.encode();
        assert_eq!(bytes.len(), 3 * 34);
        let back = TxnIndex::parse(&bytes).unwrap();
        assert_eq!(back, idx);
        let r = back.collect_aborted(11, 25);
        assert_eq!(r.aborted, vec![txn(2, 5, 20, 11)]);
        assert!(r.complete, "entry 3's LSO 50 >= 25 ends the search");
        let r = back.collect_aborted(0, 100);
        assert_eq!(r.aborted.len(), 3);
        assert!(!r.complete);
    }

    #[test]
    fn bad_version_and_partial_entry_are_errors() {
        let mut bytes = TxnIndex {
            entries: vec![txn(1, 0, 10, 0), txn(2, 5, 20, 11)],
        }
        .encode();
        bytes[35] = 1;
        assert!(matches!(
            TxnIndex::parse(&bytes).unwrap_err(),
            WireError::FileFormat { position: 34, .. }
        ));
        assert!(matches!(
            TxnIndex::parse(&bytes[..40]).unwrap_err(),
            WireError::FileFormat { position: 34, .. }
        ));
    }
}
