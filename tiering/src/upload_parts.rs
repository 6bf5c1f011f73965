//! Streaming a `.log` to a store that has a multipart API with upload ids
//! ([`crate::store::TierStore::multipart`]): parts are read, verified (batch walk +
//! CRC-32C, [`crate::verify`]) and sent at most `concurrency` at a time through a
//! [`PartUploader`], which records the upload in an intent before it is created, its id
//! before the first part, and each finished part after it ([`crate::multipart`]), so a
//! retry resumes at the missing parts and [`crate::gc`] can abort a dead upload by id.
//!
//! Both kinds of upload resume, by recomputing each part and skipping it when the intent
//! records a part with the same index and CRC-32C:
//! - uncompressed: part `i` holds segment bytes `i × part_size ..`; its CRC follows from
//!   the walk's running CRC ([`crate::crc::crc_of_suffix`]), no extra pass;
//! - zstd-compressed: the compressed stream is repacked into parts of at least
//!   `part_size` bytes, so parts do not map to segment ranges, but compression is
//!   deterministic for the same input, level and chunk size (the intent records level and
//!   chunk size, and a resume uses those), so a retry recompresses the segment and gets the
//!   same parts. Should a part still differ (another zstd build), its CRC-32C differs and
//!   it is sent again; the object is always exactly this try's stream.
//!
//! The local file is read and verified in full on a resume either way (the object's
//! CRC-32C and the walk summary cover all of it); only the sending is skipped.
//!
//! Reading and verifying the first part overlaps the round trips that start the upload
//! (intent, CreateMultipartUpload, recording the id).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::MultipartStore;

use crate::crc::FixedShift;
use crate::error::Result;
use crate::keys::{TopicPartition, intent_key, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment};
use crate::multipart::{Intent, PartUploader, UploadStart, ZstdLayout};
use crate::part_io::{PartReader, check_size};
use crate::store::TierStore;
use crate::upload::UploadOptions;
use crate::verify::SegmentSummary;

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

/// The raw chunk size a compressed upload with these options uses: `opts.chunk_size` when
/// it divides the part size, else the part size.
pub fn effective_chunk_size(part_size: usize, chunk_size: usize) -> usize {
    if chunk_size > 0 && part_size.is_multiple_of(chunk_size) {
        chunk_size
    } else {
        part_size
    }
}

/// The intent a new by-parts upload of attempt `seg` records before it creates the upload.
pub fn fresh_intent(
    store: &TierStore,
    tp: &TopicPartition,
    seg: &RemoteSegment,
    opts: &UploadOptions,
) -> Intent {
    let part_size = opts.part_size.max(1);
    let key = segment_key(
        &store.prefix,
        tp,
        seg.base_offset,
        seg.attempt,
        ObjectKind::Log,
    );
    Intent {
        object: key.to_string(),
        upload_id: None,
        part_size: part_size as u64,
        size: u64::from(seg.size_bytes),
        resumable: true,
        zstd: opts.zstd_level.map(|level| ZstdLayout {
            level,
            chunk_size: u32::try_from(effective_chunk_size(part_size, opts.chunk_size))
                .unwrap_or(u32::MAX),
        }),
        parts: BTreeMap::new(),
    }
}

/// Uploads the attempt `seg`'s `.log`, which `reader` reads, in parts; `start` says whether
/// the upload is new or continues the intent an earlier try left. Returns the stored
/// object's CRC-32C, the walk summary and what was sent. On error the upload is left open
/// (and recorded) for a retry.
pub(crate) async fn upload_log_by_parts(
    store: &TierStore,
    mp: Arc<dyn MultipartStore>,
    tp: &TopicPartition,
    seg: &RemoteSegment,
    mut reader: PartReader,
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
    let fresh = fresh_intent(store, tp, seg, opts);
    // A resumed upload keeps the part size and compression layout it was started with.
    let start = match start {
        UploadStart::Resume(i) if !i.resumable_for(size, opts.zstd_level.is_some()) => {
            UploadStart::New
        }
        other => other,
    };
    let layout = match &start {
        UploadStart::Resume(i) => i,
        UploadStart::New => &fresh,
    };
    let part_len = usize::try_from(layout.part_size).unwrap_or(usize::MAX);
    let zstd = layout.zstd;
    let path = reader.path().to_path_buf();
    let path = path.as_path();
    if reader.part_len() != part_len || reader.ramped() {
        reader = PartReader::open(path, part_len)?;
    }
    let pool = reader.pool().clone();
    // The first part is read and verified while the upload starts.
    let (up, first) = tokio::join!(
        PartUploader::start(store, mp, ikey, key, fresh, start, opts.concurrency),
        reader.next_part()
    );
    let mut up = up?;
    let first = match first {
        Ok(first) => first,
        Err(e) => {
            up.suspend().await;
            return Err(e);
        }
    };
    let part_shift = FixedShift::new(part_len);
    let mut first = Some(first);
    let mut crc = 0u32; // of the stored bytes so far
    let mut fed_crc = 0u32; // of the segment bytes before the current part
    let mut lens: Vec<u32> = Vec::new();
    let mut pending: Vec<u8> = Vec::new(); // compressed bytes not sent yet
    let mut next_part = 0usize;
    let mut stored_size = 0u64;
    let sent: Result<SegmentSummary> = async {
        loop {
            let buf = match first.take() {
                Some(buf) => buf,
                None => reader.next_part().await?,
            };
            if buf.is_empty() {
                pool.put_back(buf);
                break;
            }
            match zstd {
                None => {
                    // This part's CRC from the walk's running CRC before and after it.
                    let fed = reader.crc_read()?;
                    let part_crc = fed ^ part_shift.apply(fed_crc, buf.len());
                    fed_crc = fed;
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
                Some(z) => {
                    crate::chunks::compress_into(
                        &buf,
                        z.chunk_size as usize,
                        z.level,
                        &mut pending,
                        &mut lens,
                    )?;
                    pool.put_back(buf);
                    if pending.len() >= part_len {
                        let data = std::mem::take(&mut pending);
                        stored_size += data.len() as u64;
                        crc = send_stored(&mut up, opts, next_part, crc, data).await?;
                        next_part += 1;
                    }
                }
            }
        }
        let summary = reader.finish()?;
        check_size(path, size, summary.bytes)?;
        match zstd {
            None => crc = summary.crc32c,
            Some(z) => {
                let table = crate::chunks::ChunkTable::new(z.chunk_size, size, &lens).encode();
                pending.extend(table);
                let data = std::mem::take(&mut pending);
                stored_size += data.len() as u64;
                crc = send_stored(&mut up, opts, next_part, crc, data).await?;
                next_part += 1;
            }
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

/// Sends (or, when an earlier try did, skips) one part of compressed bytes; returns the
/// object CRC extended over them.
async fn send_stored(
    up: &mut PartUploader,
    opts: &UploadOptions,
    idx: usize,
    crc: u32,
    data: Vec<u8>,
) -> Result<u32> {
    let part_crc = crc32c::crc32c(&data);
    let crc = crate::crc::combine(crc, part_crc, data.len());
    if up.already_sent(idx, part_crc) {
        up.skip();
    } else {
        if let Some(rate) = &opts.rate {
            rate.acquire(data.len() as u64).await;
        }
        up.send(idx, part_crc, Bytes::from(data)).await?;
    }
    Ok(crc)
}
