//! Crash safety of `keel tier upload` against the S3 server from `./test.sh`, whose
//! multipart uploads have ids: SIGKILL it at random moments while ~12 MiB segments go up in
//! 5 MiB parts (each upload id recorded in an intent object before the first part), restart
//! it, and finally let it finish. Then:
//! - every committed segment reads back byte-identical;
//! - no segment below the committed offset is missing;
//! - local deletion never got ahead of the remote commit (checked after every kill);
//! - after `keel tier gc` (which aborts leftover uploads by id) the store holds the same
//!   objects as a clean run: no intent objects either.
//!
//! Run twice: plain segments, and zstd-compressed ones (noise values, so that compressed
//! segments still go up in several parts and their killed uploads resume).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "common/tier_crash.rs"]
mod crash;

use std::process::{Command, Stdio};
use std::time::Duration;

use crash::{
    KEEL, Load, Rng, assert_committed_segments_match, assert_local_not_ahead, keys, make_log_dir,
    rt, upload_cmd,
};
use keel_tiering::TierStore;
use keel_tiering::testing::{Fill, SegmentSpec};

const LOAD: Load = Load {
    segment: SegmentSpec {
        batches: 48,
        records_per_batch: 4,
        value_len: 64 * 1024,
    }, // ~12 MiB: 3 parts of 5 MiB
    part_size: "5242880",
    rate: "40000000",
    zstd_level: None,
    fill: Fill::Pattern,
};

const ZSTD_LOAD: Load = Load {
    zstd_level: Some("1"),
    fill: Fill::Noise,
    ..LOAD
};

#[test]
fn sigkill_during_s3_multipart_uploads_resumes_and_leaves_no_orphans() {
    crash_s3("plain", &LOAD);
}

#[test]
fn sigkill_during_zstd_s3_multipart_uploads_resumes_and_leaves_no_orphans() {
    crash_s3("zstd", &ZSTD_LOAD);
}

fn crash_s3(name: &str, load: &Load) {
    let Ok(bucket) = std::env::var("KEEL_TEST_S3_BUCKET") else {
        panic!(
            "KEEL_TEST_S3_BUCKET is not set: this test needs the s3s-fs server; run ./test.sh \
             (or tests/servers/s3-start.sh and source $KEEL_TEST_HOME/s3.env)"
        );
    };
    let rt = rt();
    let run = format!(
        "crash-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let clean_dir = tempfile::tempdir().unwrap();
    make_log_dir(clean_dir.path(), load);
    let clean_url = format!("s3://{bucket}/{run}-clean");
    assert!(
        upload_cmd(clean_dir.path(), &clean_url, true, load)
            .status()
            .unwrap()
            .success()
    );
    let clean = rt.block_on(keys(&TierStore::open(&clean_url).unwrap()));

    let pristine = tempfile::tempdir().unwrap();
    make_log_dir(pristine.path(), load);
    let live = tempfile::tempdir().unwrap();
    make_log_dir(live.path(), load);
    let url = format!("s3://{bucket}/{run}");
    let store = TierStore::open(&url).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("s3 crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut intents_seen = 0;
    for round in 0..8 {
        let mut child = upload_cmd(live.path(), &url, false, load).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200 + rng.next() % 800));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        rt.block_on(assert_local_not_ahead(&store, live.path()));
        let listing = rt.block_on(store.list_all(&store.prefix)).unwrap();
        let intents = listing
            .iter()
            .filter(|m| m.location.as_ref().ends_with(".mpu"))
            .count();
        intents_seen += intents;
        eprintln!("round {round}: killed with {intents} multipart upload(s) recorded in flight");
    }
    let out = upload_cmd(live.path(), &url, true, load)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "final run after the crashes failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.block_on(assert_local_not_ahead(&store, live.path()));

    // Every committed segment is there, contiguous and byte-identical.
    rt.block_on(assert_committed_segments_match(&store, pristine.path()));

    // GC with no grace aborts leftover uploads by id and leaves what a clean run has.
    let gc = Command::new(KEEL)
        .args(["tier", "gc", "--store", &url, "--grace", "0s"])
        .output()
        .unwrap();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    eprintln!(
        "{}",
        String::from_utf8_lossy(&gc.stdout)
            .lines()
            .last()
            .unwrap_or("")
    );
    assert_eq!(rt.block_on(keys(&store)), clean);
    eprintln!("{intents_seen} in-flight multipart upload(s) seen across the kills");
}
