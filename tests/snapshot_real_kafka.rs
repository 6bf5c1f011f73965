//! `keel snapshot` against the real 3-broker Apache Kafka KRaft cluster that `./test.sh`
//! starts (`tests/servers/kafka-start.sh` writes `KEEL_KAFKA_BOOTSTRAP`): racks, replicas,
//! leaders, sizes from DescribeLogDirs, rates from offsets while a producer runs, capacities
//! from a file, and `keel plan` reading the result. Without the cluster these tests fail and
//! say how to start it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_wire::batch::RecordBatchBuilder;
use keel_wire::client::{KafkaClient, NewTopic};
use serde_json::Value;

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::kafka_bootstrap as bootstrap;

async fn client() -> KafkaClient {
    real_servers::kafka_client("keel-snapshot-test").await
}

fn unique(prefix: &str) -> String {
    real_servers::unique(&format!("keel-snapshot-{prefix}"))
}

/// One v2 batch of `records` records with 200-byte values.
fn batch(records: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0);
    for i in 0..records {
        builder
            .append(
                1_700_000_000_000 + i as i64,
                Some(format!("k{i}").as_bytes()),
                Some(&[b'v'; 200]),
                &[],
            )
            .unwrap();
    }
    Bytes::from(builder.build().unwrap())
}

async fn create_topic(client: &KafkaClient, name: &str, partitions: i32) {
    let outcomes = client
        .create_topics(&[NewTopic::new(name, partitions, 3)], false)
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let meta = client.refresh_metadata().await.unwrap();
        if let Some(t) = meta.topics.get(name)
            && t.partitions.len() == partitions as usize
            && t.partitions.iter().all(|p| p.leader.is_some())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} has no leaders after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn partitions_of<'a>(snapshot: &'a Value, topic: &str) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = snapshot["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["topic"] == topic)
        .collect();
    v.sort_by_key(|p| p["partition"].as_i64());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_real_kafka_has_racks_leaders_sizes_rates_and_feeds_keel_plan() {
    let client = client().await;
    let topic = unique("rates");
    let partitions = 4;
    create_topic(&client, &topic, partitions).await;
    // Some data before the snapshot, so every replica has a size.
    for p in 0..partitions {
        client.produce(&topic, p, batch(20)).await.unwrap();
    }

    // A producer that keeps writing to every partition during the sample window.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let producer = {
        let (client, topic, stop, produced) = (
            client.clone(),
            topic.clone(),
            stop.clone(),
            produced.clone(),
        );
        tokio::spawn(async move {
            let one = batch(10);
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                for p in 0..partitions {
                    client.produce(&topic, p, one.clone()).await.unwrap();
                    produced.fetch_add(one.len() as u64, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let dir = tempfile::tempdir().unwrap();
    let capacity = dir.path().join("capacity.toml");
    std::fs::write(
        &capacity,
        "[default]\nnetwork_in_bytes_per_sec = 5e8\nnetwork_out_bytes_per_sec = 5e8\ncpu_cores = 8\n\
         [brokers.2]\ncpu_cores = 16\n",
    )
    .unwrap();
    let snapshot_path = dir.path().join("snapshot.json");
    let bs = bootstrap();
    let (cap, out_path) = (capacity.clone(), snapshot_path.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args([
                "snapshot",
                "--bootstrap",
                &bs,
                "--sample",
                "3s",
                "--fan-out",
                "2",
                "--capacity",
            ])
            .arg(&cap)
            .output()
            .inspect(|o| std::fs::write(&out_path, &o.stdout).unwrap())
    })
    .await
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let produce_secs = producer.await.unwrap().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "keel snapshot failed: {stderr}");
    let snapshot: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(snapshot["format"], "keel.cluster/v1");

    // Brokers and racks.
    let brokers = snapshot["brokers"].as_array().unwrap();
    let racks: Vec<(i64, &str)> = brokers
        .iter()
        .map(|b| (b["id"].as_i64().unwrap(), b["rack"].as_str().unwrap()))
        .collect();
    assert_eq!(racks, [(0, "r0"), (1, "r1"), (2, "r2")]);
    assert!(brokers.iter().all(|b| b["state"] == "alive"));
    // Capacities: file default, per-broker override, disk from the log-dir volumes.
    assert_eq!(brokers[0]["capacity"]["cpu_cores"], 8);
    assert_eq!(brokers[2]["capacity"]["cpu_cores"], 16);
    assert_eq!(
        brokers[1]["capacity"]["network_in_bytes_per_sec"],
        500_000_000
    );
    assert!(
        brokers
            .iter()
            .all(|b| b["capacity"]["disk_bytes"].as_f64().unwrap() > 1e6)
    );

    // Replicas and leaders match what the cluster says now.
    let meta = client.refresh_metadata().await.unwrap();
    let ours = partitions_of(&snapshot, &topic);
    assert_eq!(ours.len(), partitions as usize, "{snapshot}");
    let mut written_rate = 0.0;
    for p in &ours {
        let index = p["partition"].as_i64().unwrap() as i32;
        let replicas: Vec<i32> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_i64().unwrap() as i32)
            .collect();
        let live = meta.partition(&topic, index).unwrap();
        assert_eq!(
            replicas, live.replicas,
            "replicas of {topic}-{index}, preferred order kept"
        );
        assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), 3);
        assert_eq!(
            p["leader"].as_i64().map(|l| l as i32),
            live.leader,
            "leader of {topic}-{index}"
        );
        // Sizes from DescribeLogDirs: at least the 20-record batch written before.
        let size = p["size_bytes"].as_u64().unwrap();
        assert!(
            size >= batch(20).len() as u64,
            "size of {topic}-{index}: {size}"
        );
        // Rates from offset growth while the producer ran; bytes out = 2 × bytes in.
        let rate_in = p["bytes_in_per_sec"].as_f64().unwrap();
        let rate_out = p["bytes_out_per_sec"].as_f64().unwrap();
        assert!(
            rate_in > 0.0,
            "rate of {topic}-{index} while producing: {p}"
        );
        assert!((rate_out - 2.0 * rate_in).abs() <= 1e-6 * rate_out, "{p}");
        written_rate += rate_in;
    }
    // The estimate is the bytes the producer sent per second, to within timing noise.
    let actual = produced.load(Ordering::SeqCst) as f64 / produce_secs;
    assert!(
        written_rate > actual / 3.0 && written_rate < actual * 3.0,
        "estimated {written_rate:.0} B/s, produced {actual:.0} B/s"
    );
    // Real Kafka offers every API keel uses: no capability warnings.
    assert!(!stderr.contains("capability:"), "{stderr}");

    // keel plan reads the snapshot.
    let plan = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("plan")
        .arg("--cluster")
        .arg(&snapshot_path)
        .arg("--out-kafka")
        .arg(dir.path().join("plan.json"))
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "keel plan rejected the snapshot:\n{}\n{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_library_capture_matches_real_kafka_metadata() {
    let client = client().await;
    let topic = unique("lib");
    create_topic(&client, &topic, 2).await;
    client.produce(&topic, 1, batch(5)).await.unwrap();
    let opts = keel::snapshot::SnapshotOptions {
        sample: Duration::from_millis(200),
        ..Default::default()
    };
    let captured = keel::snapshot::capture(&client, &opts).await.unwrap();
    let cluster = &captured.cluster;
    let t = cluster.topics.iter().position(|n| *n == topic).unwrap() as u32;
    let parts: Vec<_> = cluster.partitions.iter().filter(|p| p.topic == t).collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].size_bytes, 0, "empty partition");
    assert!(parts[1].size_bytes >= batch(5).len() as u64);
    for api in [
        "DescribeLogDirs",
        "ListOffsets",
        "ElectLeaders",
        "AlterPartitionReassignments",
        "DescribeClientQuotas",
    ] {
        assert!(
            captured.capabilities.supported(api),
            "{api}: {:?}",
            captured.capabilities
        );
    }
}
