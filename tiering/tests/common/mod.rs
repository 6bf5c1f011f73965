//! Shared test support: store openers and the store conformance suite.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use keel_tiering::TierStore;
use keel_tiering::TopicPartition;
use keel_tiering::fault::FaultyStore;
use keel_tiering::testing::{Fill, SegmentSpec, write_high_watermarks, write_partition_with};
use object_store::path::Path as Key;

pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("run-{}-{nanos}", std::process::id())
}

pub fn memory_store() -> TierStore {
    TierStore::open("memory://").unwrap()
}

pub fn fs_store() -> TierStore {
    let dir = tempfile::tempdir().unwrap().keep();
    TierStore::open(&format!("file://{}", dir.display())).unwrap()
}

/// The S3 server from `./test.sh`; fails (never skips) when its env is missing.
pub fn s3_store() -> TierStore {
    let Ok(bucket) = std::env::var("KEEL_TEST_S3_BUCKET") else {
        panic!(
            "KEEL_TEST_S3_BUCKET is not set: the S3 tests need the s3s-fs server; run ./test.sh \
             (or tests/servers/s3-start.sh and source $KEEL_TEST_HOME/s3.env)"
        );
    };
    TierStore::open(&format!("s3://{bucket}/{}", unique())).unwrap()
}

/// Wraps a store in a [`FaultyStore`] (same prefix).
pub fn faulty(store: &TierStore) -> (TierStore, FaultyStore) {
    let mut f = FaultyStore::new(store.store.clone());
    if let Some(mp) = &store.multipart {
        f = f.with_multipart(mp.clone());
    }
    let mut t = TierStore::new(Arc::new(f.clone()), store.prefix.clone(), "faulty");
    if store.multipart.is_some() {
        t = t.with_multipart(Arc::new(f.clone()));
    }
    t.any_part_size = store.any_part_size;
    (t, f)
}

pub const MIB: usize = 1 << 20;

/// A big segment (> 5 MiB, so multipart at a 5 MiB part size) and small ones.
pub fn big() -> SegmentSpec {
    SegmentSpec {
        batches: 24,
        records_per_batch: 4,
        value_len: 64 * 1024,
    }
}
pub fn small() -> SegmentSpec {
    SegmentSpec {
        batches: 20,
        records_per_batch: 5,
        value_len: 100,
    }
}

/// Writes a log dir with the given partitions (each: segment specs, last = active), high
/// watermark = log end offset. Timestamps start at `ts0`.
pub fn make_log_dir(dir: &Path, parts: &[(TopicPartition, Vec<SegmentSpec>)], ts0: i64) {
    make_log_dir_with(dir, parts, ts0, Fill::Pattern);
}

/// [`make_log_dir`] with record values filled as `fill` says.
pub fn make_log_dir_with(
    dir: &Path,
    parts: &[(TopicPartition, Vec<SegmentSpec>)],
    ts0: i64,
    fill: Fill,
) {
    let mut hws = Vec::new();
    for (tp, specs) in parts {
        let leo = write_partition_with(dir, tp, specs, ts0, 3, fill).unwrap();
        hws.push((tp.clone(), leo));
    }
    write_high_watermarks(dir, &hws).unwrap();
}

pub fn seg_path(dir: &Path, tp: &TopicPartition, base: i64, ext: &str) -> std::path::PathBuf {
    dir.join(tp.to_string()).join(format!("{base:020}.{ext}"))
}

pub async fn keys(store: &TierStore) -> Vec<String> {
    let mut k: Vec<String> = store
        .list_all(&store.prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    k.sort();
    k
}

pub fn key(s: &str) -> Key {
    Key::from(s)
}

pub mod suite {
    use std::time::{Duration, SystemTime};

    use keel_tiering::fault::{Fault, Op, Rule};
    use keel_tiering::fetch::RemoteReader;
    use keel_tiering::sync::{SyncSettings, sync_log_dir};
    use keel_tiering::upload::UploadOptions;
    use keel_tiering::{
        ObjectKind, SegmentManifest, SegmentState, TierConfig, TieringError, expire, gc,
        manifest_store,
    };

    use super::*;

    /// An operator's expiry run (no log dir): fenced by the manifest's own epoch.
    pub const WRITER: expire::ExpireWriter = expire::ExpireWriter { epoch: None, id: 9 };

    pub fn settings() -> SyncSettings {
        SyncSettings {
            cfg: TierConfig::default(),
            opts: UploadOptions {
                part_size: 5 * MIB,
                ..UploadOptions::default()
            },
            now_ms: 0,
            delete_local: false,
            partition_concurrency: 2,
        }
    }

    pub async fn manifest_commit_is_conditional(store: TierStore) {
        let tp = TopicPartition::new("t", 0);
        assert!(manifest_store::load(&store, &tp).await.unwrap().is_none());
        let mut a = SegmentManifest::new();
        let mut b = SegmentManifest::new();
        manifest_store::commit(&store, &tp, &mut a).await.unwrap();
        let e = manifest_store::commit(&store, &tp, &mut b)
            .await
            .unwrap_err();
        assert!(
            matches!(e, TieringError::CommitConflict { generation: 1, .. }),
            "{e}"
        );
        assert_eq!(
            b.generation, 0,
            "a lost commit leaves the manifest unchanged"
        );
        for _ in 0..3 {
            manifest_store::commit(&store, &tp, &mut a).await.unwrap();
        }
        let loaded = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(loaded, a);
        assert_eq!(
            manifest_store::list_generations(&store, &tp).await.unwrap(),
            vec![3, 4]
        );
    }

    pub async fn upload_roundtrips_small_and_multipart(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("orders", 1);
        make_log_dir(
            dir.path(),
            &[(tp.clone(), vec![big(), small(), small()])],
            1_000,
        );
        let report = sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let r = report.partitions[0].1.as_ref().unwrap();
        assert_eq!(
            r.uploaded,
            vec![0, 96],
            "both closed segments, oldest first, never the active one"
        );
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(m.readable().count(), 2);
        let reader = RemoteReader::new(store.clone(), 1 << 20, None);
        for s in m.readable() {
            assert_eq!(s.state, SegmentState::CopySegmentFinished);
            for (kind, ext) in [
                (ObjectKind::Log, "log"),
                (ObjectKind::OffsetIndex, "index"),
                (ObjectKind::TimeIndex, "timeindex"),
            ] {
                let remote = reader.get_object(&tp, s, kind).await.unwrap();
                let local = std::fs::read(seg_path(dir.path(), &tp, s.base_offset, ext)).unwrap();
                assert!(
                    remote[..] == local[..],
                    "{kind:?} of {} differs",
                    s.base_offset
                );
            }
            assert!(s.checksums.get(ObjectKind::LeaderEpochCheckpoint).is_some());
        }
        assert!(
            m.segments()[0].size_bytes as usize > 5 * MIB,
            "first segment went up in parts"
        );
        // A second pass finds nothing to do.
        let again = sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        assert!(again.partitions[0].1.as_ref().unwrap().uploaded.is_empty());
    }

    pub async fn corrupt_segment_is_not_uploaded_and_others_carry_on(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let bad = TopicPartition::new("bad", 0);
        let good = TopicPartition::new("good", 0);
        make_log_dir(
            dir.path(),
            &[
                (bad.clone(), vec![small(), small()]),
                (good.clone(), vec![small(), small()]),
            ],
            1_000,
        );
        let log = seg_path(dir.path(), &bad, 0, "log");
        let mut bytes = std::fs::read(&log).unwrap();
        let flip = bytes.len() / 2;
        bytes[flip] ^= 0xff;
        std::fs::write(&log, &bytes).unwrap();
        let report = sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let (_, bad_result) = report.partitions.iter().find(|(tp, _)| *tp == bad).unwrap();
        match bad_result {
            Err(TieringError::CorruptSegment { path, position, .. }) => {
                assert_eq!(path, &log);
                assert!(
                    *position <= flip as u64 && *position > 0,
                    "position {position} should be the start of the batch holding byte {flip}"
                );
            }
            other => panic!("expected CorruptSegment, got {other:?}"),
        }
        let (_, good_result) = report
            .partitions
            .iter()
            .find(|(tp, _)| *tp == good)
            .unwrap();
        assert_eq!(good_result.as_ref().unwrap().uploaded, vec![0]);
        let m = manifest_store::load(&store, &bad).await.unwrap().unwrap();
        assert_eq!(m.readable().count(), 0);
        let bad_logs: Vec<String> = keys(&store)
            .await
            .into_iter()
            .filter(|k| k.contains("/bad-0/") && !k.contains("/manifest/"))
            .collect();
        assert!(
            bad_logs.is_empty(),
            "nothing of the corrupt segment stays in the store: {bad_logs:?}"
        );
    }

    pub async fn deletes_are_idempotent(store: TierStore) {
        let k = store
            .prefix
            .child("x-0")
            .child("00000000000000000000-0000000000000001.log");
        store
            .put(&k, bytes::Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            store.delete_all(vec![k.clone(), k.clone()]).await.unwrap(),
            2
        );
        store.delete_all(vec![k.clone()]).await.unwrap();
        assert!(store.get_opt(&k).await.unwrap().is_none());
    }

    pub async fn fetch_reads_whole_batches_with_one_ranged_get(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("reads", 0);
        let spec = keel_tiering::testing::SegmentSpec {
            batches: 300,
            records_per_batch: 3,
            value_len: 200,
        };
        make_log_dir(dir.path(), &[(tp.clone(), vec![spec, small()])], 1_000);
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let (counted, faults) = faulty(&store);
        // No hot-chunk cache: every read is exactly one GET of the bytes it needs.
        let reader = RemoteReader::new(counted, 1 << 20, None).with_chunk_cache(0);
        let local = std::fs::read(seg_path(dir.path(), &tp, 0, "log")).unwrap();
        reader.fetch(&tp, 1, 1).await.unwrap(); // warms manifest and index caches
        for offset in [0i64, 1, 2, 3, 450, 451, 899] {
            faults.reset_counts();
            let r = reader.fetch(&tp, offset, 1).await.unwrap();
            assert_eq!(
                faults.count(Op::Get),
                1,
                "exactly one GET for offset {offset}"
            );
            assert_eq!(faults.count(Op::List), 0);
            let batches: Vec<_> = keel_wire::batch::BatchIter::new(&r.records)
                .map(|b| *b.unwrap().as_v2().unwrap())
                .collect();
            assert_eq!(
                batches.len(),
                1,
                "max_bytes 1 still returns the whole first batch"
            );
            assert!(batches[0].base_offset() <= offset && offset <= batches[0].last_offset());
            let pos = r.position as usize;
            assert_eq!(&local[pos..pos + r.records.len()], &r.records[..]);
            let r = reader.fetch(&tp, offset, 10_000).await.unwrap();
            let end = r.position as usize + r.records.len();
            assert!(
                r.records.len() <= 10_000,
                "{} bytes > max_bytes",
                r.records.len()
            );
            assert!(
                end == local.len() || r.records.len() + 1_000 > 10_000,
                "offset {offset}: only {} bytes returned",
                r.records.len()
            );
            assert_eq!(&local[r.position as usize..end], &r.records[..]);
        }
        let e = reader.fetch(&tp, 900, 100).await.unwrap_err();
        assert!(
            matches!(
                e,
                TieringError::OffsetOutOfRange {
                    offset: 900,
                    end: 900,
                    ..
                }
            ),
            "{e}"
        );
    }

    pub async fn expire_advances_log_start_before_deleting(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("exp", 0);
        make_log_dir(
            dir.path(),
            &[(tp.clone(), vec![small(), small(), small(), small()])],
            1_000,
        );
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        let ts: Vec<i64> = m.readable().map(|s| s.max_timestamp).collect();
        assert_eq!(ts.len(), 3);
        // Expire the first two by time.
        let cfg = TierConfig {
            retention_ms: 100,
            ..TierConfig::default()
        };
        let now = ts[1] + 100;
        let (failing, faults) = faulty(&store);
        faults.add_rule(Rule::new(Some(Op::Delete), Fault::Fail).key(".log"));
        let e = expire::expire_partition(&failing, &tp, &cfg, 0, now, WRITER).await;
        assert!(e.is_err(), "deletes fail");
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(
            m.log_start_offset, 200,
            "log start committed before any delete"
        );
        assert_eq!(m.pending_deletes().count(), 2);
        let reader = RemoteReader::new(store.clone(), 1 << 20, None);
        assert!(matches!(
            reader.fetch(&tp, 0, 100).await,
            Err(TieringError::OffsetOutOfRange { .. })
        ));
        faults.clear_rules();
        let r = expire::expire_partition(&failing, &tp, &cfg, 0, now, WRITER)
            .await
            .unwrap();
        assert_eq!(r.resumed_deletes, 2);
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(m.segments().len(), 1);
        assert!(keys(&store).await.iter().all(
            |k| !k.contains("/00000000000000000000-") && !k.contains("/00000000000000000100-")
        ));
        reader.fetch(&tp, 250, 100).await.unwrap();
        // Size retention: 1 segment remote + 1 local-only; limit below that expires the last remote one.
        let seg_size = m.remote_bytes();
        let cfg = TierConfig {
            retention_ms: -1,
            retention_bytes: seg_size as i64,
            ..TierConfig::default()
        };
        let r = expire::expire_partition(&store, &tp, &cfg, seg_size, now, WRITER)
            .await
            .unwrap();
        assert_eq!(r.log_start_after, 300);
    }

    /// Sidecar mode: expiry writes are fenced by the leader epoch of the partition's
    /// `leader-epoch-checkpoint`; a sidecar whose broker has an older epoch than the
    /// manifest's changes nothing.
    pub async fn expire_with_a_stale_leader_epoch_is_refused(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("fenced", 0);
        make_log_dir(
            dir.path(),
            &[(tp.clone(), vec![small(), small(), small()])],
            1_000,
        );
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let before = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(
            before.leader_epoch, 3,
            "uploaded under the checkpoint's epoch"
        );
        let pd = keel_wire::segment::PartitionDir::scan(&dir.path().join(tp.to_string())).unwrap();
        assert_eq!(keel_tiering::sync::leader_epoch(&pd).unwrap(), 3);
        let cfg = TierConfig {
            retention_ms: 1,
            ..TierConfig::default()
        };
        let now = i64::MAX / 2; // everything is expired by time
        let stale = expire::ExpireWriter {
            epoch: Some(2),
            id: 7,
        };
        let e = expire::expire_partition(&store, &tp, &cfg, 0, now, stale)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                TieringError::Fenced {
                    writer_epoch: 2,
                    manifest_epoch: 3,
                    ..
                }
            ),
            "{e}"
        );
        let after = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(after, before, "a fenced writer changes nothing");
        let current = expire::ExpireWriter {
            epoch: Some(4),
            id: 8,
        };
        let r = expire::expire_partition(&store, &tp, &cfg, 0, now, current)
            .await
            .unwrap();
        assert_eq!(
            r.log_start_after, 200,
            "the current leader expires both segments"
        );
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        assert_eq!(
            m.leader_epoch, 4,
            "the newer epoch now fences older writers"
        );
        let e = expire::expire_partition(&store, &tp, &cfg, 0, now, WRITER).await;
        assert!(
            e.is_ok(),
            "an operator run uses the manifest's epoch: {e:?}"
        );
        let e = expire::expire_partition(&store, &tp, &cfg, 0, now, stale)
            .await
            .unwrap_err();
        assert!(matches!(e, TieringError::Fenced { .. }), "{e}");
    }

    pub async fn zstd_chunked_upload_roundtrips_and_reads_with_one_get(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("zstd", 2);
        let spec = keel_tiering::testing::SegmentSpec {
            batches: 400,
            records_per_batch: 3,
            value_len: 20_000,
        };
        make_log_dir(
            dir.path(),
            &[(tp.clone(), vec![spec, small(), small()])],
            1_000,
        );
        let mut st = settings();
        st.opts.zstd_level = Some(3);
        st.opts.chunk_size = MIB;
        sync_log_dir(&store, dir.path(), &st).await.unwrap();
        let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
        let first = m.readable().next().copied().unwrap();
        assert!(first.checksums.zstd_chunks);
        let local = std::fs::read(seg_path(dir.path(), &tp, 0, "log")).unwrap();
        assert!(
            local.len() > 20 * MIB,
            "spans several parts and many chunks"
        );
        let stored: u64 = store
            .list_all(&store.prefix)
            .await
            .unwrap()
            .iter()
            .filter(|o| {
                o.location.as_ref().ends_with(".log")
                    && o.location.as_ref().contains("/00000000000000000000-")
            })
            .map(|o| o.size)
            .sum();
        assert!(
            stored < local.len() as u64 / 2,
            "compressible data shrinks: {stored} of {}",
            local.len()
        );
        let (counted, faults) = faulty(&store);
        let reader = RemoteReader::new(counted.clone(), 1 << 20, None).with_chunk_cache(0);
        let whole = reader
            .get_object(&tp, &first, ObjectKind::Log)
            .await
            .unwrap();
        assert!(
            whole[..] == local[..],
            "decompressed object equals the local segment"
        );
        reader.fetch(&tp, 0, 1).await.unwrap(); // warms manifest, index and chunk table
        for offset in [0i64, 1, 599, 600, 1199] {
            faults.reset_counts();
            let r = reader.fetch(&tp, offset, 100_000).await.unwrap();
            assert_eq!(faults.count(Op::Get), 1, "one GET for offset {offset}");
            let pos = r.position as usize;
            assert_eq!(&local[pos..pos + r.records.len()], &r.records[..]);
            let b = keel_wire::batch::BatchIter::new(&r.records)
                .next()
                .unwrap()
                .unwrap();
            let b = b.as_v2().unwrap();
            assert!(b.base_offset() <= offset && offset <= b.last_offset());
        }
        // With the hot-chunk cache: decompressed chunks are kept; a re-read makes no GET.
        let cached = RemoteReader::new(counted, 1 << 20, None).with_chunk_cache(8 * MIB);
        cached.fetch(&tp, 0, 1).await.unwrap();
        for offset in [600i64, 601, 600] {
            faults.reset_counts();
            let first = cached.fetch(&tp, offset, 100_000).await.unwrap();
            let gets = faults.count(Op::Get);
            let again = cached.fetch(&tp, offset, 100_000).await.unwrap();
            assert_eq!(
                faults.count(Op::Get),
                gets,
                "re-read of {offset} served from the cache"
            );
            assert!(gets <= 1, "{gets} GETs for offset {offset}");
            assert_eq!(first.records, again.records);
            let pos = again.position as usize;
            assert_eq!(&local[pos..pos + again.records.len()], &again.records[..]);
        }
        assert!(cached.chunk_cache_stats().hits > 0);
        assert!(cached.chunk_cache_size() <= 8 * MIB);
    }

    /// The fetch concurrency limit holds across partitions: with a slow store and 8
    /// concurrent reads, at most 2 GETs are ever in flight; without it, more are.
    pub async fn fetch_concurrency_limit_bounds_gets_in_flight(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tps: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("conc", p)).collect();
        let parts: Vec<_> = tps
            .iter()
            .map(|tp| (tp.clone(), vec![small(), small()]))
            .collect();
        make_log_dir(dir.path(), &parts, 1_000);
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let (slow, faults) = faulty(&store);
        for (limit, max_seen) in [(Some(2), 2..=2), (None, 3..=8)] {
            let mut reader = RemoteReader::new(slow.clone(), 1 << 20, None).with_chunk_cache(0);
            if let Some(n) = limit {
                reader = reader.with_fetch_concurrency(n);
            }
            let reader = std::sync::Arc::new(reader);
            for tp in &tps {
                reader.fetch(tp, 0, 1).await.unwrap(); // warm manifests and indexes
            }
            faults.add_rule(Rule::new(
                Some(Op::Get),
                Fault::Delay(Duration::from_millis(100)),
            ));
            faults.reset_counts();
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..8 {
                let (reader, tp) = (reader.clone(), tps[i % 4].clone());
                tasks.spawn(async move { reader.fetch(&tp, (i as i64) * 10, 1).await.map(|_| ()) });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap().unwrap();
            }
            faults.clear_rules();
            assert!(
                max_seen.contains(&faults.max_in_flight()),
                "limit {limit:?}: {} GETs in flight at once",
                faults.max_in_flight()
            );
        }
    }

    /// Hot chunks: the first read of a region is one ranged GET, re-reads near it are
    /// served from the chunk cache with no GET, the bytes are the same, and the cache
    /// stays within its budget while a consumer scans the whole segment.
    pub async fn fetch_serves_hot_chunks_from_cache(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("hot", 0);
        let spec = keel_tiering::testing::SegmentSpec {
            batches: 400,
            records_per_batch: 2,
            value_len: 3_000,
        };
        make_log_dir(dir.path(), &[(tp.clone(), vec![spec, small()])], 1_000);
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let local = std::fs::read(seg_path(dir.path(), &tp, 0, "log")).unwrap();
        assert!(local.len() > 2 * MIB);
        let (counted, faults) = faulty(&store);
        let budget = 512 * 1024;
        let reader = RemoteReader::new(counted, 1 << 20, None).with_chunk_cache(budget);
        reader.fetch(&tp, 0, 1).await.unwrap(); // warms manifest and index
        faults.reset_counts();
        let tail = 790;
        let cold = reader.fetch(&tp, tail, 20_000).await.unwrap();
        assert_eq!(faults.count(Op::Get), 1, "a cold read is one ranged GET");
        let misses = reader.chunk_cache_stats().misses;
        for offset in [tail, tail + 1, tail + 2, tail] {
            faults.reset_counts();
            let hot = reader.fetch(&tp, offset, 20_000).await.unwrap();
            assert_eq!(
                faults.count(Op::Get),
                0,
                "offset {offset}: served from the cache"
            );
            let pos = hot.position as usize;
            assert_eq!(&local[pos..pos + hot.records.len()], &hot.records[..]);
        }
        assert_eq!(reader.chunk_cache_stats().misses, misses, "no new misses");
        assert!(reader.chunk_cache_stats().hits >= 4);
        let again = reader.fetch(&tp, tail, 20_000).await.unwrap();
        assert_eq!(again.records, cold.records);
        // A consumer scanning the whole segment: the cache never holds more than its budget.
        let mut offset = 0;
        while offset < 800 {
            let r = reader.fetch(&tp, offset, 64 * 1024).await.unwrap();
            let pos = r.position as usize;
            assert_eq!(&local[pos..pos + r.records.len()], &r.records[..]);
            let last = keel_wire::batch::BatchIter::new(&r.records)
                .last()
                .unwrap()
                .unwrap();
            offset = last.as_v2().unwrap().last_offset() + 1;
            assert!(
                reader.chunk_cache_size() <= budget,
                "{} > {budget}",
                reader.chunk_cache_size()
            );
        }
        // The start of the segment was evicted by the scan: reading it again is one GET.
        faults.reset_counts();
        reader.fetch(&tp, 0, 1).await.unwrap();
        assert_eq!(faults.count(Op::Get), 1, "evicted chunks are fetched again");
    }

    pub async fn gc_removes_only_old_orphans(store: TierStore) {
        let dir = tempfile::tempdir().unwrap();
        let tp = TopicPartition::new("gc", 0);
        make_log_dir(dir.path(), &[(tp.clone(), vec![small(), small()])], 1_000);
        sync_log_dir(&store, dir.path(), &settings()).await.unwrap();
        let clean = keys(&store).await;
        let orphan = store
            .prefix
            .child("gc-0")
            .child("00000000000000000000-00000000deadbeef.log");
        let other = store
            .prefix
            .child("gc-0")
            .child("00000000000000000100-00000000deadbeef.index");
        store
            .put(&orphan, bytes::Bytes::from_static(b"partial"))
            .await
            .unwrap();
        store
            .put(&other, bytes::Bytes::from_static(b"partial"))
            .await
            .unwrap();
        let young = gc::collect_garbage(&store, Duration::from_secs(3600), SystemTime::now())
            .await
            .unwrap();
        assert!(young.deleted.is_empty());
        assert_eq!(young.young_orphans, 2);
        let r = gc::collect_garbage(
            &store,
            Duration::ZERO,
            SystemTime::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.deleted.len(), 2, "{:?}", r.deleted);
        assert_eq!(
            keys(&store).await,
            clean,
            "after GC the store holds what a clean run left"
        );
    }
}
