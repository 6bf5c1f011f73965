//! Property tests of the cluster-wide distributor, named after the invariant each one checks.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::distributor::{TenantRow, WINDOW_SLACK, compute_shares, limit_to_window};
use keel_quotas::{
    BrokerReport, Distributor, DistributorConfig, NANOS_PER_SEC, QuotaKind, TenantDemand,
    uniform_broker_value,
};
use proptest::prelude::*;

/// Per broker: demand, throttled, stale (how long), held share.
type BrokerInput = (f64, bool, Option<u64>, f64);

fn broker_inputs(max: usize) -> impl Strategy<Value = Vec<BrokerInput>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0.0), 0.0f64..2e6],
            any::<bool>(),
            prop_oneof![
                3 => Just(None),
                1 => (0u64..600).prop_map(|s| Some(s * NANOS_PER_SEC))
            ],
            0.0f64..1e6,
        ),
        1..max,
    )
}

fn shares_of(quota: f64, inputs: &[BrokerInput]) -> (DistributorConfig, Vec<f64>) {
    let cfg = DistributorConfig::new(inputs.len());
    let demand: Vec<f64> = inputs.iter().map(|i| i.0).collect();
    let throttled: Vec<bool> = inputs.iter().map(|i| i.1).collect();
    let stale: Vec<Option<u64>> = inputs.iter().map(|i| i.2).collect();
    let held: Vec<f64> = inputs.iter().map(|i| i.3).collect();
    let mut out = vec![f64::NAN; inputs.len()];
    compute_shares(
        &cfg,
        &stale,
        &TenantRow {
            quota,
            demand: &demand,
            throttled: &throttled,
            held: &held,
        },
        &mut out,
    );
    (cfg, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Conservation: Σ shares ≤ the cluster quota, and no share is negative or NaN.
    #[test]
    fn shares_never_exceed_the_cluster_quota(quota in 1.0f64..1e7, inputs in broker_inputs(40)) {
        let (_, out) = shares_of(quota, &inputs);
        let sum: f64 = out.iter().sum();
        prop_assert!(sum <= quota * (1.0 + 1e-9), "Σ {sum} > {quota}: {out:?}");
        prop_assert!(out.iter().all(|s| s.is_finite() && *s >= 0.0), "{out:?}");
    }

    /// With every broker reporting, the whole quota is handed out (nothing is lost).
    #[test]
    fn fresh_brokers_get_the_whole_quota(quota in 1.0f64..1e7, inputs in broker_inputs(40)) {
        let fresh: Vec<BrokerInput> = inputs.into_iter().map(|(d, t, _, h)| (d, t, None, h)).collect();
        let (_, out) = shares_of(quota, &fresh);
        let sum: f64 = out.iter().sum();
        prop_assert!((sum - quota).abs() <= quota * 1e-9, "Σ {sum} vs {quota}: {out:?}");
    }

    /// Every fresh broker gets at least its floor, so an idle broker can take a new client.
    #[test]
    fn every_fresh_broker_gets_at_least_its_floor(quota in 1.0f64..1e7, inputs in broker_inputs(40)) {
        let fresh: Vec<BrokerInput> = inputs.into_iter().map(|(d, t, _, h)| (d, t, None, h)).collect();
        let (cfg, out) = shares_of(quota, &fresh);
        let floor = quota / fresh.len() as f64 * cfg.floor_fraction;
        prop_assert!(out.iter().all(|s| *s >= floor * (1.0 - 1e-9)), "floor {floor}: {out:?}");
    }

    /// Max-min fairness: a broker whose want is not met has a share at least as large as every
    /// other fresh broker's.
    #[test]
    fn water_filling_is_max_min_fair(quota in 1.0f64..1e7, inputs in broker_inputs(40)) {
        let fresh: Vec<BrokerInput> = inputs.into_iter().map(|(d, t, _, h)| (d, t, None, h)).collect();
        let (cfg, out) = shares_of(quota, &fresh);
        let floor = (quota / fresh.len() as f64 * cfg.floor_fraction).min(quota / fresh.len() as f64);
        for (b, (d, throttled, _, _)) in fresh.iter().enumerate() {
            let want = if *throttled { f64::INFINITY } else { floor.max(d * (1.0 + cfg.headroom)) };
            if out[b] < want * (1.0 - 1e-9) {
                let max = out.iter().cloned().fold(0.0, f64::max);
                prop_assert!(out[b] >= max * (1.0 - 1e-9), "broker {b} short of its want {want} with {} while another has {max}: {out:?}", out[b]);
            }
        }
    }

    /// The JVM value: with demand above the quota, Σ min(demand, value) is the quota.
    #[test]
    fn uniform_value_holds_the_cluster_quota(quota in 1.0f64..1e7, demand in proptest::collection::vec(0.0f64..2e6, 1..60)) {
        let u = uniform_broker_value(quota, &demand);
        let admitted: f64 = demand.iter().map(|d| d.min(u)).sum();
        let total: f64 = demand.iter().sum();
        if total > quota {
            prop_assert!((admitted - quota).abs() <= quota * 1e-9, "u={u} admits {admitted} of {quota}");
        } else {
            prop_assert!(admitted <= total + 1e-9 && u <= quota * (1.0 + 1e-12));
        }
    }

    /// The window limit (Kafka mode) only lowers shares, keeps Σ shares ≤ Q, never takes a
    /// broker below what it already admitted or its floor, and leaves no more quota held in
    /// windows beyond their shares than is unassigned, unless no broker has room left to give.
    #[test]
    fn window_limit_only_lowers_shares_and_never_grants_quota_still_held_in_windows(
        quota in 1.0f64..1e7,
        inputs in broker_inputs(40),
        recent_frac in proptest::collection::vec(prop_oneof![Just(0.0), 0.0f64..3.0], 40),
    ) {
        let fresh: Vec<BrokerInput> = inputs.into_iter().map(|(d, t, _, h)| (d, t, None, h)).collect();
        let (cfg, before) = shares_of(quota, &fresh);
        let n = fresh.len();
        let recent: Vec<f64> = (0..n).map(|b| recent_frac[b] * quota / n as f64).collect();
        let floor = quota / n as f64 * cfg.floor_fraction;
        let mut after = before.clone();
        limit_to_window(quota, &recent, &vec![None; n], floor, &mut after);
        let sum: f64 = after.iter().sum();
        prop_assert!(sum <= quota * (1.0 + 1e-9), "Σ {sum} > {quota}");
        let mut room_left = 0.0;
        let mut held = 0.0;
        for b in 0..n {
            prop_assert!(after[b] <= before[b] * (1.0 + 1e-12), "raised broker {b}: {} -> {}", before[b], after[b]);
            let keep = before[b].min(recent[b].max(floor));
            prop_assert!(after[b] >= keep * (1.0 - 1e-9), "broker {b} below {keep}: {}", after[b]);
            room_left += (after[b] - recent[b].max(floor)).max(0.0);
            held += (recent[b] - after[b] * (1.0 + WINDOW_SLACK)).max(0.0);
        }
        prop_assert!(
            held <= (quota - sum) + quota * 1e-9 || room_left <= quota * 1e-9,
            "{held} held in windows beyond their shares, {} unassigned, room {room_left} left", quota - sum
        );
    }

    /// Dense rows: adding and removing other tenants never changes a tenant's shares (also
    /// with the per-broker window of recent admissions, whose rows move with the others).
    #[test]
    fn removing_a_tenant_never_changes_another_tenants_shares(
        ops in proptest::collection::vec((0usize..6, any::<bool>(), 1.0f64..1e6), 0..30),
        demand in proptest::collection::vec(0.0f64..1e6, 6 * 4),
        windowed in any::<bool>(),
    ) {
        let brokers = 4;
        let names: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        let mut cfg = DistributorConfig::new(brokers);
        if windowed {
            cfg.limiter_window = 11 * NANOS_PER_SEC;
            cfg.limiter_window_reports = 11;
        }
        let mut churned = Distributor::new(cfg).unwrap();
        let mut live = std::collections::BTreeMap::new();
        for (t, add, q) in ops {
            if add {
                churned.set_quota(&names[t], QuotaKind::Produce, q).unwrap();
                live.insert(t, q);
            } else {
                churned.remove_quota(&names[t], QuotaKind::Produce);
                live.remove(&t);
            }
        }
        let mut direct = Distributor::new(cfg).unwrap();
        for (t, q) in &live {
            direct.set_quota(&names[*t], QuotaKind::Produce, *q).unwrap();
        }
        for b in 0..brokers {
            let report = BrokerReport {
                broker: b as u32,
                at: NANOS_PER_SEC,
                demand: (0..6)
                    .map(|t| TenantDemand {
                        tenant: names[t].clone(),
                        kind: QuotaKind::Produce,
                        observed_rate: demand[t * brokers + b],
                        excess_rate: 0.0,
                        throttled: demand[t * brokers + b] > 5e5,
                    })
                    .collect(),
            };
            churned.ingest(&report).unwrap();
            direct.ingest(&report).unwrap();
        }
        prop_assert_eq!(churned.compute(NANOS_PER_SEC), direct.compute(NANOS_PER_SEC));
    }
}
