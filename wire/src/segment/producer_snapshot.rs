//! `.snapshot` files: producer state (idempotence and transactions) as of the offset in the
//! file name, written by Kafka's `ProducerStateManager`
//! ([KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging)).
//!
//! Layout (big-endian), snapshot version 1:
//!
//! | offset | field |
//! |---|---|
//! | 0 | version i16 (= 1) |
//! | 2 | crc u32: CRC-32C of every byte from offset 6 to the end |
//! | 6 | producer entry count i32 |
//! | 10 | entries, 46 bytes each: producer id i64, epoch i16, last sequence i32, last offset i64, offset delta i32, timestamp i64, coordinator epoch i32, current txn first offset i64 (-1 if none) |
//!
//! The reader checks, in Kafka's order, the version and then the CRC, and then that the
//! entries fill the rest of the file exactly (Kafka's schema reader would ignore trailing
//! bytes; it never writes any).

use super::be::{i16_from, i32_from, i64_from};
use crate::error::{Result, WireError};

const FILE_KIND: &str = ".snapshot";

/// The snapshot version Kafka writes and reads.
pub const PRODUCER_SNAPSHOT_VERSION: i16 = 1;

const CRC_OFFSET: usize = 2;
const ENTRIES_OFFSET: usize = 6;
const HEADER_LEN: usize = 10;

/// One producer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerSnapshotEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Last sequence number written by the producer.
    pub last_sequence: i32,
    /// Last offset written by the producer (-1 if only markers were written).
    pub last_offset: i64,
    /// Last sequence minus first sequence of the last batch.
    pub offset_delta: i32,
    /// Max timestamp of the last batch.
    pub timestamp: i64,
    /// Epoch of the transaction coordinator that wrote the last marker.
    pub coordinator_epoch: i32,
    /// First offset of the ongoing transaction, -1 if none.
    pub current_txn_first_offset: i64,
}

impl ProducerSnapshotEntry {
    /// Size of one encoded entry.
    pub const SIZE: usize = 46;

    fn decode(e: &[u8]) -> Option<Self> {
        Some(ProducerSnapshotEntry {
            producer_id: i64_from(e, 0)?,
            producer_epoch: i16_from(e, 8)?,
            last_sequence: i32_from(e, 10)?,
            last_offset: i64_from(e, 14)?,
            offset_delta: i32_from(e, 22)?,
            timestamp: i64_from(e, 26)?,
            coordinator_epoch: i32_from(e, 34)?,
            current_txn_first_offset: i64_from(e, 38)?,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.last_sequence.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.offset_delta.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&self.current_txn_first_offset.to_be_bytes());
    }

    /// The ongoing transaction's first offset, if one is open.
    pub fn ongoing_txn_first_offset(&self) -> Option<i64> {
        (self.current_txn_first_offset >= 0).then_some(self.current_txn_first_offset)
    }
}

/// A decoded producer-state snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSnapshot {
    pub version: i16,
    /// The stored (and verified) CRC-32C.
    pub crc: u32,
    pub entries: Vec<ProducerSnapshotEntry>,
}

impl ProducerSnapshot {
    /// Decodes and verifies a snapshot file's bytes. Errors name the byte position.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = |position: usize, reason: String| WireError::FileFormat {
            file_kind: FILE_KIND,
            position: position as u64,
            reason,
        };
        let (Some(version), Some(crc), Some(count)) = (
            i16_from(bytes, 0),
            i32_from(bytes, CRC_OFFSET),
            i32_from(bytes, ENTRIES_OFFSET),
        ) else {
            return Err(bad(
                0,
                format!(
                    "{} bytes is shorter than the {HEADER_LEN}-byte header",
                    bytes.len()
                ),
            ));
        };
        if version != PRODUCER_SNAPSHOT_VERSION {
            return Err(bad(
                0,
                format!(
                    "unknown snapshot version {version} (expected {PRODUCER_SNAPSHOT_VERSION})"
                ),
            ));
        }
        let crc = crc as u32;
        let computed = crc32c::crc32c(bytes.get(ENTRIES_OFFSET..).unwrap_or(&[]));
        if computed != crc {
            return Err(bad(
                CRC_OFFSET,
                format!("CRC-32C mismatch: stored {crc:#010x}, computed {computed:#010x}"),
            ));
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or(&[]);
        let Ok(count) = usize::try_from(count) else {
            return Err(bad(
                ENTRIES_OFFSET,
                format!("negative producer entry count {count}"),
            ));
        };
        let needed = count.checked_mul(ProducerSnapshotEntry::SIZE);
        if needed != Some(body.len()) {
            return Err(bad(
                ENTRIES_OFFSET,
                format!(
                    "{count} producer entries need {} bytes after the header, file has {}",
                    needed.map_or_else(|| "too many".to_owned(), |n| n.to_string()),
                    body.len()
                ),
            ));
        }
        let entries = body
            .chunks_exact(ProducerSnapshotEntry::SIZE)
            .filter_map(ProducerSnapshotEntry::decode)
            .collect();
        Ok(ProducerSnapshot {
            version,
            crc,
            entries,
        })
    }

    /// Encodes `entries` as Kafka's `writeSnapshot` does (version 1, CRC filled in).
    pub fn encode(entries: &[ProducerSnapshotEntry]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + entries.len() * ProducerSnapshotEntry::SIZE);
        out.extend_from_slice(&PRODUCER_SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
        for e in entries {
            e.encode_into(&mut out);
        }
        let crc = crc32c::crc32c(out.get(ENTRIES_OFFSET..).unwrap_or(&[]));
        if let Some(slot) = out.get_mut(CRC_OFFSET..ENTRIES_OFFSET) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i64) -> ProducerSnapshotEntry {
        ProducerSnapshotEntry {
            producer_id: pid,
            producer_epoch: 3,
            last_sequence: 41,
            last_offset: 1_000 + pid,
            offset_delta: 9,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        }
    }

    #[test]
    fn round_trips_and_checks_crc() {
        let bytes = ProducerSnapshot::encode(&[entry(1), entry(2)]);
        assert_eq!(bytes.len(), 10 + 2 * 46);
        let s = ProducerSnapshot::parse(&bytes).unwrap();
        assert_eq!(s.entries, vec![entry(1), entry(2)]);
        let mut bad = bytes.clone();
        bad[50] ^= 1;
        assert!(matches!(
            ProducerSnapshot::parse(&bad).unwrap_err(),
            WireError::FileFormat { position: 2, .. }
        ));
    }

    #[test]
    fn empty_snapshot_is_ten_bytes() {
        let bytes = ProducerSnapshot::encode(&[]);
        assert_eq!(bytes.len(), 10);
        assert!(ProducerSnapshot::parse(&bytes).unwrap().entries.is_empty());
        assert!(ProducerSnapshot::parse(&bytes[..9]).is_err());
    }
}
