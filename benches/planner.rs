//! Planner benchmarks: `Planner::plan (40 brokers, 50k replicas)`, the shape of Cruise
//! Control's RandomClusterTest (target < 0.5 s), plus snapshot parsing and simulation, and a
//! mixed-capacity cluster (brokers of 0.5x/1x/2x capacity: the joint resource phase).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{PlanOptions, plan, simulate, snapshot};

fn cluster_text(brokers: u32, racks: u32, replicas: u64) -> String {
    generated(brokers, racks, replicas, false)
}

fn generated(brokers: u32, racks: u32, replicas: u64, hetero: bool) -> String {
    let o = GenOptions {
        brokers,
        racks,
        replicas,
        skew: 1.0,
        seed: 7,
        hetero,
        ..GenOptions::default()
    };
    // Generation with valid options cannot fail.
    #[allow(clippy::expect_used)]
    generate_string(&o).expect("valid generator options")
}

fn benches(c: &mut Criterion) {
    let text = cluster_text(40, 4, 50_000);
    #[allow(clippy::expect_used)]
    let cluster = snapshot::parse_str(&text).expect("generated snapshot parses");
    let opts = PlanOptions::default();

    let mut g = c.benchmark_group("planner");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cluster.replica_count() as u64));
    g.bench_function("Planner::plan (40 brokers, 50k replicas)", |b| {
        b.iter(|| plan(&cluster, &opts, &mut |_| {}).map(|p| p.reassignments.len()))
    });
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("snapshot::parse_str (40 brokers, 50k replicas)", |b| {
        b.iter(|| snapshot::parse_str(&text).map(|c| c.partitions.len()))
    });
    #[allow(clippy::expect_used)]
    let p = plan(&cluster, &opts, &mut |_| {}).expect("feasible");
    g.throughput(Throughput::Elements(p.cost.replica_moves));
    g.bench_function("simulate (40 brokers, 50k replicas plan)", |b| {
        b.iter(|| {
            simulate(&cluster, &p.reassignments, &opts.execution)
                .cost
                .estimated_seconds
        })
    });
    #[allow(clippy::expect_used)]
    let mixed = snapshot::parse_str(&generated(24, 4, 2_400, true)).expect("generated snapshot");
    g.throughput(Throughput::Elements(mixed.replica_count() as u64));
    g.bench_function(
        "Planner::plan (mixed capacities, 24 brokers, 2.4k replicas)",
        |b| b.iter(|| plan(&mixed, &opts, &mut |_| {}).map(|p| p.reassignments.len())),
    );
    g.finish();
}

criterion_group!(planner, benches);
criterion_main!(planner);
