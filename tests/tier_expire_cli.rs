//! `keel tier expire` end to end on a `file://` store: remote retention expires committed
//! segments, prints the local retention report with `--log-dir`, and refuses to write when
//! the log dir's `leader-epoch-checkpoint` is older than the manifest's writer (a sidecar
//! next to a former leader changes nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};

use keel_tiering::TopicPartition;
use keel_tiering::testing::{SegmentSpec, write_high_watermarks, write_partition};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn make_log_dir(dir: &Path, epoch: i32) {
    let tp = TopicPartition::new("exp", 0);
    let spec = SegmentSpec {
        batches: 4,
        records_per_batch: 2,
        value_len: 512,
    };
    // Timestamps from 1970: any retention.ms expires every committed segment.
    let leo = write_partition(dir, &tp, &[spec; 4], 1_000, epoch).unwrap();
    write_high_watermarks(dir, &[(tp, leo)]).unwrap();
}

fn keel(args: &[&str]) -> Output {
    Command::new(KEEL).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn uploaded(url: &str) -> String {
    let o = keel(&["tier", "ls", "--store", url]);
    assert!(o.status.success(), "tier ls: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A log dir of partition exp-0 (leader epoch 5) uploaded to a fresh `file://` store:
/// (log dir, store dir, store URL).
fn uploaded_log_dir() -> (tempfile::TempDir, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    make_log_dir(dir.path(), 5);
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let log_dir = dir.path().to_str().unwrap();
    let up = keel(&[
        "tier",
        "upload",
        "--log-dir",
        log_dir,
        "--store",
        &url,
        "--once",
    ]);
    assert!(up.status.success(), "upload: {}", text(&up));
    (dir, store, url)
}

#[test]
fn expire_with_log_dir_expires_committed_segments_and_reports_local_retention() {
    let (dir, _store, url) = uploaded_log_dir();
    let log_dir = dir.path().to_str().unwrap();
    let before = uploaded(&url);

    let o = keel(&[
        "tier",
        "expire",
        "--store",
        &url,
        "--log-dir",
        log_dir,
        "--config",
        "retention.ms=1",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "expire: {out}");
    let expired: usize = out
        .split("exp-0: expired ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no expiry line in: {out}"));
    assert!(expired >= 1, "committed 1970 segments must expire: {out}");
    assert!(
        out.contains("exp-0: local segments safe to delete"),
        "--log-dir prints the local retention report: {out}"
    );
    assert_ne!(before, uploaded(&url), "the listing changes after expiry");
}

#[test]
fn expire_fenced_by_a_stale_leader_epoch_changes_nothing() {
    let (dir, _store, url) = uploaded_log_dir();
    let log_dir = dir.path().to_str().unwrap();
    let before = uploaded(&url);

    // This broker's log dir now says it last led in epoch 2: a former leader.
    std::fs::write(
        dir.path().join("exp-0/leader-epoch-checkpoint"),
        "0\n1\n2 0\n",
    )
    .unwrap();
    let o = keel(&[
        "tier",
        "expire",
        "--store",
        &url,
        "--log-dir",
        log_dir,
        "--config",
        "retention.ms=1",
    ]);
    let out = text(&o);
    assert!(!o.status.success(), "a stale writer must fail: {out}");
    assert!(
        out.contains("exp-0"),
        "the error names the partition: {out}"
    );
    assert_eq!(before, uploaded(&url), "a fenced expire changes nothing");
}
