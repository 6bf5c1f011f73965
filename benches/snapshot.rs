//! `keel snapshot` at scale: a 200-broker, 100k-partition cluster (RF 3, from
//! `keel_balancer::generate`) served by the in-process `SimCluster` over loopback TCP.
//!
//! - `snapshot::capture (100k partitions, 200 brokers)`: a whole capture with a zero sample
//!   window: capability probe of 200 brokers, three ListOffsets rounds (one request per
//!   leader), DescribeLogDirs on every broker, assembly and capacities. Metadata is read
//!   inside the measurement (one full Metadata answer walked straight into the layout by
//!   `KafkaClient::walk_metadata`).
//! - `snapshot::write_snapshot (100k partitions)`: streaming the result as JSON.
//!
//! The target (< 10 s for 100k partitions) is met here, not in timed tests. Memory per
//! partition is measured on the CLI (`/usr/bin/time -v keel snapshot`, see BENCHMARKS.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench setup outside the measured code

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::sim_cluster::{SimCluster, SimOptions};
use keel::snapshot::{SnapshotOptions, capture, write_snapshot};
use keel_balancer::generate::{GenOptions, generate};
use keel_wire::client::{ClientConfig, KafkaClient};

fn cluster_json(brokers: u32, replicas: u64) -> String {
    let opts = GenOptions {
        brokers,
        racks: 10,
        replicas,
        replication_factor: 3,
        skew: 1.0,
        new_brokers: 0,
        dead_brokers: 0,
        hetero: false,
        seed: 7,
    };
    let mut text = String::new();
    generate(&opts, &mut |chunk| {
        text.push_str(chunk);
        Ok(())
    })
    .unwrap();
    text
}

fn benches(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once without `--bench`: keep that run small.
    let full = std::env::args().any(|a| a == "--bench");
    let (brokers, partitions): (u32, u64) = if full { (200, 100_000) } else { (20, 2_000) };
    let json = cluster_json(brokers, partitions * 3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(async {
        SimCluster::from_snapshot_json(
            json.as_bytes(),
            SimOptions {
                speed: 1.0,
                ..SimOptions::default()
            },
        )
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
    });
    let client = rt
        .block_on(KafkaClient::connect(ClientConfig::new(
            &sim.addrs()[0].to_string(),
        )))
        .unwrap();
    let opts = SnapshotOptions {
        sample: Duration::ZERO,
        ..SnapshotOptions::default()
    };

    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.throughput(Throughput::Elements(partitions));
    g.bench_function(
        format!(
            "snapshot::capture ({}k partitions, {brokers} brokers)",
            partitions / 1000
        ),
        |b| {
            b.iter(|| {
                let captured = rt.block_on(capture(&client, &opts)).unwrap();
                assert_eq!(captured.cluster.partitions.len() as u64, partitions);
                black_box(captured)
            })
        },
    );

    let captured = rt.block_on(capture(&client, &opts)).unwrap();
    let mut out = Vec::with_capacity(captured.cluster.partitions.len() * 260);
    g.bench_function(
        format!(
            "snapshot::write_snapshot ({}k partitions)",
            partitions / 1000
        ),
        |b| {
            b.iter(|| {
                out.clear();
                write_snapshot(&captured.cluster, &captured.warnings, &mut out).unwrap();
                black_box(out.len())
            })
        },
    );
    g.finish();
    drop(client);
    rt.block_on(sim.shutdown());
}

criterion_group!(snapshot_benches, benches);
criterion_main!(snapshot_benches);
