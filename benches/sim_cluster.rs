//! `keel sim-cluster` at scale: a 200-broker, 100k-partition snapshot (RF 3, from
//! `keel_balancer::generate`).
//!
//! - `SimCluster::from_snapshot_json (100k partitions)`: parsing and building the state, what
//!   `keel sim-cluster` does before it listens.
//! - `SimCluster::start (200 brokers)`: binding 200 listeners on free ports.
//! - `Metadata over TCP (100k partitions)`: one full Metadata request through keel's own
//!   client (encode, loopback, decode included), what any tool does first.
//! - `ListOffsets over TCP (1k partitions)`: latest offsets of 1,000 partitions (a snapshot
//!   sample round).
//! - `ClusterState::advance_to (1000 moves in flight)`: 10 simulated ms with 1,000
//!   reassignments copying (rates recomputed for every copy), what every request pays first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench setup outside the measured code

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keel::sim_cluster::{ClusterState, ConfigTarget, SimCluster, SimOptions};
use keel_balancer::generate::{GenOptions, generate_string};
use keel_wire::client::{ClientConfig, KafkaClient, OffsetSpec};

fn snapshot(replicas: u64) -> String {
    generate_string(&GenOptions {
        brokers: 200,
        racks: 10,
        replicas,
        replication_factor: 3,
        skew: 1.0,
        ..GenOptions::default()
    })
    .unwrap()
}

fn options() -> SimOptions {
    SimOptions {
        speed: 0.0,
        ..SimOptions::default()
    }
}

fn benches(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once without `--bench`: keep that run small.
    let full = std::env::args().any(|a| a == "--bench");
    let partitions: u64 = if full { 100_000 } else { 2_000 };
    let json = snapshot(partitions * 3);
    let mut g = c.benchmark_group("sim_cluster");
    g.sample_size(10);

    g.throughput(Throughput::Elements(partitions));
    g.bench_function(
        format!("SimCluster::from_snapshot_json ({partitions} partitions)"),
        |b| {
            b.iter(|| {
                black_box(SimCluster::from_snapshot_json(json.as_bytes(), options()).unwrap())
            })
        },
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    g.throughput(Throughput::Elements(200));
    g.bench_function("SimCluster::start (200 brokers)", |b| {
        b.iter_batched(
            || SimCluster::from_snapshot_json(json.as_bytes(), options()).unwrap(),
            |sim| {
                rt.block_on(async {
                    let h = sim.start("127.0.0.1:0".parse().unwrap()).await.unwrap();
                    h.shutdown().await;
                })
            },
            BatchSize::PerIteration,
        )
    });

    let sim = rt.block_on(async {
        SimCluster::from_snapshot_json(json.as_bytes(), options())
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
    g.throughput(Throughput::Elements(partitions));
    g.bench_function(
        format!("Metadata over TCP ({partitions} partitions)"),
        |b| b.iter(|| black_box(rt.block_on(client.refresh_metadata()).unwrap())),
    );

    let wanted: Vec<(String, i32, OffsetSpec)> = {
        let state = sim.state();
        state
            .partitions
            .iter()
            .take(1000)
            .map(|p| {
                (
                    state.topic_name(p.topic).to_owned(),
                    p.partition,
                    OffsetSpec::Latest,
                )
            })
            .collect()
    };
    g.throughput(Throughput::Elements(wanted.len() as u64));
    g.bench_function("ListOffsets over TCP (1k partitions)", |b| {
        b.iter(|| black_box(rt.block_on(client.list_offsets(&wanted)).unwrap()))
    });
    drop(client);
    rt.block_on(sim.shutdown());

    let mut base = SimCluster::from_snapshot_json(json.as_bytes(), options()).unwrap();
    let state: &mut ClusterState = base.state_mut();
    let ids: Vec<i32> = state.brokers.iter().map(|b| b.id).collect();
    for &id in &ids {
        state
            .alter_configs(
                ConfigTarget::Broker(state.broker_idx(id)),
                &[keel::sim_cluster::model::configs::ConfigOp {
                    name: "follower.replication.throttled.rate".into(),
                    op: 0,
                    value: Some("10000000".into()),
                }],
                false,
            )
            .unwrap();
    }
    let mut started = 0;
    for p in 0..state.partitions.len() as u32 {
        if started == 1000 {
            break;
        }
        let current = state.partitions[p as usize].replicas.clone();
        let Some(&free) = ids.iter().find(|b| !current.contains(b)) else {
            continue;
        };
        let mut target = current.clone();
        target[2] = free;
        if state.alter_reassignment(p, Some(target)).is_ok() {
            started += 1;
        }
    }
    assert_eq!(state.moves.len(), 1000);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("ClusterState::advance_to (1000 moves in flight)", |b| {
        let mut now = 0u64;
        b.iter(|| {
            now += 10;
            state.advance_to(black_box(now));
        })
    });
    g.finish();
}

criterion_group!(sim, benches);
criterion_main!(sim);
