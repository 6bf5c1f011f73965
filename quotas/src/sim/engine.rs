//! The simulation loop: brokers (each a [`QuotaRegistry`] with a [`ShareKeeper`] and a
//! [`DemandMeter`]), one [`Distributor`] behind an [`InMemoryTransport`], and clients that
//! offer load through per-broker connections, in 1 ms steps of simulated time.
//!
//! A client accumulates offered bytes (bounded by a 1 s buffer of its peak rate, like a
//! producer's `buffer.memory`) and sends a request whenever it has `request_bytes` and its
//! connection is readable. A throttled connection is muted until `readable_at` (KIP-219):
//! a client that honours `throttle_time_ms` waits that long before sending; one that does not
//! sends at once, and the broker does not read the request until the mute ends, so both are
//! held to the quota. Fetch requests are capped by [`QuotaHandle::cap_fetch`].

use std::collections::{BTreeMap, HashMap};

use crate::clock::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};
use crate::distributor::{Distributor, DistributorConfig};
use crate::entity::{QuotaEntity, RequestIdentity, TenantResolver};
use crate::error::Result;
use crate::handle::QuotaHandle;
use crate::kind::QuotaKind;
use crate::registry::{QuotaRegistry, RegistryConfig};
use crate::report::{DemandMeter, InMemoryTransport, ReportTransport, ShareKeeper};
use crate::sim::workload::{EventAction, Pattern, Workload};

/// Per tenant and kind results.
#[derive(Debug, Clone, PartialEq)]
pub struct KindResult {
    /// Cluster quota at the end of the run (bytes/s), `None` = unlimited.
    pub quota: Option<f64>,
    /// Admitted bytes in each simulated second, cluster-wide.
    pub admitted_bytes_per_sec: Vec<u64>,
    /// Largest value of `admitted_bytes_per_sec`.
    pub max_1s_bytes: u64,
    /// Longest throttle any client of the tenant got, ms.
    pub max_throttle_ms: u64,
    /// Offered bytes over the run (what clients wanted to send).
    pub offered_bytes: f64,
}

/// The simulation's output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimResult {
    /// Tenant → kind → result.
    pub tenants: BTreeMap<String, BTreeMap<QuotaKind, KindResult>>,
    /// Simulated seconds.
    pub duration_s: u64,
}

impl SimResult {
    /// The `--json` output of the workload format.
    pub fn to_json(&self) -> serde_json::Value {
        let mut tenants = serde_json::Map::new();
        for (t, kinds) in &self.tenants {
            let mut k = serde_json::Map::new();
            for (kind, r) in kinds {
                k.insert(
                    kind.short_name().to_string(),
                    serde_json::json!({
                        "quota": r.quota.map(|q| q.round() as u64),
                        "admitted_bytes_per_sec": r.admitted_bytes_per_sec,
                        "max_1s_bytes": r.max_1s_bytes,
                        "max_throttle_ms": r.max_throttle_ms,
                    }),
                );
            }
            tenants.insert(t.clone(), serde_json::Value::Object(k));
        }
        serde_json::json!({ "tenants": tenants })
    }
}

struct Conn {
    client: usize,
    broker: usize,
    rate: f64,
    buffer_cap: f64,
    pending: f64,
    ready_at: Nanos,
    handle: QuotaHandle,
}

struct Broker {
    registry: QuotaRegistry,
    keeper: ShareKeeper,
    meter: DemandMeter,
    reporting: bool,
}

fn offered_rate(pattern: Pattern, rate: f64, since_start_s: f64) -> f64 {
    match pattern {
        Pattern::Steady => rate,
        Pattern::Burst => {
            if since_start_s % 10.0 < 1.0 {
                rate * 10.0
            } else {
                0.0
            }
        }
        Pattern::OnOff => {
            if since_start_s % 20.0 < 10.0 {
                rate
            } else {
                0.0
            }
        }
    }
}

fn identity(client_id: &str) -> RequestIdentity<'_> {
    RequestIdentity {
        principal: client_id,
        client_id,
    }
}

/// Runs a workload to completion.
pub fn simulate(w: &Workload) -> Result<SimResult> {
    let n = w.brokers as usize;
    let interval = w.report_interval_ms.saturating_mul(NANOS_PER_MS);
    let mut dcfg = DistributorConfig::new(n);
    dcfg.report_timeout = interval.saturating_mul(30);
    dcfg.decay_half_life = interval.saturating_mul(60);
    if w.mode == crate::kind::Mode::Kafka {
        // Kafka's windowed rate remembers `samples × window` of admitted bytes: keep each
        // broker's share from outrunning what its window still holds.
        let kw = RegistryConfig::default().kafka_window;
        dcfg.limiter_window = u64::from(kw.samples)
            .saturating_mul(kw.window_ms)
            .saturating_mul(NANOS_PER_MS);
        dcfg.limiter_window_reports =
            usize::try_from(dcfg.limiter_window.div_ceil(interval.max(1)))
                .unwrap_or(1024)
                .clamp(1, 1024);
    }
    // A broker fed by a distributor caps throttles at the report interval: its share may
    // change by then, and a client must not sit out a throttle computed from an old share.
    // Debt beyond the cap stays in the bucket, so the long-run rate still holds.
    let rcfg = RegistryConfig {
        mode: w.mode,
        max_throttle_ms: if w.mode == crate::kind::Mode::Kafka {
            RegistryConfig::default().max_throttle_ms
        } else {
            w.report_interval_ms
                .min(RegistryConfig::default().max_throttle_ms)
        },
        ..RegistryConfig::default()
    };
    let mut distributor = Distributor::new(dcfg)?;
    let transport = InMemoryTransport::new();
    let mut quotas: HashMap<(String, QuotaKind), f64> = HashMap::new();
    for t in &w.tenants {
        for kind in [QuotaKind::Produce, QuotaKind::Fetch] {
            if let Some(q) = t.quota(kind) {
                quotas.insert((t.name.clone(), kind), q);
                distributor.set_quota(&t.name, kind, q)?;
            }
        }
    }
    let mut brokers = Vec::with_capacity(n);
    for b in 0..n {
        brokers.push(Broker {
            registry: QuotaRegistry::new(rcfg, TenantResolver::new())?,
            keeper: ShareKeeper::new(b as u32, dcfg),
            meter: DemandMeter::new(),
            reporting: true,
        });
    }
    // Initial shares (equal split) before any traffic.
    let shares = distributor.compute(0);
    for (b, br) in brokers.iter_mut().enumerate() {
        br.keeper.receive(&shares, 0);
        br.keeper.apply(&br.registry, 0)?;
        let _ = br.meter.report(b as u32, &br.registry, 0);
    }

    let mut conns = Vec::new();
    for (ci, c) in w.clients.iter().enumerate() {
        let k = c.brokers.len() as f64;
        let peak = if c.pattern == Pattern::Burst {
            c.offered * 10.0
        } else {
            c.offered
        } / k;
        for &b in &c.brokers {
            let reg = &brokers[b as usize].registry;
            conns.push(Conn {
                client: ci,
                broker: b as usize,
                rate: c.offered / k,
                buffer_cap: peak.max(c.request_bytes as f64),
                pending: 0.0,
                ready_at: 0,
                handle: reg.resolve_in_tenant(&c.tenant, &identity(&c.client_id), c.kind, 0),
            });
        }
    }

    let secs = w.duration_s as usize;
    let mut result = SimResult {
        duration_s: w.duration_s,
        ..SimResult::default()
    };
    for c in &w.clients {
        result
            .tenants
            .entry(c.tenant.clone())
            .or_default()
            .entry(c.kind)
            .or_insert_with(|| KindResult {
                quota: None,
                admitted_bytes_per_sec: vec![0; secs],
                max_1s_bytes: 0,
                max_throttle_ms: 0,
                offered_bytes: 0.0,
            });
    }
    for t in &w.tenants {
        for kind in [QuotaKind::Produce, QuotaKind::Fetch] {
            if t.quota(kind).is_some() {
                result
                    .tenants
                    .entry(t.name.clone())
                    .or_default()
                    .entry(kind)
                    .or_insert_with(|| KindResult {
                        quota: None,
                        admitted_bytes_per_sec: vec![0; secs],
                        max_1s_bytes: 0,
                        max_throttle_ms: 0,
                        offered_bytes: 0.0,
                    });
            }
        }
    }

    let mut next_event = 0;
    let ticks = w.duration_s * 1000;
    for tick in 0..ticks {
        let now = tick * NANOS_PER_MS;
        let now_s = now as f64 / NANOS_PER_SEC as f64;
        let mut redistribute = false;
        while next_event < w.events.len() && w.events[next_event].at_s <= now_s {
            match &w.events[next_event].action {
                EventAction::StopReporting { broker } => {
                    brokers[*broker as usize].reporting = false
                }
                EventAction::ResumeReporting { broker } => {
                    brokers[*broker as usize].reporting = true
                }
                EventAction::SetQuota {
                    tenant,
                    produce,
                    fetch,
                } => {
                    for (kind, v) in [(QuotaKind::Produce, produce), (QuotaKind::Fetch, fetch)] {
                        if let Some(v) = v {
                            quotas.insert((tenant.clone(), kind), *v);
                            distributor.set_quota(tenant, kind, *v)?;
                        }
                    }
                    redistribute = true;
                }
                EventAction::RemoveQuota { tenant, kind } => {
                    for k in [QuotaKind::Produce, QuotaKind::Fetch] {
                        if kind.is_none_or(|x| x == k) {
                            quotas.remove(&(tenant.clone(), k));
                            distributor.remove_quota(tenant, k);
                            for br in &brokers {
                                br.registry.remove_quota(
                                    &QuotaEntity::Tenant(tenant.clone()),
                                    k,
                                    now,
                                )?;
                            }
                        }
                    }
                    redistribute = true;
                }
            }
            next_event += 1;
        }
        if now.is_multiple_of(interval) && tick > 0 {
            for (b, br) in brokers.iter_mut().enumerate() {
                let report = br.meter.report(b as u32, &br.registry, now);
                if br.reporting {
                    transport.send_report(report);
                }
            }
            for r in transport.take_reports() {
                distributor.ingest(&r)?;
            }
            redistribute = true;
        }
        if redistribute {
            transport.publish_shares(distributor.compute(now));
            if let Some(shares) = transport.latest_shares() {
                for br in &mut brokers {
                    br.keeper.receive(&shares, now);
                    br.keeper.apply(&br.registry, now)?;
                }
            }
        }

        for conn in &mut conns {
            let c = &w.clients[conn.client];
            let active = now_s >= c.start_s && now_s < c.stop_s;
            if !active {
                conn.pending = 0.0;
                continue;
            }
            let r = offered_rate(c.pattern, conn.rate, now_s - c.start_s) / 1000.0;
            conn.pending = (conn.pending + r).min(conn.buffer_cap);
            let Some(res) = result
                .tenants
                .get_mut(&c.tenant)
                .and_then(|k| k.get_mut(&c.kind))
            else {
                continue;
            };
            res.offered_bytes += r;
            let reg = &brokers[conn.broker].registry;
            let mut sent = 0;
            while conn.pending >= c.request_bytes as f64 && now >= conn.ready_at && sent < 10_000 {
                sent += 1;
                if conn.handle.epoch() != reg.epoch() {
                    conn.handle =
                        reg.resolve_in_tenant(&c.tenant, &identity(&c.client_id), c.kind, now);
                }
                let bytes = match c.kind {
                    QuotaKind::Fetch => conn.handle.cap_fetch(c.request_bytes, now),
                    _ => c.request_bytes,
                };
                let t = conn.handle.record(bytes, now);
                conn.pending -= bytes as f64;
                let sec = (now / NANOS_PER_SEC) as usize;
                if let Some(slot) = res.admitted_bytes_per_sec.get_mut(sec) {
                    *slot += bytes;
                }
                res.max_throttle_ms = res.max_throttle_ms.max(u64::from(t.throttle_time_ms));
                if t.is_throttled() {
                    // Honouring or not, the muted channel is not read before `readable_at`.
                    conn.ready_at = t.readable_at;
                    break;
                }
            }
        }
    }
    for (tenant, kinds) in &mut result.tenants {
        for (kind, r) in kinds.iter_mut() {
            r.quota = quotas.get(&(tenant.clone(), *kind)).copied();
            r.max_1s_bytes = r.admitted_bytes_per_sec.iter().copied().max().unwrap_or(0);
        }
    }
    Ok(result)
}
