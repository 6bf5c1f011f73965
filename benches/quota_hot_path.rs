//! Hot-path benches for keel-quotas, with the `governor` crate side by side on the same
//! workload (1 KiB "requests" against a quota high enough never to throttle, so both measure
//! the accounting itself). keel reads `now` from its `CoarseClock` (one atomic load); governor
//! reads its default clock, as its users do.

// Bench setup: a failed unwrap is a broken bench.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use keel_quotas::{
    CoarseClock, QuotaEntity, QuotaKind, QuotaRegistry, RegistryConfig, RequestIdentity,
    TenantResolver,
};

const BYTES: u64 = 1024;

fn registry(tenants: &[&str]) -> QuotaRegistry {
    let reg = QuotaRegistry::new(RegistryConfig::default(), TenantResolver::new()).unwrap();
    for t in tenants {
        reg.set_quota(
            &QuotaEntity::Tenant((*t).into()),
            QuotaKind::Produce,
            1e15,
            0,
        )
        .unwrap();
    }
    reg
}

fn id(c: &str) -> RequestIdentity<'_> {
    RequestIdentity {
        principal: "bench",
        client_id: c,
    }
}

fn governor_quota() -> Quota {
    Quota::per_second(NonZeroU32::MAX).allow_burst(NonZeroU32::MAX)
}

/// Runs `f(thread, iters)` on two threads at once; returns the mean per-thread time.
fn two_threads(iters: u64, f: impl Fn(usize, u64) + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|t| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    f(t, iters);
                    start.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    times.iter().sum::<Duration>() / 2
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("quota_record");
    g.throughput(Throughput::Elements(1));
    let clock = CoarseClock::new();
    clock.advance_to(1_000_000_000);

    let reg = registry(&["a", "b"]);
    let h = reg.resolve_in_tenant("a", &id("c1"), QuotaKind::Produce, 0);
    g.bench_function("QuotaHandle::record (1 thread)", |b| {
        b.iter(|| black_box(h.record(black_box(BYTES), clock.now())))
    });
    let direct = RateLimiter::direct(governor_quota());
    g.bench_function("governor::RateLimiter::check_n direct (1 thread)", |b| {
        b.iter(|| black_box(direct.check_n(NonZeroU32::new(BYTES as u32).unwrap())))
    });
    let keyed = RateLimiter::keyed(governor_quota());
    g.bench_function("governor::RateLimiter::check_key_n keyed (1 thread)", |b| {
        b.iter(|| black_box(keyed.check_key_n(&"a", NonZeroU32::new(BYTES as u32).unwrap())))
    });

    g.bench_function("QuotaHandle::record (2 threads, different tenants)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let h = reg.resolve_in_tenant(["a", "b"][t], &id("c"), QuotaKind::Produce, 0);
                for _ in 0..n {
                    black_box(h.record(black_box(BYTES), clock.now()));
                }
            })
        })
    });
    let directs = [
        RateLimiter::direct(governor_quota()),
        RateLimiter::direct(governor_quota()),
    ];
    g.bench_function("governor direct (2 threads, different limiters)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                for _ in 0..n {
                    let _ = black_box(directs[t].check_n(NonZeroU32::new(BYTES as u32).unwrap()));
                }
            })
        })
    });
    g.bench_function("governor keyed (2 threads, different keys)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let key = ["a", "b"][t];
                for _ in 0..n {
                    let _ =
                        black_box(keyed.check_key_n(&key, NonZeroU32::new(BYTES as u32).unwrap()));
                }
            })
        })
    });

    g.bench_function("QuotaHandle::record (2 threads, shared tenant)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let h = reg.resolve_in_tenant("a", &id(["c1", "c2"][t]), QuotaKind::Produce, 0);
                for _ in 0..n {
                    black_box(h.record(black_box(BYTES), clock.now()));
                }
            })
        })
    });
    let shared = Arc::new(RateLimiter::direct(governor_quota()));
    g.bench_function("governor direct (2 threads, shared limiter)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    let _ = black_box(shared.check_n(NonZeroU32::new(BYTES as u32).unwrap()));
                }
            })
        })
    });
    g.bench_function("governor keyed (2 threads, shared key)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_, n| {
                for _ in 0..n {
                    let _ =
                        black_box(keyed.check_key_n(&"a", NonZeroU32::new(BYTES as u32).unwrap()));
                }
            })
        })
    });
    g.finish();
}

fn resolve(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once without `--bench` (debug build): keep that
    // smoke run small; `cargo bench` passes `--bench` and gets 1M entities.
    let full = std::env::args().any(|a| a == "--bench");
    let (entities, tenants_n) = if full {
        (1_000_000, 1000)
    } else {
        (10_000, 100)
    };
    let cfg = RegistryConfig {
        max_entities_per_tenant: 10_000,
        ..RegistryConfig::default()
    };
    let reg = QuotaRegistry::new(cfg, TenantResolver::new()).unwrap();
    let tenants: Vec<String> = (0..tenants_n).map(|i| format!("tenant-{i:04}")).collect();
    for t in &tenants {
        reg.set_quota(&QuotaEntity::Tenant(t.clone()), QuotaKind::Produce, 1e9, 0)
            .unwrap();
    }
    reg.set_quota(
        &QuotaEntity::from_parts(&[("client-id", None)], "bench").unwrap(),
        QuotaKind::Produce,
        1e7,
        0,
    )
    .unwrap();
    let clients: Vec<String> = (0..entities).map(|i| format!("producer-{i:07}")).collect();
    for (i, cid) in clients.iter().enumerate() {
        drop(reg.resolve_in_tenant(&tenants[i % tenants_n], &id(cid), QuotaKind::Produce, 0));
    }
    assert_eq!(reg.live_entities(), entities);
    // Visit entities in a scattered order so lookups miss the caches as they would in a broker.
    // The probe strings are fresh copies laid out in visiting order: a broker resolves the
    // client-id it has just read from the request (hot in cache), so the bench should not add
    // two cache misses of its own (the `String` and its bytes) to every lookup.
    let probes: Vec<(usize, String)> = (0..entities)
        .map(|i| (i * 7_919 + 13) % entities)
        .map(|i| (i % tenants_n, clients[i].clone()))
        .collect();
    drop(clients);
    let mut g = c.benchmark_group("quota_resolve");
    g.throughput(Throughput::Elements(1));
    // This machine's floor in the same run: one cold, dependent load from a working set about
    // the size of what the resolves above touch (state-map slots ~32 MiB + state objects
    // ~96 MiB at 1M entities).
    let floor_mib = if full { 128 } else { 8 };
    let chain = pointer_chase(floor_mib << 20);
    let mut cur = 0usize;
    g.bench_function(
        format!("memory latency floor: dependent random load ({floor_mib} MiB)"),
        |b| {
            b.iter(|| {
                cur = chain[cur][0] as usize;
                black_box(cur)
            })
        },
    );
    drop(chain);
    let mut k = 0;
    g.bench_function("QuotaRegistry::resolve (1M entities)", |b| {
        b.iter(|| {
            let (t, cid) = &probes[k % entities];
            k += 1;
            black_box(reg.resolve_in_tenant(&tenants[*t], &id(cid), QuotaKind::Produce, 0))
        })
    });
    // The same scattered requests resolved in batches (a broker resolving many connections at
    // once); throughput is per handle, so the rows compare with the single resolve above.
    // The previous batch's handles are dropped inside the timing, as the single resolve's are.
    let requests: Vec<(&str, RequestIdentity<'_>)> = probes
        .iter()
        .map(|(t, cid)| (tenants[*t].as_str(), id(cid)))
        .collect();
    for batch in [16usize, 64] {
        g.throughput(Throughput::Elements(batch as u64));
        let mut out = Vec::with_capacity(batch);
        let mut k = 0;
        g.bench_function(
            format!("QuotaRegistry::resolve_batch (1M entities, batch {batch})"),
            |b| {
                b.iter(|| {
                    out.clear();
                    let from = k % (entities - batch);
                    k += batch;
                    reg.resolve_batch_in_tenants(
                        &requests[from..from + batch],
                        QuotaKind::Produce,
                        0,
                        &mut out,
                    );
                    black_box(out.len())
                })
            },
        );
        drop(out);
    }
    drop(requests);
    g.throughput(Throughput::Elements(1));
    let keyed = RateLimiter::keyed(governor_quota());
    for (_, cid) in &probes {
        let _ = keyed.check_key(cid);
    }
    let mut k = 0;
    g.bench_function("governor keyed check_key (1M keys)", |b| {
        b.iter(|| {
            let (_, cid) = &probes[k % entities];
            k += 1;
            black_box(keyed.check_key(cid))
        })
    });
    g.finish();
}

/// `bytes / 64` cache lines, each holding the index of the next line of one random cycle
/// through all of them (Sattolo's shuffle), so following it is one dependent load per line
/// that no prefetcher can predict.
fn pointer_chase(bytes: usize) -> Vec<[u64; 8]> {
    let lines = bytes / 64;
    let mut next: Vec<usize> = (0..lines).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..lines).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        next.swap(i, (x % i as u64) as usize);
    }
    next.iter()
        .map(|&n| [n as u64, 0, 0, 0, 0, 0, 0, 0])
        .collect()
}

criterion_group!(benches, record, resolve);
criterion_main!(benches);
