//! keel against tansu (https://crates.io/crates/tansu), a second, independent Kafka-protocol
//! broker written in Rust, started by `tests/servers/tansu-start.sh` (which `./test.sh` runs;
//! it writes `KEEL_TANSU_BOOTSTRAP`). Two things must work there:
//!
//! - `keel snapshot` completes; the APIs tansu lacks (DescribeLogDirs, reassignment,
//!   ElectLeaders, client quotas) are capability flags and warnings, not failures;
//! - the coordination topic: a compacted `__keel_state`-like topic is created, written and read
//!   back through keel's client.
//!
//! Without tansu these tests fail and say how to start it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::batch::{BatchIter, LogEntry, RecordBatchBuilder};
use keel_wire::client::{FetchOptions, KafkaClient, NewTopic, OffsetSpec, Target};

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::{tansu_bootstrap as bootstrap, unique};

async fn client() -> KafkaClient {
    real_servers::tansu_client("keel-tansu-test").await
}

async fn create_topic(client: &KafkaClient, topic: NewTopic) {
    let name = topic.name.clone();
    let partitions = topic.partitions as usize;
    let outcomes = client.create_topics(&[topic], false).await.unwrap();
    assert!(outcomes.iter().all(|o| o.exists()), "{outcomes:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let meta = client.refresh_metadata().await.unwrap();
        if let Some(t) = meta.topics.get(&name)
            && t.partitions.len() == partitions
            && t.partitions.iter().all(|p| p.leader.is_some())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {name} has no leaders on tansu after 30 s: {meta:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn batch(records: &[(&str, Option<&[u8]>)]) -> Bytes {
    let mut b = RecordBatchBuilder::new(0);
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(1_700_000_000_000 + i as i64, Some(k.as_bytes()), *v, &[])
            .unwrap();
    }
    Bytes::from(b.build().unwrap())
}

/// Every record of the v2 batches in `bytes` as (offset, key, value).
fn decode(bytes: &[u8]) -> Vec<(i64, String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for entry in BatchIter::new(bytes) {
        let entry = match entry {
            Ok(e) => e,
            Err(WireError::Truncated { .. }) => break,
            Err(e) => panic!("undecodable batch from tansu: {e}"),
        };
        let LogEntry::V2(batch) = entry else {
            panic!("tansu returned a legacy message set");
        };
        for r in batch.records().unwrap().iter() {
            let r = r.unwrap();
            out.push((
                r.offset(),
                String::from_utf8(r.key().unwrap_or_default().to_vec()).unwrap(),
                r.value().map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_against_tansu_completes_with_capability_flags() {
    let client = client().await;
    let topic = unique("keel-snapshot-tansu");
    create_topic(&client, NewTopic::new(topic.clone(), 2, 1)).await;
    let ack = client
        .produce(&topic, 0, batch(&[("a", Some(b"1")), ("b", Some(b"2"))]))
        .await
        .unwrap();
    assert_eq!(ack.base_offset, 0);

    // The library: complete snapshot, capability flags for what tansu lacks.
    let opts = keel::snapshot::SnapshotOptions {
        sample: Duration::from_millis(300),
        ..Default::default()
    };
    let captured = keel::snapshot::capture(&client, &opts).await.unwrap();
    let cluster = &captured.cluster;
    assert_eq!(cluster.brokers.len(), 1, "{cluster:?}");
    let t = cluster
        .topics
        .iter()
        .position(|n| *n == topic)
        .expect("topic in the snapshot") as u32;
    let parts: Vec<_> = cluster.partitions.iter().filter(|p| p.topic == t).collect();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.rf == 1 && p.leader == 0));
    // Every API tansu does not offer is flagged, once, as a capability warning.
    let caps = &captured.capabilities;
    assert!(
        caps.supported("Metadata") && caps.supported("ListOffsets"),
        "{caps:?}"
    );
    let missing: Vec<&str> = caps
        .apis
        .iter()
        .filter(|c| !c.everywhere())
        .map(|c| c.api)
        .collect();
    for api in &missing {
        assert!(
            captured
                .warnings
                .iter()
                .any(|w| w.unsupported && w.api == Some(*api)),
            "no capability warning for {api}: {:?}",
            captured.warnings
        );
    }
    // tansu 0.6.0 lacks exactly these (issue 6 names them): flags, not failures. Without
    // DescribeLogDirs sizes stay 0, with a warning.
    assert_eq!(
        missing,
        [
            "DescribeLogDirs",
            "AlterPartitionReassignments",
            "ElectLeaders",
            "DescribeClientQuotas",
            "AlterClientQuotas"
        ],
        "{caps:?}"
    );
    assert!(parts.iter().all(|p| p.size_bytes == 0));

    // The CLI: exit 0, a snapshot keel_balancer reads, warnings on stderr.
    let bs = bootstrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["snapshot", "--bootstrap", &bs, "--sample", "500ms"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "keel snapshot against tansu failed: {stderr}"
    );
    assert!(
        stderr.contains("capability: DescribeLogDirs not supported"),
        "{stderr}"
    );
    let parsed = keel_balancer::snapshot::parse_slice(&out.stdout).unwrap();
    assert!(parsed.topics.contains(&topic));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("DescribeLogDirs")),
        "{}",
        json["warnings"]
    );
}

/// Fetch through keel's client, capped at v11. tansu 0.6.0 puts a tagged field (tag 0) in
/// its Fetch v12 answer that v12 does not define, and the `kafka-protocol` decoder behind
/// `KafkaClient::fetch` (v12) rejects the frame ("Tag 0 is not valid for version 12"); v11
/// has no tagged fields.
async fn fetch_v11(client: &KafkaClient, topic: &str, offset: i64) -> Bytes {
    let opts = FetchOptions::default();
    client
        .call(
            &Target::Leader {
                topic: topic.to_owned(),
                partition: 0,
            },
            Some(11),
            |_| {
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(opts.max_wait_ms)
                    .with_min_bytes(opts.min_bytes)
                    .with_max_bytes(opts.max_bytes)
                    .with_session_epoch(-1)
                    .with_topics(vec![
                        FetchTopic::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partitions(vec![
                                FetchPartition::default()
                                    .with_partition(0)
                                    .with_current_leader_epoch(-1)
                                    .with_fetch_offset(offset)
                                    .with_last_fetched_epoch(-1)
                                    .with_log_start_offset(-1)
                                    .with_partition_max_bytes(opts.max_bytes),
                            ]),
                    ])
            },
            |response: FetchResponse, _, _| {
                let p = &response.responses[0].partitions[0];
                assert_eq!(p.error_code, 0, "fetch error from tansu");
                Ok(p.records.clone().unwrap_or_default())
            },
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordination_topic_round_trips_through_tansu() {
    let client = client().await;
    let name = unique("__keel_state-tansu");
    create_topic(
        &client,
        NewTopic::new(name.clone(), 1, 1).config("cleanup.policy", "compact"),
    )
    .await;
    // Two appends, the way the executor's outbox writes: plan, then control records, then a
    // newer version of a key and a tombstone.
    let first = client
        .produce(
            &name,
            0,
            batch(&[
                ("plan/p1", Some(b"{\"v\":1}")),
                ("control/p1", Some(b"running")),
            ]),
        )
        .await
        .unwrap();
    let second = client
        .produce(
            &name,
            0,
            batch(&[("control/p1", Some(b"paused")), ("plan/p0", None)]),
        )
        .await
        .unwrap();
    assert_eq!(first.base_offset, 0);
    assert_eq!(second.base_offset, 2);

    let offsets = client
        .list_offsets(&[(name.clone(), 0, OffsetSpec::Latest)])
        .await
        .unwrap();
    // Kafka answers the log end offset (4, the next offset to be written); tansu 0.6.0
    // answers 3 here (the last written offset). Either way the records must all read back.
    assert!(
        matches!(offsets[0].offset, 3 | 4),
        "latest offset {} after 4 records",
        offsets[0].offset
    );

    // Read everything back from the start, in offset order.
    let mut records = Vec::new();
    let mut position = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while position < 4 {
        let fetched = fetch_v11(&client, &name, position).await;
        for r in decode(&fetched) {
            if r.0 >= position {
                position = r.0 + 1;
                records.push(r);
            }
        }
        assert!(Instant::now() < deadline, "only {records:?} read back");
    }
    let expected: Vec<(i64, String, Option<Vec<u8>>)> = vec![
        (0, "plan/p1".into(), Some(b"{\"v\":1}".to_vec())),
        (1, "control/p1".into(), Some(b"running".to_vec())),
        (2, "control/p1".into(), Some(b"paused".to_vec())),
        (3, "plan/p0".into(), None),
    ];
    assert_eq!(records, expected);
}
