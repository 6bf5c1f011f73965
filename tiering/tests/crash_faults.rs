//! Crash safety with a fault-injecting store: every request of a sync, in turn, fails,
//! is cut off (takes effect but reports an error) or is delayed; then the sync is rerun
//! without faults. Afterwards every committed segment reads back byte-identical, no
//! segment below the committed offset is missing, local deletion never got ahead of the
//! remote commit, and after GC the store holds the same objects as a clean run. The same
//! holds for zstd-compressed uploads (whose interrupted multipart uploads now resume).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;
use keel_tiering::fault::{Fault, Rule};
use keel_tiering::fetch::RemoteReader;
use keel_tiering::sync::{SyncSettings, sync_log_dir};
use keel_tiering::testing::{Fill, SegmentSpec};
use keel_tiering::upload::UploadOptions;
use keel_tiering::{ObjectKind, TierConfig, TierStore, TopicPartition, gc, manifest_store};

fn parts() -> Vec<(TopicPartition, Vec<SegmentSpec>)> {
    let mid = SegmentSpec {
        batches: 10,
        records_per_batch: 4,
        value_len: 3000,
    }; // ~120 KiB: multipart at 32 KiB parts
    vec![
        (TopicPartition::new("a", 0), vec![mid, small(), mid]),
        (TopicPartition::new("b", 3), vec![small(), mid, small()]),
    ]
}

fn settings(delete_local: bool, zstd: bool) -> SyncSettings {
    SyncSettings {
        cfg: TierConfig {
            local_retention_bytes: 0,
            ..TierConfig::default()
        },
        opts: UploadOptions {
            part_size: 32 * 1024,
            concurrency: 2,
            zstd_level: zstd.then_some(1),
            chunk_size: 8 * 1024,
            ..UploadOptions::default()
        },
        now_ms: 0,
        delete_local,
        partition_concurrency: 1,
    }
}

/// Object names with the attempt id blanked out and manifest generations replaced by
/// their rank (newest = 0), so runs compare.
async fn normalized(store: &TierStore) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut manifests: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for k in keys(store).await {
        let parts: Vec<&str> = k.split('/').collect();
        let n = parts.len();
        if n >= 3 && parts[n - 2] == "manifest" {
            manifests
                .entry(parts[n - 3].to_string())
                .or_default()
                .push(parts[n - 1].to_string());
            continue;
        }
        let (dir, file) = (parts[n - 2], parts[n - 1]);
        let (base, rest) = file.split_once('-').unwrap();
        out.insert(format!(
            "{dir}/{base}-*.{}",
            rest.split_once('.').unwrap().1
        ));
    }
    for (dir, mut gens) in manifests {
        gens.sort();
        for rank in 0..gens.len() {
            out.insert(format!("{dir}/manifest#{rank}"));
        }
    }
    out
}

async fn check_invariants(store: &TierStore, pristine: &Path, live: &Path) {
    let reader = RemoteReader::new(store.clone(), 1 << 20, None);
    for (tp, specs) in parts() {
        let m = manifest_store::load(store, &tp).await.unwrap().unwrap();
        let readable: Vec<_> = m.readable().copied().collect();
        // Contiguous from offset 0 to the committed end; all closed segments present.
        assert_eq!(readable.len(), specs.len() - 1, "{tp}: {readable:?}");
        let mut next = 0;
        for s in &readable {
            assert_eq!(s.base_offset, next, "{tp}: gap below the committed offset");
            next = s.end_offset();
            let remote = reader.get_object(&tp, s, ObjectKind::Log).await.unwrap();
            let local = std::fs::read(seg_path(pristine, &tp, s.base_offset, "log")).unwrap();
            assert!(
                remote[..] == local[..],
                "{tp} segment {} differs",
                s.base_offset
            );
        }
        assert_local_not_ahead(store, live, &tp).await;
    }
}

/// Every local segment that is gone lies below the committed remote end.
async fn assert_local_not_ahead(store: &TierStore, live: &Path, tp: &TopicPartition) {
    let committed = manifest_store::load(store, tp)
        .await
        .unwrap()
        .map_or(0, |m| m.committed_end_offset());
    let pd = keel_wire::segment::PartitionDir::scan(&live.join(tp.to_string())).unwrap();
    let local_start = pd.segments.first().map_or(i64::MAX, |s| s.base_offset);
    assert!(
        local_start <= committed.max(0),
        "{tp}: local log starts at {local_start} but the remote commit ends at {committed}"
    );
}

/// zstd runs use noise values, so that compressed segments still span several parts.
fn fill(zstd: bool) -> Fill {
    if zstd { Fill::Noise } else { Fill::Pattern }
}

async fn clean_run(zstd: bool) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    make_log_dir_with(dir.path(), &parts(), 1_000, fill(zstd));
    let store = memory_store();
    let r = sync_log_dir(&store, dir.path(), &settings(true, zstd))
        .await
        .unwrap();
    assert!(r.partitions.iter().all(|(_, r)| r.is_ok()));
    normalized(&store).await
}

async fn run_with_fault(fault: Fault, at: usize, zstd: bool) -> bool {
    let pristine = tempfile::tempdir().unwrap();
    make_log_dir_with(pristine.path(), &parts(), 1_000, fill(zstd));
    let live = tempfile::tempdir().unwrap();
    make_log_dir_with(live.path(), &parts(), 1_000, fill(zstd));
    let base = memory_store();
    let (store, faults) = faulty(&base);
    faults.add_rule(Rule::new(None, fault).skip(at).times(1));
    let first = sync_log_dir(&store, live.path(), &settings(true, zstd))
        .await
        .unwrap();
    let fired = first.partitions.iter().any(|(_, r)| r.is_err());
    for (tp, _) in parts() {
        assert_local_not_ahead(&base, live.path(), &tp).await;
    }
    faults.clear_rules();
    let second = sync_log_dir(&store, live.path(), &settings(true, zstd))
        .await
        .unwrap();
    for (tp, r) in &second.partitions {
        assert!(
            r.is_ok(),
            "{fault:?} at request {at}: rerun failed for {tp}: {r:?}"
        );
    }
    check_invariants(&base, pristine.path(), live.path()).await;
    gc::collect_garbage(
        &base,
        Duration::ZERO,
        SystemTime::now() + Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(
        normalized(&base).await,
        clean_run(zstd).await,
        "{fault:?} at request {at}: GC left a different set of objects"
    );
    fired
}

async fn every_failed_request_is_recovered(zstd: bool) {
    let mut fired = 0;
    for at in 0..80 {
        if run_with_fault(Fault::Fail, at, zstd).await {
            fired += 1;
        }
    }
    assert!(
        fired > 20,
        "faults should hit many distinct requests, hit {fired}"
    );
}

async fn every_cut_off_request_is_recovered(zstd: bool) {
    for at in 0..80 {
        run_with_fault(Fault::CutOff, at, zstd).await;
    }
}

mod uncompressed {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_failed_request_is_recovered() {
        super::every_failed_request_is_recovered(false).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_cut_off_request_is_recovered() {
        super::every_cut_off_request_is_recovered(false).await;
    }
}

mod zstd {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_failed_request_is_recovered() {
        super::every_failed_request_is_recovered(true).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_cut_off_request_is_recovered() {
        super::every_cut_off_request_is_recovered(true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_down_keeps_every_local_segment_and_reports_lag() {
    let live = tempfile::tempdir().unwrap();
    make_log_dir(live.path(), &parts(), 1_000);
    let before: Vec<_> = walk(live.path());
    let base = memory_store();
    let (store, faults) = faulty(&base);
    faults.add_rule(Rule::new(None, Fault::Fail));
    let r = sync_log_dir(&store, live.path(), &settings(true, false))
        .await
        .unwrap();
    assert!(
        r.partitions.iter().all(|(_, r)| r.is_err()),
        "every partition reports the outage"
    );
    assert_eq!(
        walk(live.path()),
        before,
        "nothing local is deleted while the store is down"
    );
    // Slow store: everything still goes up, just later.
    faults.clear_rules();
    faults.add_rule(Rule::new(None, Fault::Delay(Duration::from_millis(5))));
    let r = sync_log_dir(&store, live.path(), &settings(false, false))
        .await
        .unwrap();
    for (_, p) in &r.partitions {
        let p = p.as_ref().unwrap();
        assert_eq!((p.lag_segments, p.lag_bytes), (0, 0));
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out.sort();
    out
}
