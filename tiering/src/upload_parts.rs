//! Streaming a `.log` to a store that has a multipart API with upload ids
//! ([`crate::store::TierStore::multipart`]): parts are read, verified (batch walk +
//! CRC-32C, [`crate::verify`]) and sent at most `concurrency` at a time through a
//! [`PartUploader`], which records the upload id before the first part and each finished
//! part after it ([`crate::multipart`]), so a retry resumes at the missing parts and
//! [`crate::gc`] can abort a dead upload by id.
//!
//! Uncompressed uploads are resumable: part `i` always holds segment bytes
//! `i × part_size ..`, and a part is skipped when the intent records it with the CRC-32C of
//! the same local bytes. The local file is still read and verified in full on a resume (the
//! object's CRC-32C and the walk summary cover all of it). zstd-compressed uploads repack
//! the compressed stream into parts of at least `part_size` bytes, so their parts do not map
//! to segment ranges: they are recorded (for GC) but a retry starts them over.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::MultipartStore;

use crate::error::Result;
use crate::keys::{TopicPartition, intent_key, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment};
use crate::multipart::{Intent, PartUploader, UploadStart};
use crate::store::TierStore;
use crate::upload::{BufferPool, UploadOptions, check_size, read_full};
use crate::verify::{SegmentSummary, SegmentVerifier};

/// What a by-parts upload did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartsReport {
    /// Part bytes sent by this try.
    pub sent_bytes: u64,
    /// Parts an earlier try had sent, skipped by this one.
    pub skipped_parts: usize,
    /// Parts the object consists of.
    pub parts: usize,
}

/// Uploads the attempt `seg`'s `.log` from `path` in parts; `start` says whether the
/// upload is new, already created, or resumed from the intent an earlier try left. Returns the stored object's CRC-32C, the walk
/// summary and what was sent. On error the upload is left open (and recorded) for a retry.
pub async fn upload_log_by_parts(
    store: &TierStore,
    mp: Arc<dyn MultipartStore>,
    tp: &TopicPartition,
    seg: &RemoteSegment,
    path: &Path,
    opts: &UploadOptions,
    start: UploadStart,
) -> Result<(u32, SegmentSummary, PartsReport)> {
    let key = segment_key(
        &store.prefix,
        tp,
        seg.base_offset,
        seg.attempt,
        ObjectKind::Log,
    );
    let ikey = intent_key(&store.prefix, tp, seg.base_offset, seg.attempt);
    let size = u64::from(seg.size_bytes);
    let compression = opts.zstd_level;
    // A resumed upload keeps the part layout it was started with.
    let start = match start {
        UploadStart::Resume(i) if !(i.resumable && compression.is_none() && i.size == size) => {
            UploadStart::New
        }
        other => other,
    };
    let part_size = match &start {
        UploadStart::Resume(i) => i.part_size,
        _ => opts.part_size.max(1) as u64,
    };
    let part_len = usize::try_from(part_size).unwrap_or(usize::MAX);
    let chunk_size = if opts.chunk_size > 0 && part_len.is_multiple_of(opts.chunk_size) {
        opts.chunk_size
    } else {
        part_len
    };
    let fresh = Intent {
        upload_id: String::new(),
        part_size,
        size,
        resumable: compression.is_none(),
        parts: BTreeMap::new(),
    };
    let mut up = PartUploader::start(store, mp, ikey, key, fresh, start, opts.concurrency).await?;
    let mut file =
        std::fs::File::open(path).map_err(|e| crate::TieringError::io("open", path, e))?;
    let mut verifier = SegmentVerifier::new(path);
    let pool = BufferPool::default();
    let mut crc = 0u32;
    let mut lens: Vec<u32> = Vec::new();
    let mut pending: Vec<u8> = Vec::new(); // compressed bytes not sent yet
    let mut next_part = 0usize;
    let mut stored_size = 0u64;
    let sent: Result<SegmentSummary> = async {
        loop {
            let mut buf = pool.take();
            read_full(&mut file, path, &mut buf, part_len).await?;
            if buf.is_empty() {
                break;
            }
            verifier.feed(&buf)?;
            match compression {
                None => {
                    let part_crc = crc32c::crc32c(&buf);
                    crc = crc32c::crc32c_combine(crc, part_crc, buf.len());
                    stored_size += buf.len() as u64;
                    if up.already_sent(next_part, part_crc) {
                        up.skip();
                    } else {
                        if let Some(rate) = &opts.rate {
                            rate.acquire(buf.len() as u64).await;
                        }
                        up.send(next_part, part_crc, pool.bytes(buf)).await?;
                    }
                    next_part += 1;
                }
                Some(level) => {
                    crate::chunks::compress_into(&buf, chunk_size, level, &mut pending, &mut lens)?;
                    if pending.len() >= part_len {
                        let data = std::mem::take(&mut pending);
                        crc = crc32c::crc32c_append(crc, &data);
                        stored_size += data.len() as u64;
                        if let Some(rate) = &opts.rate {
                            rate.acquire(data.len() as u64).await;
                        }
                        up.send(next_part, crc32c::crc32c(&data), Bytes::from(data))
                            .await?;
                        next_part += 1;
                    }
                }
            }
        }
        let summary = std::mem::replace(&mut verifier, SegmentVerifier::new(path)).finish()?;
        check_size(path, size, summary.bytes)?;
        if compression.is_some() {
            let table = crate::chunks::ChunkTable::new(
                u32::try_from(chunk_size).unwrap_or(u32::MAX),
                size,
                &lens,
            )
            .encode();
            pending.extend(table);
            crc = crc32c::crc32c_append(crc, &pending);
            stored_size += pending.len() as u64;
            let data = std::mem::take(&mut pending);
            up.send(next_part, crc32c::crc32c(&data), Bytes::from(data))
                .await?;
            next_part += 1;
        }
        Ok(summary)
    }
    .await;
    match sent {
        Ok(summary) => {
            let report = PartsReport {
                sent_bytes: up.sent_bytes,
                skipped_parts: up.skipped_parts,
                parts: next_part,
            };
            up.complete(store, next_part, stored_size).await?;
            Ok((crc, summary, report))
        }
        Err(e) => {
            up.suspend().await;
            Err(e)
        }
    }
}
