//! Metrics: per-tenant labels only, capped, with an overflow label.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use keel_quotas::telemetry::OVERFLOW_LABEL;
use keel_quotas::{
    NANOS_PER_SEC, QuotaEntity, QuotaKind, QuotaMetrics, QuotaRegistry, RegistryConfig,
    RequestIdentity, TenantResolver,
};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

#[derive(Default)]
struct Capture {
    keys: Mutex<Vec<Key>>,
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.keys.lock().unwrap().push(key.clone());
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.keys.lock().unwrap().push(key.clone());
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.keys.lock().unwrap().push(key.clone());
        Histogram::noop()
    }
}

#[test]
fn tenant_labels_are_capped_with_an_overflow_label() {
    let reg = QuotaRegistry::new(RegistryConfig::default(), TenantResolver::new()).unwrap();
    for i in 0..50 {
        let t = format!("tenant-{i:02}");
        reg.set_quota(
            &QuotaEntity::Tenant(t.clone()),
            QuotaKind::Produce,
            1000.0,
            0,
        )
        .unwrap();
        let h = reg.resolve_in_tenant(
            &t,
            &RequestIdentity {
                principal: "",
                client_id: "c",
            },
            QuotaKind::Produce,
            0,
        );
        h.record(5000, NANOS_PER_SEC);
    }
    let rec = Capture::default();
    let mut m = QuotaMetrics::new(10);
    metrics::with_local_recorder(&rec, || m.publish(&reg, NANOS_PER_SEC));
    let keys = rec.keys.lock().unwrap();
    let mut tenants = BTreeSet::new();
    let mut names = BTreeSet::new();
    for k in keys.iter() {
        names.insert(k.name().to_string());
        for l in k.labels() {
            assert!(
                l.key() == "tenant" || l.key() == "kind",
                "unexpected label {}",
                l.key()
            );
            if l.key() == "tenant" {
                tenants.insert(l.value().to_string());
            }
        }
    }
    assert_eq!(tenants.len(), 11, "10 tenants + overflow: {tenants:?}");
    assert!(tenants.contains(OVERFLOW_LABEL));
    for n in [
        "keel_quota_rate",
        "keel_quota_limit",
        "keel_quota_utilisation",
        "keel_quota_throttle_time_ms_total",
    ] {
        assert!(names.contains(n), "{n} missing: {names:?}");
    }
}
