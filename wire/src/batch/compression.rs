//! The four record-batch codecs, as Kafka's Java client writes them
//! (`org.apache.kafka.common.compress`):
//!
//! - **gzip**: an RFC 1952 stream (Java's `GZIPOutputStream`); several members are accepted.
//! - **snappy**: snappy-java's *xerial* stream framing: the magic `\x82SNAPPY\0`, a
//!   big-endian i32 version and an i32 compatible-version (both 1), then blocks of
//!   `[i32 compressed length][raw snappy block]`, each block holding at most 32 KiB of input.
//!   librdkafka may also write one plain raw snappy block, so the decoder accepts both.
//! - **lz4**: the standard LZ4 *frame* format (Kafka's `Lz4BlockOutputStream`, 64 KiB
//!   independent blocks, no checksums), as fixed for magic ≥ 1 by
//!   [KIP-57](https://cwiki.apache.org/confluence/display/KAFKA/KIP-57+-+Interoperable+LZ4+Framing).
//! - **zstd**: a zstd frame ([KIP-110](https://cwiki.apache.org/confluence/display/KAFKA/KIP-110%3A+Add+Codec+for+ZStandard+Compression)), level 3 by default.
//!
//! Decompression is bounded by [`MAX_DECOMPRESSED_BATCH_BYTES`], so a hostile batch cannot
//! make keel allocate without limit.

use std::io::{Read, Write};

use super::header::Compression;
use crate::error::{Result, WireError};

/// Upper bound on the decompressed size of one batch's records (1 GiB). Kafka's own
/// limits (`message.max.bytes`) apply to the compressed size; no real batch is near this.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 1 << 30;

/// snappy-java's stream magic.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Bytes of the xerial header: magic, version, compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block (snappy-java's default block size).
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// A snappy element expands at most ~21x (a 3-byte copy yields 64 bytes); a block claiming
/// more than this ratio is corrupt, and is rejected before its output is allocated.
const SNAPPY_MAX_RATIO: usize = 24;

fn codec_err(codec: Compression, position: u64, reason: impl std::fmt::Display) -> WireError {
    WireError::Codec {
        position,
        codec,
        reason: reason.to_string(),
    }
}

/// Decompresses a batch's record section into `out` (cleared first). `position` is the
/// batch's position, for errors. `Compression::None` copies the input.
pub fn decompress_into(
    codec: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
    position: u64,
) -> Result<()> {
    out.clear();
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(input),
            out,
            codec,
            position,
        ),
        Compression::Snappy => snappy_decompress(input, out, position),
        Compression::Lz4 => {
            let mut decoder =
                lz4::Decoder::new(input).map_err(|e| codec_err(codec, position, e))?;
            read_bounded(&mut decoder, out, codec, position)?;
            let (_, finished) = decoder.finish();
            finished.map_err(|_| codec_err(codec, position, "LZ4 frame ends early"))
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_err(codec, position, e))?;
            read_bounded(decoder, out, codec, position)
        }
    }
}

fn read_bounded(
    reader: impl Read,
    out: &mut Vec<u8>,
    codec: Compression,
    position: u64,
) -> Result<()> {
    let limit = MAX_DECOMPRESSED_BATCH_BYTES as u64 + 1;
    reader
        .take(limit)
        .read_to_end(out)
        .map_err(|e| codec_err(codec, position, e))?;
    if out.len() > MAX_DECOMPRESSED_BATCH_BYTES {
        return Err(codec_err(
            codec,
            position,
            format!("decompressed records exceed {MAX_DECOMPRESSED_BATCH_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn snappy_raw_block(block: &[u8], out: &mut Vec<u8>, position: u64) -> Result<()> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| codec_err(codec, position, e))?;
    if len > block.len().saturating_mul(SNAPPY_MAX_RATIO) + 64
        || out.len() + len > MAX_DECOMPRESSED_BATCH_BYTES
    {
        return Err(codec_err(
            codec,
            position,
            format!(
                "snappy block of {} bytes claims an impossible {len} bytes of output",
                block.len()
            ),
        ));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| codec_err(codec, position, e))?;
    out.truncate(start + written);
    Ok(())
}

fn snappy_decompress(input: &[u8], out: &mut Vec<u8>, position: u64) -> Result<()> {
    let codec = Compression::Snappy;
    if !input.starts_with(&XERIAL_MAGIC) {
        return snappy_raw_block(input, out, position);
    }
    if input.len() < XERIAL_HEADER_LEN {
        return Err(codec_err(
            codec,
            position,
            "xerial snappy stream ends inside its 16-byte header",
        ));
    }
    let mut pos = XERIAL_HEADER_LEN;
    while pos < input.len() {
        let Some(len_bytes) = input.get(pos..pos + 4) else {
            return Err(codec_err(
                codec,
                position,
                format!("xerial block length at byte {pos} is cut off"),
            ));
        };
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        pos += 4;
        let block = usize::try_from(len)
            .ok()
            .and_then(|len| input.get(pos..pos.checked_add(len)?));
        let Some(block) = block else {
            return Err(codec_err(
                codec,
                position,
                format!(
                    "xerial block at byte {} claims {len} bytes, {} remain",
                    pos - 4,
                    input.len() - pos
                ),
            ));
        };
        snappy_raw_block(block, out, position)?;
        pos += block.len();
    }
    Ok(())
}

/// Compresses `input` as Kafka's Java producer would, appending to `out`.
pub fn compress_into(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let enc_err = |e: std::io::Error| WireError::Encode {
        reason: format!("{} compression failed: {e}", codec.name()),
    };
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            enc.write_all(input).map_err(enc_err)?;
            enc.finish().map_err(enc_err)?;
        }
        Compression::Snappy => {
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
                let len_at = out.len();
                out.extend_from_slice(&[0; 4]);
                let start = out.len();
                out.resize(start + snap::raw::max_compress_len(chunk.len()), 0);
                let n = enc
                    .compress(chunk, &mut out[start..])
                    .map_err(|e| WireError::Encode {
                        reason: format!("snappy compression failed: {e}"),
                    })?;
                out.truncate(start + n);
                let n = i32::try_from(n).map_err(|_| WireError::Encode {
                    reason: "snappy block larger than i32".into(),
                })?;
                out[len_at..start].copy_from_slice(&n.to_be_bytes());
            }
        }
        Compression::Lz4 => {
            let mut enc = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(out)
                .map_err(enc_err)?;
            enc.write_all(input).map_err(enc_err)?;
            let (_, r) = enc.finish();
            r.map_err(enc_err)?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, 3).map_err(enc_err)?;
            enc.write_all(input).map_err(enc_err)?;
            enc.finish().map_err(enc_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            let mut c = Vec::new();
            compress_into(codec, &data, &mut c).unwrap();
            let mut d = Vec::new();
            decompress_into(codec, &c, &mut d, 7).unwrap();
            assert_eq!(d, data, "{codec:?}");
        }
    }

    #[test]
    fn raw_snappy_without_xerial_framing_is_accepted() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut d = Vec::new();
        decompress_into(Compression::Snappy, &raw, &mut d, 0).unwrap();
        assert_eq!(d, data);
    }

    #[test]
    fn xerial_stream_uses_32k_blocks() {
        let data = sample();
        let mut c = Vec::new();
        compress_into(Compression::Snappy, &data, &mut c).unwrap();
        assert_eq!(&c[..8], &XERIAL_MAGIC);
        assert_eq!(&c[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let first = i32::from_be_bytes(c[16..20].try_into().unwrap()) as usize;
        let block = &c[20..20 + first];
        assert_eq!(snap::raw::decompress_len(block).unwrap(), XERIAL_BLOCK_SIZE);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data = sample();
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut c = Vec::new();
            compress_into(codec, &data, &mut c).unwrap();
            let cut = &c[..c.len() - 3];
            let mut d = Vec::new();
            let r = decompress_into(codec, cut, &mut d, 99);
            assert!(
                matches!(r, Err(WireError::Codec { position: 99, codec: c, .. }) if c == codec),
                "{codec:?}: {r:?}"
            );
        }
    }
}
