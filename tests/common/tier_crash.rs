//! Shared by the `keel tier upload` crash tests (`tier_crash.rs` on a local fs store,
//! `tier_crash_s3.rs` on the S3 server): the log dirs they crash uploads over, the upload
//! command, and the checks both make after the crashes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use keel_tiering::testing::{Fill, SegmentSpec, write_high_watermarks, write_partition_with};
use keel_tiering::{ObjectKind, TierStore, TopicPartition, manifest_store};

pub const KEEL: &str = env!("CARGO_BIN_EXE_keel");

/// The size of each segment and how the upload sends it.
pub struct Load {
    pub segment: SegmentSpec,
    /// `--part-size`
    pub part_size: &'static str,
    /// `--rate`
    pub rate: &'static str,
    /// `--zstd-level`, if any.
    pub zstd_level: Option<&'static str>,
    /// Record values (noise keeps compressed segments multipart).
    pub fill: Fill,
}

pub fn partitions() -> Vec<TopicPartition> {
    vec![
        TopicPartition::new("crash", 0),
        TopicPartition::new("crash", 1),
        TopicPartition::new("other.topic", 7),
    ]
}

pub const SEGMENTS: usize = 5; // 4 closed + the active one

pub fn make_log_dir(dir: &Path, load: &Load) {
    let spec = load.segment;
    let mut hws = Vec::new();
    for tp in partitions() {
        let leo = write_partition_with(dir, &tp, &[spec; SEGMENTS], 1_000, 5, load.fill).unwrap();
        hws.push((tp, leo));
    }
    write_high_watermarks(dir, &hws).unwrap();
}

pub fn upload_cmd(log_dir: &Path, store: &str, once: bool, load: &Load) -> Command {
    let mut c = Command::new(KEEL);
    c.args(["tier", "upload", "--log-dir"])
        .arg(log_dir)
        .args(["--store", store]);
    c.args([
        "--interval",
        "100ms",
        "--delete-local",
        "--config",
        "local.retention.bytes=0",
    ]);
    c.args([
        "--part-size",
        load.part_size,
        "--concurrency",
        "2",
        "--partitions",
        "2",
        "--rate",
        load.rate,
    ]);
    if let Some(level) = load.zstd_level {
        c.args(["--zstd-level", level]);
    }
    if once {
        c.arg("--once");
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub async fn keys(store: &TierStore) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut manifests: BTreeMap<String, usize> = BTreeMap::new();
    for m in store.list_all(&store.prefix).await.unwrap() {
        let k = m.location.to_string();
        let parts: Vec<&str> = k.split('/').collect();
        let n = parts.len();
        if parts[n - 2] == "manifest" {
            *manifests.entry(parts[n - 3].to_string()).or_default() += 1;
            continue;
        }
        let (base, rest) = parts[n - 1].split_once('-').unwrap();
        out.insert(format!(
            "{}/{base}-*.{}",
            parts[n - 2],
            rest.split_once('.').unwrap().1
        ));
    }
    for (dir, n) in manifests {
        out.insert(format!("{dir}/manifests x{n}"));
    }
    out
}

pub async fn assert_local_not_ahead(store: &TierStore, live: &Path) {
    for tp in partitions() {
        let committed = manifest_store::load(store, &tp)
            .await
            .unwrap()
            .map_or(0, |m| m.committed_end_offset());
        let pd = keel_wire::segment::PartitionDir::scan(&live.join(tp.to_string())).unwrap();
        let local_start = pd.segments.first().map_or(i64::MAX, |s| s.base_offset);
        assert!(
            local_start <= committed,
            "{tp}: local log starts at {local_start}, remote commit ends at {committed}"
        );
    }
}

/// Tiny deterministic PRNG (xorshift) seeded from the clock; the seed is printed.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Every committed segment is in `store`, contiguous from offset 0 and byte-identical to
/// the segment files in `pristine` (an untouched copy of the crashed log dir).
pub async fn assert_committed_segments_match(store: &TierStore, pristine: &Path) {
    let reader = keel_tiering::fetch::RemoteReader::new(store.clone(), 1 << 20, None);
    for tp in partitions() {
        let m = manifest_store::load(store, &tp).await.unwrap().unwrap();
        let segs: Vec<_> = m.readable().copied().collect();
        assert_eq!(segs.len(), SEGMENTS - 1, "{tp}");
        let mut next = 0;
        for s in &segs {
            assert_eq!(
                s.base_offset, next,
                "{tp}: segment missing below the committed offset"
            );
            next = s.end_offset();
            let remote = reader.get_object(&tp, s, ObjectKind::Log).await.unwrap();
            let local = std::fs::read(
                pristine
                    .join(tp.to_string())
                    .join(format!("{:020}.log", s.base_offset)),
            )
            .unwrap();
            assert!(
                remote[..] == local[..],
                "{tp} segment {} differs",
                s.base_offset
            );
        }
    }
}
