//! Property tests of both enforcement modes against a reference model, named after the
//! invariant each one checks.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::bucket::{BucketParams, BucketState};
use keel_quotas::handle::QuotaHandle;
use keel_quotas::{
    Mode, NANOS_PER_MS, NANOS_PER_SEC, QuotaEntity, QuotaKind, QuotaRegistry, RegistryConfig,
    RequestIdentity, TenantResolver, Throttle,
};
use proptest::prelude::*;
use std::sync::Arc;

fn id(client_id: &str) -> RequestIdentity<'_> {
    RequestIdentity {
        principal: "",
        client_id,
    }
}

fn bucket(rate: f64, burst_secs: f64, cap_ms: u64) -> Arc<BucketState> {
    Arc::new(BucketState::new(
        &BucketParams::new(rate, burst_secs, cap_ms, "t").unwrap(),
    ))
}

/// A fresh connection handle on a tenant quota of `rate`, built by the registry.
fn handle(mode: Mode, rate: f64, cap_ms: u64) -> QuotaHandle {
    let reg = QuotaRegistry::new(
        RegistryConfig {
            mode,
            max_throttle_ms: cap_ms,
            ..RegistryConfig::default()
        },
        TenantResolver::new().default_tenant("t"),
    )
    .unwrap();
    reg.set_quota(
        &QuotaEntity::Tenant("t".into()),
        QuotaKind::Produce,
        rate,
        0,
    )
    .unwrap();
    reg.resolve(&id("c"), QuotaKind::Produce, 0)
}

/// A plain floating-point token bucket: tokens refill at `rate` up to `burst`; a request takes
/// its size (possibly going negative); the throttle is the time to get back to zero, capped.
struct ReferenceBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
    cap_s: f64,
}

impl ReferenceBucket {
    fn record(&mut self, bytes: f64, now_s: f64) -> f64 {
        self.tokens = (self.tokens + (now_s - self.last) * self.rate).min(self.burst);
        self.last = now_s;
        self.tokens -= bytes;
        if self.tokens >= 0.0 {
            0.0
        } else {
            (-self.tokens / self.rate).min(self.cap_s)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// GCRA and the float reference agree on every throttle (to rounding).
    #[test]
    fn bucket_matches_a_reference_token_bucket(
        rate in 1_000.0f64..1e8,
        reqs in proptest::collection::vec((0u64..2_000_000_000, 0.0f64..1.5), 1..200),
    ) {
        let b = bucket(rate, 1.0, 30_000);
        let mut r = ReferenceBucket { rate, burst: rate, tokens: rate, last: 0.0, cap_s: 30.0 };
        let mut now = NANOS_PER_SEC;
        for (gap, frac) in reqs {
            now += gap / 1000;
            let bytes = (rate * frac) as u64;
            let got = b.record(bytes, now).min(b.max_throttle_ns()) as f64 / 1e9;
            let want = r.record(bytes as f64, now as f64 / 1e9);
            prop_assert!((got - want).abs() < 1e-4 + want * 1e-6, "got {got} want {want}");
        }
    }

    /// A client that keeps sending (honouring throttles) with any mix of request sizes is held
    /// within 2% of the quota over the long run, in both modes.
    #[test]
    fn long_run_rate_stays_within_2_percent_of_quota(
        rate in 10_000.0f64..50_000_000.0,
        kafka in any::<bool>(),
        sizes in proptest::collection::vec(0.0001f64..0.2, 1..50),
        gap_ms in 0u64..5,
    ) {
        // The client must want more than the quota (1.5×): one that sends e.g. 1 byte every
        // millisecond against 10 kB/s is under its quota and is rightly never held to it.
        let bytes_of = |size: f64| ((rate * size) as u64).max(1);
        let mean_bytes = sizes.iter().map(|s| bytes_of(*s) as f64).sum::<f64>() / sizes.len() as f64;
        prop_assume!(gap_ms == 0 || mean_bytes * 1000.0 / gap_ms as f64 >= 1.5 * rate);
        let mode = if kafka { Mode::Kafka } else { Mode::Bucket };
        let h = handle(mode, rate, 30_000);
        let (warm, end) = (60 * NANOS_PER_SEC, 660 * NANOS_PER_SEC);
        let mut now = 0u64;
        let mut admitted = 0u64;
        let mut i = 0;
        while now < end {
            let bytes = bytes_of(sizes[i % sizes.len()]);
            i += 1;
            let t = h.record(bytes, now);
            if now >= warm {
                admitted += bytes;
            }
            now = t.readable_at.max(now) + gap_ms * NANOS_PER_MS;
        }
        let measured = admitted as f64 / ((end - warm) as f64 / 1e9);
        prop_assert!((measured - rate).abs() / rate <= 0.02, "{mode:?}: measured {measured} vs quota {rate}");
    }

    /// Over any stretch of time, an honouring client gets at most burst + rate × length + one
    /// request (recorded before it is checked): the configured burst is never exceeded.
    #[test]
    fn burst_never_exceeds_configured_burst(
        rate in 1_000.0f64..1e7,
        burst_secs in 0.01f64..5.0,
        reqs in proptest::collection::vec((0u64..300, 0.001f64..0.5), 2..120),
    ) {
        let b = bucket(rate, burst_secs, 30_000);
        let burst = rate * burst_secs;
        let mut now = 10 * NANOS_PER_SEC;
        let mut log: Vec<(u64, u64)> = Vec::new();
        let mut max_req = 0u64;
        for (gap_ms, frac) in reqs {
            let bytes = ((burst * frac) as u64).max(1);
            max_req = max_req.max(bytes);
            let over = b.record(bytes, now);
            log.push((now, bytes));
            now += over + gap_ms * NANOS_PER_MS;
        }
        for i in 0..log.len() {
            let mut sum = 0u64;
            for j in i..log.len() {
                sum += log[j].1;
                let span = (log[j].0 - log[i].0) as f64 / 1e9;
                let bound = burst + rate * span + max_req as f64 + 1.0;
                prop_assert!(sum as f64 <= bound, "{sum} bytes in {span}s > {bound}");
            }
        }
        // And requests answered without a throttle at one instant never add up past the burst.
        let fresh = bucket(rate, burst_secs, 30_000);
        let mut free = 0u64;
        for k in 0..1000 {
            let bytes = ((burst * 0.013) as u64).max(1) + k % 3;
            if fresh.record(bytes, now) == 0 { free += bytes } else { break }
        }
        prop_assert!(free as f64 <= burst + 1.0, "{free} > {burst}");
    }

    /// No throttle is ever above the configured cap, whatever the client does, in both modes.
    #[test]
    fn throttle_never_exceeds_cap(
        rate in 1.0f64..1e6,
        cap_ms in 1u64..60_000,
        kafka in any::<bool>(),
        reqs in proptest::collection::vec((0u64..2000, 0u64..10_000_000), 1..100),
    ) {
        let mode = if kafka { Mode::Kafka } else { Mode::Bucket };
        let h = handle(mode, rate, cap_ms);
        let mut now = 0;
        for (gap_ms, bytes) in reqs {
            now += gap_ms * NANOS_PER_MS;
            let t: Throttle = h.record(bytes, now);
            prop_assert!(u64::from(t.throttle_time_ms) <= cap_ms, "{} > {cap_ms}", t.throttle_time_ms);
            prop_assert!(t.readable_at - now <= cap_ms * NANOS_PER_MS);
        }
    }

    /// Whatever one tenant does (traffic, new client-ids past the entity cap, quota changes,
    /// removals), another tenant's throttles are exactly what they would be alone.
    #[test]
    fn one_tenant_never_changes_another_tenants_state(
        ops in proptest::collection::vec((0u8..5, 0u64..100, 1u64..5_000_000), 1..150),
        b_sizes in proptest::collection::vec(1u64..3_000_000, 1..150),
    ) {
        let cfg = RegistryConfig { max_entities_per_tenant: 5, ..RegistryConfig::default() };
        let resolver = || TenantResolver::new().client_id_prefix("a-", "A").client_id_prefix("b-", "B");
        let shared = QuotaRegistry::new(cfg, resolver()).unwrap();
        let alone = QuotaRegistry::new(cfg, resolver()).unwrap();
        let client_default = QuotaEntity::from_parts(&[("client-id", None)], "q").unwrap();
        for reg in [&shared, &alone] {
            reg.set_quota(&QuotaEntity::Tenant("A".into()), QuotaKind::Produce, 1e6, 0).unwrap();
            reg.set_quota(&QuotaEntity::Tenant("B".into()), QuotaKind::Produce, 2e6, 0).unwrap();
            reg.set_quota(&client_default, QuotaKind::Produce, 1.5e6, 0).unwrap();
        }
        let b_shared = shared.resolve(&id("b-1"), QuotaKind::Produce, 0);
        let b_alone = alone.resolve(&id("b-1"), QuotaKind::Produce, 0);
        let mut a_handles = Vec::new();
        let mut now = NANOS_PER_SEC;
        for (i, (op, x, bytes)) in ops.into_iter().enumerate() {
            now += x * NANOS_PER_MS;
            match op {
                0 => {
                    let cid = format!("a-{x}");
                    a_handles.push(shared.resolve(&id(&cid), QuotaKind::Produce, now));
                }
                1 => {
                    if let Some(h) = a_handles.last() { h.record(bytes, now); }
                }
                2 => shared.set_quota(&QuotaEntity::Tenant("A".into()), QuotaKind::Produce, 1.0 + bytes as f64, now).unwrap(),
                3 => shared.remove_quota(&QuotaEntity::Tenant("A".into()), QuotaKind::Produce, now).unwrap(),
                _ => { shared.expire_idle(now); }
            }
            let b = b_sizes[i % b_sizes.len()];
            prop_assert_eq!(b_shared.record(b, now), b_alone.record(b, now));
        }
    }
}
