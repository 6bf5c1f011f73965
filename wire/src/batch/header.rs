//! Zero-copy views of batch headers.

use crate::error::{Result, WireError};

/// Bytes before a batch's length-counted part: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of a magic v2 batch header, up to and including the record count.
pub const V2_HEADER_LEN: usize = 61;
/// Offset of the magic byte; the same in every message format.
pub(crate) const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC-covered part of a v2 batch (the attributes field).
pub(crate) const V2_CRC_START: usize = 21;
/// Smallest legacy message: v0 crc(4) magic(1) attributes(1) key len(4) value len(4).
pub(crate) const LEGACY_MIN_SIZE: usize = 14;

/// Compression codec of a batch, attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id Kafka stores in the attributes.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attributes id, if known.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// Kafka's name for the codec (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Timestamp type, attributes bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// One entry found while walking a log: a v2 batch or a legacy message (set wrapper).
#[derive(Debug, Clone, Copy)]
pub enum LogEntry<'a> {
    V2(RecordBatch<'a>),
    Legacy(LegacyMessage<'a>),
}

impl<'a> LogEntry<'a> {
    /// Byte position of the entry in the walked buffer (plus the walk's base position).
    pub fn position(&self) -> u64 {
        match self {
            LogEntry::V2(b) => b.position(),
            LogEntry::Legacy(m) => m.position(),
        }
    }

    /// Total size in bytes, including the 12-byte log overhead.
    pub fn size(&self) -> usize {
        match self {
            LogEntry::V2(b) => b.size(),
            LogEntry::Legacy(m) => m.size(),
        }
    }

    /// The raw bytes of the entry.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            LogEntry::V2(b) => b.bytes(),
            LogEntry::Legacy(m) => m.bytes(),
        }
    }

    /// The magic byte.
    pub fn magic(&self) -> i8 {
        match self {
            LogEntry::V2(_) => 2,
            LogEntry::Legacy(m) => m.magic(),
        }
    }

    /// The v2 batch, if this is one.
    pub fn as_v2(&self) -> Option<&RecordBatch<'a>> {
        match self {
            LogEntry::V2(b) => Some(b),
            LogEntry::Legacy(_) => None,
        }
    }
}

#[inline]
fn be_i16(h: &[u8; V2_HEADER_LEN], o: usize) -> i16 {
    i16::from_be_bytes([h[o], h[o + 1]])
}
#[inline]
fn be_i32(h: &[u8; V2_HEADER_LEN], o: usize) -> i32 {
    i32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]])
}
#[inline]
fn be_i64(h: &[u8; V2_HEADER_LEN], o: usize) -> i64 {
    i64::from_be_bytes([
        h[o],
        h[o + 1],
        h[o + 2],
        h[o + 3],
        h[o + 4],
        h[o + 5],
        h[o + 6],
        h[o + 7],
    ])
}

/// A zero-copy view of one magic v2 record batch. Construction checks only that the bytes
/// hold a full header and that the batch length matches; the CRC is checked on demand by
/// [`RecordBatch::validate_crc`].
#[derive(Clone, Copy)]
pub struct RecordBatch<'a> {
    header: &'a [u8; V2_HEADER_LEN],
    bytes: &'a [u8],
    position: u64,
}

impl std::fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("position", &self.position)
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("record_count", &self.record_count())
            .field("compression", &self.compression())
            .field("size", &self.size())
            .finish()
    }
}

impl<'a> RecordBatch<'a> {
    /// Views `bytes` (exactly one batch) as a v2 batch found at `position`.
    pub fn new(bytes: &'a [u8], position: u64) -> Result<Self> {
        let Some(header) = bytes.first_chunk::<V2_HEADER_LEN>() else {
            return Err(WireError::Truncated {
                what: "record batch header",
                position,
                needed: V2_HEADER_LEN as u64,
                available: bytes.len() as u64,
            });
        };
        let magic = header[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Err(WireError::UnsupportedMagic { position, magic });
        }
        let batch_length = be_i32(header, 8);
        let expected = LOG_OVERHEAD as i64 + i64::from(batch_length);
        if expected != bytes.len() as i64 {
            return Err(WireError::CorruptBatch {
                position,
                reason: format!(
                    "batch length field says {} bytes in all, view holds {}",
                    expected,
                    bytes.len()
                ),
            });
        }
        Ok(RecordBatch {
            header,
            bytes,
            position,
        })
    }

    /// Position of the batch in the walked buffer.
    pub fn position(&self) -> u64 {
        self.position
    }
    /// The batch's raw bytes (header and records).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The record section (after the 61-byte header), compressed if the batch is.
    pub fn records_bytes(&self) -> &'a [u8] {
        self.bytes.get(V2_HEADER_LEN..).unwrap_or(&[])
    }
    /// Total size including the 12-byte log overhead.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(self.header, 0)
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(self.header, 8)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.header, 12)
    }
    pub fn magic(&self) -> i8 {
        self.header[MAGIC_OFFSET] as i8
    }
    /// The CRC stored in the header.
    pub fn crc(&self) -> u32 {
        be_i32(self.header, 17) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.header, 21)
    }
    /// The codec id (attributes bits 0-2); see [`RecordBatch::compression`].
    pub fn compression_id(&self) -> u8 {
        (self.attributes() & 0x07) as u8
    }
    /// The codec, or `None` for an id Kafka does not define.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & 0x20 != 0
    }
    /// Whether the base timestamp holds the delete horizon (KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & 0x40 != 0
    }
    /// The delete horizon, when [`RecordBatch::has_delete_horizon`].
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then(|| self.base_timestamp())
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.header, 23)
    }
    /// Base offset + last offset delta.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }
    /// Offset after the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.header, 27)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.header, 35)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.header, 43)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.header, 51)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.header, 53)
    }
    pub fn record_count(&self) -> i32 {
        be_i32(self.header, 57)
    }

    /// CRC-32C (Castagnoli) of the attributes-to-end part, as Kafka computes it.
    pub fn compute_crc(&self) -> u32 {
        crate::crc::crc32c(self.bytes.get(V2_CRC_START..).unwrap_or(&[]))
    }

    /// Whether the stored CRC matches the bytes.
    pub fn crc_valid(&self) -> bool {
        self.compute_crc() == self.crc()
    }

    /// Checks the CRC, returning an error that names the position on mismatch.
    pub fn validate_crc(&self) -> Result<()> {
        let computed = self.compute_crc();
        if computed == self.crc() {
            Ok(())
        } else {
            Err(WireError::CrcMismatch {
                position: self.position,
                stored: self.crc(),
                computed,
            })
        }
    }
}

/// A legacy magic 0/1 message (a single message or a compressed wrapper). keel recognises
/// and reports these; it does not decode their contents.
#[derive(Clone, Copy)]
pub struct LegacyMessage<'a> {
    bytes: &'a [u8],
    position: u64,
}

impl std::fmt::Debug for LegacyMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyMessage")
            .field("position", &self.position)
            .field("offset", &self.offset())
            .field("magic", &self.magic())
            .field("size", &self.size())
            .finish()
    }
}

impl<'a> LegacyMessage<'a> {
    pub(crate) fn new_unchecked(bytes: &'a [u8], position: u64) -> Self {
        LegacyMessage { bytes, position }
    }
    pub fn position(&self) -> u64 {
        self.position
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    fn be_i64_at(&self, o: usize) -> i64 {
        match self.bytes.get(o..o + 8) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                i64::from_be_bytes(a)
            }
            None => -1,
        }
    }
    /// The offset field (for a compressed wrapper, the last inner offset).
    pub fn offset(&self) -> i64 {
        self.be_i64_at(0)
    }
    pub fn magic(&self) -> i8 {
        self.bytes.get(MAGIC_OFFSET).map_or(-1, |b| *b as i8)
    }
    /// The stored CRC (IEEE CRC-32 for legacy formats).
    pub fn crc(&self) -> u32 {
        match self.bytes.get(12..16) {
            Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            None => 0,
        }
    }
    pub fn attributes(&self) -> i8 {
        self.bytes.get(17).map_or(0, |b| *b as i8)
    }
    /// The codec id (attributes bits 0-2).
    pub fn compression_id(&self) -> u8 {
        (self.attributes() & 0x07) as u8
    }
    /// The timestamp (magic 1 only).
    pub fn timestamp(&self) -> Option<i64> {
        (self.magic() == 1).then(|| self.be_i64_at(18))
    }
}
