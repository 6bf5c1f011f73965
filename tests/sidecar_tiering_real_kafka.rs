//! The sidecar's tiering loop against the real 3-broker Apache Kafka cluster (`./test.sh`
//! starts it): one broker's real log dir, a topic with tiny segments, and a `file://` store.
//! The loop uploads the closed segments (as `keel tier upload` does) and they read back
//! byte-exact from the store.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keel::sidecar::tiering::{TieringLoop, UploadKnobs, sync_settings};
use keel_tiering::{TierConfig, TierStore, TopicPartition, manifest_store};
use keel_wire::client::{ClientConfig, KafkaClient, NewTopic};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the test Kafka cluster with ./test.sh (or tests/servers/kafka-start.sh and source .keel-test/kafka.env)")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tiering_loop_uploads_a_real_brokers_closed_segments() {
    let c = KafkaClient::connect(ClientConfig::new(&env("KEEL_KAFKA_BOOTSTRAP")))
        .await
        .unwrap();
    let log_dirs: Vec<PathBuf> = env("KEEL_KAFKA_LOG_DIRS")
        .split(',')
        .map(PathBuf::from)
        .collect();
    let broker = *c
        .refresh_metadata()
        .await
        .unwrap()
        .brokers
        .keys()
        .next()
        .unwrap();
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let topic = format!("sidecar-tier-{:x}{}", n & 0xffff_ffff, std::process::id());
    // Short retention so the shared cluster drops the data within the hour (keel's client has
    // no DeleteTopics); records carry the current time, so nothing is expired before upload.
    let mut t = NewTopic::new(topic.clone(), 1, 1)
        .config("segment.bytes", "16384")
        .config("retention.ms", "3600000");
    t.assignments = Some(vec![vec![broker]]);
    assert!(
        c.create_topics(&[t], false)
            .await
            .unwrap()
            .iter()
            .all(|o| o.exists())
    );
    // The broker's log dir is the one that holds the new partition's folder.
    let tp = TopicPartition::new(topic.clone(), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let log_dir = loop {
        if let Some(d) = log_dirs
            .iter()
            .find(|d| d.join(format!("{topic}-0")).is_dir())
        {
            break d.clone();
        }
        assert!(Instant::now() < deadline, "no log dir holds {topic}-0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // ~120 KiB in 3 KiB batches: several 16 KiB segments roll.
    let value = vec![b'k'; 3000];
    let now_ms = i64::try_from(n / 1_000_000).unwrap();
    for i in 0..40 {
        let mut b = keel_wire::batch::RecordBatchBuilder::new(0);
        b.append(now_ms + i, None, Some(&value), &[]).unwrap();
        c.produce(&topic, 0, b.build().unwrap().into())
            .await
            .unwrap();
    }
    let store_dir = tempfile::tempdir().unwrap();
    let store = TierStore::open(&format!("file://{}", store_dir.path().display())).unwrap();
    let knobs = UploadKnobs {
        part_size: 1 << 20,
        concurrency: 2,
        partitions: 2,
        rate: None,
        zstd_level: None,
        delete_local: false,
    };
    let mut tiering = TieringLoop::new(
        log_dir.clone(),
        store.clone(),
        sync_settings(TierConfig::default(), knobs),
        true,
    );
    // The broker checkpoints its high watermark every few seconds; only segments below it
    // are eligible, so pass until some are committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let manifest = loop {
        let summary = tiering.pass().await.unwrap();
        let m = manifest_store::load(&store, &tp).await.unwrap();
        if let Some(m) = m.filter(|m| m.segments().len() >= 3) {
            eprintln!("{summary}");
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no segments of {tp} uploaded within 60 s: {summary}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    // Every uploaded segment reads back byte-exact from the store.
    let reader = keel_tiering::fetch::RemoteReader::new(store.clone(), 1 << 20, None);
    for seg in manifest.segments() {
        let local = std::fs::read(
            log_dir
                .join(format!("{topic}-0"))
                .join(format!("{:020}.log", seg.base_offset)),
        )
        .unwrap();
        let got = reader
            .fetch(&tp, seg.base_offset, local.len())
            .await
            .unwrap();
        assert_eq!(got.segment.base_offset, seg.base_offset);
        assert_eq!(
            &got.records[..],
            &local[..got.records.len()],
            "segment {}",
            seg.base_offset
        );
        assert!(!got.records.is_empty());
    }
}
