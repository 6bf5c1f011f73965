//! Writing v2 record batches byte for byte as Kafka's `MemoryRecordsBuilder` lays them out:
//! the 61-byte header, the records (compressed with the batch's codec), and the CRC-32C
//! over everything from the attributes on.
//!
//! Records are encoded as they are appended. Their timestamp deltas are taken from the
//! batch's base timestamp, which is fixed by the first append: the delete horizon when one
//! is set ([KIP-534](https://cwiki.apache.org/confluence/display/KAFKA/KIP-534%3A+Retain+tombstones+and+transaction+markers+for+approximately+delete.retention.ms+milliseconds)),
//! else an explicit [`RecordBatchBuilder::base_timestamp`], else the first record's
//! timestamp. Set those before appending.

use super::compression::compress_into;
use super::header::{Compression, LOG_OVERHEAD, TimestampType, V2_HEADER_LEN};
use super::record::{ControlRecord, EndTxnMarker, Header, OwnedRecord};
use super::varint::{varint_len, varlong_len, write_varint, write_varlong};
use crate::error::{Result, WireError};

/// Kafka's "no producer id / epoch / sequence" and "no timestamp" values.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_TIMESTAMP: i64 = -1;

fn encode_err(reason: impl Into<String>) -> WireError {
    WireError::Encode {
        reason: reason.into(),
    }
}

fn len_i32(len: usize, what: &str) -> Result<i32> {
    i32::try_from(len).map_err(|_| encode_err(format!("{what} of {len} bytes exceeds i32")))
}

fn nullable_len(b: Option<&[u8]>) -> Result<usize> {
    Ok(match b {
        None => 1,
        Some(b) => varint_len(len_i32(b.len(), "key/value")?) + b.len(),
    })
}

fn write_nullable(b: Option<&[u8]>, out: &mut Vec<u8>) {
    match b {
        None => write_varint(-1, out),
        Some(b) => {
            write_varint(b.len() as i32, out);
            out.extend_from_slice(b);
        }
    }
}

/// Builds one v2 record batch. Configure with the chained setters, append records, then
/// [`build`](RecordBatchBuilder::build) or [`write_to`](RecordBatchBuilder::write_to).
///
/// ```
/// use keel_wire::batch::{BatchIter, Compression, RecordBatchBuilder};
/// let mut b = RecordBatchBuilder::new(100).compression(Compression::Zstd);
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]).unwrap();
/// let bytes = b.build().unwrap();
/// let batch = BatchIter::new(&bytes).next().unwrap().unwrap();
/// assert_eq!(batch.as_v2().unwrap().last_offset(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    timestamp_type: TimestampType,
    transactional: bool,
    control: bool,
    delete_horizon: Option<i64>,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    last_offset_delta: Option<i32>,
    records: Vec<u8>,
    count: u32,
    base_used: Option<i64>,
    max_seen: Option<i64>,
    last_delta: Option<i32>,
}

impl RecordBatchBuilder {
    /// A batch starting at `base_offset`: no compression, CreateTime, no producer, not
    /// transactional, partition leader epoch -1 (as a producer sends it).
    pub fn new(base_offset: i64) -> Self {
        RecordBatchBuilder {
            base_offset,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            delete_horizon: None,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: None,
            last_offset_delta: None,
            records: Vec::new(),
            count: 0,
            base_used: None,
            max_seen: None,
            last_delta: None,
        }
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }
    pub fn timestamp_type(mut self, t: TimestampType) -> Self {
        self.timestamp_type = t;
        self
    }
    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }
    /// Marks the batch as a control batch; append with [`RecordBatchBuilder::append_control`].
    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }
    /// Sets the delete-horizon flag and stores `ms` as the base timestamp (KIP-534).
    pub fn delete_horizon(mut self, ms: Option<i64>) -> Self {
        self.delete_horizon = ms;
        self
    }
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }
    /// Base timestamp to use instead of the first record's.
    pub fn base_timestamp(mut self, ms: i64) -> Self {
        self.base_timestamp = Some(ms);
        self
    }
    /// Max timestamp to store instead of the largest record timestamp (a broker sets the
    /// log-append time here for LogAppendTime topics).
    pub fn max_timestamp(mut self, ms: i64) -> Self {
        self.max_timestamp = Some(ms);
        self
    }
    /// Last offset delta to store instead of the last record's (compaction keeps it when it
    /// removes the last records, even all of them).
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }
    /// Moves the batch to another base offset (records keep their deltas).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.base_offset = base_offset;
    }

    /// Records appended so far.
    pub fn record_count(&self) -> u32 {
        self.count
    }
    /// Uncompressed size of the records appended so far.
    pub fn records_size(&self) -> usize {
        self.records.len()
    }
    /// The offset delta the next [`RecordBatchBuilder::append`] will use.
    pub fn next_offset_delta(&self) -> Result<i32> {
        match self.last_delta {
            None => Ok(0),
            Some(d) => d
                .checked_add(1)
                .ok_or_else(|| encode_err("offset delta overflows i32")),
        }
    }

    /// Removes the records, keeping the configuration (to build the next batch).
    pub fn clear_records(&mut self) {
        self.records.clear();
        self.count = 0;
        self.base_used = None;
        self.max_seen = None;
        self.last_delta = None;
    }

    fn configured_base(&self) -> Option<i64> {
        self.delete_horizon.or(self.base_timestamp)
    }

    /// Appends a record at the next offset; returns its offset delta.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<i32> {
        let delta = self.next_offset_delta()?;
        self.append_at(delta, timestamp, key, value, headers)?;
        Ok(delta)
    }

    /// Appends a record with an explicit offset delta, which must be above the previous
    /// one (gaps are allowed, as in a compacted batch).
    pub fn append_at(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Result<()> {
        if let Some(last) = self.last_delta
            && offset_delta <= last
        {
            return Err(encode_err(format!(
                "offset delta {offset_delta} does not follow the previous {last}"
            )));
        }
        if offset_delta < 0 {
            return Err(encode_err(format!("negative offset delta {offset_delta}")));
        }
        if self.count == u32::MAX >> 1 {
            return Err(encode_err("record count exceeds i32"));
        }
        let base = match self.base_used {
            Some(b) => b,
            None => self.configured_base().unwrap_or(timestamp),
        };
        let ts_delta = timestamp.checked_sub(base).ok_or_else(|| {
            encode_err(format!("timestamp {timestamp} is too far from base {base}"))
        })?;
        let header_count = len_i32(headers.len(), "header count")?;
        let mut body = 1 + varlong_len(ts_delta) + varint_len(offset_delta);
        body += nullable_len(key)? + nullable_len(value)? + varint_len(header_count);
        for h in headers {
            body += varint_len(len_i32(h.key.len(), "header key")?) + h.key.len();
            body += nullable_len(h.value)?;
        }
        let body_len = len_i32(body, "record")?;

        let out = &mut self.records;
        out.reserve(varint_len(body_len) + body);
        write_varint(body_len, out);
        out.push(0); // record attributes: unused
        write_varlong(ts_delta, out);
        write_varint(offset_delta, out);
        write_nullable(key, out);
        write_nullable(value, out);
        write_varint(header_count, out);
        for h in headers {
            write_varint(h.key.len() as i32, out);
            out.extend_from_slice(h.key);
            write_nullable(h.value, out);
        }

        self.base_used = Some(base);
        self.max_seen = Some(self.max_seen.map_or(timestamp, |m| m.max(timestamp)));
        self.last_delta = Some(offset_delta);
        self.count += 1;
        Ok(())
    }

    /// Appends an owned record at its absolute offset.
    pub fn append_owned(&mut self, r: &OwnedRecord) -> Result<()> {
        let delta = r
            .offset
            .checked_sub(self.base_offset)
            .and_then(|d| i32::try_from(d).ok())
            .ok_or_else(|| {
                encode_err(format!(
                    "offset {} is not within i32 of base offset {}",
                    r.offset, self.base_offset
                ))
            })?;
        let headers: Vec<Header<'_>> = r
            .headers
            .iter()
            .map(|h| Header {
                key: &h.key,
                value: h.value.as_deref(),
            })
            .collect();
        self.append_at(
            delta,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &headers,
        )
    }

    /// Appends a control record (the batch should be [`control`](Self::control)); the
    /// value is the end-transaction marker for ABORT/COMMIT.
    pub fn append_control(
        &mut self,
        timestamp: i64,
        record: ControlRecord,
        marker: Option<EndTxnMarker>,
    ) -> Result<i32> {
        let key = record.key_bytes();
        let value = marker.map(|m| m.to_bytes());
        self.append(timestamp, Some(&key), value.as_ref().map(|v| &v[..]), &[])
    }

    fn attributes(&self) -> i16 {
        let mut a = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= 0x08;
        }
        if self.transactional {
            a |= 0x10;
        }
        if self.control {
            a |= 0x20;
        }
        if self.delete_horizon.is_some() {
            a |= 0x40;
        }
        a
    }

    /// Appends the finished batch to `out`; returns its size in bytes.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<usize> {
        let base_timestamp = match (self.configured_base(), self.base_used) {
            (Some(c), Some(used)) if c != used => {
                return Err(encode_err(
                    "base timestamp or delete horizon was changed after records were appended",
                ));
            }
            (Some(c), _) => c,
            (None, Some(used)) => used,
            (None, None) => NO_TIMESTAMP,
        };
        let max_timestamp = self.max_timestamp.or(self.max_seen).unwrap_or(NO_TIMESTAMP);
        let last_offset_delta = self.last_offset_delta.or(self.last_delta).unwrap_or(0);

        let start = out.len();
        out.resize(start + V2_HEADER_LEN, 0);
        if self.count > 0 {
            if self.compression == Compression::None {
                out.extend_from_slice(&self.records);
            } else {
                compress_into(self.compression, &self.records, out)?;
            }
        }
        let total = out.len() - start;
        let batch_length = match i32::try_from(total - LOG_OVERHEAD) {
            Ok(l) => l,
            Err(_) => {
                out.truncate(start);
                return Err(encode_err(format!("batch of {total} bytes exceeds i32")));
            }
        };
        let h = &mut out[start..start + V2_HEADER_LEN];
        h[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[8..12].copy_from_slice(&batch_length.to_be_bytes());
        h[12..16].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[16] = 2;
        // 17..21: CRC, written last.
        h[21..23].copy_from_slice(&self.attributes().to_be_bytes());
        h[23..27].copy_from_slice(&last_offset_delta.to_be_bytes());
        h[27..35].copy_from_slice(&base_timestamp.to_be_bytes());
        h[35..43].copy_from_slice(&max_timestamp.to_be_bytes());
        h[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        h[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        h[57..61].copy_from_slice(&(self.count as i32).to_be_bytes());
        let crc = crate::crc::crc32c(&out[start + 21..]);
        out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
        Ok(total)
    }

    /// The finished batch.
    pub fn build(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(V2_HEADER_LEN + self.records.len());
        self.write_to(&mut out)?;
        Ok(out)
    }
}
