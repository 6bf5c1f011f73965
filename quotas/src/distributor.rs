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
//! JVM brokers can only take one value for every broker (KIP-546 has no broker dimension):
//! [`uniform_broker_value`] gives the per-broker value that best holds the cluster quota given
//! where the tenant's traffic lands.

use std::collections::BTreeMap;

use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::error::{QuotaError, Result, invalid};
use crate::kind::QuotaKind;
use crate::report::BrokerReport;

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
/// fresh broker, or how long its reports have been missing. Pure; no allocation.
pub fn compute_shares(
    cfg: &DistributorConfig,
    stale_for: &[Option<u64>],
    row: &TenantRow<'_>,
    out: &mut [f64],
) {
    let n = out.len();
    let q = row.quota.max(0.0);
    let equal = q / n as f64;
    // 1. Stale brokers keep (a decayed) last share.
    let mut reserved = 0.0;
    let mut fresh = 0usize;
    for b in 0..n {
        match stale_for[b] {
            Some(s) => {
                // Only the reports are lost (the broker still takes shares): a share above the
                // equal split decays toward it; one below is held, so an idle broker's floor
                // does not grow into quota nobody can use.
                out[b] = decayed_share(row.held[b], equal.min(row.held[b]), s, cfg).max(0.0);
                reserved += out[b];
            }
            None => {
                out[b] = 0.0;
                fresh += 1;
            }
        }
    }
    if reserved > q {
        let k = q / reserved;
        for (b, s) in out.iter_mut().enumerate() {
            if stale_for[b].is_some() {
                *s *= k;
            }
        }
        reserved = q;
    }
    if fresh == 0 {
        return;
    }
    // 2. Floors.
    let mut left = q - reserved;
    let floor = (equal * cfg.floor_fraction).min(left / fresh as f64);
    for b in 0..n {
        if stale_for[b].is_none() {
            out[b] = floor;
            left -= floor;
        }
    }
    // 3. Water-filling over wants beyond the floor (∞ for throttled brokers).
    let want = |b: usize| -> f64 {
        if row.throttled[b] {
            f64::INFINITY
        } else {
            (row.demand[b] * (1.0 + cfg.headroom) - floor).max(0.0)
        }
    };
    let mut unsat = fresh;
    let mut level = 0.0f64;
    let mut satisfied_sum = 0.0;
    // Iterate: level = (left − Σ wants below level) / #unsatisfied, until stable.
    for _ in 0..64 {
        let new_level = if unsat == 0 {
            f64::INFINITY
        } else {
            (left - satisfied_sum) / unsat as f64
        };
        let mut s_sum = 0.0;
        let mut u = 0;
        for b in 0..n {
            if stale_for[b].is_none() {
                let w = want(b);
                if w <= new_level {
                    s_sum += w;
                } else {
                    u += 1;
                }
            }
        }
        let stable = u == unsat;
        unsat = u;
        satisfied_sum = s_sum;
        level = new_level;
        if stable {
            break;
        }
    }
    if unsat == 0 {
        // Every want is met: spread what is left evenly.
        let extra = ((left - satisfied_sum) / fresh as f64).max(0.0);
        for b in 0..n {
            if stale_for[b].is_none() {
                out[b] += want(b) + extra;
            }
        }
    } else {
        let level = level.max(0.0);
        for b in 0..n {
            if stale_for[b].is_none() {
                out[b] += want(b).min(level);
            }
        }
    }
}

/// The single per-broker value (for JVM brokers, whose quota config has no broker dimension)
/// that best holds `quota` cluster-wide given per-broker `demand`: the water level `u` with
/// `Σ min(demand_b, u) = quota` when demand exceeds the quota; otherwise the hottest broker's
/// demand plus the unused quota (no broker can then take more than the cluster quota alone).
pub fn uniform_broker_value(quota: f64, demand: &[f64]) -> f64 {
    let total: f64 = demand.iter().sum();
    let busy = demand.iter().filter(|d| **d > 0.0).count();
    if busy == 0 {
        return quota / demand.len().max(1) as f64;
    }
    if total <= quota {
        let max = demand.iter().cloned().fold(0.0, f64::max);
        return (max + (quota - total)).min(quota);
    }
    // Water level without sorting or allocating: start from the even split and raise it past
    // every broker whose demand fits below it, until no more fit.
    let mut unsat = busy;
    let mut level = quota / busy as f64;
    for _ in 0..demand.len() + 1 {
        let (mut below, mut u) = (0.0, 0usize);
        for &d in demand.iter().filter(|d| **d > 0.0) {
            if d <= level {
                below += d;
            } else {
                u += 1;
            }
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

#[derive(Debug, Clone)]
struct TenantState {
    quota: f64,
    demand: Vec<f64>,
    throttled: Vec<bool>,
    shares: Vec<f64>,
    held: Vec<f64>,
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
#[derive(Debug, Clone)]
pub struct Distributor {
    cfg: DistributorConfig,
    last_report: Vec<Option<Nanos>>,
    tenants: BTreeMap<(String, QuotaKind), TenantState>,
}

impl Distributor {
    /// A distributor for `cfg.brokers` brokers.
    pub fn new(cfg: DistributorConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            last_report: vec![None; cfg.brokers],
            tenants: BTreeMap::new(),
        })
    }

    /// Settings.
    pub fn config(&self) -> &DistributorConfig {
        &self.cfg
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
        let n = self.cfg.brokers;
        let st = self
            .tenants
            .entry((tenant.to_string(), kind))
            .or_insert_with(|| TenantState {
                quota,
                demand: vec![0.0; n],
                throttled: vec![false; n],
                shares: vec![quota / n as f64; n],
                held: vec![quota / n as f64; n],
            });
        st.quota = quota;
        Ok(())
    }

    /// Removes a tenant's cluster quota.
    pub fn remove_quota(&mut self, tenant: &str, kind: QuotaKind) {
        self.tenants.remove(&(tenant.to_string(), kind));
    }

    /// Takes in one broker's report (the latest report per broker wins).
    pub fn ingest(&mut self, report: &BrokerReport) -> Result<()> {
        let b = report.broker as usize;
        if b >= self.cfg.brokers {
            return Err(QuotaError::Distributor {
                reason: format!(
                    "report from broker {b}, but the cluster has {} brokers",
                    self.cfg.brokers
                ),
            });
        }
        self.last_report[b] = Some(report.at);
        for st in self.tenants.values_mut() {
            st.demand[b] = 0.0;
            st.throttled[b] = false;
        }
        for d in &report.demand {
            if let Some(st) = self.tenants.get_mut(&(d.tenant.clone(), d.kind)) {
                st.demand[b] = (d.observed_rate + d.excess_rate).max(0.0);
                st.throttled[b] = d.throttled;
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
        let stale: Vec<Option<u64>> = self
            .last_report
            .iter()
            .map(|r| match r {
                Some(t) if now.saturating_sub(*t) <= self.cfg.report_timeout => None,
                Some(t) => Some(now.saturating_sub(*t)),
                None => Some(now),
            })
            .collect();
        let reuse = out.len() == self.tenants.len()
            && out
                .iter()
                .zip(self.tenants.keys())
                .all(|(o, (t, k))| o.kind == *k && &o.tenant == t);
        if !reuse {
            out.clear();
        }
        let n = self.cfg.brokers;
        for (i, ((tenant, kind), st)) in self.tenants.iter_mut().enumerate() {
            if !reuse {
                out.push(TenantShares {
                    tenant: tenant.clone(),
                    kind: *kind,
                    quota: 0.0,
                    shares: vec![0.0; n],
                    uniform: 0.0,
                });
            }
            let o = &mut out[i];
            let row = TenantRow {
                quota: st.quota,
                demand: &st.demand,
                throttled: &st.throttled,
                held: &st.held,
            };
            compute_shares(&self.cfg, &stale, &row, &mut o.shares);
            st.shares.copy_from_slice(&o.shares);
            for (b, s) in stale.iter().enumerate() {
                if s.is_none() {
                    st.held[b] = o.shares[b];
                }
            }
            o.quota = st.quota;
            o.uniform = uniform_broker_value(st.quota, &st.demand);
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
