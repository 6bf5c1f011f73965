//! The quota distribution loop.
//!
//! Every interval, on every sidecar:
//! 1. measure this broker's per-tenant demand ([`demand`], pluggable) and queue a
//!    [`keel_quotas::BrokerReport`] on the report topic ([`transport`]);
//! 2. produce it and read everything new on the topic (reports from every sidecar, and the
//!    latest shares);
//! 3. elect the distributor ([`distribute::elect`]: the lowest live sidecar);
//! 4. if elected: feed the reports to [`keel_quotas::Distributor`], compute every tenant's
//!    shares, and write each tenant's **uniform per-broker value**
//!    ([`keel_quotas::uniform_broker_value`]; JVM brokers take one value for all brokers,
//!    KIP-546 has no broker dimension) through AlterClientQuotas on the tenant's entity
//!    (`user` and/or `client-id`), then publish the shares on the topic.
//!
//! Static stability: when no fresh report is left (reports stopped), the distributor writes
//! nothing, so the quotas last applied stay in force; a failed pass writes nothing and is
//! retried; nothing is ever removed.

pub mod codec;
pub mod demand;
pub mod distribute;
pub mod transport;

use std::collections::BTreeMap;
use std::time::Duration;

use keel_quotas::{BrokerReport, Distributor, QuotaKind, ReportTransport, TenantShares};
use keel_wire::client::{KafkaClient, QuotaAlteration, QuotaEntity, QuotaFilter, QuotaMatch};

use self::demand::DemandSource;
use self::distribute::{alterations, elect};
use self::transport::{KafkaReportTransport, unix_nanos};
use super::config::{QuotasSection, TenantSection};

/// A tenant's Kafka quota entity from its config.
pub fn entity_of(t: &TenantSection) -> QuotaEntity {
    let mut e = Vec::new();
    if let Some(u) = &t.user {
        e.push(("user".to_owned(), Some(u.clone())));
    }
    if let Some(c) = &t.client_id {
        e.push(("client-id".to_owned(), Some(c.clone())));
    }
    e
}

/// The quota loop's state across passes.
#[derive(Debug)]
pub struct QuotaLoop<D> {
    client: KafkaClient,
    broker: i32,
    cfg: QuotasSection,
    demand: D,
    transport: KafkaReportTransport,
    topic_ready: bool,
    last_report: BTreeMap<i32, u64>,
    distributor: Option<(Vec<i32>, Distributor)>,
    applied: BTreeMap<(String, QuotaKind), f64>,
    applied_loaded: bool,
}

/// What one pass did (for logs, metrics and `/healthz`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaPass {
    /// Reports read from the topic this pass.
    pub reports_read: usize,
    /// The elected distributor.
    pub distributor: Option<i32>,
    /// Whether this sidecar distributed.
    pub distributed: bool,
    /// Values written through AlterClientQuotas.
    pub written: Vec<distribute::Alteration>,
    /// Distributor held back because no fresh report was left.
    pub held_back: bool,
}

impl<D: DemandSource> QuotaLoop<D> {
    /// A loop for the sidecar of `broker`.
    pub fn new(client: KafkaClient, broker: i32, cfg: QuotasSection, demand: D) -> Self {
        let transport = KafkaReportTransport::new(client.clone(), cfg.topic.clone());
        QuotaLoop {
            client,
            broker,
            cfg,
            demand,
            transport,
            topic_ready: false,
            last_report: BTreeMap::new(),
            distributor: None,
            applied: BTreeMap::new(),
            applied_loaded: false,
        }
    }

    /// The values this sidecar last wrote (or read back at election), per tenant and kind.
    pub fn applied(&self) -> &BTreeMap<(String, QuotaKind), f64> {
        &self.applied
    }

    fn tenant_quotas(&self) -> Vec<(String, QuotaKind, f64)> {
        let mut out = Vec::new();
        for t in &self.cfg.tenants {
            if let Some(q) = t.producer_byte_rate {
                out.push((t.name.clone(), QuotaKind::Produce, q));
            }
            if let Some(q) = t.consumer_byte_rate {
                out.push((t.name.clone(), QuotaKind::Fetch, q));
            }
        }
        out
    }

    fn in_force(&self) -> BTreeMap<(String, QuotaKind), f64> {
        match self.transport.latest_shares() {
            Some(shares) => shares
                .into_iter()
                .map(|s| ((s.tenant, s.kind), s.uniform))
                .collect(),
            None => self.applied.clone(),
        }
    }

    /// One pass: measure, report, read, elect, and distribute if elected.
    pub async fn pass(&mut self) -> anyhow::Result<QuotaPass> {
        if !self.topic_ready {
            self.transport.ensure_topic().await?;
            self.topic_ready = true;
        }
        let broker = u32::try_from(self.broker)?;
        let in_force = self.in_force();
        let demand = self.demand.measure(&in_force).await?;
        let now = unix_nanos();
        self.transport.send_report(BrokerReport {
            broker,
            at: now,
            demand,
        });
        self.transport.flush().await?;
        self.transport.poll(self.cfg.report_timeout).await?;
        let reports = self.transport.take_reports();
        for r in &reports {
            let e = self.last_report.entry(r.broker as i32).or_insert(0);
            *e = (*e).max(r.at);
        }
        let meta = self.client.refresh_metadata().await?;
        let brokers: Vec<i32> = meta.brokers.keys().copied().collect();
        let timeout = u64::try_from(self.cfg.report_timeout.as_nanos()).unwrap_or(u64::MAX);
        let now = unix_nanos();
        let leader = elect(&self.last_report, &brokers, now, timeout);
        let mut out = QuotaPass {
            reports_read: reports.len(),
            distributor: leader,
            distributed: false,
            written: Vec::new(),
            held_back: false,
        };
        metrics::gauge!("keel_sidecar_quota_distributor").set(f64::from(leader.unwrap_or(-1)));
        metrics::counter!("keel_sidecar_quota_reports_read_total").increment(reports.len() as u64);
        if leader != Some(self.broker) {
            // Not the writer: forget distributor state so a later election starts from what
            // is applied in the cluster, not from a stale memory.
            self.distributor = None;
            self.applied_loaded = false;
            return Ok(out);
        }
        out.distributed = true;
        let shares = self.distribute(&brokers, &reports, now)?;
        let Some(shares) = shares else {
            out.held_back = true;
            tracing::warn!("no fresh quota report from any broker: keeping the quotas in force");
            return Ok(out);
        };
        if !self.applied_loaded {
            self.load_applied().await?;
            self.applied_loaded = true;
        }
        let todo = alterations(&shares, &self.applied, self.cfg.min_change);
        if !todo.is_empty() {
            let alts: Vec<QuotaAlteration> = todo
                .iter()
                .filter_map(|a| {
                    let t = self.cfg.tenants.iter().find(|t| t.name == a.tenant)?;
                    Some(QuotaAlteration {
                        entity: entity_of(t),
                        ops: vec![(a.kind.config_key().to_owned(), Some(a.value))],
                    })
                })
                .collect();
            self.client.alter_client_quotas(&alts, false).await?;
            for a in &todo {
                self.applied.insert((a.tenant.clone(), a.kind), a.value);
                tracing::info!(tenant = %a.tenant, key = a.kind.config_key(), value = a.value, "applied uniform per-broker quota");
            }
        }
        for ((tenant, kind), v) in &self.applied {
            metrics::gauge!("keel_sidecar_quota_applied_bytes_per_second", "tenant" => tenant.clone(), "kind" => kind.short_name()).set(*v);
        }
        self.transport.set_share_brokers(brokers);
        self.transport.publish_shares(shares);
        self.transport.flush().await?;
        out.written = todo;
        Ok(out)
    }

    /// Feeds reports to the distributor; `None` when no broker has a fresh report.
    fn distribute(
        &mut self,
        brokers: &[i32],
        reports: &[BrokerReport],
        now: u64,
    ) -> anyhow::Result<Option<Vec<TenantShares>>> {
        let rebuild = !matches!(&self.distributor, Some((b, _)) if b == brokers);
        if rebuild {
            let cfg = distribute::distributor_config(&self.cfg, brokers.len());
            let mut d = Distributor::new(cfg)?;
            for (t, k, q) in self.tenant_quotas() {
                d.set_quota(&t, k, q)?;
            }
            self.distributor = Some((brokers.to_vec(), d));
        }
        let Some((ids, d)) = &mut self.distributor else {
            return Ok(None);
        };
        let timeout = d.config().report_timeout;
        // Oldest first, so the newest report per broker wins.
        let mut sorted: Vec<&BrokerReport> = reports.iter().collect();
        sorted.sort_by_key(|r| r.at);
        for r in sorted {
            let Some(idx) = ids.iter().position(|b| *b == r.broker as i32) else {
                continue;
            };
            if now.saturating_sub(r.at) > timeout {
                continue;
            }
            let mut dense = r.clone();
            dense.broker = idx as u32;
            d.ingest(&dense)?;
        }
        let fresh = ids.iter().any(|b| {
            self.last_report
                .get(b)
                .is_some_and(|at| now.saturating_sub(*at) <= timeout)
        });
        if !fresh {
            return Ok(None);
        }
        Ok(Some(d.compute(now)))
    }

    /// Reads the values in force for every tenant entity (so a new distributor does not
    /// rewrite unchanged values).
    async fn load_applied(&mut self) -> anyhow::Result<()> {
        for t in &self.cfg.tenants {
            let filter: Vec<QuotaFilter> = entity_of(t)
                .into_iter()
                .map(|(ty, name)| QuotaFilter {
                    entity_type: ty,
                    matching: name.map_or(QuotaMatch::Default, QuotaMatch::Exact),
                })
                .collect();
            let entries = self.client.describe_client_quotas(&filter, true).await?;
            for e in entries {
                for (key, kind) in [
                    ("producer_byte_rate", QuotaKind::Produce),
                    ("consumer_byte_rate", QuotaKind::Fetch),
                ] {
                    if let Some(v) = e.values.get(key) {
                        self.applied.insert((t.name.clone(), kind), *v);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Lookback of the first poll and staleness of a demand file: the report timeout.
pub fn stale_after(cfg: &QuotasSection) -> Duration {
    cfg.report_timeout
}
