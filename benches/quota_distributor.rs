//! The cluster-wide distributor at scale: 100k tenants on 100 brokers.

// Bench setup: a failed unwrap is a broken bench.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_quotas::{BrokerReport, Distributor, DistributorConfig, QuotaKind, TenantDemand};

fn distributor(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once without `--bench` (debug build): keep that
    // smoke run small; `cargo bench` passes `--bench` and gets the full size.
    let full = std::env::args().any(|a| a == "--bench");
    let (tenants, brokers) = if full { (100_000, 100) } else { (1_000, 10) };
    let mut d = Distributor::new(DistributorConfig::new(brokers)).unwrap();
    let names: Vec<String> = (0..tenants).map(|i| format!("tenant-{i:06}")).collect();
    for (i, n) in names.iter().enumerate() {
        d.set_quota(n, QuotaKind::Produce, 1e6 * (1 + i % 50) as f64)
            .unwrap();
    }
    for b in 0..brokers {
        let demand = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // Skewed: tenant i is hot on a few brokers and light elsewhere.
                let hot = (i + b) % 17 == 0;
                TenantDemand {
                    tenant: n.clone(),
                    kind: QuotaKind::Produce,
                    observed_rate: if hot { 2e6 } else { 1e4 * (b % 7) as f64 },
                    excess_rate: if hot { 5e5 } else { 0.0 },
                    throttled: hot,
                }
            })
            .collect();
        d.ingest(&BrokerReport {
            broker: b as u32,
            at: 1_000_000_000,
            demand,
        })
        .unwrap();
    }
    let mut g = c.benchmark_group("quota_distributor");
    g.sample_size(10);
    g.throughput(Throughput::Elements((tenants * brokers) as u64));
    // Steady state: the broker-facing result buffer is reused from one interval to the next.
    let mut out = d.compute(1_500_000_000);
    g.bench_function("Distributor::compute (100k tenants x 100 brokers)", |b| {
        b.iter(|| {
            d.compute_into(black_box(2_000_000_000), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, distributor);
criterion_main!(benches);
