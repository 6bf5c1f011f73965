//! The official librdkafka client (PyPI `confluent-kafka`, installed by
//! `tests/servers/quota-client-start.sh`) reads `keel sim-cluster` correctly: every broker
//! with its own address, every topic and partition with leader, replicas and ISR as the
//! snapshot says, and watermarks from ListOffsets.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use keel::sim_cluster::{Fault, SimCluster, SimOptions};

fn client_python() -> String {
    match std::env::var("KEEL_QUOTA_CLIENT_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "KEEL_QUOTA_CLIENT_PYTHON is not set: this test needs the confluent-kafka client; \
             run ./test.sh (or tests/servers/quota-client-start.sh and source $KEEL_TEST_HOME/quota-client.env)"
        ),
    }
}

/// 12 brokers on 3 racks, 3 topics of 10 partitions with RF 3 and rotating replicas.
fn snapshot() -> String {
    let brokers: Vec<String> = (0..12)
        .map(|i| {
            format!(
                r#"{{"id":{},"rack":"r{}","capacity":{{"disk_bytes":1e12,"network_in_bytes_per_sec":1e8,"network_out_bytes_per_sec":1e8,"cpu_cores":8}}}}"#,
                100 + i,
                i % 3
            )
        })
        .collect();
    let mut partitions = Vec::new();
    for (t, topic) in ["orders", "payments", "clicks"].iter().enumerate() {
        for p in 0..10 {
            let r: Vec<i32> = (0..3)
                .map(|k| 100 + ((t * 5 + p + k * 4) % 12) as i32)
                .collect();
            partitions.push(format!(
                r#"{{"topic":"{topic}","partition":{p},"replicas":[{},{},{}],"leader":{},"size_bytes":{},"bytes_in_per_sec":4096}}"#,
                r[0], r[1], r[2], r[p % 3], 1_000_000 * (p + 1)
            ));
        }
    }
    format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{}],"partitions":[{}]}}"#,
        brokers.join(","),
        partitions.join(",")
    )
}

#[test]
fn librdkafka_reads_brokers_topics_partitions_and_leaders() {
    let python = client_python();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(async {
        SimCluster::from_snapshot_json(
            snapshot().as_bytes(),
            SimOptions {
                speed: 0.0,
                ..Default::default()
            },
        )
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
    });
    // A dead broker must disappear from the broker list and every ISR.
    sim.inject(Fault::BrokerDown { broker: 111 });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sim_cluster_librdkafka.py"
    );
    let first = sim.addrs()[0].to_string();
    let out = Command::new(&python)
        .args([script, &first, "payments", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let state = sim.state();
    let brokers = v["brokers"].as_object().unwrap();
    assert_eq!(brokers.len(), 11);
    for (i, b) in state.brokers.iter().enumerate() {
        let seen = brokers.get(&b.id.to_string());
        if b.alive {
            assert_eq!(
                seen.unwrap(),
                &sim.addrs()[i].to_string(),
                "broker {}",
                b.id
            );
        } else {
            assert!(seen.is_none(), "dead broker {} listed", b.id);
        }
    }
    assert_eq!(v["cluster_id"], "keel-sim-cluster");
    let topics = v["topics"].as_object().unwrap();
    assert_eq!(topics.len(), 3);
    let mut checked = 0;
    for p in &state.partitions {
        let seen = &topics[state.topic_name(p.topic)][p.partition.to_string()];
        assert_eq!(seen["leader"], p.leader, "{seen}");
        assert_eq!(seen["replicas"], serde_json::json!(p.replicas));
        assert_eq!(seen["isrs"], serde_json::json!(p.isr));
        assert!(!p.isr.contains(&111));
        checked += 1;
    }
    assert_eq!(checked, 30);
    let pi = state.partition_idx("payments", 3).unwrap();
    let (start, end) = state.offsets(pi);
    assert_eq!(v["watermarks"], serde_json::json!([start, end]));
    drop(state);
    rt.block_on(sim.shutdown());
}
