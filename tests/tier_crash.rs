//! Crash safety of `keel tier upload`: SIGKILL it at random moments while it uploads (with
//! local deletion on), restart it, and finally let it finish. Then:
//! - every committed segment reads back byte-identical;
//! - no segment below the committed offset is missing;
//! - local deletion never got ahead of the remote commit (checked after every kill);
//! - after `keel tier gc` the store holds the same objects as a clean run, and no staging
//!   files of killed writes (which listings do not show) are left on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "common/tier_crash.rs"]
mod crash;

use std::process::Command;
use std::time::Duration;

use crash::{
    KEEL, Load, Rng, assert_committed_segments_match, assert_local_not_ahead, keys, make_log_dir,
    partitions, rt, upload_cmd,
};
use keel_tiering::testing::{Fill, SegmentSpec};
use keel_tiering::{TierStore, manifest_store};

const LOAD: Load = Load {
    segment: SegmentSpec {
        batches: 16,
        records_per_batch: 4,
        value_len: 16 * 1024,
    }, // ~1 MiB
    part_size: "65536",
    rate: "8000000",
    zstd_level: None,
    fill: Fill::Pattern,
};

#[test]
fn sigkill_at_random_moments_never_loses_data_or_leaks_objects() {
    let rt = rt();
    let pristine = tempfile::tempdir().unwrap();
    make_log_dir(pristine.path(), &LOAD);

    // Clean run.
    let clean_dir = tempfile::tempdir().unwrap();
    make_log_dir(clean_dir.path(), &LOAD);
    let clean_store_dir = tempfile::tempdir().unwrap();
    let clean_url = format!("file://{}", clean_store_dir.path().display());
    assert!(
        upload_cmd(clean_dir.path(), &clean_url, true, &LOAD)
            .status()
            .unwrap()
            .success()
    );
    let clean = rt.block_on(keys(&TierStore::open(&clean_url).unwrap()));

    // Crashing run.
    let live = tempfile::tempdir().unwrap();
    make_log_dir(live.path(), &LOAD);
    let store_dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store_dir.path().display());
    let store = TierStore::open(&url).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    for round in 0..10 {
        let mut child = upload_cmd(live.path(), &url, false, &LOAD).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        rt.block_on(assert_local_not_ahead(&store, live.path()));
        let ends: Vec<i64> = rt.block_on(async {
            let mut v = Vec::new();
            for tp in partitions() {
                v.push(
                    manifest_store::load(&store, &tp)
                        .await
                        .unwrap()
                        .map_or(0, |m| m.committed_end_offset()),
                );
            }
            v
        });
        eprintln!("round {round}: killed; committed ends {ends:?}");
    }
    let status = upload_cmd(live.path(), &url, true, &LOAD).status().unwrap();
    assert!(status.success(), "final run after the crashes failed");
    rt.block_on(assert_local_not_ahead(&store, live.path()));

    // Every committed segment is there, contiguous and byte-identical.
    rt.block_on(assert_committed_segments_match(&store, pristine.path()));

    // GC with no grace leaves exactly what a clean run has.
    let gc = Command::new(KEEL)
        .args(["tier", "gc", "--store", &url, "--grace", "0s"])
        .output()
        .unwrap();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert_eq!(rt.block_on(keys(&store)), clean);
    // Listings hide the `#<n>` staging files a killed local write leaves; GC must have
    // removed those too, so the directory holds no more than the clean run's.
    let staging = keel_tiering::local_staging::find_staging_files(store_dir.path()).unwrap();
    assert!(
        staging.is_empty(),
        "staging files left after GC: {staging:?}"
    );
    assert_eq!(
        keel_tiering::local_staging::find_staging_files(clean_store_dir.path()).unwrap(),
        vec![]
    );
}
