//! On the local filesystem the `.log`'s first parts go to the store's invisible staging
//! file while the COPY_SEGMENT_STARTED manifest commits. These tests hold that commit back
//! (or fail it late) and check that nothing of the attempt becomes visible before the
//! commit, and that a failed commit aborts the upload and leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keel_tiering::fault::{Fault, FaultyStore, Op, Rule};
use keel_tiering::testing::{SegmentSpec, files_under, segment_source};
use keel_tiering::upload::{SegmentSource, UploadOptions, upload_segment};
use keel_tiering::{SegmentManifest, TierStore, TopicPartition, gc, manifest_store};

const PART: usize = 64 << 10;

fn is_manifest(f: &str) -> bool {
    f.contains("/manifest/") && !f.contains('#')
}

fn is_staging(f: &str) -> bool {
    f.contains('#')
}

/// A ~1 MiB segment, a local-filesystem store in `store_dir` behind a [`FaultyStore`]
/// (ramped parts, written on the writer thread as on a `file://` store).
fn setup(seg_dir: &Path, store_dir: &Path) -> (SegmentSource, TierStore, FaultyStore) {
    let spec = SegmentSpec {
        batches: 100,
        records_per_batch: 2,
        value_len: 5000,
    };
    let (src, _) = segment_source(seg_dir, spec).unwrap();
    let fs = object_store::local::LocalFileSystem::new_with_prefix(store_dir).unwrap();
    let faulty = FaultyStore::new(Arc::new(fs));
    let store = TierStore::new(
        Arc::new(faulty.clone()),
        object_store::path::Path::default(),
        "faulty fs",
    )
    .with_any_part_size()
    .with_local_root(store_dir)
    // No rule delays a part: the part futures need no runtime.
    .with_inline_writes();
    (src, store, faulty)
}

fn opts() -> UploadOptions {
    UploadOptions {
        part_size: PART,
        concurrency: 2,
        ..UploadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_staged_during_the_started_commit_but_nothing_is_visible_before_it() {
    let seg_dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let (src, store, faulty) = setup(seg_dir.path(), store_dir.path());
    // The STARTED commit (the first manifest PUT) takes 300 ms.
    faulty.add_rule(
        Rule::new(Some(Op::Put), Fault::Delay(Duration::from_millis(300)))
            .key("manifest")
            .times(1),
    );
    let tp = TopicPartition::new("overlap", 0);
    let upload = tokio::spawn({
        let store = store.clone();
        let tp = tp.clone();
        let src = src.clone();
        async move {
            let mut m = SegmentManifest::new();
            upload_segment(&store, &tp, &src, 0, &mut m, &opts()).await
        }
    });
    let mut staged_before_commit = false;
    while !upload.is_finished() {
        let now = files_under(store_dir.path()).unwrap();
        let committed = now.iter().any(|f| is_manifest(f));
        if !committed {
            let visible: Vec<&String> = now.iter().filter(|f| !is_staging(f)).collect();
            assert!(
                visible.is_empty(),
                "visible before the STARTED commit: {visible:?}"
            );
            staged_before_commit |= now.iter().any(|f| f.ends_with(".log#1"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seg = upload.await.unwrap().unwrap();
    assert!(
        staged_before_commit,
        "no part was written while the STARTED commit was under way"
    );
    let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
    assert_eq!(m.readable().count(), 1);
    let key = keel_tiering::keys::segment_key(
        &store.prefix,
        &tp,
        0,
        seg.attempt,
        keel_tiering::ObjectKind::Log,
    );
    let stored = store.get_opt(&key).await.unwrap().unwrap();
    assert!(stored[..] == std::fs::read(&src.log).unwrap()[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_commit_failing_while_parts_are_in_flight_aborts_and_leaves_nothing() {
    let seg_dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let (src, store, faulty) = setup(seg_dir.path(), store_dir.path());
    // The STARTED commit fails after 200 ms, while the parts are being written.
    faulty.add_rule(
        Rule::new(Some(Op::Put), Fault::FailAfter(Duration::from_millis(200)))
            .key("manifest")
            .times(1),
    );
    let tp = TopicPartition::new("overlap", 1);
    let mut m = SegmentManifest::new();
    let err = upload_segment(&store, &tp, &src, 0, &mut m, &opts())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert!(
        !faulty.part_lens().is_empty(),
        "parts were written before the commit failed"
    );
    assert_eq!(m.generation, 0, "the caller's manifest is unchanged");
    // The upload aborted itself: no object, no staging file, no manifest.
    let left = files_under(store_dir.path()).unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(manifest_store::load(&store, &tp).await.unwrap().is_none());
    let report = gc::collect_garbage(&store, Duration::ZERO, SystemTime::now())
        .await
        .unwrap();
    assert!(report.staging_files_deleted.is_empty());
    assert!(files_under(store_dir.path()).unwrap().is_empty());
    // A retry uploads the segment.
    upload_segment(&store, &tp, &src, 0, &mut m, &opts())
        .await
        .unwrap();
    assert_eq!(m.readable().count(), 1);
}
