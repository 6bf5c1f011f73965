//! Iterating a batch's records: [`RecordIter`] over uncompressed record bytes, [`Records`]
//! (borrowed or decompressed) and the [`RecordBatch::records`] entry points. See
//! [`super::record`] for the record layout.

use std::borrow::Cow;

use super::compression::decompress_into;
use super::header::{Compression, RecordBatch};
use super::record::{BatchContext, OwnedRecord, Record, decode_record};
use crate::error::{Result, WireError};

/// Iterator over the records of one batch. Yields exactly the header's record count, then
/// fails if bytes are left over (Kafka: "Incorrect declared batch size"). After an error it
/// stops.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    index: u32,
    ctx: BatchContext,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates the uncompressed record bytes `buf` of a batch described by `ctx`.
    pub fn new(buf: &'a [u8], ctx: BatchContext) -> Self {
        RecordIter {
            buf,
            pos: 0,
            index: 0,
            ctx,
            done: false,
        }
    }

    /// The batch context the records are decoded with.
    pub fn context(&self) -> &BatchContext {
        &self.ctx
    }

    fn fail(&mut self, reason: String) -> Option<Result<Record<'a>>> {
        self.done = true;
        Some(Err(WireError::Record {
            position: self.ctx.position,
            record: self.index,
            reason,
        }))
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if self.index >= self.ctx.record_count {
            self.done = true;
            if rest.is_empty() {
                return None;
            }
            let (n, left) = (self.ctx.record_count, rest.len());
            return self.fail(format!(
                "{left} bytes left after the {n} records the header declares"
            ));
        }
        if rest.is_empty() {
            let n = self.ctx.record_count;
            return self.fail(format!(
                "records end after {} of the {n} records the header declares",
                self.index
            ));
        }
        match decode_record(rest, &self.ctx) {
            Ok(r) => {
                self.pos += r.size;
                self.index += 1;
                Some(Ok(r))
            }
            Err(reason) => self.fail(reason),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.ctx.record_count.saturating_sub(self.index) as usize;
        (0, Some(if self.done { 0 } else { left + 1 }))
    }
}

/// The records of one batch: borrowed from the batch when uncompressed, else the
/// decompressed bytes. Iterate with [`Records::iter`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    data: Cow<'a, [u8]>,
    ctx: BatchContext,
}

impl<'a> Records<'a> {
    /// Iterates the records.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter::new(&self.data, self.ctx)
    }
    /// Whether the records borrow from the batch (no decompression, no copy).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.data, Cow::Borrowed(_))
    }
    /// The uncompressed record bytes.
    pub fn raw(&self) -> &[u8] {
        &self.data
    }
    /// Decodes every record into owned form, failing on the first bad one.
    pub fn to_owned_records(&self) -> Result<Vec<OwnedRecord>> {
        self.iter()
            .map(|r| r.map(|r| r.to_owned_record()))
            .collect()
    }
}

impl<'r> IntoIterator for &'r Records<'_> {
    type Item = Result<Record<'r>>;
    type IntoIter = RecordIter<'r>;
    fn into_iter(self) -> RecordIter<'r> {
        self.iter()
    }
}

impl<'a> RecordBatch<'a> {
    /// The header fields records are decoded against. Fails on a negative record count.
    pub fn record_context(&self) -> Result<BatchContext> {
        let count = self.record_count();
        let record_count = u32::try_from(count).map_err(|_| WireError::CorruptBatch {
            position: self.position(),
            reason: format!("negative record count {count}"),
        })?;
        Ok(BatchContext {
            position: self.position(),
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            max_timestamp: self.max_timestamp(),
            timestamp_type: self.timestamp_type(),
            is_control: self.is_control(),
            record_count,
        })
    }

    fn codec_checked(&self) -> Result<Compression> {
        self.compression().ok_or(WireError::UnknownCodec {
            position: self.position(),
            codec: self.compression_id(),
        })
    }

    /// The batch's records: borrowed for an uncompressed batch, decompressed otherwise.
    /// An empty batch (count 0, no record bytes, as compaction leaves) has no records
    /// whatever its codec.
    pub fn records(&self) -> Result<Records<'a>> {
        let ctx = self.record_context()?;
        let codec = self.codec_checked()?;
        let raw = self.records_bytes();
        let data = if codec == Compression::None || (ctx.record_count == 0 && raw.is_empty()) {
            Cow::Borrowed(raw)
        } else {
            let mut out = Vec::new();
            decompress_into(codec, raw, &mut out, self.position())?;
            Cow::Owned(out)
        };
        Ok(Records { data, ctx })
    }

    /// Like [`RecordBatch::records`], but decompresses into `scratch` (reused across
    /// batches, so a walk over many compressed batches allocates once).
    pub fn records_with<'b>(&self, scratch: &'b mut Vec<u8>) -> Result<RecordIter<'b>>
    where
        'a: 'b,
    {
        let ctx = self.record_context()?;
        let codec = self.codec_checked()?;
        let raw = self.records_bytes();
        if codec == Compression::None || (ctx.record_count == 0 && raw.is_empty()) {
            return Ok(RecordIter::new(raw, ctx));
        }
        decompress_into(codec, raw, scratch, self.position())?;
        Ok(RecordIter::new(scratch.as_slice(), ctx))
    }

    /// Decodes every record into owned form.
    pub fn to_owned_records(&self) -> Result<Vec<OwnedRecord>> {
        self.records()?.to_owned_records()
    }
}
