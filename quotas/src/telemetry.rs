//! Per-tenant quota metrics through the [`metrics`] crate facade, with bounded label
//! cardinality: labels are `tenant` and `kind` only, and at most `max_tenants` distinct tenant
//! labels are ever emitted; later tenants are summed under the tenant label `__overflow__`.
//!
//! Published every interval by [`QuotaMetrics::publish`]:
//! - `keel_quota_rate` (gauge, units/s admitted over the interval),
//! - `keel_quota_limit` (gauge, units/s in force on this broker),
//! - `keel_quota_utilisation` (gauge, rate / limit),
//! - `keel_quota_throttle_time_ms_total` (counter, throttle handed out).

use std::collections::{HashMap, HashSet};

use crate::bucket::BucketCounters;
use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::kind::QuotaKind;
use crate::registry::QuotaRegistry;

/// The tenant label used once `max_tenants` labels are in use.
pub const OVERFLOW_LABEL: &str = "__overflow__";

/// Publishes per-tenant metrics with at most `max_tenants` tenant labels.
#[derive(Debug)]
pub struct QuotaMetrics {
    max_tenants: usize,
    labelled: HashSet<String>,
    last: HashMap<(String, QuotaKind), BucketCounters>,
    last_at: Option<Nanos>,
}

#[derive(Default)]
struct Agg {
    rate: f64,
    limit: f64,
    throttle_ms: u64,
}

impl QuotaMetrics {
    /// A publisher emitting at most `max_tenants` tenant labels.
    pub fn new(max_tenants: usize) -> Self {
        Self {
            max_tenants,
            labelled: HashSet::new(),
            last: HashMap::new(),
            last_at: None,
        }
    }

    fn label(&mut self, tenant: &str) -> String {
        if self.labelled.contains(tenant) {
            return tenant.to_string();
        }
        if self.labelled.len() < self.max_tenants {
            self.labelled.insert(tenant.to_string());
            return tenant.to_string();
        }
        OVERFLOW_LABEL.to_string()
    }

    /// Reads the registry's counters and publishes rates since the last call.
    pub fn publish(&mut self, registry: &QuotaRegistry, now: Nanos) {
        let secs = match self.last_at {
            Some(t) if now > t => (now - t) as f64 / NANOS_PER_SEC as f64,
            _ => 1.0,
        };
        self.last_at = Some(now);
        let mut agg: HashMap<(String, QuotaKind), Agg> = HashMap::new();
        for u in registry.tenant_usage() {
            let prev = self
                .last
                .insert((u.tenant.clone(), u.kind), u.counters)
                .unwrap_or_default();
            let label = self.label(&u.tenant);
            let a = agg.entry((label, u.kind)).or_default();
            a.rate += u.counters.admitted.wrapping_sub(prev.admitted) as f64 / secs;
            a.limit += u.limit.unwrap_or(0.0);
            a.throttle_ms += u.counters.throttled_ns.wrapping_sub(prev.throttled_ns) / 1_000_000;
        }
        for ((tenant, kind), a) in agg {
            let k = kind.short_name();
            metrics::gauge!("keel_quota_rate", "tenant" => tenant.clone(), "kind" => k).set(a.rate);
            metrics::gauge!("keel_quota_limit", "tenant" => tenant.clone(), "kind" => k)
                .set(a.limit);
            let util = if a.limit > 0.0 { a.rate / a.limit } else { 0.0 };
            metrics::gauge!("keel_quota_utilisation", "tenant" => tenant.clone(), "kind" => k)
                .set(util);
            metrics::counter!("keel_quota_throttle_time_ms_total", "tenant" => tenant, "kind" => k)
                .increment(a.throttle_ms);
        }
    }
}
