//! Multipart uploads recorded by id before the first part ([`keel_tiering::multipart`]):
//! a crash between parts is resumed from the first missing part (the bytes sent in total
//! stay about one segment, not two), the object reads back byte-exact, and GC aborts a
//! leftover upload by the id its orphaned intent recorded. zstd-compressed uploads resume the
//! same way (they recompress and skip the parts whose CRC-32C the intent recorded), and a
//! crash between creating an upload and recording its id leaves an intent the retry
//! finds. Run against the in-memory store
//! and the S3 server from `./test.sh` (both have upload ids); the local filesystem store,
//! which has none, restarts a crashed segment from scratch, also tested here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use keel_tiering::fault::{Fault, Op, Rule};
use keel_tiering::fetch::RemoteReader;
use keel_tiering::keys::{intent_key, segment_key};
use keel_tiering::multipart::{Intent, load_intent};
use keel_tiering::sync::{SyncSettings, sync_log_dir};
use keel_tiering::testing::{Fill, SegmentSpec};
use keel_tiering::upload::UploadOptions;
use keel_tiering::{
    ObjectKind, RemoteSegment, TierConfig, TierStore, TopicPartition, gc, manifest_store,
};

const PART: usize = 5 * MIB; // S3's minimum part size

/// ~16 MiB: three full 5 MiB parts and a partial one.
fn four_parts() -> SegmentSpec {
    SegmentSpec {
        batches: 64,
        records_per_batch: 4,
        value_len: 64 * 1024,
    }
}

fn settings(zstd: bool) -> SyncSettings {
    SyncSettings {
        cfg: TierConfig::default(),
        opts: UploadOptions {
            part_size: PART,
            concurrency: 1, // parts finish in order: "crash after k parts" is exact
            zstd_level: zstd.then_some(1),
            ..UploadOptions::default()
        },
        now_ms: 0,
        delete_local: false,
        partition_concurrency: 1,
    }
}

struct Crashed {
    dir: tempfile::TempDir,
    tp: TopicPartition,
    seg: RemoteSegment,
    intent: Intent,
    size: u64,
}

/// Uploads a 4-part segment whose 3rd part fails: the sync stops after 2 parts. With
/// `zstd`, the values are noise so that the compressed object still has 4 parts.
async fn crash_after_two_parts(
    store: &TierStore,
    faults: &keel_tiering::fault::FaultyStore,
    zstd: bool,
) -> Crashed {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("resume", 0);
    make_log_dir_with(
        dir.path(),
        &[(tp.clone(), vec![four_parts(), small()])],
        1_000,
        if zstd { Fill::Noise } else { Fill::Pattern },
    );
    let size = std::fs::metadata(seg_path(dir.path(), &tp, 0, "log"))
        .unwrap()
        .len();
    assert!(size > 3 * PART as u64 && size < 4 * PART as u64);
    faults.add_rule(Rule::new(Some(Op::PutPart), Fault::Fail).skip(2));
    let r = sync_log_dir(store, dir.path(), &settings(zstd))
        .await
        .unwrap();
    assert!(r.partitions[0].1.is_err(), "the third part failed");
    faults.clear_rules();
    let m = manifest_store::load(store, &tp).await.unwrap().unwrap();
    let seg = *m
        .copy_in_progress()
        .expect("the attempt stays COPY_SEGMENT_STARTED");
    let intent = load_intent(store, &tp, &seg)
        .await
        .unwrap()
        .expect("the upload id was recorded before the first part");
    assert_eq!(
        intent.parts.keys().copied().collect::<Vec<_>>(),
        vec![0, 1],
        "both finished parts are recorded"
    );
    assert_eq!(
        intent.zstd.is_some(),
        zstd,
        "the intent records the compression"
    );
    Crashed {
        dir,
        tp,
        seg,
        intent,
        size,
    }
}

async fn upload_is_open(
    store: &TierStore,
    tp: &TopicPartition,
    seg: &RemoteSegment,
    id: Option<&str>,
) -> bool {
    let id = id.expect("the intent recorded the upload id");
    // Sending a part again is harmless for an open upload and fails for an aborted one.
    let key = segment_key(
        &store.prefix,
        tp,
        seg.base_offset,
        seg.attempt,
        ObjectKind::Log,
    );
    let mp = store.multipart.as_ref().unwrap();
    mp.put_part(
        &key,
        &id.to_string(),
        9_999,
        object_store::PutPayload::from_static(b"x"),
    )
    .await
    .is_ok()
}

async fn assert_reads_back(store: &TierStore, c: &Crashed) {
    let m = manifest_store::load(store, &c.tp).await.unwrap().unwrap();
    let s = m.readable().next().copied().unwrap();
    let reader = RemoteReader::new(store.clone(), 1 << 20, None);
    let remote = reader.get_object(&c.tp, &s, ObjectKind::Log).await.unwrap();
    let local = std::fs::read(seg_path(c.dir.path(), &c.tp, 0, "log")).unwrap();
    assert!(remote[..] == local[..], "the resumed object is byte-exact");
}

async fn crash_between_parts_resumes_from_the_first_missing_part(base: TierStore, zstd: bool) {
    let (store, faults) = faulty(&base);
    let c = crash_after_two_parts(&store, &faults, zstd).await;
    let first_try = faults.bytes_put();
    faults.reset_bytes();
    faults.reset_counts();
    let r = sync_log_dir(&store, c.dir.path(), &settings(zstd))
        .await
        .unwrap();
    assert_eq!(r.partitions[0].1.as_ref().unwrap().uploaded, vec![0]);
    let resent = faults.bytes_put();
    let m = manifest_store::load(&store, &c.tp).await.unwrap().unwrap();
    let done = m.readable().next().copied().unwrap();
    assert_eq!(
        done.attempt, c.seg.attempt,
        "the same attempt was resumed, not replaced"
    );
    assert_eq!(done.checksums.zstd_chunks, zstd);
    assert_eq!(faults.count(Op::StartMultipart), 0, "no new upload");
    // The stored object: the raw segment, or its compressed frames and chunk table.
    let log_key = segment_key(
        &store.prefix,
        &c.tp,
        done.base_offset,
        done.attempt,
        ObjectKind::Log,
    );
    let stored = store.store.head(&log_key).await.unwrap().size;
    if zstd {
        assert!(
            stored > c.size,
            "noise does not compress: {stored} for {}",
            c.size
        );
    } else {
        assert_eq!(stored, c.size);
    }
    // The first two parts (at least PART bytes each) were not sent again.
    let missing = stored - 2 * PART as u64;
    assert!(
        resent < missing + MIB as u64,
        "the restart sent {resent} bytes; at most {missing} were missing"
    );
    assert!(
        resent >= stored - 2 * (PART as u64 + MIB as u64),
        "the restart sent {resent} bytes: too few for the parts after the second"
    );
    assert!(
        first_try + resent < stored + stored / 5,
        "about one object in total, not two: {first_try} + {resent} for {stored}"
    );
    assert_reads_back(&store, &c).await;
    assert!(
        load_intent(&store, &c.tp, &done).await.unwrap().is_none(),
        "the intent is gone once committed"
    );
    assert!(!upload_is_open(&store, &c.tp, &c.seg, c.intent.upload_id.as_deref()).await);
    // No orphans: GC finds nothing to delete or abort, and no intent is left.
    let before = keys(&store).await;
    let g = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(
        g.deleted.is_empty() && g.aborted_uploads == 0,
        "{:?}",
        g.deleted
    );
    assert_eq!(keys(&store).await, before);
    assert!(!before.iter().any(|k| k.ends_with(".mpu")), "{before:?}");
}

/// A crash after the multipart upload was created and before its id was recorded: the
/// intent written before the upload exists names the object, so the retry finds the
/// attempt and continues it with a new upload (the unrecorded one, if the store created
/// it, is left to the bucket lifecycle rule: `object_store` cannot abort it without its id).
async fn crash_before_the_upload_id_is_recorded_leaves_an_intent_the_retry_finds(base: TierStore) {
    let (store, faults) = faulty(&base);
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("unrecorded", 0);
    make_log_dir(
        dir.path(),
        &[(tp.clone(), vec![four_parts(), small()])],
        1_000,
    );
    // The intent's second write (recording the id) fails, and so does the abort of the
    // upload just created: as if the process had died between the two.
    faults.add_rule(
        Rule::new(Some(Op::Put), Fault::Fail)
            .key(".mpu")
            .skip(1)
            .times(1),
    );
    faults.add_rule(Rule::new(Some(Op::AbortMultipart), Fault::Fail));
    let r = sync_log_dir(&store, dir.path(), &settings(false))
        .await
        .unwrap();
    assert!(r.partitions[0].1.is_err());
    assert_eq!(faults.count(Op::StartMultipart), 1);
    assert_eq!(
        faults.count(Op::PutPart),
        0,
        "no part before the id is recorded"
    );
    faults.clear_rules();
    let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
    let seg = *m.copy_in_progress().unwrap();
    let intent = load_intent(&store, &tp, &seg)
        .await
        .unwrap()
        .expect("intent written first");
    assert_eq!(intent.upload_id, None);
    let log_key = segment_key(
        &store.prefix,
        &tp,
        seg.base_offset,
        seg.attempt,
        ObjectKind::Log,
    );
    assert_eq!(
        intent.object,
        log_key.to_string(),
        "the intent names the object"
    );
    // GC leaves it alone while the attempt is live.
    let g = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(g.deleted.is_empty(), "{:?}", g.deleted);
    let r = sync_log_dir(&store, dir.path(), &settings(false))
        .await
        .unwrap();
    assert_eq!(r.partitions[0].1.as_ref().unwrap().uploaded, vec![0]);
    assert_eq!(
        faults.count(Op::StartMultipart),
        2,
        "the retry created a new upload"
    );
    let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
    let done = m.readable().next().copied().unwrap();
    assert_eq!(done.attempt, seg.attempt, "the same attempt went on");
    let remote = RemoteReader::new(store.clone(), 1 << 20, None)
        .get_object(&tp, &done, ObjectKind::Log)
        .await
        .unwrap();
    assert!(remote[..] == std::fs::read(seg_path(dir.path(), &tp, 0, "log")).unwrap()[..]);
    assert!(!keys(&store).await.iter().any(|k| k.ends_with(".mpu")));
    // An orphaned intent without an upload id (its attempt is not live): GC deletes it,
    // with nothing to abort.
    let stray = intent_key(&store.prefix, &tp, 0, 0xdead);
    let pending = Intent {
        upload_id: None,
        parts: Default::default(),
        ..intent
    };
    store.put(&stray, pending.encode().into()).await.unwrap();
    faults.reset_counts();
    let g = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(g.deleted, vec![stray]);
    assert_eq!(g.aborted_uploads, 0);
    assert_eq!(faults.count(Op::AbortMultipart), 0);
}

async fn gc_aborts_multipart_leftovers_by_id(base: TierStore) {
    let (store, faults) = faulty(&base);
    let c = crash_after_two_parts(&store, &faults, false).await;
    // GC leaves the live copy alone: its intent is the manifest's copy in progress.
    let r = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(r.aborted_uploads, 0);
    assert!(upload_is_open(&store, &c.tp, &c.seg, c.intent.upload_id.as_deref()).await);
    // A retry that cannot resume (it compresses, the crashed try did not) replaces the
    // attempt; its abort of the old upload fails,
    // so the old upload is left open and its intent orphaned.
    faults.add_rule(Rule::new(Some(Op::AbortMultipart), Fault::Fail));
    let r = sync_log_dir(&store, c.dir.path(), &settings(true))
        .await
        .unwrap();
    r.partitions[0].1.as_ref().unwrap();
    faults.clear_rules();
    let ikey = intent_key(&store.prefix, &c.tp, c.seg.base_offset, c.seg.attempt);
    assert!(
        store.get_opt(&ikey).await.unwrap().is_some(),
        "orphaned intent"
    );
    assert!(upload_is_open(&store, &c.tp, &c.seg, c.intent.upload_id.as_deref()).await);
    let young = gc::collect_garbage(&store, Duration::from_secs(3600), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        young.aborted_uploads, 0,
        "younger than the grace period: kept"
    );
    faults.reset_counts();
    let r = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(r.aborted_uploads, 1, "{:?}", r.deleted);
    assert_eq!(faults.count(Op::AbortMultipart), 1, "aborted by id");
    assert!(!upload_is_open(&store, &c.tp, &c.seg, c.intent.upload_id.as_deref()).await);
    assert!(store.get_opt(&ikey).await.unwrap().is_none());
    assert_reads_back(&store, &c).await;
    let again = gc::collect_garbage(
        &store,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(
        again.deleted.is_empty() && again.aborted_uploads == 0,
        "idempotent"
    );
}

mod memory {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_between_parts_resumes_from_the_first_missing_part() {
        super::crash_between_parts_resumes_from_the_first_missing_part(memory_store(), false).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zstd_crash_between_parts_resumes_from_the_first_missing_part() {
        super::crash_between_parts_resumes_from_the_first_missing_part(memory_store(), true).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_before_the_upload_id_is_recorded_leaves_an_intent_the_retry_finds() {
        super::crash_before_the_upload_id_is_recorded_leaves_an_intent_the_retry_finds(
            memory_store(),
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gc_aborts_multipart_leftovers_by_id() {
        super::gc_aborts_multipart_leftovers_by_id(memory_store()).await;
    }
}

mod s3 {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_between_parts_resumes_from_the_first_missing_part() {
        super::crash_between_parts_resumes_from_the_first_missing_part(s3_store(), false).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn zstd_crash_between_parts_resumes_from_the_first_missing_part() {
        super::crash_between_parts_resumes_from_the_first_missing_part(s3_store(), true).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crash_before_the_upload_id_is_recorded_leaves_an_intent_the_retry_finds() {
        super::crash_before_the_upload_id_is_recorded_leaves_an_intent_the_retry_finds(s3_store())
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gc_aborts_multipart_leftovers_by_id() {
        super::gc_aborts_multipart_leftovers_by_id(s3_store()).await;
    }
}

/// The local filesystem store has no upload ids: a crashed segment starts over (and the
/// failed attempt's objects are deleted), still byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_fs_restarts_a_crashed_segment_from_scratch() {
    let base = fs_store();
    assert!(base.multipart.is_none());
    let (store, faults) = faulty(&base);
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("resume", 0);
    make_log_dir(
        dir.path(),
        &[(tp.clone(), vec![four_parts(), small()])],
        1_000,
    );
    faults.add_rule(Rule::new(Some(Op::PutPart), Fault::Fail).skip(2));
    let r = sync_log_dir(&store, dir.path(), &settings(false))
        .await
        .unwrap();
    assert!(r.partitions[0].1.is_err());
    faults.clear_rules();
    faults.reset_bytes();
    let r = sync_log_dir(&store, dir.path(), &settings(false))
        .await
        .unwrap();
    assert_eq!(r.partitions[0].1.as_ref().unwrap().uploaded, vec![0]);
    let size = std::fs::metadata(seg_path(dir.path(), &tp, 0, "log"))
        .unwrap()
        .len();
    assert!(
        faults.bytes_put() >= size,
        "no resume: the whole segment again"
    );
    let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
    let s = m.readable().next().copied().unwrap();
    let remote = RemoteReader::new(store.clone(), 1 << 20, None)
        .get_object(&tp, &s, ObjectKind::Log)
        .await
        .unwrap();
    assert!(remote[..] == std::fs::read(seg_path(dir.path(), &tp, 0, "log")).unwrap()[..]);
}
