//! The cluster-wide quota distributor: a pure function from per-broker demand reports to each
//! broker's share of each tenant's cluster quota.
//!
//! Per tenant and kind, every interval:
//! 1. Brokers whose reports are stale (older than `report_timeout`) keep their last share
//!    (static stability); past the timeout a share above the equal split `Q / n` decays
//!    toward it with half-life `decay_half_life` (a share below it is held). These shares are
//!    reserved first. When the distributor itself is lost, every broker's `ShareKeeper`
//!    decays toward the equal split, so the sum still holds.
//! 2. Every fresh broker gets a floor (`floor_fraction` of the equal split), so an idle broker
//!    can take on a new client at once.
//! 3. The rest is water-filled max-min fairly by demand: a broker that throttled last
//!    interval (its clients wanted more than it admitted) has unbounded demand; a broker that
//!    did not gets its observed demand plus `headroom`. What is left after every demand is met
//!    is spread evenly over the fresh brokers.
//!
//! Conservation holds by construction: Σ shares ≤ Q. The same [`decayed_share`] function runs
//! on brokers ([`ShareKeeper`](crate::report::ShareKeeper)) when the distributor itself goes missing.
//!
//! For limiters that remember what they admitted (Kafka mode), [`window`] also keeps each
//! broker's share from outrunning what its window still holds, so a tenant whose traffic
//! moves between brokers is not granted its quota twice (`limiter_window` in the config).
//!
//! JVM brokers can only take one value for every broker (KIP-546 has no broker dimension):
//! [`uniform_broker_value`] gives the per-broker value that best holds the cluster quota given
//! where the tenant's traffic lands.

use std::collections::BTreeMap;

use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::error::{QuotaError, Result, invalid};
use crate::kind::QuotaKind;
use crate::report::BrokerReport;

mod window;
use window::RecentAdmissions;
pub use window::{WINDOW_SLACK, limit_to_window};

/// Distributor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistributorConfig {
    /// Number of brokers (ids `0..brokers`).
    pub brokers: usize,
    /// Per-broker floor as a fraction of the equal split. Default 0.02.
    pub floor_fraction: f64,
    /// Headroom above observed demand for brokers that did not throttle. Default 0.05.
    pub headroom: f64,
    /// A broker whose last report is older than this is stale, ns. Default 30 s.
    pub report_timeout: u64,
    /// Half-life of the decay of a stale broker's share toward the equal split, ns. Default 60 s.
    pub decay_half_life: u64,
    /// How far back the brokers' limiters remember admitted units, ns: Kafka mode's
    /// `samples × window` (11 s by default). When set, a broker's share is kept from outrunning
    /// what its window still holds ([`limit_to_window`]). 0 (the default) = off, for bucket
    /// mode, whose buckets carry their burst over a share change in units.
    pub limiter_window: u64,
    /// How many of each broker's latest reports cover `limiter_window` (at least
    /// `limiter_window / report interval`). Used only with `limiter_window`.
    pub limiter_window_reports: usize,
}

impl DistributorConfig {
    /// Defaults for `brokers` brokers.
    pub fn new(brokers: usize) -> Self {
        Self {
            brokers,
            floor_fraction: 0.02,
            headroom: 0.05,
            report_timeout: 30 * NANOS_PER_SEC,
            decay_half_life: 60 * NANOS_PER_SEC,
            limiter_window: 0,
            limiter_window_reports: 0,
        }
    }

    /// Validates every field, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        if self.brokers == 0 {
            return Err(invalid(
                "distributor.brokers",
                0,
                "need at least one broker",
            ));
        }
        if !(0.0..=1.0).contains(&self.floor_fraction) {
            return Err(invalid(
                "distributor.floor_fraction",
                self.floor_fraction,
                "must be within 0..=1",
            ));
        }
        if !(0.0..=10.0).contains(&self.headroom) {
            return Err(invalid(
                "distributor.headroom",
                self.headroom,
                "must be within 0..=10",
            ));
        }
        if self.decay_half_life == 0 {
            return Err(invalid("distributor.decay_half_life", 0, "must be > 0"));
        }
        if self.limiter_window > 0 && !(1..=1024).contains(&self.limiter_window_reports) {
            return Err(invalid(
                "distributor.limiter_window_reports",
                self.limiter_window_reports,
                "must be within 1..=1024 when limiter_window is set",
            ));
        }
        Ok(())
    }
}

/// A stale broker's share `stale_for` ns after its last contact: unchanged until
/// `report_timeout`, then decaying toward `equal` with half-life `decay_half_life`.
pub fn decayed_share(last: f64, equal: f64, stale_for: u64, cfg: &DistributorConfig) -> f64 {
    if stale_for <= cfg.report_timeout {
        return last;
    }
    let t = (stale_for - cfg.report_timeout) as f64 / cfg.decay_half_life as f64;
    equal + (last - equal) * 0.5f64.powf(t)
}

/// Inputs for one tenant and kind, dense over brokers.
#[derive(Debug, Clone, Copy)]
pub struct TenantRow<'a> {
    /// Cluster quota, units/s.
    pub quota: f64,
    /// Per broker: observed rate + throttled excess, units/s.
    pub demand: &'a [f64],
    /// Per broker: did it throttle last interval?
    pub throttled: &'a [bool],
    /// Per broker: the share computed at the broker's last fresh report (what a stale broker
    /// holds and decays from).
    pub held: &'a [f64],
}

// Indexes several parallel per-broker slices at once; a range loop reads clearest.
#[allow(clippy::needless_range_loop)]
/// Computes one tenant's shares into `out` (len = brokers). `stale_for[b]` is `None` for a
/// fresh broker, or how long its reports have been missing. Pure; no allocation: `out` holds
/// each fresh broker's want while the water level is found, then its share.
pub fn compute_shares(
    cfg: &DistributorConfig,
    stale_for: &[Option<u64>],
    row: &TenantRow<'_>,
    out: &mut [f64],
) {
    let n = out.len();
    let q = row.quota.max(0.0);
    let equal = q / n as f64;
    let any_stale = stale_for.iter().any(Option::is_some);
    // 1. Stale brokers keep (a decayed) last share.
    let mut reserved = 0.0;
    let mut fresh = n;
    if any_stale {
        fresh = 0;
        for b in 0..n {
            match stale_for[b] {
                Some(s) => {
                    // Only the reports are lost (the broker still takes shares): a share above
                    // the equal split decays toward it; one below is held, so an idle broker's
                    // floor does not grow into quota nobody can use.
                    out[b] = decayed_share(row.held[b], equal.min(row.held[b]), s, cfg).max(0.0);
                    reserved += out[b];
                }
                None => fresh += 1,
            }
        }
        if reserved > q {
            let k = q / reserved;
            for b in 0..n {
                if stale_for[b].is_some() {
                    out[b] *= k;
                }
            }
            reserved = q;
        }
    }
    if fresh == 0 {
        return;
    }
    // 2. Floors.
    let mut left = q - reserved;
    let floor = (equal * cfg.floor_fraction).min(left / fresh as f64);
    left -= floor * fresh as f64;
    // 3. Water-filling over wants beyond the floor (∞ for throttled brokers). The wants are
    // written into `out` for the fresh brokers.
    let grow = 1.0 + cfg.headroom;
    let is_fresh = |b: usize| !any_stale || stale_for[b].is_none();
    for b in 0..n {
        if is_fresh(b) {
            out[b] = if row.throttled[b] {
                f64::INFINITY
            } else {
                (row.demand[b] * grow - floor).max(0.0)
            };
        }
    }
    // Level = (left − Σ wants at or below it) / #wants above it, raised until stable (each
    // round moves at least one want below the level, so at most `fresh` rounds; usually 2-3).
    let mut unsat = fresh;
    let mut satisfied_sum = 0.0;
    let mut level = left / fresh as f64;
    for _ in 0..=fresh {
        let (mut s_sum, mut u) = (0.0f64, 0usize);
        if any_stale {
            for b in 0..n {
                if stale_for[b].is_none() {
                    let w = out[b];
                    let below = w <= level;
                    s_sum += if below { w } else { 0.0 };
                    u += usize::from(!below);
                }
            }
        } else {
            for &w in out.iter() {
                let below = w <= level;
                s_sum += if below { w } else { 0.0 };
                u += usize::from(!below);
            }
        }
        let stable = u == unsat;
        unsat = u;
        satisfied_sum = s_sum;
        if stable || u == 0 {
            break;
        }
        level = (left - satisfied_sum) / u as f64;
    }
    if unsat == 0 {
        // Every want is met: spread what is left evenly.
        let extra = ((left - satisfied_sum) / fresh as f64).max(0.0) + floor;
        for b in 0..n {
            if is_fresh(b) {
                out[b] += extra;
            }
        }
    } else {
        let level = level.max(0.0);
        for b in 0..n {
            if is_fresh(b) {
                out[b] = floor + out[b].min(level);
            }
        }
    }
}

/// The single per-broker value (for JVM brokers, whose quota config has no broker dimension)
/// that best holds `quota` cluster-wide given per-broker `demand`: the water level `u` with
/// `Σ min(demand_b, u) = quota` when demand exceeds the quota; otherwise the hottest broker's
/// demand plus the unused quota (no broker can then take more than the cluster quota alone).
pub fn uniform_broker_value(quota: f64, demand: &[f64]) -> f64 {
    let (mut total, mut busy, mut max) = (0.0f64, 0usize, 0.0f64);
    for &d in demand {
        total += d;
        busy += usize::from(d > 0.0);
        max = max.max(d);
    }
    if busy == 0 {
        return quota / demand.len().max(1) as f64;
    }
    if total <= quota {
        return (max + (quota - total)).min(quota);
    }
    // Water level without sorting or allocating: start from the even split and raise it past
    // every broker whose demand fits below it, until no more fit.
    let mut unsat = busy;
    let mut level = quota / busy as f64;
    for _ in 0..demand.len() + 1 {
        let (mut below, mut u) = (0.0, 0usize);
        for &d in demand {
            let fits = d <= level;
            below += if fits { d } else { 0.0 };
            u += usize::from(!fits);
        }
        if u == 0 {
            break;
        }
        level = (quota - below) / u as f64;
        if u == unsat {
            break;
        }
        unsat = u;
    }
    level.max(0.0)
}

/// One tenant's shares (units/s per broker).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantShares {
    /// Tenant name.
    pub tenant: String,
    /// Quota kind.
    pub kind: QuotaKind,
    /// Cluster quota, units/s.
    pub quota: f64,
    /// Share per broker id.
    pub shares: Vec<f64>,
    /// Uniform per-broker value for JVM brokers.
    pub uniform: f64,
}

/// Keeps the latest demand per broker and the shares in force; [`Distributor::compute`] runs
/// [`compute_shares`] for every tenant.
///
/// Per-broker inputs are dense rows (`row × brokers`) in a few flat vectors, so one compute
/// streams through memory instead of chasing a pointer per tenant; tenants are found by name
/// (no allocation per report entry) and visited in (tenant, kind) order.
#[derive(Debug, Clone)]
pub struct Distributor {
    cfg: DistributorConfig,
    last_report: Vec<Option<Nanos>>,
    /// Tenant → row per quota kind.
    index: BTreeMap<String, [Option<usize>; QuotaKind::COUNT]>,
    /// Per row: (tenant, kind) and the cluster quota.
    keys: Vec<(String, QuotaKind)>,
    quota: Vec<f64>,
    /// Per row × broker: observed + excess demand, throttled flag, the share held at the
    /// broker's last fresh report.
    demand: Vec<f64>,
    throttled: Vec<bool>,
    held: Vec<f64>,
    stale: Vec<Option<u64>>,
    /// Rows in (tenant, kind) order; rebuilt when the set of rows changes.
    order: Vec<usize>,
    /// Per row × broker: units admitted in each broker's latest reports (`limiter_window`).
    recent: RecentAdmissions,
    /// Scratch: one row's recent rates per broker.
    recent_rate: Vec<f64>,
}

impl Distributor {
    /// A distributor for `cfg.brokers` brokers.
    pub fn new(cfg: DistributorConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            last_report: vec![None; cfg.brokers],
            index: BTreeMap::new(),
            keys: Vec::new(),
            quota: Vec::new(),
            demand: Vec::new(),
            throttled: Vec::new(),
            held: Vec::new(),
            stale: Vec::new(),
            order: Vec::new(),
            recent: RecentAdmissions::new(
                cfg.brokers,
                if cfg.limiter_window > 0 {
                    cfg.limiter_window_reports
                } else {
                    0
                },
            ),
            recent_rate: vec![0.0; cfg.brokers],
        })
    }

    /// Settings.
    pub fn config(&self) -> &DistributorConfig {
        &self.cfg
    }

    fn row_of(&self, tenant: &str, kind: QuotaKind) -> Option<usize> {
        self.index.get(tenant).and_then(|r| r[kind.index()])
    }

    /// Sets a tenant's cluster quota (units/s).
    pub fn set_quota(&mut self, tenant: &str, kind: QuotaKind, quota: f64) -> Result<()> {
        if !quota.is_finite() || quota <= 0.0 {
            return Err(invalid(
                format!("tenants[{tenant}].{}", kind.config_key()),
                quota,
                "must be > 0",
            ));
        }
        if let Some(r) = self.row_of(tenant, kind) {
            self.quota[r] = quota;
            return Ok(());
        }
        let n = self.cfg.brokers;
        let r = self.keys.len();
        self.keys.push((tenant.to_string(), kind));
        self.quota.push(quota);
        self.demand.resize((r + 1) * n, 0.0);
        self.throttled.resize((r + 1) * n, false);
        self.held.resize((r + 1) * n, quota / n as f64);
        self.recent.resize_rows(r + 1);
        self.index.entry(tenant.to_string()).or_default()[kind.index()] = Some(r);
        self.order.clear();
        Ok(())
    }

    /// Removes a tenant's cluster quota.
    pub fn remove_quota(&mut self, tenant: &str, kind: QuotaKind) {
        let Some(r) = self.row_of(tenant, kind) else {
            return;
        };
        if let Some(rows) = self.index.get_mut(tenant) {
            rows[kind.index()] = None;
            if rows.iter().all(Option::is_none) {
                self.index.remove(tenant);
            }
        }
        // Move the last row into the hole.
        let n = self.cfg.brokers;
        let last = self.keys.len() - 1;
        if r != last {
            self.demand.copy_within(last * n..(last + 1) * n, r * n);
            self.throttled.copy_within(last * n..(last + 1) * n, r * n);
            self.held.copy_within(last * n..(last + 1) * n, r * n);
            self.recent.move_row(last, r);
            self.keys.swap(r, last);
            self.quota.swap(r, last);
            let (t, k) = &self.keys[r];
            if let Some(rows) = self.index.get_mut(t.as_str()) {
                rows[k.index()] = Some(r);
            }
        }
        self.keys.truncate(last);
        self.quota.truncate(last);
        self.demand.truncate(last * n);
        self.throttled.truncate(last * n);
        self.held.truncate(last * n);
        self.recent.resize_rows(last);
        self.order.clear();
    }

    /// Takes in one broker's report (the latest report per broker wins).
    pub fn ingest(&mut self, report: &BrokerReport) -> Result<()> {
        let b = report.broker as usize;
        let n = self.cfg.brokers;
        if b >= n {
            return Err(QuotaError::Distributor {
                reason: format!("report from broker {b}, but the cluster has {n} brokers"),
            });
        }
        let prev = self.last_report[b].replace(report.at);
        for r in 0..self.keys.len() {
            self.demand[r * n + b] = 0.0;
            self.throttled[r * n + b] = false;
        }
        let slot = self.recent.begin_report(b, report.at);
        // The report's interval: since this broker's previous report (for its first, the
        // interval the window's reports are sized for).
        let secs = match prev {
            Some(p) if report.at > p => (report.at - p) as f64,
            _ => self.cfg.limiter_window as f64 / self.cfg.limiter_window_reports.max(1) as f64,
        } / NANOS_PER_SEC as f64;
        for d in &report.demand {
            if let Some(r) = self.row_of(&d.tenant, d.kind) {
                self.demand[r * n + b] = (d.observed_rate + d.excess_rate).max(0.0);
                self.throttled[r * n + b] = d.throttled;
                self.recent.set(r, b, slot, d.observed_rate.max(0.0) * secs);
            }
        }
        Ok(())
    }

    /// Computes every tenant's shares at `now`, stores them as the shares in force and returns
    /// them, sorted by tenant and kind.
    pub fn compute(&mut self, now: Nanos) -> Vec<TenantShares> {
        let mut out = Vec::new();
        self.compute_into(now, &mut out);
        out
    }

    /// Like [`Self::compute`], writing into `out`. When `out` holds the previous result for the
    /// same tenants (the steady state), its entries are updated in place without allocating.
    pub fn compute_into(&mut self, now: Nanos, out: &mut Vec<TenantShares>) {
        let timeout = self.cfg.report_timeout;
        self.stale.clear();
        self.stale.extend(self.last_report.iter().map(|r| match r {
            Some(t) if now.saturating_sub(*t) <= timeout => None,
            Some(t) => Some(now.saturating_sub(*t)),
            None => Some(now),
        }));
        let any_stale = self.stale.iter().any(Option::is_some);
        if self.order.len() != self.keys.len() {
            self.order.clear();
            self.order.extend(
                self.index
                    .values()
                    .flat_map(|rows| rows.iter().flatten().copied()),
            );
        }
        let reuse = out.len() == self.order.len()
            && out.iter().zip(&self.order).all(|(o, &r)| {
                let (t, k) = &self.keys[r];
                o.kind == *k && o.tenant == *t
            });
        if !reuse {
            out.clear();
        }
        let n = self.cfg.brokers;
        for (i, &r) in self.order.iter().enumerate() {
            if !reuse {
                let (t, k) = &self.keys[r];
                out.push(TenantShares {
                    tenant: t.clone(),
                    kind: *k,
                    quota: 0.0,
                    shares: vec![0.0; n],
                    uniform: 0.0,
                });
            }
            let o = &mut out[i];
            let cells = r * n..(r + 1) * n;
            let row = TenantRow {
                quota: self.quota[r],
                demand: &self.demand[cells.clone()],
                throttled: &self.throttled[cells.clone()],
                held: &self.held[cells.clone()],
            };
            compute_shares(&self.cfg, &self.stale, &row, &mut o.shares);
            if self.recent.enabled() {
                self.recent
                    .rates(r, now, self.cfg.limiter_window, &mut self.recent_rate);
                let floor = self.quota[r] / n as f64 * self.cfg.floor_fraction;
                limit_to_window(
                    self.quota[r],
                    &self.recent_rate,
                    &self.stale,
                    floor,
                    &mut o.shares,
                );
            }
            let held = &mut self.held[cells.clone()];
            if any_stale {
                for (b, s) in self.stale.iter().enumerate() {
                    if s.is_none() {
                        held[b] = o.shares[b];
                    }
                }
            } else {
                held.copy_from_slice(&o.shares);
            }
            o.quota = self.quota[r];
            o.uniform = uniform_broker_value(self.quota[r], &self.demand[cells]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        q: f64,
        demand: &[f64],
        throttled: &[bool],
        stale: &[Option<u64>],
        prev: &[f64],
    ) -> Vec<f64> {
        let cfg = DistributorConfig::new(demand.len());
        let mut out = vec![0.0; demand.len()];
        compute_shares(
            &cfg,
            stale,
            &TenantRow {
                quota: q,
                demand,
                throttled,
                held: prev,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn shares_never_exceed_the_cluster_quota_and_cover_it_when_demand_does() {
        let s = run(
            100.0,
            &[80.0, 10.0, 0.0, 0.0],
            &[true, false, false, false],
            &[None; 4],
            &[25.0; 4],
        );
        let sum: f64 = s.iter().sum();
        assert!((sum - 100.0).abs() < 1e-9, "{s:?}");
        assert!(s[0] > 80.0 && s[1] >= 10.0 && s[2] > 0.0, "{s:?}");
    }

    #[test]
    fn water_filling_is_max_min_fair() {
        let s = run(
            90.0,
            &[100.0, 100.0, 10.0],
            &[true, true, false],
            &[None; 3],
            &[30.0; 3],
        );
        assert!((s[0] - s[1]).abs() < 1e-9);
        assert!(s[2] >= 10.0 && s[2] < 12.0, "{s:?}");
        assert!((s.iter().sum::<f64>() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn stale_broker_keeps_its_share_then_decays_toward_equal() {
        let prev = [50.0, 25.0, 25.0];
        let stale = [Some(NANOS_PER_SEC), None, None];
        let s = run(
            100.0,
            &[0.0, 200.0, 200.0],
            &[false, true, true],
            &stale,
            &prev,
        );
        assert_eq!(s[0], 50.0);
        assert!((s.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        let long = [Some(1000 * NANOS_PER_SEC), None, None];
        let s = run(
            100.0,
            &[0.0, 200.0, 200.0],
            &[false, true, true],
            &long,
            &prev,
        );
        assert!((s[0] - 100.0 / 3.0).abs() < 0.01, "{s:?}");
        let low = [5.0, 47.5, 47.5];
        let s = run(
            100.0,
            &[0.0, 200.0, 200.0],
            &[false, true, true],
            &long,
            &low,
        );
        assert_eq!(s[0], 5.0, "a share below the equal split is held");
    }

    #[test]
    fn compute_into_reuses_its_buffer_and_agrees_with_compute() {
        let mut d = Distributor::new(DistributorConfig::new(3)).unwrap();
        d.set_quota("b", QuotaKind::Produce, 30.0).unwrap();
        d.set_quota("a", QuotaKind::Fetch, 60.0).unwrap();
        let mut out = d.compute(0);
        assert_eq!(
            out.iter().map(|s| s.tenant.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let ptr = out[0].shares.as_ptr();
        let mut fresh = d.clone();
        d.compute_into(NANOS_PER_SEC, &mut out);
        assert_eq!(
            out[0].shares.as_ptr(),
            ptr,
            "steady state reuses the allocation"
        );
        assert_eq!(out, fresh.compute(NANOS_PER_SEC));
        d.set_quota("c", QuotaKind::Produce, 9.0).unwrap();
        d.compute_into(2 * NANOS_PER_SEC, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn uniform_value_holds_the_cluster_quota() {
        let d = [60.0, 30.0, 10.0];
        let u = uniform_broker_value(50.0, &d);
        let admitted: f64 = d.iter().map(|x| x.min(u)).sum();
        assert!((admitted - 50.0).abs() < 1e-9, "u={u}");
        assert_eq!(uniform_broker_value(200.0, &d), 160.0);
    }
}
