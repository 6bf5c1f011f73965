//! Parsing of `keel.quota-workload/v1` (see `shared/formats/quota-workload.md`): JSON,
//! unknown fields ignored, every bad field reported with its JSON path.

use serde_json::{Map, Value};

use crate::error::{QuotaError, Result};
use crate::kind::{Mode, QuotaKind};

/// The format tag this parser reads.
pub const FORMAT: &str = "keel.quota-workload/v1";

/// A tenant and its cluster-wide quotas (bytes/s; `None` = unlimited).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// Tenant name.
    pub name: String,
    /// `produce_bytes_per_sec`.
    pub produce: Option<f64>,
    /// `fetch_bytes_per_sec`.
    pub fetch: Option<f64>,
}

impl TenantSpec {
    /// The quota of `kind`.
    pub fn quota(&self, kind: QuotaKind) -> Option<f64> {
        match kind {
            QuotaKind::Produce => self.produce,
            QuotaKind::Fetch => self.fetch,
            _ => None,
        }
    }
}

/// How a client's offered load varies over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Constant offered rate.
    Steady,
    /// Offered rate × 10 for 1 s every 10 s, idle between.
    Burst,
    /// On 10 s, off 10 s.
    OnOff,
}

/// A client offering load to some brokers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSpec {
    /// Tenant name (declared in `tenants`).
    pub tenant: String,
    /// Kafka client-id.
    pub client_id: String,
    /// `produce` or `fetch`.
    pub kind: QuotaKind,
    /// Brokers the traffic lands on, spread evenly.
    pub brokers: Vec<u32>,
    /// Offered bytes/s (cluster-wide for this client).
    pub offered: f64,
    /// Bytes per request.
    pub request_bytes: u64,
    /// Load pattern.
    pub pattern: Pattern,
    /// Start, s.
    pub start_s: f64,
    /// Stop, s.
    pub stop_s: f64,
    /// False for a client that ignores `throttle_time_ms`.
    pub honours_throttle: bool,
}

/// Something that happens during the run.
#[derive(Debug, Clone, PartialEq)]
pub enum EventAction {
    /// A broker's usage reports are lost from now on.
    StopReporting { broker: u32 },
    /// A broker's reports get through again.
    ResumeReporting { broker: u32 },
    /// Sets a tenant's quotas (kinds absent are unchanged).
    SetQuota {
        tenant: String,
        produce: Option<f64>,
        fetch: Option<f64>,
    },
    /// Removes a tenant's quotas (one kind, or all when `kind` is absent).
    RemoveQuota {
        tenant: String,
        kind: Option<QuotaKind>,
    },
}

/// An event at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When, s.
    pub at_s: f64,
    /// What.
    pub action: EventAction,
}

/// A parsed workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Number of brokers.
    pub brokers: u32,
    /// Simulated seconds.
    pub duration_s: u64,
    /// Distributor interval, ms.
    pub report_interval_ms: u64,
    /// Enforcement mode.
    pub mode: Mode,
    /// Tenants.
    pub tenants: Vec<TenantSpec>,
    /// Clients.
    pub clients: Vec<ClientSpec>,
    /// Events, sorted by time.
    pub events: Vec<Event>,
}

fn err(path: &str, reason: impl Into<String>) -> QuotaError {
    QuotaError::Workload {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| err(path, "expected an object"))
}

fn opt_f64(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| err(&format!("{path}.{key}"), "expected a number")),
    }
}

fn opt_rate(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>> {
    let v = opt_f64(o, key, path)?;
    if let Some(x) = v.filter(|x| *x <= 0.0) {
        return Err(err(
            &format!("{path}.{key}"),
            format!("must be > 0, got {x}"),
        ));
    }
    Ok(v)
}

fn req_u64(o: &Map<String, Value>, key: &str, path: &str) -> Result<u64> {
    o.get(key)
        .ok_or_else(|| err(&format!("{path}.{key}"), "missing"))?
        .as_u64()
        .ok_or_else(|| err(&format!("{path}.{key}"), "expected a non-negative integer"))
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str> {
    o.get(key)
        .ok_or_else(|| err(&format!("{path}.{key}"), "missing"))?
        .as_str()
        .ok_or_else(|| err(&format!("{path}.{key}"), "expected a string"))
}

fn array<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a [Value]> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(v) => v
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| err(&format!("{path}.{key}"), "expected an array")),
    }
}

impl Workload {
    /// Parses and validates a workload document.
    pub fn parse(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text)?;
        let root = obj(&v, "$")?;
        let format = req_str(root, "format", "$")?;
        if format != FORMAT {
            return Err(err(
                "$.format",
                format!("expected `{FORMAT}`, got `{format}`"),
            ));
        }
        let brokers = req_u64(root, "brokers", "$")?;
        if brokers == 0 || brokers > 10_000 {
            return Err(err("$.brokers", "must be within 1..=10000"));
        }
        let brokers = brokers as u32;
        let duration_s = req_u64(root, "duration_s", "$")?;
        if duration_s == 0 || duration_s > 86_400 {
            return Err(err("$.duration_s", "must be within 1..=86400"));
        }
        let report_interval_ms = match root.get("report_interval_ms") {
            None => 1000,
            Some(_) => req_u64(root, "report_interval_ms", "$")?,
        };
        if report_interval_ms == 0 {
            return Err(err("$.report_interval_ms", "must be > 0"));
        }
        let mode = match root.get("mode") {
            None => Mode::Bucket,
            Some(_) => Mode::parse(req_str(root, "mode", "$")?, "$.mode")?,
        };

        let mut tenants = Vec::new();
        for (i, t) in array(root, "tenants", "$")?.iter().enumerate() {
            let p = format!("$.tenants[{i}]");
            let o = obj(t, &p)?;
            let name = req_str(o, "name", &p)?.to_string();
            if tenants.iter().any(|x: &TenantSpec| x.name == name) {
                return Err(err(
                    &format!("{p}.name"),
                    format!("duplicate tenant `{name}`"),
                ));
            }
            tenants.push(TenantSpec {
                name,
                produce: opt_rate(o, "produce_bytes_per_sec", &p)?,
                fetch: opt_rate(o, "fetch_bytes_per_sec", &p)?,
            });
        }
        let known = |name: &str, path: &str| -> Result<String> {
            if tenants.iter().any(|t| t.name == name) {
                Ok(name.to_string())
            } else {
                Err(err(path, format!("unknown tenant `{name}`")))
            }
        };

        let mut clients = Vec::new();
        for (i, c) in array(root, "clients", "$")?.iter().enumerate() {
            let p = format!("$.clients[{i}]");
            let o = obj(c, &p)?;
            let tenant = known(req_str(o, "tenant", &p)?, &format!("{p}.tenant"))?;
            let client_id = match o.get("client_id") {
                None => format!("client-{i}"),
                Some(_) => req_str(o, "client_id", &p)?.to_string(),
            };
            let kind = match req_str(o, "kind", &p)? {
                "produce" => QuotaKind::Produce,
                "fetch" => QuotaKind::Fetch,
                other => {
                    return Err(err(
                        &format!("{p}.kind"),
                        format!("expected `produce` or `fetch`, got `{other}`"),
                    ));
                }
            };
            let mut bs = Vec::new();
            for (j, b) in array(o, "brokers", &p)?.iter().enumerate() {
                let bp = format!("{p}.brokers[{j}]");
                let id = b.as_u64().ok_or_else(|| err(&bp, "expected a broker id"))?;
                if id >= u64::from(brokers) {
                    return Err(err(
                        &bp,
                        format!("broker {id} does not exist (brokers: {brokers})"),
                    ));
                }
                bs.push(id as u32);
            }
            if bs.is_empty() {
                bs = (0..brokers).collect();
            }
            let offered = opt_rate(o, "offered_bytes_per_sec", &p)?
                .ok_or_else(|| err(&format!("{p}.offered_bytes_per_sec"), "missing"))?;
            let request_bytes = match o.get("request_bytes") {
                None => 65_536,
                Some(_) => req_u64(o, "request_bytes", &p)?,
            };
            if request_bytes == 0 {
                return Err(err(&format!("{p}.request_bytes"), "must be > 0"));
            }
            let pattern = match o.get("pattern") {
                None => Pattern::Steady,
                Some(_) => match req_str(o, "pattern", &p)? {
                    "steady" => Pattern::Steady,
                    "burst" => Pattern::Burst,
                    "on_off" => Pattern::OnOff,
                    other => {
                        return Err(err(
                            &format!("{p}.pattern"),
                            format!("expected `steady`, `burst` or `on_off`, got `{other}`"),
                        ));
                    }
                },
            };
            let start_s = opt_f64(o, "start_s", &p)?.unwrap_or(0.0);
            let stop_s = opt_f64(o, "stop_s", &p)?.unwrap_or(duration_s as f64);
            if start_s < 0.0 || stop_s < start_s {
                return Err(err(&format!("{p}.stop_s"), "need 0 <= start_s <= stop_s"));
            }
            let honours_throttle = match o.get("honours_throttle") {
                None => true,
                Some(v) => v.as_bool().ok_or_else(|| {
                    err(&format!("{p}.honours_throttle"), "expected true or false")
                })?,
            };
            clients.push(ClientSpec {
                tenant,
                client_id,
                kind,
                brokers: bs,
                offered,
                request_bytes,
                pattern,
                start_s,
                stop_s,
                honours_throttle,
            });
        }

        let mut events = Vec::new();
        for (i, e) in array(root, "events", "$")?.iter().enumerate() {
            let p = format!("$.events[{i}]");
            let o = obj(e, &p)?;
            let at_s =
                opt_f64(o, "at_s", &p)?.ok_or_else(|| err(&format!("{p}.at_s"), "missing"))?;
            if at_s < 0.0 {
                return Err(err(&format!("{p}.at_s"), "must be >= 0"));
            }
            let broker = || -> Result<u32> {
                let id = req_u64(o, "broker", &p)?;
                if id >= u64::from(brokers) {
                    return Err(err(
                        &format!("{p}.broker"),
                        format!("broker {id} does not exist"),
                    ));
                }
                Ok(id as u32)
            };
            let action = match req_str(o, "action", &p)? {
                "stop_reporting" => EventAction::StopReporting { broker: broker()? },
                "resume_reporting" => EventAction::ResumeReporting { broker: broker()? },
                "set_quota" => EventAction::SetQuota {
                    tenant: known(req_str(o, "tenant", &p)?, &format!("{p}.tenant"))?,
                    produce: opt_rate(o, "produce_bytes_per_sec", &p)?,
                    fetch: opt_rate(o, "fetch_bytes_per_sec", &p)?,
                },
                "remove_quota" => EventAction::RemoveQuota {
                    tenant: known(req_str(o, "tenant", &p)?, &format!("{p}.tenant"))?,
                    kind: match o.get("kind") {
                        None => None,
                        Some(_) => match req_str(o, "kind", &p)? {
                            "produce" => Some(QuotaKind::Produce),
                            "fetch" => Some(QuotaKind::Fetch),
                            other => {
                                return Err(err(
                                    &format!("{p}.kind"),
                                    format!("expected `produce` or `fetch`, got `{other}`"),
                                ));
                            }
                        },
                    },
                },
                other => {
                    return Err(err(
                        &format!("{p}.action"),
                        format!(
                            "unknown action `{other}` (expected stop_reporting, resume_reporting, set_quota, remove_quota)"
                        ),
                    ));
                }
            };
            events.push(Event { at_s, action });
        }
        events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        Ok(Workload {
            brokers,
            duration_s,
            report_interval_ms,
            mode,
            tenants,
            clients,
            events,
        })
    }
}
