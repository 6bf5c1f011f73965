//! Broker-side halves of the distribution loop: turning the registry's counters into a
//! demand report ([`DemandMeter`]), keeping the last shares in force when the distributor
//! goes missing ([`ShareKeeper`]), and the transport between brokers and the distributor
//! ([`ReportTransport`], with [`InMemoryTransport`]; the sidecar carries reports over a Kafka
//! topic).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use crate::bucket::BucketCounters;
use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::distributor::{DistributorConfig, TenantShares, decayed_share};
use crate::kind::QuotaKind;
use crate::registry::QuotaRegistry;

/// One tenant's demand on one broker over the last interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantDemand {
    /// Tenant name.
    pub tenant: String,
    /// Quota kind.
    pub kind: QuotaKind,
    /// Admitted units/s.
    pub observed_rate: f64,
    /// Units/s that arrived over the burst (throttled excess).
    pub excess_rate: f64,
    /// True if the broker throttled the tenant during the interval.
    pub throttled: bool,
}

/// A broker's report for one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerReport {
    /// Broker id.
    pub broker: u32,
    /// End of the interval.
    pub at: Nanos,
    /// Per tenant and kind.
    pub demand: Vec<TenantDemand>,
}

/// Differences the registry's cumulative counters into per-interval rates.
#[derive(Debug, Default)]
pub struct DemandMeter {
    last: HashMap<(String, QuotaKind), BucketCounters>,
    last_at: Option<Nanos>,
}

impl DemandMeter {
    /// A meter with no history (the first report covers everything since the counters began).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the report for `broker` at `now`.
    pub fn report(&mut self, broker: u32, registry: &QuotaRegistry, now: Nanos) -> BrokerReport {
        let secs = match self.last_at {
            Some(t) if now > t => (now - t) as f64 / NANOS_PER_SEC as f64,
            _ => 1.0,
        };
        self.last_at = Some(now);
        let mut demand = Vec::new();
        for u in registry.tenant_usage() {
            let key = (u.tenant.clone(), u.kind);
            let prev = self.last.insert(key, u.counters).unwrap_or_default();
            let admitted = u.counters.admitted.wrapping_sub(prev.admitted) as f64;
            let excess = u.counters.excess.wrapping_sub(prev.excess) as f64;
            let throttled =
                u.counters.throttled_ns != prev.throttled_ns || u.counters.throttled_until > now;
            demand.push(TenantDemand {
                tenant: u.tenant,
                kind: u.kind,
                observed_rate: admitted / secs,
                excess_rate: excess / secs,
                throttled,
            });
        }
        BrokerReport {
            broker,
            at: now,
            demand,
        }
    }
}

/// A broker's copy of its shares: applied to the registry when they arrive, kept when the
/// distributor goes missing, and decayed toward the equal split past the timeout.
#[derive(Debug)]
pub struct ShareKeeper {
    broker: u32,
    cfg: DistributorConfig,
    last: HashMap<(String, QuotaKind), (f64, f64)>,
    received_at: Option<Nanos>,
}

impl ShareKeeper {
    /// A keeper for `broker`.
    pub fn new(broker: u32, cfg: DistributorConfig) -> Self {
        Self {
            broker,
            cfg,
            last: HashMap::new(),
            received_at: None,
        }
    }

    /// Takes new shares from the distributor (at `now`).
    pub fn receive(&mut self, shares: &[TenantShares], now: Nanos) {
        self.received_at = Some(now);
        self.last.clear();
        for s in shares {
            if let Some(v) = s.shares.get(self.broker as usize) {
                self.last.insert((s.tenant.clone(), s.kind), (*v, s.quota));
            }
        }
    }

    /// The share in force for every tenant at `now`: the last one received, decayed toward
    /// the equal split if the distributor has been silent past the timeout.
    pub fn effective(&self, now: Nanos) -> Vec<(String, QuotaKind, f64)> {
        let stale = self.received_at.map_or(0, |t| now.saturating_sub(t));
        let n = self.cfg.brokers.max(1) as f64;
        let mut out: Vec<_> = self
            .last
            .iter()
            .map(|((t, k), (share, quota))| {
                (
                    t.clone(),
                    *k,
                    decayed_share(*share, quota / n, stale, &self.cfg),
                )
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    /// Applies the effective shares to the registry as tenant quotas on this broker.
    pub fn apply(&self, registry: &QuotaRegistry, now: Nanos) -> crate::Result<()> {
        for (tenant, kind, share) in self.effective(now) {
            // A zero share would be an invalid quota; a tiny positive one holds the tenant.
            let share = share.max(1e-3);
            registry.set_quota(&crate::QuotaEntity::Tenant(tenant), kind, share, now)?;
        }
        Ok(())
    }
}

/// Carries reports to the distributor and shares back. Implementations: in memory (tests,
/// simulator) and, in the sidecar, a Kafka topic.
pub trait ReportTransport: Send + Sync {
    /// Sends a broker's report.
    fn send_report(&self, report: BrokerReport);
    /// Takes every report received since the last call.
    fn take_reports(&self) -> Vec<BrokerReport>;
    /// Publishes the distributor's shares.
    fn publish_shares(&self, shares: Vec<TenantShares>);
    /// The latest published shares, if any.
    fn latest_shares(&self) -> Option<Vec<TenantShares>>;
}

/// An in-process [`ReportTransport`].
#[derive(Debug, Default)]
pub struct InMemoryTransport {
    reports: Mutex<VecDeque<BrokerReport>>,
    shares: Mutex<Option<Vec<TenantShares>>>,
}

impl InMemoryTransport {
    /// An empty transport.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ReportTransport for InMemoryTransport {
    fn send_report(&self, report: BrokerReport) {
        self.reports.lock().push_back(report);
    }
    fn take_reports(&self) -> Vec<BrokerReport> {
        self.reports.lock().drain(..).collect()
    }
    fn publish_shares(&self, shares: Vec<TenantShares>) {
        *self.shares.lock() = Some(shares);
    }
    fn latest_shares(&self) -> Option<Vec<TenantShares>> {
        self.shares.lock().clone()
    }
}
