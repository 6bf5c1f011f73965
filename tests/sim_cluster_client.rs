//! `keel sim-cluster` in process, driven by keel's own Kafka client (`keel_wire::client`):
//! metadata, a reassignment that completes in simulated time under a throttle, cancel,
//! throttle configs, quotas, log dirs, offsets that grow, created topics with Produce/Fetch,
//! and injected faults.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use keel::sim_cluster::{Fault, SimCluster, SimHandle, SimOptions};
use keel_wire::client::{
    ClientConfig, ConfigChange, ConfigResource, KafkaClient, NewTopic, OffsetSpec, QuotaAlteration,
    QuotaFilter, QuotaMatch,
};

/// Four brokers on three racks; `orders` has 3 partitions of 100 MB, `logs` one of 1 GB.
fn snapshot() -> String {
    let broker = |id: i32, rack: &str| {
        format!(
            r#"{{"id":{id},"rack":"{rack}","capacity":{{"disk_bytes":4000000000000,"network_in_bytes_per_sec":100000000,"network_out_bytes_per_sec":100000000,"cpu_cores":8}}}}"#
        )
    };
    let part = |topic: &str, p: i32, replicas: &str, size: u64, rate: u64| {
        format!(
            r#"{{"topic":"{topic}","partition":{p},"replicas":{replicas},"size_bytes":{size},"bytes_in_per_sec":{rate}}}"#
        )
    };
    format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{},{},{},{}],"partitions":[{},{},{},{}]}}"#,
        broker(1, "a"),
        broker(2, "b"),
        broker(3, "c"),
        broker(4, "a"),
        part("orders", 0, "[1,2,3]", 100_000_000, 1_024_000),
        part("orders", 1, "[2,3,1]", 100_000_000, 0),
        part("orders", 2, "[3,1,2]", 100_000_000, 0),
        part("logs", 0, "[1,2]", 1_000_000_000, 0),
    )
}

async fn start(speed: f64) -> (SimHandle, KafkaClient) {
    let sim = SimCluster::from_snapshot_json(
        snapshot().as_bytes(),
        SimOptions {
            speed,
            ..Default::default()
        },
    )
    .unwrap()
    .start("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap();
    let client = KafkaClient::connect(ClientConfig::new(&sim.bootstrap()))
        .await
        .unwrap();
    (sim, client)
}

#[tokio::test]
async fn metadata_matches_the_snapshot() {
    let (sim, client) = start(0.0).await;
    let meta = client.refresh_metadata().await.unwrap();
    assert_eq!(meta.brokers.len(), 4);
    for (i, addr) in sim.addrs().iter().enumerate() {
        let b = meta.broker(i as i32 + 1).unwrap();
        assert_eq!(b.port, addr.port());
    }
    assert_eq!(meta.broker(4).unwrap().rack.as_deref(), Some("a"));
    let p = meta.partition("orders", 1).unwrap();
    assert_eq!(p.replicas, vec![2, 3, 1]);
    assert_eq!(p.leader, Some(2));
    assert_eq!(p.isr, vec![2, 3, 1]);
    assert_eq!(meta.topics["logs"].partitions.len(), 1);
    let described = client.describe_cluster().await.unwrap();
    assert_eq!(described.brokers.len(), 4);
    assert_eq!(described.controller_id, Some(1));
    sim.shutdown().await;
}

#[tokio::test]
async fn throttled_reassignment_completes_in_simulated_time() {
    let (sim, client) = start(0.0).await;
    // 10 MB/s into broker 4: 100 MB takes 10 simulated seconds.
    client
        .incremental_alter_configs(
            &ConfigResource::Broker(4),
            &[ConfigChange::set(
                "follower.replication.throttled.rate",
                "10000000",
            )],
            false,
        )
        .await
        .unwrap();
    client
        .incremental_alter_configs(
            &ConfigResource::Topic("orders".into()),
            &[ConfigChange::set(
                "follower.replication.throttled.replicas",
                "0:4",
            )],
            false,
        )
        .await
        .unwrap();
    let moves = [("orders".to_string(), 0, Some(vec![4, 2, 3]))];
    keel_wire::client::first_error(client.alter_partition_reassignments(&moves).await.unwrap())
        .unwrap();
    let ongoing = client.list_partition_reassignments(None).await.unwrap();
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0].adding, vec![4]);
    assert_eq!(ongoing[0].removing, vec![1]);
    assert_eq!(ongoing[0].replicas, vec![4, 2, 3, 1]);

    sim.advance(Duration::from_secs(5));
    let dirs = client.describe_log_dirs(4, None).await.unwrap();
    let copied = dirs[0]
        .replicas
        .iter()
        .find(|r| r.topic == "orders")
        .unwrap();
    assert!(
        (49_000_000..=51_000_000).contains(&copied.size_bytes),
        "half copied after 5 s: {}",
        copied.size_bytes
    );
    assert_eq!(
        client
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .len(),
        1
    );

    sim.advance(Duration::from_secs(6));
    assert!(
        client
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .is_empty()
    );
    let meta = client.refresh_metadata().await.unwrap();
    let p = meta.partition("orders", 0).unwrap();
    assert_eq!(p.replicas, vec![4, 2, 3]);
    assert!(!p.isr.contains(&1));
    // Leader 1 left the replica set: leadership moved to the first in-sync target replica.
    assert_eq!(p.leader, Some(4));
    let config = client
        .describe_configs(
            &ConfigResource::Broker(4),
            Some(&["follower.replication.throttled.rate".to_string()]),
        )
        .await
        .unwrap();
    assert_eq!(config[0].value.as_deref(), Some("10000000"));
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_rolls_back_and_stuck_moves_never_finish() {
    let (sim, client) = start(0.0).await;
    sim.inject(Fault::StuckMove {
        topic: "logs".into(),
        partition: 0,
    });
    let moves = [("logs".to_string(), 0, Some(vec![3, 4]))];
    keel_wire::client::first_error(client.alter_partition_reassignments(&moves).await.unwrap())
        .unwrap();
    sim.advance(Duration::from_secs(3600));
    assert_eq!(
        client
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .len(),
        1
    );
    let cancel = [("logs".to_string(), 0, None)];
    keel_wire::client::first_error(client.alter_partition_reassignments(&cancel).await.unwrap())
        .unwrap();
    assert!(
        client
            .list_partition_reassignments(None)
            .await
            .unwrap()
            .is_empty()
    );
    {
        let state = sim.state();
        let p = state.partition("logs", 0).unwrap();
        assert_eq!(p.replicas, vec![1, 2]);
        assert_eq!(p.leader, 1);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn dead_broker_leaves_isr_and_leadership_moves() {
    let (sim, client) = start(0.0).await;
    sim.inject(Fault::BrokerDown { broker: 1 });
    let meta = client.refresh_metadata().await.unwrap();
    assert_eq!(meta.brokers.len(), 3);
    let p = meta.partition("orders", 0).unwrap();
    assert_eq!(p.leader, Some(2));
    assert_eq!(p.isr, vec![2, 3]);
    assert_eq!(p.offline_replicas, vec![1]);
    sim.inject(Fault::BrokerUp { broker: 1 });
    let meta = client.refresh_metadata().await.unwrap();
    assert_eq!(
        meta.partition("orders", 0).unwrap().isr,
        vec![2, 3],
        "a revived follower rejoins the ISR only once it has caught up"
    );
    // One fetch round of simulated time (nothing was produced while it was down).
    sim.advance(Duration::from_secs(1));
    let outcomes = client.elect_preferred_leaders(None).await.unwrap();
    keel_wire::client::first_error(outcomes).unwrap();
    let meta = client.refresh_metadata().await.unwrap();
    assert_eq!(meta.partition("orders", 0).unwrap().leader, Some(1));
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_request_failures_answer_the_error_code() {
    let (sim, client) = start(0.0).await;
    sim.inject(Fault::FailRequests {
        api_key: 44,
        error_code: 40,
        count: Some(1),
        probability: 1.0,
    });
    let change = [ConfigChange::set("leader.replication.throttled.rate", "5")];
    let first = client
        .incremental_alter_configs(&ConfigResource::Broker(1), &change, false)
        .await;
    assert!(first.is_err(), "{first:?}");
    client
        .incremental_alter_configs(&ConfigResource::Broker(1), &change, false)
        .await
        .unwrap();
    assert_eq!(
        sim.state()
            .broker_config(1, "leader.replication.throttled.rate"),
        Some("5")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn quotas_round_trip() {
    let (sim, client) = start(0.0).await;
    let alteration = QuotaAlteration {
        entity: vec![("user".into(), Some("alice".into()))],
        ops: vec![("producer_byte_rate".into(), Some(1_048_576.0))],
    };
    client
        .alter_client_quotas(&[alteration], false)
        .await
        .unwrap();
    let found = client
        .describe_client_quotas(
            &[QuotaFilter {
                entity_type: "user".into(),
                matching: QuotaMatch::Exact("alice".into()),
            }],
            true,
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].values["producer_byte_rate"], 1_048_576.0);
    assert_eq!(
        sim.state().quotas.get(&[("user", Some("alice"))]).unwrap()["producer_byte_rate"],
        1_048_576.0
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn log_end_offsets_grow_with_the_bytes_in_rate() {
    let (sim, client) = start(0.0).await;
    let ask = [
        ("orders".to_string(), 0, OffsetSpec::Latest),
        ("orders".to_string(), 0, OffsetSpec::Earliest),
    ];
    let before = client.list_offsets(&ask).await.unwrap();
    sim.advance(Duration::from_secs(10));
    let after = client.list_offsets(&ask).await.unwrap();
    // 1,024,000 B/s at 1 KiB per record: 1000 records a second.
    assert_eq!(after[0].offset - before[0].offset, 10_000);
    assert_eq!(after[1].offset - before[1].offset, 10_000);
    assert_eq!(before[0].offset - before[1].offset, 100_000_000 / 1024);
    sim.shutdown().await;
}

#[tokio::test]
async fn created_topic_stores_produced_batches() {
    let (sim, client) = start(0.0).await;
    let topic = NewTopic::new("__keel_state", 1, 3).config("cleanup.policy", "compact");
    let outcomes = client.create_topics(&[topic], false).await.unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    let mut batch = keel_wire::batch::encode::RecordBatchBuilder::new(0);
    batch.append(1_000, Some(b"k"), Some(b"v1"), &[]).unwrap();
    batch.append(1_001, Some(b"k"), Some(b"v2"), &[]).unwrap();
    let bytes = bytes::Bytes::from(batch.build().unwrap());
    let first = client
        .produce("__keel_state", 0, bytes.clone())
        .await
        .unwrap();
    let second = client.produce("__keel_state", 0, bytes).await.unwrap();
    assert_eq!(first.base_offset, 0);
    assert_eq!(second.base_offset, 2);
    let fetched = client
        .fetch("__keel_state", 0, 2, Default::default())
        .await
        .unwrap();
    assert_eq!(fetched.high_watermark, 4);
    assert!(!fetched.records.is_empty());
    assert_eq!(&fetched.records[..8], &2i64.to_be_bytes());
    sim.shutdown().await;
}
