//! Records inside a v2 batch (Kafka's `DefaultRecord`), decoded without copying.
//!
//! ```text
//! Record => Length:varint Attributes:i8 TimestampDelta:varlong OffsetDelta:varint
//!           KeyLength:varint Key ValueLength:varint Value
//!           HeaderCount:varint [HeaderKeyLength:varint HeaderKey HeaderValueLength:varint HeaderValue]
//! ```
//!
//! A negative key or value length means null (a null value is a tombstone under
//! compaction). In a control batch every record is a control record whose key is
//! `version:i16 type:i16` (0 = ABORT, 1 = COMMIT, see
//! [KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging))
//! and whose value, for transaction markers, is `version:i16 coordinator_epoch:i32`.
//!
//! For an uncompressed batch, keys, values and headers borrow from the batch's bytes; a
//! compressed batch is decompressed once into a buffer the records then borrow from.

use bytes::Bytes;

use super::header::TimestampType;
use super::varint::{read_varint, read_varlong};

/// What a record needs from its batch header to compute absolute offsets and timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchContext {
    /// Position of the batch, for errors.
    pub position: u64,
    pub base_offset: i64,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub timestamp_type: TimestampType,
    pub is_control: bool,
    /// The record count from the header.
    pub record_count: u32,
}

/// Type of a control record (the second i16 of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Transaction aborted (0).
    Abort,
    /// Transaction committed (1).
    Commit,
    /// Any other type (KRaft uses 2 and up for leader change, snapshot and voter records).
    Other(i16),
}

impl ControlRecordType {
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            n => ControlRecordType::Other(n),
        }
    }
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Other(n) => n,
        }
    }
    /// Kafka's name: `ABORT`, `COMMIT`, the KRaft names for 2-6, else `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self.id() {
            0 => "ABORT",
            1 => "COMMIT",
            2 => "LEADER_CHANGE",
            3 => "SNAPSHOT_HEADER",
            4 => "SNAPSHOT_FOOTER",
            5 => "KRAFT_VERSION",
            6 => "KRAFT_VOTERS",
            _ => "UNKNOWN",
        }
    }
}

/// The decoded key of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    pub version: i16,
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// The 4-byte key Kafka writes for this control record.
    pub fn key_bytes(&self) -> [u8; 4] {
        let v = self.version.to_be_bytes();
        let t = self.kind.id().to_be_bytes();
        [v[0], v[1], t[0], t[1]]
    }
}

/// The value of an ABORT/COMMIT control record (Kafka's `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    pub version: i16,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// Parses a marker value; `None` if it is shorter than 6 bytes.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let b = value.get(..6)?;
        Some(EndTxnMarker {
            version: i16::from_be_bytes([b[0], b[1]]),
            coordinator_epoch: i32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        })
    }
    /// The 6-byte value Kafka writes for this marker.
    pub fn to_bytes(&self) -> [u8; 6] {
        let v = self.version.to_be_bytes();
        let e = self.coordinator_epoch.to_be_bytes();
        [v[0], v[1], e[0], e[1], e[2], e[3]]
    }
}

/// One record header: a (UTF-8 by convention) key and a nullable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One decoded record, borrowing from the batch (or its decompressed records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    offset: i64,
    timestamp: i64,
    offset_delta: i32,
    timestamp_delta: i64,
    attributes: i8,
    pub(super) size: usize,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    header_count: u32,
    headers_raw: &'a [u8],
    control: Option<ControlRecord>,
}

impl<'a> Record<'a> {
    /// Absolute offset: base offset + offset delta.
    pub fn offset(&self) -> i64 {
        self.offset
    }
    /// Timestamp: base timestamp + delta for CreateTime, the batch's max timestamp for
    /// LogAppendTime (as Kafka's consumer reports it).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }
    pub fn timestamp_delta(&self) -> i64 {
        self.timestamp_delta
    }
    /// The record attributes byte (unused by Kafka so far, always 0 when written by it).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }
    /// Encoded size, including the length varint.
    pub fn size_in_bytes(&self) -> usize {
        self.size
    }
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }
    /// A null value: a delete marker for compacted topics.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
    pub fn header_count(&self) -> u32 {
        self.header_count
    }
    /// The headers, in order. They were validated when the record was decoded.
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            buf: self.headers_raw,
            pos: 0,
            remaining: self.header_count,
        }
    }
    /// The decoded control key, when the record is in a control batch.
    pub fn control(&self) -> Option<ControlRecord> {
        self.control
    }
    /// The transaction marker of an ABORT/COMMIT control record.
    pub fn end_txn_marker(&self) -> Option<EndTxnMarker> {
        match self.control?.kind {
            ControlRecordType::Abort | ControlRecordType::Commit => {
                EndTxnMarker::parse(self.value?)
            }
            ControlRecordType::Other(_) => None,
        }
    }
    /// The record in owned form without copying: keys, values and headers become slices of
    /// `source` when they lie inside it (an uncompressed batch read into a `Bytes`), and
    /// copies otherwise (a decompressed batch).
    pub fn to_owned_record_in(&self, source: &Bytes) -> OwnedRecord {
        let share = |b: &[u8]| share_or_copy(source, b);
        OwnedRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(share),
            value: self.value.map(share),
            headers: self
                .headers()
                .map(|h| OwnedHeader {
                    key: share(h.key),
                    value: h.value.map(share),
                })
                .collect(),
        }
    }

    /// Copies the record into an owned form.
    pub fn to_owned_record(&self) -> OwnedRecord {
        OwnedRecord {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(Bytes::copy_from_slice),
            value: self.value.map(Bytes::copy_from_slice),
            headers: self
                .headers()
                .map(|h| OwnedHeader {
                    key: Bytes::copy_from_slice(h.key),
                    value: h.value.map(Bytes::copy_from_slice),
                })
                .collect(),
        }
    }
}

/// `part` as a slice of `source` when it lies inside it, else a copy.
fn share_or_copy(source: &Bytes, part: &[u8]) -> Bytes {
    let start = source.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= start && p + part.len() <= start + source.len() {
        source.slice(p - start..p - start + part.len())
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// An owned header, for building batches and comparing decoded ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnedHeader {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

impl OwnedHeader {
    pub fn new(key: impl Into<Bytes>, value: Option<impl Into<Bytes>>) -> Self {
        OwnedHeader {
            key: key.into(),
            value: value.map(Into::into),
        }
    }
}

/// An owned record: absolute offset and timestamp, key, value, headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<OwnedHeader>,
}

/// Iterator over a record's headers.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // The bytes were validated by `parse_headers`; a failure here cannot happen and
        // simply ends the iteration.
        match read_header(self.buf, &mut self.pos) {
            Ok(h) => Some(h),
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

#[inline]
fn read_bytes<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    len: i32,
    what: &str,
) -> Result<&'a [u8], String> {
    let len = len as usize; // callers pass len >= 0
    match buf.get(*pos..).and_then(|r| r.get(..len)) {
        Some(s) => {
            *pos += len;
            Ok(s)
        }
        None => Err(format!(
            "{what} of {len} bytes runs past the record end ({} bytes left)",
            buf.len().saturating_sub(*pos)
        )),
    }
}

#[inline]
fn varint(buf: &[u8], pos: &mut usize, what: &str) -> Result<i32, String> {
    read_varint(buf, pos).map_err(|e| format!("{what}: {}", e.describe()))
}

#[inline]
fn nullable_bytes<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    what: &str,
) -> Result<Option<&'a [u8]>, String> {
    let len = varint(buf, pos, what)?;
    if len < 0 {
        Ok(None)
    } else {
        read_bytes(buf, pos, len, what).map(Some)
    }
}

fn read_header<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Header<'a>, String> {
    let key_len = varint(buf, pos, "header key length")?;
    if key_len < 0 {
        return Err(format!("negative header key length {key_len}"));
    }
    let key = read_bytes(buf, pos, key_len, "header key")?;
    let value = nullable_bytes(buf, pos, "header value")?;
    Ok(Header { key, value })
}

/// Decodes one record from the start of `buf`, returning it and its encoded size.
pub(super) fn decode_record<'a>(buf: &'a [u8], ctx: &BatchContext) -> Result<Record<'a>, String> {
    let mut pos = 0;
    let length = varint(buf, &mut pos, "record length")?;
    if length < 0 {
        return Err(format!("negative record length {length}"));
    }
    let body_start = pos;
    let body = read_bytes(buf, &mut pos, length, "record body")?;
    let size = pos;
    let mut p = 0;
    let Some(&attributes) = body.first() else {
        return Err("record body is empty (no attributes byte)".into());
    };
    p += 1;
    let timestamp_delta =
        read_varlong(body, &mut p).map_err(|e| format!("timestamp delta: {}", e.describe()))?;
    let offset_delta = varint(body, &mut p, "offset delta")?;
    let key = nullable_bytes(body, &mut p, "key")?;
    let value = nullable_bytes(body, &mut p, "value")?;
    let header_count = varint(body, &mut p, "header count")?;
    if header_count < 0 {
        return Err(format!("negative header count {header_count}"));
    }
    let headers_start = p;
    for _ in 0..header_count {
        read_header(body, &mut p)?;
    }
    if p != body.len() {
        return Err(format!(
            "record length says {length} bytes but its fields take {p}"
        ));
    }
    let control = if ctx.is_control {
        match key {
            Some(k) if k.len() >= 4 => Some(ControlRecord {
                version: i16::from_be_bytes([k[0], k[1]]),
                kind: ControlRecordType::from_id(i16::from_be_bytes([k[2], k[3]])),
            }),
            _ => {
                return Err(format!(
                    "control record key must hold version and type (4 bytes), has {}",
                    key.map_or(-1, |k| k.len() as i64)
                ));
            }
        }
    } else {
        None
    };
    let timestamp = match ctx.timestamp_type {
        TimestampType::LogAppendTime => ctx.max_timestamp,
        TimestampType::CreateTime => ctx.base_timestamp.wrapping_add(timestamp_delta),
    };
    debug_assert_eq!(body_start + body.len(), size);
    Ok(Record {
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp,
        offset_delta,
        timestamp_delta,
        attributes: attributes as i8,
        size,
        key,
        value,
        header_count: header_count as u32,
        headers_raw: &body[headers_start..],
        control,
    })
}
