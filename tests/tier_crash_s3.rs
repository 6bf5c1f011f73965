//! Crash safety of `keel tier upload` against the S3 server from `./test.sh`, whose
//! multipart uploads have ids: SIGKILL it at random moments while ~12 MiB segments go up in
//! 5 MiB parts (each upload id recorded in an intent object before the first part), restart
//! it, and finally let it finish. Then:
//! - every committed segment reads back byte-identical;
//! - no segment below the committed offset is missing;
//! - local deletion never got ahead of the remote commit (checked after every kill);
//! - after `keel tier gc` (which aborts leftover uploads by id) the store holds the same
//!   objects as a clean run: no intent objects either.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use keel_tiering::testing::{SegmentSpec, write_high_watermarks, write_partition};
use keel_tiering::{ObjectKind, TierStore, TopicPartition, manifest_store};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

fn partitions() -> Vec<TopicPartition> {
    vec![
        TopicPartition::new("crash", 0),
        TopicPartition::new("crash", 1),
        TopicPartition::new("other.topic", 7),
    ]
}

const SEGMENTS: usize = 5; // 4 closed + the active one

fn make_log_dir(dir: &Path) {
    let spec = SegmentSpec {
        batches: 48,
        records_per_batch: 4,
        value_len: 64 * 1024,
    }; // ~12 MiB: 3 parts of 5 MiB
    let mut hws = Vec::new();
    for tp in partitions() {
        let leo = write_partition(dir, &tp, &[spec; SEGMENTS], 1_000, 5).unwrap();
        hws.push((tp, leo));
    }
    write_high_watermarks(dir, &hws).unwrap();
}

fn upload_cmd(log_dir: &Path, store: &str, once: bool) -> Command {
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
        "5242880",
        "--concurrency",
        "2",
        "--partitions",
        "2",
        "--rate",
        "40000000",
    ]);
    if once {
        c.arg("--once");
    }
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn keys(store: &TierStore) -> BTreeSet<String> {
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

async fn assert_local_not_ahead(store: &TierStore, live: &Path) {
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
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_during_s3_multipart_uploads_resumes_and_leaves_no_orphans() {
    let Ok(bucket) = std::env::var("KEEL_TEST_S3_BUCKET") else {
        panic!(
            "KEEL_TEST_S3_BUCKET is not set: this test needs the s3s-fs server; run ./test.sh \
             (or tests/servers/s3-start.sh and source $KEEL_TEST_HOME/s3.env)"
        );
    };
    let rt = rt();
    let run = format!(
        "crash-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let clean_dir = tempfile::tempdir().unwrap();
    make_log_dir(clean_dir.path());
    let clean_url = format!("s3://{bucket}/{run}-clean");
    assert!(
        upload_cmd(clean_dir.path(), &clean_url, true)
            .status()
            .unwrap()
            .success()
    );
    let clean = rt.block_on(keys(&TierStore::open(&clean_url).unwrap()));

    let pristine = tempfile::tempdir().unwrap();
    make_log_dir(pristine.path());
    let live = tempfile::tempdir().unwrap();
    make_log_dir(live.path());
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
        let mut child = upload_cmd(live.path(), &url, false).spawn().unwrap();
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
    let out = upload_cmd(live.path(), &url, true)
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
    rt.block_on(async {
        let reader = keel_tiering::fetch::RemoteReader::new(store.clone(), 1 << 20, None);
        for tp in partitions() {
            let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
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
                        .path()
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
    });

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
