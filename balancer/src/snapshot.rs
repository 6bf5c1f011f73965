//! Reading and writing `keel.cluster/v1` snapshots (`shared/formats/cluster-snapshot.md`).
//!
//! Reading is one streaming pass of `serde_json` over the bytes: partitions go straight into
//! the flat vectors of [`Cluster`] (topic names interned), so a 2.8M-replica snapshot needs no
//! intermediate tree. When the typed pass fails, the input is re-read as a generic JSON value
//! and walked field by field, so the error names the field path
//! (e.g. `partitions[812].replicas[1]`) rather than a line and column.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::{BalancerError, Result};
use crate::model::{Broker, BrokerState, Cluster, Partition};

/// The value of the snapshot's `format` field.
pub const FORMAT: &str = "keel.cluster/v1";

#[derive(Deserialize)]
struct RawCapacity {
    disk_bytes: f64,
    network_in_bytes_per_sec: f64,
    network_out_bytes_per_sec: f64,
    cpu_cores: f64,
}

#[derive(Deserialize)]
struct RawBroker {
    id: i32,
    #[serde(default)]
    rack: Option<String>,
    #[serde(default)]
    state: Option<String>,
    capacity: RawCapacity,
}

#[derive(Deserialize)]
struct RawPartition<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    partition: i32,
    replicas: Vec<i32>,
    #[serde(default)]
    leader: Option<i32>,
    size_bytes: u64,
    #[serde(default)]
    bytes_in_per_sec: Option<f64>,
    #[serde(default)]
    bytes_out_per_sec: Option<f64>,
    #[serde(default)]
    leader_cpu_cores: Option<f64>,
    #[serde(default)]
    follower_cpu_cores: Option<f64>,
}

struct RawPart {
    topic: u32,
    partition: i32,
    start: u32,
    len: u32,
    leader: Option<i32>,
    size_bytes: u64,
    rates: [f64; 4],
}

#[derive(Default)]
struct Store {
    format: Option<String>,
    brokers: Option<Vec<RawBroker>>,
    partitions_seen: bool,
    topics: Vec<String>,
    topic_ids: HashMap<String, u32>,
    parts: Vec<RawPart>,
    replica_ids: Vec<i32>,
}

impl Store {
    fn push(&mut self, raw: RawPartition<'_>) {
        let topic = match self.topic_ids.get(raw.topic.as_ref()) {
            Some(&t) => t,
            None => {
                let t = self.topics.len() as u32;
                self.topics.push(raw.topic.to_string());
                self.topic_ids.insert(raw.topic.into_owned(), t);
                t
            }
        };
        let start = self.replica_ids.len() as u32;
        self.replica_ids.extend_from_slice(&raw.replicas);
        self.parts.push(RawPart {
            topic,
            partition: raw.partition,
            start,
            len: raw.replicas.len() as u32,
            leader: raw.leader,
            size_bytes: raw.size_bytes,
            rates: [
                raw.bytes_in_per_sec.unwrap_or(0.0),
                raw.bytes_out_per_sec.unwrap_or(0.0),
                raw.leader_cpu_cores.unwrap_or(0.0),
                raw.follower_cpu_cores.unwrap_or(0.0),
            ],
        });
    }
}

struct TopSeed<'s>(&'s mut Store);

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a keel.cluster/v1 snapshot object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "format" => self.0.format = Some(map.next_value()?),
                "brokers" => self.0.brokers = Some(map.next_value()?),
                "partitions" => {
                    map.next_value_seed(PartitionsSeed(self.0))?;
                    self.0.partitions_seen = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct PartitionsSeed<'s>(&'s mut Store);

impl<'de> DeserializeSeed<'de> for PartitionsSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PartitionsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of partitions")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<RawPartition<'de>>()? {
            self.0.push(raw);
        }
        Ok(())
    }
}

/// Parses a snapshot from JSON text.
pub fn parse_str(text: &str) -> Result<Cluster> {
    parse_slice(text.as_bytes())
}

/// Parses a snapshot from JSON bytes. Errors name the offending field path.
pub fn parse_slice(bytes: &[u8]) -> Result<Cluster> {
    let mut store = Store::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let typed = TopSeed(&mut store)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = typed {
        return Err(locate_error(bytes, &e));
    }
    build(store)
}

/// Turns a failed typed parse into an error naming the field path.
fn locate_error(bytes: &[u8], e: &serde_json::Error) -> BalancerError {
    match serde_json::from_slice::<Value>(bytes) {
        Err(syntax) => BalancerError::Json {
            line: syntax.line(),
            column: syntax.column(),
            message: syntax.to_string(),
        },
        Ok(v) => find_type_error(&v).unwrap_or_else(|| BalancerError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Clone, Copy)]
enum Want {
    Str,
    OptStr,
    I32,
    OptI32,
    U64,
    Num,
    OptNum,
}

fn check(v: Option<&Value>, want: Want, path: &str) -> Option<BalancerError> {
    let bad = |m: &str| Some(BalancerError::field(path, m.to_string()));
    let v = match v {
        None | Some(Value::Null) => {
            return match want {
                Want::OptStr | Want::OptI32 | Want::OptNum => None,
                _ if v.is_none() => bad("missing required field"),
                _ => bad("must not be null"),
            };
        }
        Some(v) => v,
    };
    let ok = match want {
        Want::Str | Want::OptStr => v.is_string(),
        Want::I32 | Want::OptI32 => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Want::U64 => v.is_u64(),
        Want::Num | Want::OptNum => v.is_number(),
    };
    if ok {
        return None;
    }
    let expected = match want {
        Want::Str | Want::OptStr => "a string",
        Want::I32 | Want::OptI32 => "an integer that fits in i32",
        Want::U64 => "a non-negative integer that fits in u64",
        Want::Num | Want::OptNum => "a number",
    };
    bad(&format!("expected {expected}, found {}", type_name(v)))
}

/// Walks a generic JSON value and returns the first structural error with its path.
fn find_type_error(v: &Value) -> Option<BalancerError> {
    let Some(top) = v.as_object() else {
        return Some(BalancerError::field(
            "$",
            format!("expected an object, found {}", type_name(v)),
        ));
    };
    if let Some(e) = check(top.get("format"), Want::Str, "format") {
        return Some(e);
    }
    for key in ["brokers", "partitions"] {
        match top.get(key) {
            None => return Some(BalancerError::field(key, "missing required field")),
            Some(Value::Array(_)) => {}
            Some(other) => {
                return Some(BalancerError::field(
                    key,
                    format!("expected an array, found {}", type_name(other)),
                ));
            }
        }
    }
    let brokers = top
        .get("brokers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, b) in brokers.iter().enumerate() {
        let path = format!("brokers[{i}]");
        let Some(o) = b.as_object() else {
            return Some(BalancerError::field(
                path,
                format!("expected an object, found {}", type_name(b)),
            ));
        };
        for (f, w) in [
            ("id", Want::I32),
            ("rack", Want::OptStr),
            ("state", Want::OptStr),
        ] {
            if let Some(e) = check(o.get(f), w, &format!("{path}.{f}")) {
                return Some(e);
            }
        }
        let cpath = format!("{path}.capacity");
        let Some(c) = o.get("capacity").and_then(Value::as_object) else {
            return Some(BalancerError::field(cpath, "missing or not an object"));
        };
        for f in [
            "disk_bytes",
            "network_in_bytes_per_sec",
            "network_out_bytes_per_sec",
            "cpu_cores",
        ] {
            if let Some(e) = check(c.get(f), Want::Num, &format!("{cpath}.{f}")) {
                return Some(e);
            }
        }
    }
    let parts = top
        .get("partitions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, p) in parts.iter().enumerate() {
        let path = format!("partitions[{i}]");
        let Some(o) = p.as_object() else {
            return Some(BalancerError::field(
                path,
                format!("expected an object, found {}", type_name(p)),
            ));
        };
        let fields = [
            ("topic", Want::Str),
            ("partition", Want::I32),
            ("leader", Want::OptI32),
            ("size_bytes", Want::U64),
            ("bytes_in_per_sec", Want::OptNum),
            ("bytes_out_per_sec", Want::OptNum),
            ("leader_cpu_cores", Want::OptNum),
            ("follower_cpu_cores", Want::OptNum),
        ];
        for (f, w) in fields {
            if let Some(e) = check(o.get(f), w, &format!("{path}.{f}")) {
                return Some(e);
            }
        }
        match o.get("replicas") {
            Some(Value::Array(rs)) => {
                for (j, r) in rs.iter().enumerate() {
                    if let Some(e) = check(Some(r), Want::I32, &format!("{path}.replicas[{j}]")) {
                        return Some(e);
                    }
                }
            }
            None => {
                return Some(BalancerError::field(
                    format!("{path}.replicas"),
                    "missing required field",
                ));
            }
            Some(other) => {
                return Some(BalancerError::field(
                    format!("{path}.replicas"),
                    format!("expected an array, found {}", type_name(other)),
                ));
            }
        }
    }
    None
}

/// Semantic validation and conversion into the dense model.
fn build(store: Store) -> Result<Cluster> {
    match store.format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(BalancerError::field(
                "format",
                format!("expected \"{FORMAT}\", found \"{other}\""),
            ));
        }
        None => return Err(BalancerError::field("format", "missing required field")),
    }
    let Some(raw_brokers) = store.brokers else {
        return Err(BalancerError::field("brokers", "missing required field"));
    };
    if !store.partitions_seen {
        return Err(BalancerError::field("partitions", "missing required field"));
    }
    let mut brokers = Vec::with_capacity(raw_brokers.len());
    let mut racks: Vec<String> = Vec::new();
    let mut rack_ids: HashMap<String, u32> = HashMap::new();
    let mut by_id: HashMap<i32, u32> = HashMap::new();
    for (i, rb) in raw_brokers.into_iter().enumerate() {
        if by_id.insert(rb.id, i as u32).is_some() {
            return Err(BalancerError::field(
                format!("brokers[{i}].id"),
                format!("duplicate broker id {}", rb.id),
            ));
        }
        let state = match rb.state.as_deref() {
            None => BrokerState::Alive,
            Some(s) => BrokerState::parse(s).ok_or_else(|| {
                BalancerError::field(
                    format!("brokers[{i}].state"),
                    format!(
                        "unknown state \"{s}\" (expected alive, new, dead, removing or demoting)"
                    ),
                )
            })?,
        };
        let c = &rb.capacity;
        let capacity = [
            c.disk_bytes,
            c.network_in_bytes_per_sec,
            c.network_out_bytes_per_sec,
            c.cpu_cores,
        ];
        let names = [
            "disk_bytes",
            "network_in_bytes_per_sec",
            "network_out_bytes_per_sec",
            "cpu_cores",
        ];
        for (v, n) in capacity.iter().zip(names) {
            if !(v.is_finite() && *v > 0.0) {
                return Err(BalancerError::field(
                    format!("brokers[{i}].capacity.{n}"),
                    format!("must be > 0, found {v}"),
                ));
            }
        }
        let rack_name = rb
            .rack
            .clone()
            .unwrap_or_else(|| format!("broker-{}", rb.id));
        let rack_idx = match rack_ids.get(&rack_name) {
            Some(&r) => r,
            None => {
                let r = racks.len() as u32;
                racks.push(rack_name.clone());
                rack_ids.insert(rack_name, r);
                r
            }
        };
        brokers.push(Broker {
            id: rb.id,
            rack: rb.rack,
            rack_idx,
            state,
            capacity,
        });
    }

    let mut replicas = Vec::with_capacity(store.replica_ids.len());
    let mut partitions = Vec::with_capacity(store.parts.len());
    let mut seen: HashMap<(u32, i32), usize> = HashMap::with_capacity(store.parts.len());
    for (i, rp) in store.parts.iter().enumerate() {
        if let Some(first) = seen.insert((rp.topic, rp.partition), i) {
            return Err(BalancerError::field(
                format!("partitions[{i}]"),
                format!(
                    "duplicate partition {}-{} (first at partitions[{first}])",
                    store.topics[rp.topic as usize], rp.partition
                ),
            ));
        }
        if rp.partition < 0 {
            return Err(BalancerError::field(
                format!("partitions[{i}].partition"),
                "must be >= 0",
            ));
        }
        if rp.len == 0 {
            return Err(BalancerError::field(
                format!("partitions[{i}].replicas"),
                "must name at least one broker",
            ));
        }
        let rf = u8::try_from(rp.len).map_err(|_| {
            BalancerError::field(
                format!("partitions[{i}].replicas"),
                "more than 255 replicas",
            )
        })?;
        let ids = &store.replica_ids[rp.start as usize..(rp.start + rp.len) as usize];
        let start = replicas.len() as u32;
        for (j, id) in ids.iter().enumerate() {
            let Some(&b) = by_id.get(id) else {
                return Err(BalancerError::field(
                    format!("partitions[{i}].replicas[{j}]"),
                    format!("unknown broker id {id}"),
                ));
            };
            if ids[..j].contains(id) {
                return Err(BalancerError::field(
                    format!("partitions[{i}].replicas[{j}]"),
                    format!("duplicate replica on broker {id}"),
                ));
            }
            replicas.push(b);
        }
        let leader = match rp.leader {
            None => replicas[start as usize],
            Some(l) => match ids.iter().position(|id| *id == l) {
                Some(pos) => replicas[start as usize + pos],
                None => {
                    return Err(BalancerError::field(
                        format!("partitions[{i}].leader"),
                        format!("leader {l} is not one of the replicas"),
                    ));
                }
            },
        };
        let names = [
            "bytes_in_per_sec",
            "bytes_out_per_sec",
            "leader_cpu_cores",
            "follower_cpu_cores",
        ];
        for (v, n) in rp.rates.iter().zip(names) {
            if !(v.is_finite() && *v >= 0.0) {
                return Err(BalancerError::field(
                    format!("partitions[{i}].{n}"),
                    format!("must be >= 0, found {v}"),
                ));
            }
        }
        partitions.push(Partition {
            topic: rp.topic,
            partition: rp.partition,
            start,
            rf,
            leader,
            size_bytes: rp.size_bytes,
            bytes_in: rp.rates[0],
            bytes_out: rp.rates[1],
            leader_cpu: rp.rates[2],
            follower_cpu: rp.rates[3],
        });
    }
    Ok(Cluster {
        brokers,
        racks,
        topics: store.topics,
        partitions,
        replicas,
    })
}

/// Writes `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    // serde_json's escaping of a &str cannot fail.
    out.push_str(&serde_json::Value::String(s.to_string()).to_string());
}

fn num(out: &mut String, v: f64) {
    use fmt::Write as _;
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes one broker object (no trailing comma).
pub(crate) fn write_broker(out: &mut String, b: &Broker) {
    use fmt::Write as _;
    let _ = write!(out, "{{\"id\":{},\"rack\":", b.id);
    match &b.rack {
        Some(r) => json_str(out, r),
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"state\":\"{}\",\"capacity\":{{\"disk_bytes\":",
        b.state.name()
    );
    num(out, b.capacity[0]);
    out.push_str(",\"network_in_bytes_per_sec\":");
    num(out, b.capacity[1]);
    out.push_str(",\"network_out_bytes_per_sec\":");
    num(out, b.capacity[2]);
    out.push_str(",\"cpu_cores\":");
    num(out, b.capacity[3]);
    out.push_str("}}");
}

/// Writes one partition object (no trailing comma). `replica_ids` are Kafka broker ids.
pub(crate) fn write_partition(
    out: &mut String,
    topic: &str,
    part: &Partition,
    replica_ids: &[i32],
    leader_id: i32,
) {
    use fmt::Write as _;
    out.push_str("{\"topic\":");
    json_str(out, topic);
    let _ = write!(out, ",\"partition\":{},\"replicas\":[", part.partition);
    for (i, r) in replica_ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{r}");
    }
    let _ = write!(
        out,
        "],\"leader\":{leader_id},\"size_bytes\":{},\"bytes_in_per_sec\":",
        part.size_bytes
    );
    num(out, part.bytes_in);
    out.push_str(",\"bytes_out_per_sec\":");
    num(out, part.bytes_out);
    out.push_str(",\"leader_cpu_cores\":");
    num(out, part.leader_cpu);
    out.push_str(",\"follower_cpu_cores\":");
    num(out, part.follower_cpu);
    out.push('}');
}

/// Serialises a cluster back into a `keel.cluster/v1` snapshot (one partition per line).
pub fn to_json(cluster: &Cluster) -> String {
    let mut out = String::with_capacity(128 + cluster.partitions.len() * 200);
    out.push_str("{\"format\":\"keel.cluster/v1\",\"brokers\":[\n");
    for (i, b) in cluster.brokers.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        write_broker(&mut out, b);
    }
    out.push_str("\n],\"partitions\":[\n");
    let mut ids = Vec::new();
    for (p, part) in cluster.partitions.iter().enumerate() {
        if p > 0 {
            out.push_str(",\n");
        }
        ids.clear();
        ids.extend(
            cluster
                .replicas_of(p)
                .iter()
                .map(|&b| cluster.brokers[b as usize].id),
        );
        let leader = cluster.brokers[part.leader as usize].id;
        write_partition(
            &mut out,
            &cluster.topics[part.topic as usize],
            part,
            &ids,
            leader,
        );
    }
    out.push_str("\n]}\n");
    out
}
