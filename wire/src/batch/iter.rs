//! Walking the batches of a buffer.

use super::header::{
    LEGACY_MIN_SIZE, LOG_OVERHEAD, LegacyMessage, LogEntry, MAGIC_OFFSET, RecordBatch,
    V2_HEADER_LEN,
};
use crate::error::{Result, WireError};

/// Iterator over the entries of a log buffer. Yields `Err` once and then stops: at a
/// truncated tail ([`WireError::Truncated`] with the tail's position) or at a header that
/// cannot be walked past (impossible length, unknown magic).
///
/// A batch whose CRC is wrong is still yielded; checking it is the caller's choice
/// ([`RecordBatch::validate_crc`]), so a dump can report it and go on.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    base_position: u64,
    done: bool,
}

impl<'a> BatchIter<'a> {
    /// Walks `buf` from its start; positions are reported relative to `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base_position(buf, 0)
    }

    /// Walks `buf`, reporting positions as `base_position + offset in buf` (for a buffer
    /// read from the middle of a file).
    pub fn with_base_position(buf: &'a [u8], base_position: u64) -> Self {
        BatchIter {
            buf,
            pos: 0,
            base_position,
            done: false,
        }
    }

    /// Position (including the base position) of the next entry.
    pub fn next_position(&self) -> u64 {
        self.base_position + self.pos as u64
    }

    /// Bytes from the next position to the end of the buffer.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn fail(&mut self, e: WireError) -> Option<Result<LogEntry<'a>>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<LogEntry<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.remaining();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let position = self.next_position();
        let Some(head) = rest.first_chunk::<{ MAGIC_OFFSET + 1 }>() else {
            return self.fail(WireError::Truncated {
                what: "batch header",
                position,
                needed: (MAGIC_OFFSET + 1) as u64,
                available: rest.len() as u64,
            });
        };
        let length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let magic = head[MAGIC_OFFSET] as i8;
        let min_body = match magic {
            2 => V2_HEADER_LEN - LOG_OVERHEAD,
            0 | 1 => LEGACY_MIN_SIZE,
            _ => return self.fail(WireError::UnsupportedMagic { position, magic }),
        };
        if length < 0 || (length as usize) < min_body {
            return self.fail(WireError::CorruptBatch {
                position,
                reason: format!(
                    "length field {length} is below the {min_body}-byte minimum for magic {magic}"
                ),
            });
        }
        let total = LOG_OVERHEAD + length as usize;
        let Some(bytes) = rest.get(..total) else {
            return self.fail(WireError::Truncated {
                what: "record batch",
                position,
                needed: total as u64,
                available: rest.len() as u64,
            });
        };
        self.pos += total;
        if magic == 2 {
            match RecordBatch::new(bytes, position) {
                Ok(b) => Some(Ok(LogEntry::V2(b))),
                Err(e) => self.fail(e),
            }
        } else {
            Some(Ok(LogEntry::Legacy(LegacyMessage::new_unchecked(
                bytes, position,
            ))))
        }
    }
}
