//! The sidecar's TOML configuration (`keel sidecar --config keel.toml`).
//!
//! Every key is documented in README.md (section `sidecar`) and exercised by
//! `examples/keel.toml`. Parsing is strict: unknown keys are errors (`deny_unknown_fields`),
//! and every error names the full key path (`rebalance.windows[1]`, `quotas.tenants[0].user`),
//! found with `serde_path_to_error` for type errors and by [`SidecarConfig::validate`] for
//! semantic ones. The SASL password never lives in the file: it comes from an environment
//! variable or a file and is held in a [`Secret`], which never prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_wire::client::{ClientConfig, SaslConfig, SaslMechanism, Secret, TlsConfig};
use serde::{Deserialize, Deserializer};

use super::window::{MaintenanceWindow, Policy};

/// A configuration error: the key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{file}: key `{key}`: {reason}")]
    Parse {
        /// The file (or `<string>`).
        file: String,
        /// Full key path (`.` for the top level).
        key: String,
        /// What the parser said.
        reason: String,
    },
    /// A value that parses but is not allowed.
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        /// The file (or `<string>`).
        file: String,
        /// Full key path.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarConfig {
    /// How to reach the cluster and which broker this sidecar runs next to.
    pub cluster: ClusterSection,
    /// `/metrics` and `/healthz`.
    #[serde(default)]
    pub http: HttpSection,
    /// The periodic rebalance loop.
    #[serde(default)]
    pub rebalance: RebalanceSection,
    /// The tiering loop.
    #[serde(default)]
    pub tiering: TieringSection,
    /// The quota distribution loop.
    #[serde(default)]
    pub quotas: QuotasSection,
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Bootstrap `host:port` list (a comma-separated string or an array).
    #[serde(deserialize_with = "string_or_list")]
    pub bootstrap: Vec<String>,
    /// The node id of the broker this sidecar runs next to.
    pub broker_id: i32,
    /// `client.id` of the sidecar's requests.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Per-request timeout.
    #[serde(default = "d30s", deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Connect (+ TLS + SASL) timeout.
    #[serde(default = "d10s", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// TLS; absent = plaintext.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// SASL; absent = no authentication.
    #[serde(default)]
    pub sasl: Option<SaslSection>,
}

/// `[cluster.tls]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM CA bundle.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    /// PEM client key (mutual TLS).
    pub client_key_file: Option<PathBuf>,
    /// SNI / verification name.
    pub server_name: Option<String>,
    /// Skip verification (tests only).
    #[serde(default)]
    pub insecure: bool,
}

/// `[cluster.sasl]`. The password comes from `password_env` or `password_file`, never from
/// the TOML file itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslSection {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// User name.
    pub username: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (trailing newline stripped).
    pub password_file: Option<PathBuf>,
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Listen address of `/metrics` and `/healthz`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: default_listen(),
        }
    }
}

/// `[rebalance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebalanceSection {
    /// `off`, `propose` or `auto`.
    #[serde(default)]
    pub policy: Policy,
    /// Time between passes.
    #[serde(default = "d10m", deserialize_with = "duration")]
    pub interval: Duration,
    /// Random spread of the interval, as a fraction (0.1 = ±10%).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Longest pause after repeated failures.
    #[serde(default = "d5m", deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// Maintenance windows (UTC), e.g. `"Sat 01:00-05:00"`, `"daily 02:00-04:00"`.
    #[serde(default)]
    pub windows: Vec<MaintenanceWindow>,
    /// Goal list in `keel plan --goals` syntax; absent = Cruise Control's defaults.
    #[serde(default)]
    pub goals: Option<String>,
    /// Where `propose` writes plans (`plan-<unix secs>.json` plus `latest.json`).
    #[serde(default = "default_plan_dir")]
    pub plan_dir: PathBuf,
    /// Sample window of the snapshot's in/out rate estimate.
    #[serde(default = "d10s", deserialize_with = "duration")]
    pub sample: Duration,
    /// Broker capacities file (`keel snapshot --capacity` format), optional.
    #[serde(default)]
    pub capacity_file: Option<PathBuf>,
    /// `auto`: replication throttle while moving, bytes/s.
    #[serde(default = "default_throttle")]
    pub throttle: u64,
    /// `auto`: concurrent moves per broker.
    #[serde(default = "default_per_broker")]
    pub per_broker_concurrency: u32,
    /// `auto`: the executor's state topic (desired state, progress, lease).
    #[serde(default = "default_state_topic")]
    pub state_topic: String,
}

impl Default for RebalanceSection {
    fn default() -> Self {
        RebalanceSection {
            policy: Policy::default(),
            interval: d10m(),
            jitter: default_jitter(),
            max_backoff: d5m(),
            windows: Vec::new(),
            goals: None,
            plan_dir: default_plan_dir(),
            sample: d10s(),
            capacity_file: None,
            throttle: default_throttle(),
            per_broker_concurrency: default_per_broker(),
            state_topic: default_state_topic(),
        }
    }
}

/// `[tiering]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TieringSection {
    /// Run the loop.
    #[serde(default)]
    pub enabled: bool,
    /// The broker's log dir (`log.dirs` entry).
    #[serde(default)]
    pub log_dir: Option<PathBuf>,
    /// Store URL (`s3://bucket/prefix`, `file:///path`, ...).
    #[serde(default)]
    pub store: Option<String>,
    /// Time between passes.
    #[serde(default = "d30s", deserialize_with = "duration")]
    pub interval: Duration,
    /// Random spread of the interval.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Longest pause after repeated failures.
    #[serde(default = "d5m", deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// Delete local segments local retention allows (only ones committed remotely).
    #[serde(default)]
    pub delete_local: bool,
    /// Apply remote retention (expire) after each upload pass.
    #[serde(default = "yes")]
    pub expire: bool,
    /// Multipart part size, bytes.
    #[serde(default = "default_part_size")]
    pub part_size: usize,
    /// Parts in flight per segment.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Partitions uploaded at once.
    #[serde(default = "default_partitions")]
    pub partitions: usize,
    /// Upload rate limit, bytes/s (all partitions together).
    #[serde(default)]
    pub rate: Option<u64>,
    /// zstd level for segment data (independent 1 MiB chunks).
    #[serde(default)]
    pub zstd_level: Option<i32>,
    /// Topic configs with Kafka's names (`retention.ms`, `local.retention.bytes`, ...).
    #[serde(default)]
    pub topic_config: BTreeMap<String, TomlScalar>,
}

impl Default for TieringSection {
    fn default() -> Self {
        TieringSection {
            enabled: false,
            log_dir: None,
            store: None,
            interval: d30s(),
            jitter: default_jitter(),
            max_backoff: d5m(),
            delete_local: false,
            expire: true,
            part_size: default_part_size(),
            concurrency: default_concurrency(),
            partitions: default_partitions(),
            rate: None,
            zstd_level: None,
            topic_config: BTreeMap::new(),
        }
    }
}

/// A TOML scalar given to a Kafka-named config (`retention.ms = 86400000` or `"86400000"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TomlScalar {
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl std::fmt::Display for TomlScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TomlScalar::Int(v) => write!(f, "{v}"),
            TomlScalar::Bool(v) => write!(f, "{v}"),
            TomlScalar::Str(v) => f.write_str(v),
        }
    }
}

/// `[quotas]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasSection {
    /// Run the loop.
    #[serde(default)]
    pub enabled: bool,
    /// Report interval.
    #[serde(default = "d10s", deserialize_with = "duration")]
    pub interval: Duration,
    /// Random spread of the interval.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Longest pause after repeated failures.
    #[serde(default = "d2m", deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// Topic that carries the reports (created if missing).
    #[serde(default = "default_report_topic")]
    pub topic: String,
    /// A broker silent this long is stale (its share is held, then decays).
    #[serde(default = "d30s", deserialize_with = "duration")]
    pub report_timeout: Duration,
    /// Half-life of a stale broker's share decaying toward the equal split.
    #[serde(default = "d60s", deserialize_with = "duration")]
    pub decay_half_life: Duration,
    /// The span of the JVM brokers' own quota windows (`quota.window.num` ×
    /// `quota.window.size.seconds`, Kafka's default 11 × 1 s). A broker keeps charging what it
    /// admitted within this span, so when a tenant's traffic moves to other brokers the
    /// distributor does not grant it there before the old brokers' windows have drained
    /// ([`keel_quotas::DistributorConfig::limiter_window`]). `0s` turns this off.
    #[serde(default = "d11s", deserialize_with = "duration")]
    pub broker_quota_window: Duration,
    /// Per-broker floor as a fraction of the equal split.
    #[serde(default = "default_floor")]
    pub floor_fraction: f64,
    /// Headroom above observed demand.
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// Relative change below which an applied quota is left alone.
    #[serde(default = "default_min_change")]
    pub min_change: f64,
    /// Where per-tenant demand comes from.
    #[serde(default)]
    pub demand: DemandSection,
    /// Tenants and their cluster-wide quotas.
    #[serde(default)]
    pub tenants: Vec<TenantSection>,
}

impl Default for QuotasSection {
    fn default() -> Self {
        QuotasSection {
            enabled: false,
            interval: d10s(),
            jitter: default_jitter(),
            max_backoff: d2m(),
            topic: default_report_topic(),
            report_timeout: d30s(),
            decay_half_life: d60s(),
            broker_quota_window: d11s(),
            floor_fraction: default_floor(),
            headroom: default_headroom(),
            min_change: default_min_change(),
            demand: DemandSection::default(),
            tenants: Vec::new(),
        }
    }
}

/// `[quotas.demand]`: where a JVM broker's per-tenant demand is measured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandSection {
    /// `log-dir-growth` or `file`.
    #[serde(default)]
    pub source: DemandSourceKind,
    /// For `file`: the JSON file an exporter keeps current.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// Demand source kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemandSourceKind {
    /// Produce bytes/s from the growth of the sizes (DescribeLogDirs) of the partitions this
    /// broker leads, attributed to tenants by topic prefix.
    #[default]
    LogDirGrowth,
    /// A JSON file `{"tenant": {"producer_byte_rate": ..., "consumer_byte_rate": ...}}`.
    File,
}

/// `[[quotas.tenants]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Tenant name (as in reports and metrics).
    pub name: String,
    /// Kafka quota entity: the principal (`user`). At least one of `user` / `client_id`.
    #[serde(default)]
    pub user: Option<String>,
    /// Kafka quota entity: the `client-id`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Topic prefixes whose traffic belongs to the tenant (for `log-dir-growth`).
    #[serde(default)]
    pub topic_prefixes: Vec<String>,
    /// Cluster-wide produce quota, bytes/s.
    #[serde(default)]
    pub producer_byte_rate: Option<f64>,
    /// Cluster-wide fetch quota, bytes/s.
    #[serde(default)]
    pub consumer_byte_rate: Option<f64>,
}

fn yes() -> bool {
    true
}
fn default_client_id() -> String {
    "keel-sidecar".to_owned()
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_jitter() -> f64 {
    0.1
}
fn default_plan_dir() -> PathBuf {
    PathBuf::from("keel-plans")
}
fn default_throttle() -> u64 {
    keel_balancer::executor::Limits::default().throttle_bytes_per_sec
}
fn default_per_broker() -> u32 {
    keel_balancer::executor::Limits::default().per_broker_concurrency
}
fn default_state_topic() -> String {
    crate::execute::DEFAULT_STATE_TOPIC.to_owned()
}
fn default_part_size() -> usize {
    keel_tiering::upload::DEFAULT_PART_SIZE
}
fn default_concurrency() -> usize {
    keel_tiering::upload::DEFAULT_CONCURRENCY
}
fn default_partitions() -> usize {
    2
}
fn default_report_topic() -> String {
    "__keel_quota_reports".to_owned()
}
fn default_floor() -> f64 {
    0.02
}
fn default_headroom() -> f64 {
    0.05
}
fn default_min_change() -> f64 {
    0.01
}
fn d10s() -> Duration {
    Duration::from_secs(10)
}
fn d11s() -> Duration {
    Duration::from_secs(11)
}
fn d30s() -> Duration {
    Duration::from_secs(30)
}
fn d60s() -> Duration {
    Duration::from_secs(60)
}
fn d2m() -> Duration {
    Duration::from_secs(120)
}
fn d5m() -> Duration {
    Duration::from_secs(300)
}
fn d10m() -> Duration {
    Duration::from_secs(600)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "{s:?} is not a duration like \"30s\" or \"10m\": {e}"
        ))
    })
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(|p| p.trim().to_owned()).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

impl SidecarConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::new(text);
        let cfg: SidecarConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            let inner = e.into_inner();
            // A missing key is reported at its table: name the key itself.
            if let Some(missing) = inner
                .message()
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                key = if key == "." {
                    missing.to_owned()
                } else {
                    format!("{key}.{missing}")
                };
            }
            // toml's message carries a source snippet over several lines: keep the first
            // line (the reason) so the error stays one line.
            let reason = inner.message().lines().next().unwrap_or("").to_owned();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            ConfigError::Parse {
                file: file.to_owned(),
                key,
                reason: match line {
                    Some(l) => format!("{reason} (line {l})"),
                    None => reason,
                },
            }
        })?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// Checks values serde cannot (ranges, required-when-enabled keys, unique tenants).
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: String| ConfigError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let c = &self.cluster;
        if c.bootstrap.is_empty() {
            return Err(bad("cluster.bootstrap", "no bootstrap servers".into()));
        }
        for (i, b) in c.bootstrap.iter().enumerate() {
            keel_wire::client::config::parse_host_port(b)
                .map_err(|e| bad(&format!("cluster.bootstrap[{i}]"), e.to_string()))?;
        }
        if c.broker_id < 0 {
            return Err(bad(
                "cluster.broker_id",
                format!("{} is negative", c.broker_id),
            ));
        }
        positive(c.request_timeout, "cluster.request_timeout", &bad)?;
        positive(c.connect_timeout, "cluster.connect_timeout", &bad)?;
        if let Some(tls) = &c.tls
            && tls.ca_file.is_none()
            && !tls.insecure
        {
            return Err(bad(
                "cluster.tls.ca_file",
                "required unless cluster.tls.insecure = true".into(),
            ));
        }
        if let Some(s) = &c.sasl {
            s.mechanism.parse::<SaslMechanism>().map_err(|_| {
                bad(
                    "cluster.sasl.mechanism",
                    format!(
                        "{:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                        s.mechanism
                    ),
                )
            })?;
            match (&s.password_env, &s.password_file) {
                (Some(_), Some(_)) => {
                    return Err(bad(
                        "cluster.sasl.password_env",
                        "give password_env or password_file, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(bad(
                        "cluster.sasl.password_env",
                        "a password source is required (password_env or password_file)".into(),
                    ));
                }
                _ => {}
            }
        }
        let r = &self.rebalance;
        positive(r.interval, "rebalance.interval", &bad)?;
        jitter(r.jitter, "rebalance.jitter", &bad)?;
        positive(r.max_backoff, "rebalance.max_backoff", &bad)?;
        if let Some(g) = &r.goals {
            keel_balancer::Goals::from_spec(g)
                .map_err(|e| bad("rebalance.goals", e.to_string()))?;
        }
        if r.throttle == 0 {
            return Err(bad("rebalance.throttle", "must be above 0 bytes/s".into()));
        }
        if r.per_broker_concurrency == 0 {
            return Err(bad(
                "rebalance.per_broker_concurrency",
                "must be at least 1".into(),
            ));
        }
        if r.state_topic.is_empty() {
            return Err(bad("rebalance.state_topic", "empty topic name".into()));
        }
        if r.policy == Policy::Auto && r.windows.is_empty() {
            return Err(bad(
                "rebalance.windows",
                "policy \"auto\" needs at least one maintenance window (auto executes only inside one)"
                    .into(),
            ));
        }
        let t = &self.tiering;
        positive(t.interval, "tiering.interval", &bad)?;
        jitter(t.jitter, "tiering.jitter", &bad)?;
        positive(t.max_backoff, "tiering.max_backoff", &bad)?;
        if t.enabled {
            if t.log_dir.is_none() {
                return Err(bad(
                    "tiering.log_dir",
                    "required when tiering.enabled = true".into(),
                ));
            }
            if t.store.is_none() {
                return Err(bad(
                    "tiering.store",
                    "required when tiering.enabled = true".into(),
                ));
            }
        }
        for (name, v) in [
            ("tiering.part_size", t.part_size),
            ("tiering.concurrency", t.concurrency),
            ("tiering.partitions", t.partitions),
        ] {
            if v == 0 {
                return Err(bad(name, "must be at least 1".into()));
            }
        }
        if t.rate == Some(0) {
            return Err(bad(
                "tiering.rate",
                "must be above 0 (leave it out for no limit)".into(),
            ));
        }
        self.tier_config()
            .map_err(|(k, e)| bad(&format!("tiering.topic_config.\"{k}\""), e))?;
        let q = &self.quotas;
        positive(q.interval, "quotas.interval", &bad)?;
        jitter(q.jitter, "quotas.jitter", &bad)?;
        positive(q.max_backoff, "quotas.max_backoff", &bad)?;
        positive(q.decay_half_life, "quotas.decay_half_life", &bad)?;
        if q.report_timeout <= q.interval {
            return Err(bad(
                "quotas.report_timeout",
                format!(
                    "{} must be longer than quotas.interval ({})",
                    humantime::format_duration(q.report_timeout),
                    humantime::format_duration(q.interval)
                ),
            ));
        }
        if q.topic.is_empty() {
            return Err(bad("quotas.topic", "empty topic name".into()));
        }
        if !(0.0..=1.0).contains(&q.floor_fraction) {
            return Err(bad(
                "quotas.floor_fraction",
                format!("{} is not within 0..=1", q.floor_fraction),
            ));
        }
        if !(0.0..=10.0).contains(&q.headroom) {
            return Err(bad(
                "quotas.headroom",
                format!("{} is not within 0..=10", q.headroom),
            ));
        }
        if !(0.0..1.0).contains(&q.min_change) {
            return Err(bad(
                "quotas.min_change",
                format!("{} is not within 0..1", q.min_change),
            ));
        }
        if q.demand.source == DemandSourceKind::File && q.demand.path.is_none() {
            return Err(bad(
                "quotas.demand.path",
                "required when quotas.demand.source = \"file\"".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, tn) in q.tenants.iter().enumerate() {
            let at = |k: &str| format!("quotas.tenants[{i}].{k}");
            if tn.name.is_empty() {
                return Err(bad(&at("name"), "empty tenant name".into()));
            }
            if !seen.insert(tn.name.as_str()) {
                return Err(bad(
                    &at("name"),
                    format!("tenant {:?} is listed twice", tn.name),
                ));
            }
            if tn.user.is_none() && tn.client_id.is_none() {
                return Err(bad(
                    &at("user"),
                    "give user and/or client_id (the Kafka quota entity)".into(),
                ));
            }
            if tn.producer_byte_rate.is_none() && tn.consumer_byte_rate.is_none() {
                return Err(bad(
                    &at("producer_byte_rate"),
                    "give producer_byte_rate and/or consumer_byte_rate".into(),
                ));
            }
            for (k, v) in [
                ("producer_byte_rate", tn.producer_byte_rate),
                ("consumer_byte_rate", tn.consumer_byte_rate),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v > 0.0)
                {
                    return Err(bad(&at(k), format!("{v} must be a rate above 0 bytes/s")));
                }
            }
            if q.demand.source == DemandSourceKind::LogDirGrowth
                && tn.topic_prefixes.is_empty()
                && tn.producer_byte_rate.is_some()
            {
                return Err(bad(
                    &at("topic_prefixes"),
                    "log-dir-growth demand attributes traffic by topic prefix: give at least one"
                        .into(),
                ));
            }
        }
        if q.enabled && q.tenants.is_empty() {
            return Err(bad(
                "quotas.tenants",
                "quotas.enabled = true needs at least one tenant".into(),
            ));
        }
        Ok(())
    }

    /// The tiering topic config; on error, the offending Kafka key and the reason.
    pub fn tier_config(&self) -> Result<keel_tiering::TierConfig, (String, String)> {
        let mut cfg = keel_tiering::TierConfig::default();
        for (k, v) in &self.tiering.topic_config {
            cfg.set(k, &v.to_string())
                .map_err(|e| (k.clone(), e.to_string()))?;
        }
        Ok(cfg)
    }

    /// The Kafka client settings, reading the SASL password from its source.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let c = &self.cluster;
        let mut cfg = ClientConfig::new(&c.bootstrap.join(","));
        cfg.client_id = c.client_id.clone();
        cfg.request_timeout = c.request_timeout;
        cfg.connect_timeout = c.connect_timeout;
        cfg.tls = c.tls.as_ref().map(|t| TlsConfig {
            ca_file: t.ca_file.clone(),
            client_cert_file: t.client_cert_file.clone(),
            client_key_file: t.client_key_file.clone(),
            server_name: t.server_name.clone(),
            insecure: t.insecure,
        });
        if let Some(s) = &c.sasl {
            let invalid = |key: &str, reason: String| ConfigError::Invalid {
                file: "config".to_owned(),
                key: key.to_owned(),
                reason,
            };
            let mechanism = s
                .mechanism
                .parse::<SaslMechanism>()
                .map_err(|e| invalid("cluster.sasl.mechanism", e.to_string()))?;
            let password = match (&s.password_env, &s.password_file) {
                (Some(var), _) => std::env::var(var).map_err(|_| {
                    invalid(
                        "cluster.sasl.password_env",
                        format!("environment variable {var} is not set"),
                    )
                })?,
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|e| {
                        invalid(
                            "cluster.sasl.password_file",
                            format!("reading {}: {e}", path.display()),
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                (None, None) => {
                    return Err(invalid(
                        "cluster.sasl.password_env",
                        "no password source".into(),
                    ));
                }
            };
            cfg.sasl = Some(SaslConfig {
                mechanism,
                username: s.username.clone(),
                password: Secret::new(password),
            });
        }
        Ok(cfg)
    }
}

fn positive<E>(d: Duration, key: &str, bad: &impl Fn(&str, String) -> E) -> Result<(), E> {
    if d.is_zero() {
        return Err(bad(key, "must be above zero".into()));
    }
    Ok(())
}

fn jitter<E>(j: f64, key: &str, bad: &impl Fn(&str, String) -> E) -> Result<(), E> {
    if !(0.0..=0.5).contains(&j) {
        return Err(bad(key, format!("{j} is not within 0..=0.5")));
    }
    Ok(())
}
