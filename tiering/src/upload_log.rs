//! Streaming a `.log` through `ObjectStore::put_multipart`: the path for stores without a
//! multipart API with upload ids (the local filesystem, wrapped stores); stores with one go
//! through [`crate::upload_parts`]. Segments up to one part go up in a single PUT.
//!
//! Parts are handed to the store's [`MultipartUpload::put_part`] directly, at most
//! `concurrency` in flight, each on its own task (as `WriteMultipart` does, but without its
//! one fixed chunk size). That allows smaller, **ramped** parts on stores that take
//! non-final parts of any size ([`TierStore::any_part_size`]): parts of at most
//! [`crate::upload::CACHED_PART_SIZE`] (2 MiB), the first ones smaller still, doubling
//! (`part >>` [`crate::upload::RAMP_DOUBLINGS`], ...; [`crate::part_io::ramp_part_len`]:
//! 256 KiB, 512 KiB, 1 MiB, 2 MiB, 2 MiB, ...). The local filesystem copies the parts of
//! one upload into its staging file one at a time (`object_store`'s `LocalUpload` holds one
//! lock on the file per write), so with uniform 8 MiB parts nothing is written until a
//! whole 8 MiB part has been read and verified, and the part is no longer in the CPU
//! cache when it is copied (the reader runs parts ahead). With small ramped parts the
//! writer starts after a 256 KiB read and copies from cache. Other stores keep uniform
//! `part_size` parts (S3 and GCS reject non-final parts under 5 MiB).
//!
//! On the local filesystem itself ([`TierStore::inline_writes`]) the parts are written on
//! one thread of the upload's own, back to back, and the upload is completed there right
//! after the last write ([`crate::part_writer`]): the writes are serial anyway, and a
//! blocking-pool thread per part put a thread wake-up on the critical path of every part.
//! That thread holds at most 2 parts ([`crate::part_writer`]'s `WRITER_QUEUE`), so the
//! reader stays close behind the writes and the parts are still in the CPU cache when
//! they are copied.
//!
//! Memory: at most `concurrency` parts in flight plus the one being read, each buffer
//! `part_size` bytes at most (ramped parts are smaller), so the bound is
//! `(concurrency + 1) × part_size` as with uniform parts, or less. A compressed upload collects
//! compressed frames until they fill a part (so non-final parts are at least `part_size`).

use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{MultipartUpload, PutPayload};
use tokio::task::JoinSet;

use crate::error::{Result, TieringError};
use crate::part_io::{PartReader, check_size};
use crate::part_writer::ThreadPartWriter;
use crate::started_gate::StartedGate;
use crate::store::TierStore;
use crate::upload::UploadOptions;
use crate::verify::SegmentSummary;

/// Streams the `.log` that `reader` reads to `key`, each part checked before it is sent
/// (and compressed chunk by chunk when `opts.zstd_level` is set). Returns the stored
/// object's CRC-32C, the walk summary and whether the object is compressed. A failure
/// aborts the multipart upload: nothing is left under `key`.
pub(crate) async fn upload_log(
    store: &TierStore,
    key: &Key,
    mut reader: PartReader,
    size: u64,
    opts: &UploadOptions,
    gate: &StartedGate,
) -> Result<(u32, SegmentSummary, bool)> {
    let part_size = reader.part_len();
    let path = reader.path().to_path_buf();
    let path = path.as_path();
    let pool = reader.pool().clone();
    let chunk_size = crate::upload_parts::effective_chunk_size(part_size, opts.chunk_size);
    let compressed = opts.zstd_level.is_some();
    let mut lens: Vec<u32> = Vec::new();
    let table = |lens: &[u32]| {
        crate::chunks::ChunkTable::new(u32::try_from(chunk_size).unwrap_or(u32::MAX), size, lens)
            .encode()
    };
    if size <= part_size as u64 && !reader.ramped() {
        let buf = reader.next_part().await?;
        let summary = reader.finish()?;
        check_size(path, size, summary.bytes)?;
        let (crc, payload) = match opts.zstd_level {
            Some(level) => {
                let mut stored = Vec::with_capacity(buf.len() / 2);
                crate::chunks::compress_into(&buf, chunk_size, level, &mut stored, &mut lens)?;
                pool.put_back(buf);
                stored.extend(table(&lens));
                (crc32c::crc32c(&stored), Bytes::from(stored))
            }
            // The CRC is derived from the walk: no second pass over the bytes.
            None => (summary.crc32c, pool.bytes(buf)),
        };
        if let Some(rate) = &opts.rate {
            rate.acquire(payload.len() as u64).await;
        }
        gate.wait().await?;
        store.put(key, payload).await?;
        return Ok((crc, summary, compressed));
    }
    let upload = store
        .store
        .put_multipart(key)
        .await
        .map_err(|e| TieringError::store("start multipart", key, e))?;
    let mut parts = PartSender::new(store, upload, key, opts.concurrency)?;
    let mut crc = 0u32; // of the stored bytes (compressed uploads only)
    let mut pending: Vec<u8> = Vec::new(); // compressed bytes not sent yet
    let sent: Result<SegmentSummary> = async {
        loop {
            gate.check()?;
            let buf = reader.next_part().await?;
            if buf.is_empty() {
                pool.put_back(buf);
                break;
            }
            let Some(level) = opts.zstd_level else {
                if let Some(rate) = &opts.rate {
                    rate.acquire(buf.len() as u64).await;
                }
                parts.send(pool.bytes(buf)).await?;
                continue;
            };
            crate::chunks::compress_into(&buf, chunk_size, level, &mut pending, &mut lens)?;
            pool.put_back(buf);
            if pending.len() >= part_size {
                let data = std::mem::take(&mut pending);
                crc = crc32c::crc32c_append(crc, &data);
                if let Some(rate) = &opts.rate {
                    rate.acquire(data.len() as u64).await;
                }
                parts.send(Bytes::from(data)).await?;
            }
        }
        let summary = reader.finish()?;
        check_size(path, size, summary.bytes)?;
        if compressed {
            pending.extend(table(&lens));
            let data = std::mem::take(&mut pending);
            crc = crc32c::crc32c_append(crc, &data);
            if let Some(rate) = &opts.rate {
                rate.acquire(data.len() as u64).await;
            }
            parts.send(Bytes::from(data)).await?;
        } else {
            crc = summary.crc32c; // derived from the walk: no second pass over the bytes
        }
        Ok(summary)
    }
    .await;
    // Nothing is visible before the STARTED commit: complete only after it.
    let sent = match sent {
        Ok(summary) => gate.wait().await.map(|()| summary),
        Err(e) => Err(e),
    };
    match sent {
        Ok(summary) => {
            parts.complete().await?;
            Ok((crc, summary, compressed))
        }
        Err(e) => {
            parts.abort().await;
            Err(e)
        }
    }
}

/// The parts of one `put_multipart` upload in flight, at most `concurrency` at a time:
/// written back to back on a thread of the upload's own when the store's writes run inline
/// ([`TierStore::inline_writes`], [`crate::part_writer`]), else each part on a task.
enum PartSender<'k> {
    Thread(ThreadPartWriter<'k>),
    Tasks(TaskParts<'k>),
}

impl<'k> PartSender<'k> {
    fn new(
        store: &TierStore,
        upload: Box<dyn MultipartUpload>,
        key: &'k Key,
        concurrency: usize,
    ) -> Result<Self> {
        if store.inline_writes {
            return Ok(PartSender::Thread(ThreadPartWriter::start(
                upload,
                key,
                concurrency,
            )?));
        }
        Ok(PartSender::Tasks(TaskParts {
            upload,
            key,
            concurrency: concurrency.max(1),
            inflight: JoinSet::new(),
        }))
    }

    /// Sends the next part (waiting while `concurrency` parts are in flight).
    async fn send(&mut self, data: Bytes) -> Result<()> {
        match self {
            PartSender::Thread(w) => w.send(PutPayload::from_bytes(data)).await,
            PartSender::Tasks(t) => t.send(data).await,
        }
    }

    /// Waits for every part, then completes the upload.
    async fn complete(self) -> Result<()> {
        match self {
            PartSender::Thread(w) => w.complete().await,
            PartSender::Tasks(t) => t.complete().await,
        }
    }

    /// Stops the parts in flight and aborts the upload (best effort).
    async fn abort(self) {
        match self {
            PartSender::Thread(w) => w.abort().await,
            PartSender::Tasks(t) => t.abort().await,
        }
    }
}

/// Parts on tasks of their own (`WriteMultipart`'s way).
struct TaskParts<'k> {
    upload: Box<dyn MultipartUpload>,
    key: &'k Key,
    concurrency: usize,
    inflight: JoinSet<object_store::Result<()>>,
}

impl TaskParts<'_> {
    /// Waits for the oldest-finishing part in flight; an error fails the upload.
    async fn join_one(&mut self) -> Result<()> {
        match self.inflight.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(TieringError::store("upload part", self.key, e)),
            Some(Err(e)) => Err(TieringError::keel_side("upload part", self.key, e)),
        }
    }

    /// Sends the next part (waiting while `concurrency` parts are in flight).
    async fn send(&mut self, data: Bytes) -> Result<()> {
        while self.inflight.len() >= self.concurrency {
            self.join_one().await?;
        }
        self.inflight
            .spawn(self.upload.put_part(PutPayload::from_bytes(data)));
        Ok(())
    }

    /// Waits for every part, then completes the upload.
    async fn complete(mut self) -> Result<()> {
        while !self.inflight.is_empty() {
            if let Err(e) = self.join_one().await {
                self.abort().await;
                return Err(e);
            }
        }
        self.upload
            .complete()
            .await
            .map(|_| ())
            .map_err(|e| TieringError::store("complete multipart", self.key, e))
    }

    /// Stops the parts in flight and aborts the upload (best effort).
    async fn abort(mut self) {
        self.inflight.shutdown().await;
        if let Err(e) = self.upload.abort().await {
            tracing::debug!(key = %self.key, error = %e, "aborting a failed multipart upload failed; gc will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fault::{Fault, FaultyStore, Op, Rule};
    use crate::keys::{TopicPartition, segment_key};
    use crate::manifest::{ObjectKind, SegmentManifest};
    use crate::part_io::ramp_part_len;
    use crate::testing::{SegmentSpec, files_under};
    use crate::upload::{CACHED_PART_SIZE, RAMP_DOUBLINGS, SegmentSource, upload_segment};

    const PART: usize = 64 << 10;
    const CONCURRENCY: usize = 2;

    /// A ~1 MiB segment (batches of ~10 KB, so parts cut batches) in `dir`.
    fn segment(dir: &std::path::Path) -> (SegmentSource, Vec<u8>) {
        segment_of(
            dir,
            SegmentSpec {
                batches: 100,
                records_per_batch: 2,
                value_len: 5000,
            },
        )
    }

    fn segment_of(dir: &std::path::Path, spec: SegmentSpec) -> (SegmentSource, Vec<u8>) {
        crate::testing::segment_source(dir, spec).unwrap()
    }

    /// A local-filesystem store in `dir` behind a [`FaultyStore`], taking parts of any size
    /// when `any_part_size`.
    fn fs_store(dir: &std::path::Path, any_part_size: bool) -> (TierStore, FaultyStore) {
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
        let faulty = FaultyStore::new(Arc::new(fs));
        let mut store = TierStore::new(Arc::new(faulty.clone()), Key::default(), "faulty fs");
        store.any_part_size = any_part_size;
        (store, faulty)
    }

    fn opts() -> UploadOptions {
        UploadOptions {
            part_size: PART,
            concurrency: CONCURRENCY,
            ..UploadOptions::default()
        }
    }

    /// The part lengths a `size`-byte object cut by the ramp from `first` to `full` has.
    fn expected_lens(size: usize, first: usize, full: usize) -> Vec<u64> {
        let mut lens = Vec::new();
        let mut left = size;
        while left > 0 {
            let len = ramp_part_len(lens.len(), first, full).min(left);
            lens.push(len as u64);
            left -= len;
        }
        lens
    }

    async fn upload_and_read_back(any_part_size: bool) -> (Vec<u64>, FaultyStore, usize) {
        let seg_dir = tempfile::tempdir().unwrap();
        let (src, log) = segment(seg_dir.path());
        upload_and_read_back_with(any_part_size, &src, &log, &opts()).await
    }

    async fn upload_and_read_back_with(
        any_part_size: bool,
        src: &SegmentSource,
        log: &[u8],
        opts: &UploadOptions,
    ) -> (Vec<u64>, FaultyStore, usize) {
        let store_dir = tempfile::tempdir().unwrap();
        let (store, faulty) = fs_store(store_dir.path(), any_part_size);
        let tp = TopicPartition::new("ramp", 0);
        let mut m = SegmentManifest::new();
        let seg = upload_segment(&store, &tp, src, 0, &mut m, opts)
            .await
            .unwrap();
        let key = segment_key(&store.prefix, &tp, 0, seg.attempt, ObjectKind::Log);
        let stored = store.get_opt(&key).await.unwrap().unwrap();
        assert!(
            stored[..] == log[..],
            "the object is the segment, byte for byte"
        );
        assert_eq!(
            seg.checksums.get(ObjectKind::Log),
            Some(crc32c::crc32c(log))
        );
        (faulty.part_lens(), faulty, log.len())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ramped_upload_reads_back_byte_identical_with_parts_doubling_to_the_part_size() {
        let (lens, faulty, size) = upload_and_read_back(true).await;
        let first = PART >> RAMP_DOUBLINGS;
        assert_eq!(lens, expected_lens(size, first, PART));
        assert_eq!(
            &lens[..=RAMP_DOUBLINGS as usize],
            &[
                first as u64,
                2 * first as u64,
                4 * first as u64,
                PART as u64
            ]
        );
        // Memory: never more than `concurrency` parts held by the store, each at most a part.
        assert!(faulty.max_parts_in_flight() <= CONCURRENCY as u64);
        assert!(lens.iter().all(|&l| l <= PART as u64));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_on_stores_taking_any_size_are_at_most_the_cached_part_size() {
        let seg_dir = tempfile::tempdir().unwrap();
        // ~10 MiB: above the default 8 MiB part size.
        let spec = SegmentSpec {
            batches: 40,
            records_per_batch: 2,
            value_len: 130_000,
        };
        let (src, log) = segment_of(seg_dir.path(), spec);
        let opts = UploadOptions {
            concurrency: CONCURRENCY,
            ..UploadOptions::default()
        };
        assert!(log.len() > opts.part_size);
        let (lens, faulty, size) = upload_and_read_back_with(true, &src, &log, &opts).await;
        let first = CACHED_PART_SIZE >> RAMP_DOUBLINGS;
        assert_eq!(lens, expected_lens(size, first, CACHED_PART_SIZE));
        assert_eq!(lens[0], 256 << 10);
        assert!(faulty.max_parts_in_flight() <= CONCURRENCY as u64);
        // The same store without `any_part_size` gets the default 8 MiB parts.
        let (lens, _, _) = upload_and_read_back_with(false, &src, &log, &opts).await;
        assert_eq!(lens, expected_lens(size, opts.part_size, opts.part_size));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stores_that_want_uniform_parts_get_uniform_parts() {
        let (lens, faulty, size) = upload_and_read_back(false).await;
        assert_eq!(lens, expected_lens(size, PART, PART));
        assert!(faulty.max_parts_in_flight() <= CONCURRENCY as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_middle_part_aborts_the_upload_and_commits_nothing() {
        failed_middle_part_aborts(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_middle_part_on_the_writer_thread_aborts_the_upload_and_commits_nothing() {
        failed_middle_part_aborts(true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ramped_upload_on_the_writer_thread_reads_back_byte_identical() {
        let seg_dir = tempfile::tempdir().unwrap();
        let (src, log) = segment(seg_dir.path());
        let store_dir = tempfile::tempdir().unwrap();
        let (mut store, faulty) = fs_store(store_dir.path(), true);
        // `FaultyStore` without delay rules needs no runtime in its part futures.
        store.inline_writes = true;
        let tp = TopicPartition::new("ramp", 0);
        let mut m = SegmentManifest::new();
        let seg = upload_segment(&store, &tp, &src, 0, &mut m, &opts())
            .await
            .unwrap();
        let key = segment_key(&store.prefix, &tp, 0, seg.attempt, ObjectKind::Log);
        let stored = store.get_opt(&key).await.unwrap().unwrap();
        assert!(stored[..] == log[..], "the object is the segment");
        let first = PART >> RAMP_DOUBLINGS;
        assert_eq!(faulty.part_lens(), expected_lens(log.len(), first, PART));
        // One thread writes the parts: one at a time.
        assert_eq!(faulty.max_parts_in_flight(), 1);
        assert_eq!(m.readable().count(), 1);
    }

    async fn failed_middle_part_aborts(inline_writes: bool) {
        let seg_dir = tempfile::tempdir().unwrap();
        let store_dir = tempfile::tempdir().unwrap();
        let (src, _) = segment(seg_dir.path());
        let (mut store, faulty) = fs_store(store_dir.path(), true);
        store.inline_writes = inline_writes;
        // The third part (inside the ramp) fails.
        faulty.add_rule(Rule::new(Some(Op::PutPart), Fault::Fail).skip(2).times(1));
        let tp = TopicPartition::new("ramp", 0);
        let mut m = SegmentManifest::new();
        let err = upload_segment(&store, &tp, &src, 0, &mut m, &opts())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("injected fault"), "{err}");
        faulty.clear_rules();
        let m = crate::manifest_store::load(&store, &tp)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.readable().count(), 0, "nothing committed");
        // Only the manifest (the attempt in COPY_SEGMENT_STARTED) is left: no data
        // object, and no staging file of the aborted upload.
        let left = files_under(store_dir.path()).unwrap();
        assert!(
            left.iter().all(|f| f.contains("/manifest/")),
            "left behind: {left:?}"
        );
        // A retry uploads the segment.
        let mut m = m;
        upload_segment(&store, &tp, &src, 0, &mut m, &opts())
            .await
            .unwrap();
        assert_eq!(m.readable().count(), 1);
    }
}
