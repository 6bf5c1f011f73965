//! `keel tier upload` over the log dirs a real Apache Kafka cluster writes (issue 6): the
//! 3-broker KRaft cluster that `./test.sh` starts (`tests/servers/kafka-start.sh` writes
//! `KEEL_KAFKA_BOOTSTRAP` and `KEEL_KAFKA_LOG_DIRS`). A topic with a 64 KiB `segment.bytes`
//! is produced to until each partition has rolled several segments; then every broker's log
//! dir is uploaded (each broker to its own store prefix, since replicas roll their segments
//! independently), and every closed segment must read back byte-exact through
//! `keel tier fetch`, compared with the `.log` file the broker wrote. The brokers keep
//! writing while this runs: only closed segments (below the high watermark of
//! `replication-offset-checkpoint`) are eligible, and only they are compared.
//! Without the cluster the test fails and says how to start it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_tiering::{TierStore, TopicPartition, manifest_store};
use keel_wire::batch::RecordBatchBuilder;
use keel_wire::client::{KafkaClient, NewTopic};
use keel_wire::segment::PartitionDir;

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::server_env as env_or_fail;

async fn client() -> KafkaClient {
    real_servers::kafka_client("keel-tier-real-kafka").await
}

const KEEL: &str = env!("CARGO_BIN_EXE_keel");
const PARTITIONS: i32 = 2;
const SEGMENT_BYTES: usize = 64 * 1024;

fn log_dirs() -> Vec<PathBuf> {
    env_or_fail("KEEL_KAFKA_LOG_DIRS")
        .split(',')
        .map(PathBuf::from)
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One batch of `records` records of `value_len` bytes each (poorly compressible values).
fn batch(records: usize, value_len: usize, seed: u64) -> Bytes {
    let mut b = RecordBatchBuilder::new(0);
    let mut x = seed | 1;
    for i in 0..records {
        let value: Vec<u8> = (0..value_len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        b.append(
            now_ms(),
            Some(format!("k{i}").as_bytes()),
            Some(&value),
            &[],
        )
        .unwrap();
    }
    Bytes::from(b.build().unwrap())
}

/// The topic's partition folders in one log dir (live ones only).
fn partition_dirs(log_dir: &Path, topic: &str) -> Vec<(TopicPartition, PartitionDir)> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .filter_map(|tp| {
            let dir = log_dir.join(tp.to_string());
            dir.is_dir()
                .then(|| (tp.clone(), PartitionDir::scan(&dir).unwrap()))
        })
        .collect()
}

fn upload(log_dir: &Path, store: &str, topic: &str) -> std::process::Output {
    Command::new(KEEL)
        .args(["tier", "upload", "--once", "--log-dir"])
        .arg(log_dir)
        .args(["--store", store, "--topic", topic])
        .args(["--part-size", "16384"]) // several parts per 64 KiB segment: the multipart path
        .output()
        .unwrap()
}

#[test]
fn tier_upload_of_real_kafka_log_dirs_reads_back_byte_exact() {
    let dirs = log_dirs();
    let topic = format!(
        "keel-tier-real-{}-{}",
        std::process::id(),
        now_ms() % 1_000_000_000
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // Produce enough to roll several 64 KiB segments per partition.
    rt.block_on(async {
        let client = client().await;
        let mut t = NewTopic::new(topic.clone(), PARTITIONS, 3);
        t.configs = vec![
            ("segment.bytes".into(), SEGMENT_BYTES.to_string()),
            // Long enough for the test (records carry the current time), short enough that
            // the shared cluster drops the data within the hour (no DeleteTopics in keel's client).
            ("retention.ms".into(), "3600000".into()),
        ];
        let outcomes = client.create_topics(&[t], false).await.unwrap();
        assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let meta = client.refresh_metadata().await.unwrap();
            if meta
                .topics
                .get(&topic)
                .is_some_and(|t| t.partitions.iter().all(|p| p.leader.is_some()))
            {
                break;
            }
            assert!(Instant::now() < deadline, "topic {topic} has no leaders");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for p in 0..PARTITIONS {
            for i in 0..40u64 {
                // ~9 KiB batches: about 7 per segment, so 5-6 segments per partition.
                let records = batch(3, 3_000, i * 31 + p as u64);
                let mut tries = 0;
                loop {
                    match client.produce(&topic, p, records.clone()).await {
                        Ok(_) => break,
                        Err(e) if tries < 20 => {
                            tries += 1;
                            eprintln!("produce to {topic}-{p}: {e}; retrying");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(e) => panic!("produce to {topic}-{p}: {e}"),
                    }
                }
            }
        }
    });

    // Upload every broker's replicas, each broker to its own prefix, until each replica's
    // closed segments are all committed (the high watermark checkpoint lags by up to
    // `replica.high.watermark.checkpoint.interval.ms`, 5 s by default).
    let store_root = tempfile::tempdir().unwrap();
    let url = |i: usize| format!("file://{}/node-{i}", store_root.path().display());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut checked: BTreeMap<(usize, TopicPartition), usize> = BTreeMap::new();
    loop {
        let mut pending = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            let out = upload(dir, &url(i), &topic);
            assert!(
                out.status.success(),
                "keel tier upload over {} failed:\n{}{}",
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let store = TierStore::open(&url(i)).unwrap();
            for (tp, pd) in partition_dirs(dir, &topic) {
                let active = pd.segments.last().map_or(0, |s| s.base_offset);
                let committed = rt
                    .block_on(manifest_store::load(&store, &tp))
                    .unwrap()
                    .map_or(0, |m| m.committed_end_offset());
                assert!(
                    committed <= active,
                    "{tp} on node {i}: the active segment was uploaded"
                );
                if committed < active {
                    pending.push(format!(
                        "{tp} on node {i}: committed {committed} < active {active}"
                    ));
                }
            }
        }
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed segments never became eligible: {pending:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // Every closed segment of every replica reads back byte-exact through `keel tier fetch`.
    let out_dir = tempfile::tempdir().unwrap();
    for (i, dir) in dirs.iter().enumerate() {
        let store = TierStore::open(&url(i)).unwrap();
        for (tp, pd) in partition_dirs(dir, &topic) {
            let m = rt
                .block_on(manifest_store::load(&store, &tp))
                .unwrap()
                .unwrap_or_else(|| panic!("{tp} on node {i}: nothing uploaded"));
            let closed: Vec<_> = pd.segments[..pd.segments.len() - 1].to_vec();
            assert!(
                closed.len() >= 3,
                "{tp} on node {i}: only {} closed segment(s); segment.bytes not applied?",
                closed.len()
            );
            let remote: Vec<i64> = m.readable().map(|s| s.base_offset).collect();
            let local: Vec<i64> = closed.iter().map(|s| s.base_offset).collect();
            assert_eq!(
                remote, local,
                "{tp} on node {i}: every closed segment, in order"
            );
            for seg in &closed {
                let log = seg.log.as_ref().unwrap();
                let on_disk = std::fs::read(log).unwrap();
                let out = out_dir
                    .path()
                    .join(format!("{i}-{tp}-{}.bin", seg.base_offset));
                let fetched = Command::new(KEEL)
                    .args(["tier", "fetch", "--store", &url(i), "--topic", &topic])
                    .args(["--partition", &tp.partition.to_string()])
                    .args(["--offset", &seg.base_offset.to_string()])
                    .args(["--max-bytes", &(on_disk.len() + 1).to_string(), "--out"])
                    .arg(&out)
                    .output()
                    .unwrap();
                assert!(
                    fetched.status.success(),
                    "keel tier fetch {tp} @{}: {}",
                    seg.base_offset,
                    String::from_utf8_lossy(&fetched.stderr)
                );
                let got = std::fs::read(&out).unwrap();
                assert!(
                    got == on_disk,
                    "{tp} segment {} on node {i}: fetched {} bytes, the broker's file has {}",
                    seg.base_offset,
                    got.len(),
                    on_disk.len()
                );
                *checked.entry((i, tp.clone())).or_default() += 1;
            }
        }
    }
    let replicas = checked.len();
    assert_eq!(
        replicas,
        dirs.len() * PARTITIONS as usize,
        "every broker holds a replica of every partition (RF 3): {checked:?}"
    );
    eprintln!(
        "{} closed segments of {replicas} replicas read back byte-exact",
        checked.values().sum::<usize>()
    );
}
