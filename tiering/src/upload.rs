//! Uploading one closed segment: a thin async shell over `object_store`.
//!
//! Order of one attempt (each attempt has its own object keys, see [`crate::keys`]):
//! 1. commit the manifest with the segment in COPY_SEGMENT_STARTED under a fresh attempt id
//!    (a stale unfinished attempt is replaced and its objects deleted). On stores without
//!    upload ids (the local filesystem) the `.log`'s first parts already go to the store's
//!    invisible staging file while this commits; whatever makes an object visible
//!    (completing the upload, a single PUT, the index objects) waits for the commit, and a
//!    failed commit aborts the upload ([`crate::started_gate`]);
//! 2. stream the `.log` in parts of `part_size` bytes: each part is verified (batch walk +
//!    CRC-32C, [`crate::verify`]) *before* it is handed to the store (the object's CRC-32C
//!    is derived from the verified batch CRCs, so the bytes are CRC'd once), and at most
//!    `concurrency` parts are in flight, so memory stays at about
//!    `(concurrency + 1) × part_size` whatever the segment size; segments up to one part
//!    go up in a single PUT. Parts are read and checked on a blocking thread
//!    (`part_io::PartReader`), the first one while step 1 commits. On stores that take
//!    parts of any size (the local filesystem) parts are at most [`CACHED_PART_SIZE`] and
//!    the first ones smaller still, doubling ([`crate::upload_log`]), so the store starts
//!    writing sooner and copies parts that are still in the CPU cache;
//! 3. upload the offset index, time index and, when present, txn index, producer snapshot
//!    and `leader-epoch-checkpoint`;
//! 4. commit the manifest with COPY_SEGMENT_FINISHED and every object's CRC-32C (the
//!    commit point; a writer that lost the conditional put gets an error and must reload).
//!
//! With `zstd_level` set, the `.log` is stored as independent zstd frames per chunk plus a
//! chunk table ([`crate::chunks`]); the manifest flags it.
//!
//! When the store has a multipart API with upload ids ([`TierStore::multipart`]), step 2
//! goes through [`crate::upload_parts`]: an intent object naming the upload is written
//! before the multipart upload is created, its id recorded before the first part, each
//! finished part after it ([`crate::multipart`]), and a failed attempt is *kept* when the
//! store failed (not the data): the next try of the same segment finds the attempt still
//! COPY_SEGMENT_STARTED in the manifest with its intent and resumes it, sending only the
//! missing parts (compressed uploads too: they recompress to find them). The indexes and
//! other small objects go up concurrently with the `.log` parts.
//!
//! A failed attempt that cannot be resumed deletes what it wrote and aborts its multipart
//! upload by id (best effort; [`crate::gc`] catches the rest).

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use object_store::path::Path as Key;

use crate::error::{Result, TieringError};
use crate::keys::{TopicPartition, segment_key};
use crate::manifest::{ObjectChecksums, ObjectKind, RemoteSegment, SegmentManifest, SegmentState};
use crate::manifest_store;
use crate::multipart::{self, Intent, UploadStart};
use crate::part_io::PartReader;
use crate::ratelimit::RateLimiter;
use crate::started_gate::StartedGate;
use crate::store::TierStore;
use crate::verify::SegmentSummary;

/// Default multipart part size.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// Default number of parts in flight per segment.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// On stores that take multipart parts of any size ([`TierStore::any_part_size`]), an
/// uncompressed `.log` larger than `part_size` goes up in parts of at most this size
/// ([`crate::upload_log`]). Such a store (the local filesystem) copies the parts of one
/// upload into its staging file one at a time, so bigger parts buy no concurrency; a part
/// this small is still in the CPU cache (L3) when the store copies it, where an 8 MiB
/// part read a few parts ahead is not (measured with `examples/upload_vs_put.rs`: 3-6
/// points of the plain put's throughput, BENCHMARKS.md, tiering session 5).
pub const CACHED_PART_SIZE: usize = 2 << 20;
/// On the same stores, the first part is `part >> RAMP_DOUBLINGS` bytes (256 KiB of a
/// 2 MiB part) and each part doubles until parts are full size ([`crate::upload_log`]), so
/// the store starts writing after a small read.
pub const RAMP_DOUBLINGS: u32 = 3;

/// How uploads behave.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Multipart part size (S3 needs ≥ 5 MiB for all parts but the last). On stores that
    /// take parts of any size (the local filesystem) an uncompressed `.log` goes up in
    /// smaller parts: ramped, at most [`CACHED_PART_SIZE`].
    pub part_size: usize,
    /// Parts in flight per segment.
    pub concurrency: usize,
    /// Shared upload byte-rate limit.
    pub rate: Option<Arc<RateLimiter>>,
    /// Id of this writer process, recorded in the manifest.
    pub writer_id: u64,
    /// Compress the `.log` with zstd at this level, chunk by chunk ([`crate::chunks`]).
    pub zstd_level: Option<i32>,
    /// Raw chunk size for compression (a divisor of `part_size`, else `part_size` is used).
    pub chunk_size: usize,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: DEFAULT_PART_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            rate: None,
            writer_id: new_attempt_id(),
            zstd_level: None,
            chunk_size: crate::chunks::DEFAULT_CHUNK_SIZE,
        }
    }
}

/// The local files of one closed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSource {
    pub base_offset: i64,
    /// Base offset of the following segment: this segment's last offset is one below.
    pub next_base_offset: i64,
    pub log: PathBuf,
    pub offset_index: Option<PathBuf>,
    pub time_index: Option<PathBuf>,
    pub txn_index: Option<PathBuf>,
    pub producer_snapshot: Option<PathBuf>,
    pub leader_epoch_checkpoint: Option<PathBuf>,
}

/// A fresh random id for an upload attempt or a writer.
pub fn new_attempt_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Keys of every object an attempt may have written.
pub fn attempt_keys(store: &TierStore, tp: &TopicPartition, seg: &RemoteSegment) -> Vec<Key> {
    ObjectKind::ALL
        .into_iter()
        .map(|k| segment_key(&store.prefix, tp, seg.base_offset, seg.attempt, k))
        .collect()
}

/// Uploads `src` and commits it. `manifest` is the partition's current manifest (from
/// [`manifest_store::load`]); on success it is the newly committed one, on error it is left
/// unchanged and the caller should reload it before retrying.
pub async fn upload_segment(
    store: &TierStore,
    tp: &TopicPartition,
    src: &SegmentSource,
    writer_epoch: i32,
    manifest: &mut SegmentManifest,
    opts: &UploadOptions,
) -> Result<RemoteSegment> {
    let part = tp.to_string();
    let meta = std::fs::metadata(&src.log).map_err(|e| TieringError::io("stat", &src.log, e))?;
    let size = u32::try_from(meta.len()).map_err(|_| TieringError::CorruptSegment {
        path: src.log.clone(),
        position: 0,
        reason: format!("{} bytes is above the 4 GiB segment limit", meta.len()),
    })?;
    let started = RemoteSegment {
        base_offset: src.base_offset,
        last_offset: src.next_base_offset - 1,
        max_timestamp: -1,
        size_bytes: size,
        leader_epoch: writer_epoch,
        attempt: new_attempt_id(),
        state: SegmentState::CopySegmentStarted,
        checksums: ObjectChecksums::default(),
    };
    let mut next = manifest.clone();
    let mut may_resume = true;
    let (started, checksums, summary) = loop {
        let candidate = if may_resume {
            resumable_attempt(store, tp, manifest, &started, opts).await
        } else {
            None
        };
        // The first part is read and checked on a blocking thread while the STARTED
        // manifest commits (a resumed upload keeps the part size it was started with).
        let part_len = match &candidate {
            Some((_, intent)) => usize::try_from(intent.part_size).unwrap_or(usize::MAX),
            None => opts.part_size,
        };
        let ramped = ramps(store, opts, u64::from(size));
        let (part_len, first_len) = if ramped {
            let part = part_len.min(CACHED_PART_SIZE);
            (part, part >> RAMP_DOUBLINGS)
        } else {
            (part_len, part_len)
        };
        let mut reader = PartReader::open_ramped(&src.log, part_len, first_len)?;
        reader.prefetch();
        let (attempt, resume, stale) = match candidate {
            Some((seg, intent)) => {
                tracing::info!(partition = %part, base_offset = seg.base_offset, attempt = %format!("{:016x}", seg.attempt),
                    parts_done = intent.parts.len(), "resuming an interrupted multipart upload");
                let seg = RemoteSegment {
                    leader_epoch: writer_epoch,
                    ..seg
                };
                (seg, UploadStart::Resume(intent), None)
            }
            None => {
                let stale = next.begin_copy(&part, started, writer_epoch, opts.writer_id)?;
                (started, UploadStart::New, Some(stale))
            }
        };
        let resumed = matches!(resume, UploadStart::Resume(_));
        let uploaded = match stale {
            // A resume continues an attempt the manifest already names.
            None => {
                let gate = StartedGate::open(crate::keys::manifest_dir(&store.prefix, tp));
                upload_objects(store, tp, src, &attempt, opts, resume, reader, gate).await
            }
            Some(stale) => {
                // The `.log`'s first parts go to the store's invisible staging file while
                // the STARTED manifest commits, on stores without upload ids (with them,
                // the intent and the upload follow the commit); nothing becomes visible
                // before the commit ([`StartedGate`]).
                let (opener, gate) = StartedGate::new(crate::keys::manifest_dir(&store.prefix, tp));
                let overlap = store.multipart.is_none();
                let commit = async {
                    let committed = manifest_store::commit(store, tp, &mut next).await;
                    opener.open(committed.is_ok());
                    committed
                };
                let upload = upload_objects(store, tp, src, &attempt, opts, resume, reader, gate);
                let uploaded = if overlap {
                    let (committed, uploaded) = tokio::join!(commit, upload);
                    committed?; // a failed commit failed the upload, which aborted itself
                    uploaded
                } else {
                    commit.await?;
                    upload.await
                };
                *manifest = next.clone();
                if let Some(stale) = stale {
                    discard_attempt(store, tp, &stale).await;
                }
                uploaded
            }
        };
        match uploaded {
            Ok((checksums, summary)) => break (attempt, checksums, summary),
            Err(e) => {
                // Keep the attempt for the next try to resume when the store (not the
                // data) failed, unless the store lost the upload itself (aborted by GC or
                // a bucket lifecycle rule, or a resume found it gone): then start over,
                // at once when this try was a resume. A 403 counts as "gone" only on a
                // resume ([`multipart::upload_is_gone`]: s3s-fs's answer for an upload id
                // it no longer knows); a real permission problem then fails the fresh
                // start's CreateMultipartUpload, which is not a resume: no loop.
                let lost = matches!(&e, TieringError::Store { source, .. }
                    if multipart::upload_is_gone(source)
                        && (resumed || matches!(**source, object_store::Error::NotFound { .. })));
                let keep =
                    store.multipart.is_some() && matches!(e, TieringError::Store { .. }) && !lost;
                if !keep {
                    discard_attempt(store, tp, &attempt).await;
                }
                if resumed && lost {
                    tracing::warn!(partition = %part, error = %e, "the interrupted multipart upload is gone; starting the segment over");
                    may_resume = false;
                    continue;
                }
                return Err(e);
            }
        }
    };
    let done = RemoteSegment {
        max_timestamp: summary.max_timestamp,
        checksums,
        state: SegmentState::CopySegmentFinished,
        ..started
    };
    next.finish_copy(&part, done, writer_epoch, opts.writer_id)?;
    let intent = crate::keys::intent_key(&store.prefix, tp, started.base_offset, started.attempt);
    // The intent's upload is complete: drop it alongside the commit (GC removes it if this
    // process dies in between; aborting a completed upload is a no-op).
    let drop_intent = async {
        if store.multipart.is_some() {
            let _ = store.delete_all(vec![intent]).await;
        }
    };
    let (committed, ()) = tokio::join!(manifest_store::commit(store, tp, &mut next), drop_intent);
    committed?;
    *manifest = next;
    metrics::counter!("keel_tier_uploaded_bytes_total").increment(u64::from(size));
    metrics::counter!("keel_tier_uploaded_segments_total").increment(1);
    Ok(done)
}

/// Whether the `.log` goes up in ramped parts of at most [`CACHED_PART_SIZE`]
/// ([`crate::upload_log`]): uncompressed,
/// through `put_multipart` (no upload ids: ramped parts are not resumable by index), on a
/// store that takes parts of any size, and larger than one part.
fn ramps(store: &TierStore, opts: &UploadOptions, size: u64) -> bool {
    store.any_part_size
        && store.multipart.is_none()
        && opts.zstd_level.is_none()
        && size > opts.part_size as u64
}

/// The copy in progress in `manifest` when it is an earlier attempt of the same segment
/// (same offsets and size) whose multipart intent is in the store and resumable.
async fn resumable_attempt(
    store: &TierStore,
    tp: &TopicPartition,
    manifest: &SegmentManifest,
    wanted: &RemoteSegment,
    opts: &UploadOptions,
) -> Option<(RemoteSegment, Intent)> {
    store.multipart.as_ref()?;
    let seg = *manifest.copy_in_progress()?;
    if (seg.base_offset, seg.last_offset, seg.size_bytes)
        != (wanted.base_offset, wanted.last_offset, wanted.size_bytes)
    {
        return None;
    }
    match multipart::load_intent(store, tp, &seg).await {
        Ok(Some(intent))
            if intent.resumable_for(u64::from(seg.size_bytes), opts.zstd_level.is_some()) =>
        {
            Some((seg, intent))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(partition = %tp, error = %e, "unreadable multipart intent; starting the segment over");
            None
        }
    }
}

/// Best effort: aborts an attempt's multipart upload by id and deletes its objects
/// ([`crate::gc`] catches what this misses).
async fn discard_attempt(store: &TierStore, tp: &TopicPartition, seg: &RemoteSegment) {
    if let Err(e) = multipart::abort_attempt(store, tp, seg).await {
        tracing::debug!(partition = %tp, error = %e, "aborting a discarded multipart upload failed; gc will retry");
    }
    let _ = store.delete_all(attempt_keys(store, tp, seg)).await;
}

/// Uploads the attempt's objects; nothing becomes visible before `gate` opens (the
/// STARTED commit succeeded), and a gate that fails aborts the `.log` upload.
#[allow(clippy::too_many_arguments)] // the attempt's context, each distinct
async fn upload_objects(
    store: &TierStore,
    tp: &TopicPartition,
    src: &SegmentSource,
    seg: &RemoteSegment,
    opts: &UploadOptions,
    resume: UploadStart,
    reader: PartReader,
    gate: StartedGate,
) -> Result<(ObjectChecksums, SegmentSummary)> {
    let log = async {
        let size = u64::from(seg.size_bytes);
        match &store.multipart {
            Some(mp) if size > opts.part_size.max(1) as u64 => {
                gate.wait().await?;
                let (crc, summary, report) = crate::upload_parts::upload_log_by_parts(
                    store,
                    mp.clone(),
                    tp,
                    seg,
                    reader,
                    opts,
                    resume,
                )
                .await?;
                metrics::counter!("keel_tier_multipart_sent_bytes_total")
                    .increment(report.sent_bytes);
                Ok((crc, summary, opts.zstd_level.is_some()))
            }
            _ => {
                let log_key = segment_key(
                    &store.prefix,
                    tp,
                    seg.base_offset,
                    seg.attempt,
                    ObjectKind::Log,
                );
                crate::upload_log::upload_log(store, &log_key, reader, size, opts, &gate).await
            }
        }
    };
    // The small objects go up while the `.log` parts do.
    let extras = async {
        gate.wait().await?;
        upload_extras(store, tp, src, seg, opts).await
    };
    let (log, extras) = tokio::join!(log, extras);
    let (crc, summary, compressed) = log?;
    let mut checksums = extras?;
    checksums.zstd_chunks = compressed;
    if summary.first_offset.is_some_and(|f| f < src.base_offset)
        || summary
            .last_offset
            .is_some_and(|l| l >= src.next_base_offset)
    {
        return Err(TieringError::CorruptSegment {
            path: src.log.clone(),
            position: 0,
            reason: format!(
                "batches span offsets {:?}..={:?}, outside the segment's {}..{}",
                summary.first_offset, summary.last_offset, src.base_offset, src.next_base_offset
            ),
        });
    }
    checksums.set(ObjectKind::Log, crc);
    Ok((checksums, summary))
}

/// Uploads the indexes, txn index, producer snapshot and leader-epoch checkpoint; returns
/// their checksums.
async fn upload_extras(
    store: &TierStore,
    tp: &TopicPartition,
    src: &SegmentSource,
    seg: &RemoteSegment,
    opts: &UploadOptions,
) -> Result<ObjectChecksums> {
    let mut checksums = ObjectChecksums::default();
    let extras = [
        (ObjectKind::OffsetIndex, &src.offset_index, true),
        (ObjectKind::TimeIndex, &src.time_index, true),
        (ObjectKind::TxnIndex, &src.txn_index, false),
        (ObjectKind::ProducerSnapshot, &src.producer_snapshot, false),
        (
            ObjectKind::LeaderEpochCheckpoint,
            &src.leader_epoch_checkpoint,
            false,
        ),
    ];
    for (kind, path, always) in extras {
        let bytes = match path {
            Some(p) => read_small(p).await?,
            None if always => Vec::new(), // the broker rebuilds missing indexes; so does the reader (scan from 0)
            None => continue,
        };
        if kind == ObjectKind::TxnIndex && bytes.is_empty() {
            continue;
        }
        let crc = crc32c::crc32c(&bytes);
        if let Some(rate) = &opts.rate {
            rate.acquire(bytes.len() as u64).await;
        }
        let key = segment_key(&store.prefix, tp, seg.base_offset, seg.attempt, kind);
        store.put(&key, Bytes::from(bytes)).await?;
        checksums.set(kind, crc);
    }
    Ok(checksums)
}

async fn read_small(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path)
        .await
        .map_err(|e| TieringError::io("read", path, e))
}
