//! Where a JVM broker's per-tenant demand comes from.
//!
//! A JVM broker's own quota sensors (`kafka.server:type=Produce,user=...,client-id=...`) are
//! JMX metrics: they are not reachable over the Kafka admin protocol. So the sidecar measures
//! demand with what it can reach, through a pluggable [`DemandSource`]:
//!
//! - [`LogDirGrowth`] (default): **produce bytes/s per tenant, derived from the growth of the
//!   on-disk size (DescribeLogDirs) of the partitions this broker leads**, attributed to
//!   tenants by topic prefix. This is the bytes the broker appended for that tenant, i.e. the
//!   *admitted* produce rate on this broker (record batches as stored, so after compression).
//!   Limits: a segment deleted by retention within an interval hides that interval's growth
//!   of that partition (a shrinking partition counts as 0, never negative); throttled excess
//!   is invisible (a JVM broker does not say how much it held back), so `excess` is 0 and
//!   `throttled` is reported when the rate reaches 95% of the per-broker value in force; it
//!   measures produce only (fetch bytes leave no trace on disk).
//! - [`FileDemand`]: a JSON file that something else keeps current (a JMX exporter, a
//!   Prometheus query), `{"tenants": {"acme": {"producer_byte_rate": 1.0e6,
//!   "consumer_byte_rate": 2.0e6, "throttled": false}}}`. Rates are bytes/s; a file older
//!   than `stale_after` is an error (no report beats a stale one: the distributor then holds
//!   this broker's last share).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_quotas::{QuotaKind, TenantDemand};
use keel_wire::client::KafkaClient;
use serde::Deserialize;

/// A tenant as the demand sources see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantTraffic {
    /// Tenant name.
    pub name: String,
    /// Topic prefixes that belong to it.
    pub topic_prefixes: Vec<String>,
}

/// Measures this broker's per-tenant demand once per interval.
pub trait DemandSource: Send {
    /// Demand since the previous call. `in_force` holds the per-broker values applied now
    /// (tenant, kind) → bytes/s, for the throttled heuristic.
    fn measure(
        &mut self,
        in_force: &BTreeMap<(String, QuotaKind), f64>,
    ) -> impl Future<Output = anyhow::Result<Vec<TenantDemand>>> + Send;
}

/// Which tenant a topic belongs to: the longest matching prefix.
pub fn tenant_of<'a>(topic: &str, tenants: &'a [TenantTraffic]) -> Option<&'a str> {
    tenants
        .iter()
        .flat_map(|t| t.topic_prefixes.iter().map(move |p| (p, t.name.as_str())))
        .filter(|(p, _)| topic.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, n)| n)
}

/// Pure core of [`LogDirGrowth`]: per-tenant produce rates from two size samples of the led
/// partitions, `elapsed_secs` apart. Partitions not in `before` (new leadership, new
/// partitions) count from the next interval; shrinking ones count 0. Every tenant gets an
/// entry (0 when idle).
pub fn growth_rates(
    before: &HashMap<(String, i32), i64>,
    after: &HashMap<(String, i32), i64>,
    elapsed_secs: f64,
    tenants: &[TenantTraffic],
    in_force: &BTreeMap<(String, QuotaKind), f64>,
) -> Vec<TenantDemand> {
    let mut bytes: BTreeMap<&str, f64> = tenants.iter().map(|t| (t.name.as_str(), 0.0)).collect();
    for (tp, size) in after {
        let Some(prev) = before.get(tp) else { continue };
        let Some(t) = tenant_of(&tp.0, tenants) else {
            continue;
        };
        if let Some(b) = bytes.get_mut(t) {
            *b += (size - prev).max(0) as f64;
        }
    }
    let secs = if elapsed_secs > 0.0 {
        elapsed_secs
    } else {
        1.0
    };
    bytes
        .into_iter()
        .map(|(t, b)| {
            let rate = b / secs;
            let limit = in_force.get(&(t.to_owned(), QuotaKind::Produce));
            TenantDemand {
                tenant: t.to_owned(),
                kind: QuotaKind::Produce,
                observed_rate: rate,
                excess_rate: 0.0,
                throttled: limit.is_some_and(|l| rate >= 0.95 * l),
            }
        })
        .collect()
}

/// On-disk bytes per `(topic, partition)`.
type PartitionSizes = HashMap<(String, i32), i64>;

/// Produce demand from log-dir growth of the partitions this broker leads (see the module
/// docs for what it measures and what it cannot).
#[derive(Debug)]
pub struct LogDirGrowth {
    client: KafkaClient,
    broker: i32,
    tenants: Vec<TenantTraffic>,
    last: Option<(Instant, PartitionSizes)>,
}

impl LogDirGrowth {
    /// A source for `broker`.
    pub fn new(client: KafkaClient, broker: i32, tenants: Vec<TenantTraffic>) -> Self {
        LogDirGrowth {
            client,
            broker,
            tenants,
            last: None,
        }
    }

    async fn sample(&self) -> anyhow::Result<HashMap<(String, i32), i64>> {
        let meta = self.client.refresh_metadata().await?;
        let mut led: Vec<(String, Vec<i32>)> = Vec::new();
        for (name, t) in &meta.topics {
            if tenant_of(name, &self.tenants).is_none() {
                continue;
            }
            let ps: Vec<i32> = t
                .partitions
                .iter()
                .filter(|p| p.leader == Some(self.broker))
                .map(|p| p.partition)
                .collect();
            if !ps.is_empty() {
                led.push((name.clone(), ps));
            }
        }
        let mut sizes = HashMap::new();
        if led.is_empty() {
            return Ok(sizes);
        }
        let dirs = self
            .client
            .describe_log_dirs(self.broker, Some(&led))
            .await
            .with_context(|| format!("DescribeLogDirs on broker {}", self.broker))?;
        for d in dirs {
            for r in d.replicas.into_iter().filter(|r| !r.is_future) {
                *sizes.entry((r.topic, r.partition)).or_insert(0) += r.size_bytes;
            }
        }
        Ok(sizes)
    }
}

impl DemandSource for LogDirGrowth {
    async fn measure(
        &mut self,
        in_force: &BTreeMap<(String, QuotaKind), f64>,
    ) -> anyhow::Result<Vec<TenantDemand>> {
        let now = Instant::now();
        let sizes = self.sample().await?;
        let out = match &self.last {
            Some((at, before)) => growth_rates(
                before,
                &sizes,
                now.duration_since(*at).as_secs_f64(),
                &self.tenants,
                in_force,
            ),
            None => growth_rates(&sizes, &sizes, 1.0, &self.tenants, in_force),
        };
        self.last = Some((now, sizes));
        Ok(out)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRates {
    #[serde(default)]
    producer_byte_rate: Option<f64>,
    #[serde(default)]
    consumer_byte_rate: Option<f64>,
    #[serde(default)]
    throttled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemandFile {
    tenants: BTreeMap<String, FileRates>,
}

/// Demand read from a JSON file kept current by an exporter.
#[derive(Debug)]
pub struct FileDemand {
    path: PathBuf,
    stale_after: Duration,
}

impl FileDemand {
    /// Reads `path`; a file not modified within `stale_after` is an error.
    pub fn new(path: PathBuf, stale_after: Duration) -> Self {
        FileDemand { path, stale_after }
    }

    /// Parses the file's text (pure).
    pub fn parse(text: &str, path: &str) -> anyhow::Result<Vec<TenantDemand>> {
        let f: DemandFile =
            serde_json::from_str(text).with_context(|| format!("demand file {path}"))?;
        let mut out = Vec::new();
        for (tenant, r) in f.tenants {
            for (kind, v, key) in [
                (
                    QuotaKind::Produce,
                    r.producer_byte_rate,
                    "producer_byte_rate",
                ),
                (QuotaKind::Fetch, r.consumer_byte_rate, "consumer_byte_rate"),
            ] {
                let Some(v) = v else { continue };
                if !(v.is_finite() && v >= 0.0) {
                    anyhow::bail!(
                        "demand file {path}: tenants.{tenant}.{key} = {v} is not a rate >= 0"
                    );
                }
                out.push(TenantDemand {
                    tenant: tenant.clone(),
                    kind,
                    observed_rate: v,
                    excess_rate: 0.0,
                    throttled: r.throttled,
                });
            }
        }
        Ok(out)
    }
}

impl DemandSource for FileDemand {
    async fn measure(
        &mut self,
        _in_force: &BTreeMap<(String, QuotaKind), f64>,
    ) -> anyhow::Result<Vec<TenantDemand>> {
        let path = self.path.display().to_string();
        let meta = tokio::fs::metadata(&self.path)
            .await
            .with_context(|| format!("demand file {path}"))?;
        if let Ok(age) = meta.modified().map(|m| m.elapsed().unwrap_or_default())
            && age > self.stale_after
        {
            anyhow::bail!(
                "demand file {path} is stale: last written {} ago",
                humantime::format_duration(Duration::from_secs(age.as_secs()))
            );
        }
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .with_context(|| format!("demand file {path}"))?;
        Self::parse(&text, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Vec<TenantTraffic> {
        vec![
            TenantTraffic {
                name: "acme".into(),
                topic_prefixes: vec!["acme.".into()],
            },
            TenantTraffic {
                name: "acme-eu".into(),
                topic_prefixes: vec!["acme.eu.".into()],
            },
        ]
    }

    #[test]
    fn the_longest_prefix_wins() {
        assert_eq!(tenant_of("acme.orders", &tenants()), Some("acme"));
        assert_eq!(tenant_of("acme.eu.orders", &tenants()), Some("acme-eu"));
        assert_eq!(tenant_of("other", &tenants()), None);
    }

    #[test]
    fn growth_is_attributed_per_tenant_and_never_negative() {
        let before: HashMap<_, _> = [
            (("acme.a".to_string(), 0), 1000),
            (("acme.a".to_string(), 1), 5000),
            (("acme.eu.x".to_string(), 0), 0),
        ]
        .into();
        let after: HashMap<_, _> = [
            (("acme.a".to_string(), 0), 3000),
            (("acme.a".to_string(), 1), 100), // retention deleted a segment
            (("acme.eu.x".to_string(), 0), 500),
            (("acme.new".to_string(), 0), 9999), // not sampled before: next interval
            (("other".to_string(), 0), 12345),
        ]
        .into();
        let in_force = BTreeMap::from([(("acme".to_string(), QuotaKind::Produce), 200.0)]);
        let d = growth_rates(&before, &after, 10.0, &tenants(), &in_force);
        assert_eq!(d.len(), 2);
        let acme = d.iter().find(|d| d.tenant == "acme").unwrap();
        assert_eq!(acme.observed_rate, 200.0);
        assert!(acme.throttled, "at the limit in force");
        let eu = d.iter().find(|d| d.tenant == "acme-eu").unwrap();
        assert_eq!(eu.observed_rate, 50.0);
        assert!(!eu.throttled);
    }

    #[test]
    fn demand_files_parse_and_bad_ones_say_why() {
        let d = FileDemand::parse(r#"{"tenants":{"a":{"producer_byte_rate":10,"consumer_byte_rate":20,"throttled":true}}}"#, "f").unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|x| x.throttled));
        assert!(
            FileDemand::parse(r#"{"tenants":{"a":{"producer_byte_rate":-1}}}"#, "f")
                .unwrap_err()
                .to_string()
                .contains("tenants.a.producer_byte_rate")
        );
        assert!(FileDemand::parse(r#"{"tenants":{"a":{"bogus":1}}}"#, "f").is_err());
    }
}
