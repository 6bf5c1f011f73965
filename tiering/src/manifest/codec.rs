//! Binary encoding of [`SegmentManifest`]: a 40-byte header, one entry of at most
//! [`ENTRY_MAX_LEN`] (62) bytes per segment, and a CRC-32C trailer. All integers big-endian.
//!
//! Header: magic `KTMF` (4) · version u8 · flags u8 (0) · reserved u16 (0) · generation u64 ·
//! leader epoch i32 · writer id u64 · log start offset i64 · segment count u32.
//!
//! Entry: base offset i64 · last-offset delta u32 · max timestamp i64 · size u32 ·
//! leader epoch i32 · attempt u64 · state u8 · object mask u8 · one CRC-32C u32 per bit set
//! in the mask (bit i = [`ObjectKind::ALL`]\[i\]; bit 7 = the `.log` is zstd-chunked).
//!
//! Trailer: CRC-32C u32 of every byte before it.

use super::{ObjectChecksums, ObjectKind, RemoteSegment, SegmentManifest, SegmentState};
use crate::error::{Result, TieringError};

/// First four bytes of every manifest.
pub const MANIFEST_MAGIC: &[u8; 4] = b"KTMF";
/// The only version written and read.
pub const MANIFEST_VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 40;
const ENTRY_FIXED_LEN: usize = 38;
/// Largest encoded entry (all six objects present).
pub const ENTRY_MAX_LEN: usize = ENTRY_FIXED_LEN + 6 * 4;
const TRAILER_LEN: usize = 4;

/// Encodes a manifest. The result decodes back to an equal manifest.
pub fn encode(m: &SegmentManifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + m.segments.len() * ENTRY_MAX_LEN + TRAILER_LEN);
    out.extend_from_slice(MANIFEST_MAGIC);
    out.push(MANIFEST_VERSION);
    out.push(0);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&m.generation.to_be_bytes());
    out.extend_from_slice(&m.leader_epoch.to_be_bytes());
    out.extend_from_slice(&m.writer_id.to_be_bytes());
    out.extend_from_slice(&m.log_start_offset.to_be_bytes());
    // Segment counts above u32::MAX cannot occur: each entry covers >= 1 offset and
    // partitions with 4 billion segments do not exist; saturate rather than panic.
    out.extend_from_slice(
        &u32::try_from(m.segments.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for s in &m.segments {
        out.extend_from_slice(&s.base_offset.to_be_bytes());
        let delta = u32::try_from(s.last_offset.saturating_sub(s.base_offset)).unwrap_or(u32::MAX);
        out.extend_from_slice(&delta.to_be_bytes());
        out.extend_from_slice(&s.max_timestamp.to_be_bytes());
        out.extend_from_slice(&s.size_bytes.to_be_bytes());
        out.extend_from_slice(&s.leader_epoch.to_be_bytes());
        out.extend_from_slice(&s.attempt.to_be_bytes());
        out.push(s.state.id());
        out.push(s.checksums.mask());
        for (_, crc) in s.checksums.iter() {
            out.extend_from_slice(&crc.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    key: &'a str,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> TieringError {
        TieringError::ManifestFormat {
            key: self.key.to_string(),
            position: self.pos,
            reason: reason.into(),
        }
    }

    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let Some(bytes) = self.buf.get(self.pos..).and_then(|r| r.first_chunk::<N>()) else {
            return Err(self.err(format!("truncated {what}: need {N} bytes")));
        };
        self.pos += N;
        Ok(*bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take::<1>(what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(what)?))
    }
}

/// Decodes a manifest read from object `key` (named in errors). Checks the magic, version,
/// CRC and every invariant; never panics on arbitrary bytes.
pub fn decode(buf: &[u8], key: &str) -> Result<SegmentManifest> {
    let fail = |position: usize, reason: String| TieringError::ManifestFormat {
        key: key.to_string(),
        position,
        reason,
    };
    if buf.len() < HEADER_LEN + TRAILER_LEN {
        return Err(fail(
            0,
            format!("{} bytes is shorter than header and trailer", buf.len()),
        ));
    }
    let body_len = buf.len() - TRAILER_LEN;
    let (body, trailer) = buf.split_at(body_len);
    let stored = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if &body[..4] != MANIFEST_MAGIC {
        return Err(fail(0, format!("bad magic {:02x?}", &body[..4])));
    }
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(fail(
            body_len,
            format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    let mut r = Reader {
        buf: body,
        pos: 4,
        key,
    };
    let version = r.u8("version")?;
    if version != MANIFEST_VERSION {
        r.pos -= 1;
        return Err(r.err(format!("unsupported version {version}")));
    }
    let flags = r.u8("flags")?;
    let reserved = r.take::<2>("reserved")?;
    if flags != 0 || reserved != [0, 0] {
        r.pos -= 3;
        return Err(r.err(format!(
            "unknown flags {flags:#04x} / reserved {reserved:02x?} in version 1"
        )));
    }
    let generation = r.u64("generation")?;
    let leader_epoch = r.i32("leader epoch")?;
    let writer_id = r.u64("writer id")?;
    let log_start_offset = r.i64("log start offset")?;
    let count = r.u32("segment count")? as usize;
    if count > (body_len - HEADER_LEN) / ENTRY_FIXED_LEN {
        r.pos -= 4;
        return Err(r.err(format!(
            "segment count {count} does not fit in {body_len} bytes"
        )));
    }
    let mut segments = Vec::with_capacity(count);
    for i in 0..count {
        let entry_pos = r.pos;
        let base_offset = r.i64("base offset")?;
        let delta = r.u32("last offset delta")?;
        let max_timestamp = r.i64("max timestamp")?;
        let size_bytes = r.u32("size")?;
        let seg_epoch = r.i32("segment leader epoch")?;
        let attempt = r.u64("attempt")?;
        let state_id = r.u8("state")?;
        let Some(state) = SegmentState::from_id(state_id) else {
            r.pos -= 1;
            return Err(r.err(format!("segment {i}: unknown state {state_id}")));
        };
        let mask = r.u8("object mask")?;
        if mask & 0b0100_0000 != 0 {
            r.pos -= 1;
            return Err(r.err(format!(
                "segment {i}: unknown object bits in mask {mask:#04x}"
            )));
        }
        let mut checksums = ObjectChecksums {
            zstd_chunks: mask & 0x80 != 0,
            ..ObjectChecksums::default()
        };
        for kind in ObjectKind::ALL {
            if mask & (1 << kind.bit()) != 0 {
                checksums.set(kind, r.u32("object checksum")?);
            }
        }
        let Some(last_offset) = base_offset.checked_add(i64::from(delta)) else {
            return Err(fail(
                entry_pos,
                format!("segment {i}: last offset overflows"),
            ));
        };
        segments.push(RemoteSegment {
            base_offset,
            last_offset,
            max_timestamp,
            size_bytes,
            leader_epoch: seg_epoch,
            attempt,
            state,
            checksums,
        });
    }
    if r.pos != body_len {
        return Err(r.err(format!(
            "{} trailing bytes after the last segment",
            body_len - r.pos
        )));
    }
    SegmentManifest::from_parts(
        generation,
        leader_epoch,
        writer_id,
        log_start_offset,
        segments,
    )
    .map_err(|e| fail(HEADER_LEN, e.to_string()))
}
