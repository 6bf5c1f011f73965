//! Pure decisions of the quota loop: who distributes, and which quota values to write.
//!
//! **Single writer.** The distributor is the sidecar of the lowest broker id among the
//! brokers that (a) are in the cluster metadata and (b) have a report on the topic younger
//! than `report_timeout`, i.e. the lowest *live sidecar*, not merely the lowest live broker
//! (a broker whose sidecar is down must not hold the role). Every sidecar reads the whole
//! report topic, so every sidecar reaches the same answer from the same records. During a
//! hand-over (the old distributor's last report ages out while the new one sees it) two
//! sidecars may both write for at most one interval; both compute from the same reports, and
//! AlterClientQuotas is a last-writer-wins upsert, so the outcome is the same value. No lease
//! is needed because the write is idempotent; a fenced lease would buy nothing here.

use std::collections::BTreeMap;

use keel_quotas::{DistributorConfig, QuotaKind, TenantShares};

use crate::sidecar::config::QuotasSection;

/// The distributor's settings for `brokers` brokers from the `[quotas]` section.
///
/// JVM brokers enforce Kafka's windowed rate: what a broker admitted stays charged for
/// `broker_quota_window`, so when a tenant's traffic moves, the distributor must not grant
/// the brokers it moved to any quota that the brokers it left still hold in their windows
/// ([`DistributorConfig::limiter_window`], over the reports that cover that span).
pub fn distributor_config(q: &QuotasSection, brokers: usize) -> DistributorConfig {
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let mut cfg = DistributorConfig::new(brokers);
    cfg.floor_fraction = q.floor_fraction;
    cfg.headroom = q.headroom;
    cfg.report_timeout = nanos(q.report_timeout);
    cfg.decay_half_life = nanos(q.decay_half_life);
    let window = nanos(q.broker_quota_window);
    if window > 0 {
        let interval = nanos(q.interval).max(1);
        cfg.limiter_window = window;
        cfg.limiter_window_reports =
            usize::try_from(window.div_ceil(interval)).map_or(1024, |n| n.clamp(1, 1024));
    }
    cfg
}

/// The elected distributor: the lowest broker id with a fresh report that the metadata
/// still lists. `last_report` maps broker id → newest report time (ns).
pub fn elect(
    last_report: &BTreeMap<i32, u64>,
    brokers: &[i32],
    now_ns: u64,
    timeout_ns: u64,
) -> Option<i32> {
    last_report
        .iter()
        .filter(|(b, at)| brokers.contains(b) && now_ns.saturating_sub(**at) <= timeout_ns)
        .map(|(b, _)| *b)
        .min()
}

/// One quota value to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Alteration {
    /// Tenant name.
    pub tenant: String,
    /// Quota kind (`producer_byte_rate` / `consumer_byte_rate`).
    pub kind: QuotaKind,
    /// The uniform per-broker value, bytes/s (whole bytes, at least 1).
    pub value: f64,
}

/// Which uniform per-broker values to write: those whose value moved by more than
/// `min_change` (relative) from the value in force, or that have none yet. Values are
/// rounded to whole bytes/s and are at least 1 (a 0 quota would stop the tenant outright).
pub fn alterations(
    shares: &[TenantShares],
    applied: &BTreeMap<(String, QuotaKind), f64>,
    min_change: f64,
) -> Vec<Alteration> {
    shares
        .iter()
        .filter_map(|s| {
            let value = s.uniform.round().max(1.0);
            if !value.is_finite() {
                return None;
            }
            let changed = match applied.get(&(s.tenant.clone(), s.kind)) {
                Some(old) if *old > 0.0 => ((value - old) / old).abs() > min_change,
                _ => true,
            };
            changed.then(|| Alteration {
                tenant: s.tenant.clone(),
                kind: s.kind,
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_distributor_covers_the_brokers_quota_window_with_reports() {
        let mut q = QuotasSection::default();
        let cfg = distributor_config(&q, 3);
        assert_eq!(cfg.brokers, 3);
        assert_eq!(cfg.limiter_window, 11 * S, "Kafka's 11 × 1 s by default");
        assert_eq!(cfg.limiter_window_reports, 2, "11 s of 10 s reports");
        assert_eq!(cfg.report_timeout, 30 * S);
        q.interval = std::time::Duration::from_secs(1);
        assert_eq!(distributor_config(&q, 3).limiter_window_reports, 11);
        q.broker_quota_window = std::time::Duration::ZERO;
        let off = distributor_config(&q, 3);
        assert_eq!((off.limiter_window, off.limiter_window_reports), (0, 0));
        // Whatever the intervals, the distributor accepts the settings.
        q.broker_quota_window = std::time::Duration::from_secs(3600);
        q.interval = std::time::Duration::from_millis(1);
        assert!(keel_quotas::Distributor::new(distributor_config(&q, 3)).is_ok());
    }

    #[test]
    fn the_lowest_live_sidecar_distributes() {
        let reports = BTreeMap::from([(1, 100 * S), (2, 100 * S), (3, 100 * S)]);
        assert_eq!(elect(&reports, &[1, 2, 3], 110 * S, 30 * S), Some(1));
        // Broker 1's sidecar went quiet: 2 takes over after the timeout, not before.
        let reports = BTreeMap::from([(1, 70 * S), (2, 100 * S), (3, 100 * S)]);
        assert_eq!(elect(&reports, &[1, 2, 3], 100 * S, 30 * S), Some(1));
        assert_eq!(elect(&reports, &[1, 2, 3], 101 * S, 30 * S), Some(2));
        // A broker gone from the metadata never distributes.
        assert_eq!(elect(&reports, &[2, 3], 100 * S, 30 * S), Some(2));
        assert_eq!(elect(&BTreeMap::new(), &[1], 0, 30 * S), None);
    }

    fn share(t: &str, uniform: f64) -> TenantShares {
        TenantShares {
            tenant: t.into(),
            kind: QuotaKind::Produce,
            quota: 100.0,
            shares: vec![],
            uniform,
        }
    }

    #[test]
    fn only_changed_values_are_written() {
        let applied = BTreeMap::from([
            (("a".to_string(), QuotaKind::Produce), 100.0),
            (("b".to_string(), QuotaKind::Produce), 100.0),
        ]);
        let a = alterations(
            &[share("a", 100.4), share("b", 150.0), share("c", 0.2)],
            &applied,
            0.01,
        );
        assert_eq!(
            a,
            vec![
                Alteration {
                    tenant: "b".into(),
                    kind: QuotaKind::Produce,
                    value: 150.0
                },
                Alteration {
                    tenant: "c".into(),
                    kind: QuotaKind::Produce,
                    value: 1.0
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn election_picks_a_fresh_listed_broker_and_all_sidecars_agree(
            reports in proptest::collection::btree_map(0i32..20, 0u64..200, 0..10),
            brokers in proptest::collection::btree_set(0i32..20, 0..10),
            now in 0u64..250,
        ) {
            let reports: BTreeMap<i32, u64> = reports.into_iter().map(|(b, t)| (b, t * S)).collect();
            let brokers: Vec<i32> = brokers.into_iter().collect();
            let e = elect(&reports, &brokers, now * S, 30 * S);
            match e {
                Some(b) => {
                    prop_assert!(brokers.contains(&b));
                    prop_assert!(now * S - reports[&b].min(now * S) <= 30 * S);
                    for (o, at) in &reports {
                        if brokers.contains(o) && now * S - (*at).min(now * S) <= 30 * S {
                            prop_assert!(b <= *o);
                        }
                    }
                }
                None => prop_assert!(!reports.iter().any(|(b, at)| brokers.contains(b) && now * S - (*at).min(now * S) <= 30 * S)),
            }
        }

        #[test]
        fn written_values_are_whole_positive_bytes(u in 0.0f64..1e12, old in 1.0f64..1e12, min_change in 0.0f64..0.5) {
            let applied = BTreeMap::from([(("a".to_string(), QuotaKind::Produce), old)]);
            for a in alterations(&[share("a", u)], &applied, min_change) {
                prop_assert!(a.value >= 1.0 && a.value.fract() == 0.0);
                prop_assert!(((a.value - old) / old).abs() > min_change);
            }
        }
    }
}
