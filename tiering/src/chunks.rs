//! Optional zstd compression of the `.log` object, chunk by chunk, so ranged reads still
//! work: the raw segment is cut into fixed-size chunks (default 1 MiB), each compressed as
//! an independent zstd frame, and the object ends with a chunk table:
//!
//! ```text
//! frame 0 · frame 1 · ... · frame n-1 · len_0 u32 · ... · len_{n-1} u32 ·
//! n u32 · chunk size u32 · raw size u64 · CRC-32C u32 (of the table and the fields before it) · "KTZ1"
//! ```
//!
//! All integers big-endian. A read of raw bytes `a..b` maps to chunks `a/cs ..= (b-1)/cs`,
//! whose frames are one contiguous byte range: still one ranged GET once the table is
//! cached. Pure functions; no IO.

use crate::error::{Result, TieringError};

/// Trailer magic.
pub const CHUNK_MAGIC: &[u8; 4] = b"KTZ1";
/// Trailer length: n, chunk size, raw size, CRC, magic.
pub const TRAILER_LEN: usize = 4 + 4 + 8 + 4 + 4;
/// Default raw chunk size.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Compresses raw bytes chunk by chunk, appending frames to `out` and their lengths to `lens`.
/// `raw` must start on a chunk boundary; all chunks but the stream's last are `chunk_size` long.
pub fn compress_into(
    raw: &[u8],
    chunk_size: usize,
    level: i32,
    out: &mut Vec<u8>,
    lens: &mut Vec<u32>,
) -> Result<()> {
    for chunk in raw.chunks(chunk_size.max(1)) {
        let before = out.len();
        zstd::stream::copy_encode(chunk, &mut *out, level).map_err(|e| {
            TieringError::RemoteFormat {
                key: "zstd chunk".into(),
                reason: e.to_string(),
            }
        })?;
        lens.push(u32::try_from(out.len() - before).unwrap_or(u32::MAX));
    }
    Ok(())
}

/// The chunk table stored at the end of a compressed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTable {
    pub chunk_size: u32,
    pub raw_size: u64,
    /// Byte offset of each frame in the object, plus the end of the last frame.
    pub offsets: Vec<u64>,
}

impl ChunkTable {
    /// Builds the table from frame lengths.
    pub fn new(chunk_size: u32, raw_size: u64, lens: &[u32]) -> Self {
        let mut offsets = Vec::with_capacity(lens.len() + 1);
        let mut at = 0u64;
        offsets.push(0);
        for l in lens {
            at += u64::from(*l);
            offsets.push(at);
        }
        ChunkTable {
            chunk_size,
            raw_size,
            offsets,
        }
    }

    /// Encodes the table and trailer (appended after the frames).
    pub fn encode(&self) -> Vec<u8> {
        let n = self.offsets.len().saturating_sub(1);
        let mut out = Vec::with_capacity(n * 4 + TRAILER_LEN);
        for w in self.offsets.windows(2) {
            out.extend_from_slice(&u32::try_from(w[1] - w[0]).unwrap_or(u32::MAX).to_be_bytes());
        }
        out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.raw_size.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(CHUNK_MAGIC);
        out
    }

    /// Bytes of table + trailer for `n` chunks.
    pub fn encoded_len(n: usize) -> usize {
        n * 4 + TRAILER_LEN
    }

    /// Reads the chunk count from the last bytes of an object (at least [`TRAILER_LEN`]).
    pub fn count_from_tail(tail: &[u8], key: &str) -> Result<usize> {
        let bad = |reason: String| TieringError::RemoteFormat {
            key: key.to_string(),
            reason,
        };
        if tail.len() < TRAILER_LEN || &tail[tail.len() - 4..] != CHUNK_MAGIC {
            return Err(bad("compressed object lacks its chunk table trailer".into()));
        }
        let t = &tail[tail.len() - TRAILER_LEN..];
        Ok(u32::from_be_bytes([t[0], t[1], t[2], t[3]]) as usize)
    }

    /// Parses the table from the object's tail (which must hold the whole table).
    pub fn parse_tail(tail: &[u8], key: &str) -> Result<Self> {
        let bad = |reason: String| TieringError::RemoteFormat {
            key: key.to_string(),
            reason,
        };
        let n = Self::count_from_tail(tail, key)?;
        let need = Self::encoded_len(n);
        if tail.len() < need {
            return Err(bad(format!(
                "chunk table of {n} chunks needs {need} bytes, have {}",
                tail.len()
            )));
        }
        let t = &tail[tail.len() - need..];
        let body = &t[..need - 8];
        let stored = u32::from_be_bytes([t[need - 8], t[need - 7], t[need - 6], t[need - 5]]);
        if crc32c::crc32c(body) != stored {
            return Err(bad("chunk table CRC mismatch".into()));
        }
        let lens: Vec<u32> = body[..n * 4]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let f = &body[n * 4..];
        let chunk_size = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        let raw_size = u64::from_be_bytes([f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]]);
        if chunk_size == 0 || raw_size.div_ceil(u64::from(chunk_size)) != n as u64 {
            return Err(bad(format!(
                "{n} chunks of {chunk_size} bytes cannot hold {raw_size} bytes"
            )));
        }
        Ok(ChunkTable::new(chunk_size, raw_size, &lens))
    }

    /// Chunks covering raw bytes `start..end` and the object byte range of their frames.
    pub fn frames_for(&self, start: u64, end: u64) -> (usize, usize, std::ops::Range<u64>) {
        let cs = u64::from(self.chunk_size.max(1));
        let n = self.offsets.len().saturating_sub(1);
        let first = usize::try_from(start / cs)
            .unwrap_or(usize::MAX)
            .min(n.saturating_sub(1));
        let last = usize::try_from(end.saturating_sub(1) / cs)
            .unwrap_or(usize::MAX)
            .min(n.saturating_sub(1))
            .max(first);
        let range = self.offsets.get(first).copied().unwrap_or(0)
            ..self.offsets.get(last + 1).copied().unwrap_or(0);
        (first, last, range)
    }
}

/// Decompresses consecutive frames (`lens` bytes each) from `data`.
pub fn decompress_frames(
    data: &[u8],
    table: &ChunkTable,
    first: usize,
    last: usize,
    key: &str,
) -> Result<Vec<u8>> {
    // Bounded whatever the table claims: a corrupt or hostile table cannot make this
    // allocate more than the frames can decode to, nor a frame inflate past its chunk.
    let chunks = (last + 1).saturating_sub(first);
    let mut out = Vec::with_capacity(
        chunks
            .saturating_mul(table.chunk_size as usize)
            .min(64 << 20),
    );
    let base = table.offsets.get(first).copied().unwrap_or(0);
    for i in first..=last {
        let (Some(a), Some(b)) = (table.offsets.get(i), table.offsets.get(i + 1)) else {
            break;
        };
        let frame = data
            .get(
                usize::try_from(a - base).unwrap_or(usize::MAX)
                    ..usize::try_from(b - base).unwrap_or(usize::MAX),
            )
            .ok_or_else(|| TieringError::RemoteFormat {
                key: key.to_string(),
                reason: format!("frame {i} outside the fetched range"),
            })?;
        let before = out.len();
        let limit = u64::from(table.chunk_size);
        let decoder =
            zstd::stream::read::Decoder::new(frame).map_err(|e| TieringError::RemoteFormat {
                key: key.to_string(),
                reason: format!("frame {i}: {e}"),
            })?;
        std::io::copy(&mut std::io::Read::take(decoder, limit + 1), &mut out).map_err(|e| {
            TieringError::RemoteFormat {
                key: key.to_string(),
                reason: format!("frame {i}: {e}"),
            }
        })?;
        if (out.len() - before) as u64 > limit {
            return Err(TieringError::RemoteFormat {
                key: key.to_string(),
                reason: format!("frame {i} inflates past its {limit}-byte chunk"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_roundtrip_and_ranges() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        let (mut obj, mut lens) = (Vec::new(), Vec::new());
        compress_into(&raw, 4096, 3, &mut obj, &mut lens).unwrap();
        let table = ChunkTable::new(4096, raw.len() as u64, &lens);
        obj.extend(table.encode());
        let parsed = ChunkTable::parse_tail(&obj, "k").unwrap();
        assert_eq!(parsed, table);
        for (a, b) in [
            (0u64, 1u64),
            (4095, 4097),
            (10_000, 39_999),
            (39_999, 40_000),
        ] {
            let (f, l, r) = parsed.frames_for(a, b);
            let raw_part =
                decompress_frames(&obj[r.start as usize..r.end as usize], &parsed, f, l, "k")
                    .unwrap();
            let off = (a - f as u64 * 4096) as usize;
            assert_eq!(
                &raw_part[off..off + (b - a) as usize],
                &raw[a as usize..b as usize]
            );
        }
        let mut bad = obj.clone();
        let n = bad.len();
        bad[n - 12] ^= 1;
        assert!(ChunkTable::parse_tail(&bad, "k").is_err());
    }

    #[test]
    fn a_frame_that_inflates_past_its_chunk_is_refused() {
        let raw = vec![0u8; 10_000];
        let (mut obj, mut lens) = (Vec::new(), Vec::new());
        compress_into(&raw, 10_000, 3, &mut obj, &mut lens).unwrap();
        // The table claims 100-byte chunks: the one frame decodes to 10,000 bytes.
        let mut table = ChunkTable::new(100, 100, &lens);
        table.raw_size = 100;
        let e = decompress_frames(&obj, &table, 0, 0, "k").unwrap_err();
        assert!(e.to_string().contains("inflates"), "{e}");
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn chunk_table_parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(t) = ChunkTable::parse_tail(&bytes, "k") {
                prop_assert!(bytes.ends_with(&t.encode()));
                let n = t.offsets.len().saturating_sub(1);
                if n > 0 {
                    let (f, l, _) = t.frames_for(0, t.raw_size);
                    let _ = decompress_frames(&bytes, &t, f, l, "k");
                }
            }
        }

        #[test]
        fn chunk_table_parsing_mutated_tables_never_panics(at in any::<prop::sample::Index>(), to in any::<u8>(), n in 1usize..6) {
            let raw = vec![7u8; n * 1000];
            let (mut obj, mut lens) = (Vec::new(), Vec::new());
            compress_into(&raw, 1000, 1, &mut obj, &mut lens).unwrap();
            obj.extend(ChunkTable::new(1000, raw.len() as u64, &lens).encode());
            let i = at.index(obj.len());
            obj[i] = to;
            if let Ok(t) = ChunkTable::parse_tail(&obj, "k") {
                let (f, l, _) = t.frames_for(0, t.raw_size);
                let _ = decompress_frames(&obj, &t, f, l, "k");
            }
        }
    }
}
