//! Broker and topic configs the simulator understands: the replication throttles
//! ([KIP-73](https://cwiki.apache.org/confluence/display/KAFKA/KIP-73+Replication+Quotas)),
//! `min.insync.replicas` and the usual topic retention/cleanup keys, changed through
//! IncrementalAlterConfigs
//! ([KIP-339](https://cwiki.apache.org/confluence/display/KAFKA/KIP-339%3A+Create+a+new+IncrementalAlterConfigs+API))
//! and read through DescribeConfigs. Unknown keys are refused with INVALID_CONFIG, as Kafka does.

use std::collections::BTreeMap;

use super::{BrokerId, ClusterState};

/// Broker config: leader-side replication throttle, bytes/s.
pub const LEADER_THROTTLED_RATE: &str = "leader.replication.throttled.rate";
/// Broker config: follower-side replication throttle, bytes/s.
pub const FOLLOWER_THROTTLED_RATE: &str = "follower.replication.throttled.rate";
/// Topic config: replicas throttled on the leader side (`partition:broker,...` or `*`).
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";
/// Topic config: replicas throttled on the follower side.
pub const FOLLOWER_THROTTLED_REPLICAS: &str = "follower.replication.throttled.replicas";
/// Topic (or cluster-default broker) config: the smallest ISR that accepts `acks=all`.
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// INVALID_CONFIG.
const INVALID_CONFIG: i16 = 40;

/// Kafka's `ConfigSource` values in DescribeConfigs answers.
pub mod source {
    /// A dynamic topic config.
    pub const TOPIC_CONFIG: i8 = 1;
    /// A dynamic config of one broker.
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    /// A dynamic cluster-wide default of every broker.
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    /// From the broker's properties file.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// The built-in default.
    pub const DEFAULT_CONFIG: i8 = 5;
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Long,
    Int,
    ThrottleList,
    CleanupPolicy,
}

const BROKER_KEYS: &[(&str, Kind, &str)] = &[
    (LEADER_THROTTLED_RATE, Kind::Long, "9223372036854775807"),
    (FOLLOWER_THROTTLED_RATE, Kind::Long, "9223372036854775807"),
    (MIN_INSYNC_REPLICAS, Kind::Int, "1"),
    (
        "replica.alter.log.dirs.io.max.bytes.per.second",
        Kind::Long,
        "9223372036854775807",
    ),
];

const TOPIC_KEYS: &[(&str, Kind, &str)] = &[
    ("cleanup.policy", Kind::CleanupPolicy, "delete"),
    (MIN_INSYNC_REPLICAS, Kind::Int, "1"),
    (LEADER_THROTTLED_REPLICAS, Kind::ThrottleList, ""),
    (FOLLOWER_THROTTLED_REPLICAS, Kind::ThrottleList, ""),
    ("retention.ms", Kind::Long, "604800000"),
    ("retention.bytes", Kind::Long, "-1"),
    ("segment.bytes", Kind::Int, "1073741824"),
    ("max.message.bytes", Kind::Int, "1048588"),
];

/// What a config change applies to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigTarget {
    /// One broker (index into `brokers`), or the cluster-wide default (`None`, resource name "").
    Broker(Option<usize>),
    /// One topic (index into `topics`).
    Topic(u32),
}

/// One IncrementalAlterConfigs operation: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOp {
    /// Config name.
    pub name: String,
    /// Operation code.
    pub op: i8,
    /// Value (for SET, APPEND, SUBTRACT).
    pub value: Option<String>,
}

/// One config in a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigValue {
    /// Config name.
    pub name: String,
    /// Value.
    pub value: Option<String>,
    /// Kafka's `ConfigSource`.
    pub source: i8,
}

/// Whether a throttled-replicas list (`*` or `partition:broker,...`) names `partition:broker`.
pub fn throttle_list_contains(list: &str, partition: i32, broker: BrokerId) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        entry == "*"
            || entry.split_once(':').is_some_and(|(p, b)| {
                p.trim().parse::<i32>() == Ok(partition) && b.trim().parse::<i32>() == Ok(broker)
            })
    })
}

fn validate(kind: Kind, name: &str, value: &str) -> Result<(), String> {
    let ok = match kind {
        Kind::Long => value.parse::<i64>().is_ok_and(|v| v >= -1),
        Kind::Int => value.parse::<i32>().is_ok_and(|v| v >= 1),
        Kind::ThrottleList => {
            value.trim() == "*"
                || value.trim().is_empty()
                || value.split(',').all(|e| {
                    e.split_once(':').is_some_and(|(p, b)| {
                        p.trim().parse::<i32>().is_ok() && b.trim().parse::<i32>().is_ok()
                    })
                })
        }
        Kind::CleanupPolicy => value
            .split(',')
            .all(|v| matches!(v.trim(), "delete" | "compact")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid value {value:?} for configuration {name}"))
    }
}

fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn apply_op(
    configs: &mut BTreeMap<String, String>,
    keys: &[(&str, Kind, &str)],
    op: &ConfigOp,
) -> Result<(), (i16, String)> {
    let refuse = |reason: String| (INVALID_CONFIG, reason);
    let Some(&(_, kind, _)) = keys.iter().find(|(k, _, _)| *k == op.name) else {
        return Err(refuse(format!("unknown configuration {}", op.name)));
    };
    let is_list = matches!(kind, Kind::ThrottleList | Kind::CleanupPolicy);
    let value = op.value.clone().unwrap_or_default();
    match op.op {
        0 => {
            validate(kind, &op.name, &value).map_err(refuse)?;
            configs.insert(op.name.clone(), value);
        }
        1 => {
            configs.remove(&op.name);
        }
        2 | 3 if is_list => {
            validate(kind, &op.name, &value).map_err(refuse)?;
            let mut items = list_items(configs.get(&op.name).map_or("", String::as_str));
            for item in list_items(&value) {
                if op.op == 2 {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                } else {
                    items.retain(|i| *i != item);
                }
            }
            configs.insert(op.name.clone(), items.join(","));
        }
        2 | 3 => {
            return Err(refuse(format!(
                "APPEND and SUBTRACT apply only to list configurations, not {}",
                op.name
            )));
        }
        other => return Err(refuse(format!("unknown config operation {other}"))),
    }
    Ok(())
}

impl ClusterState {
    /// Applies IncrementalAlterConfigs operations to one resource, all or none. With
    /// `validate_only` nothing changes.
    pub fn alter_configs(
        &mut self,
        target: ConfigTarget,
        ops: &[ConfigOp],
        validate_only: bool,
    ) -> Result<(), (i16, String)> {
        let (configs, keys) = match target {
            ConfigTarget::Broker(Some(b)) => (&self.brokers[b].configs, BROKER_KEYS),
            ConfigTarget::Broker(None) => (&self.cluster_defaults, BROKER_KEYS),
            ConfigTarget::Topic(t) => (&self.topics[t as usize].configs, TOPIC_KEYS),
        };
        let mut next = configs.clone();
        for op in ops {
            apply_op(&mut next, keys, op)?;
        }
        if validate_only {
            return Ok(());
        }
        match target {
            ConfigTarget::Broker(Some(b)) => self.brokers[b].configs = next,
            ConfigTarget::Broker(None) => self.cluster_defaults = next,
            ConfigTarget::Topic(t) => self.topics[t as usize].configs = next,
        }
        self.generation += 1;
        Ok(())
    }

    /// The configs of one resource, restricted to `keys` when given (unknown keys are left
    /// out, as Kafka does).
    pub fn describe_configs(
        &self,
        target: ConfigTarget,
        keys: Option<&[String]>,
    ) -> Vec<ConfigValue> {
        let wanted = |k: &str| keys.is_none_or(|keys| keys.iter().any(|x| x == k));
        let mut out = Vec::new();
        let (known, own, own_source) = match target {
            ConfigTarget::Broker(b) => {
                let own = b.map_or(&self.cluster_defaults, |b| &self.brokers[b].configs);
                let src = if b.is_some() {
                    source::DYNAMIC_BROKER_CONFIG
                } else {
                    source::DYNAMIC_DEFAULT_BROKER_CONFIG
                };
                if let Some(b) = b {
                    let broker = &self.brokers[b];
                    if wanted("broker.id") {
                        out.push(ConfigValue {
                            name: "broker.id".into(),
                            value: Some(broker.id.to_string()),
                            source: source::STATIC_BROKER_CONFIG,
                        });
                    }
                    if wanted("broker.rack") {
                        out.push(ConfigValue {
                            name: "broker.rack".into(),
                            value: broker.rack.clone(),
                            source: source::STATIC_BROKER_CONFIG,
                        });
                    }
                }
                (BROKER_KEYS, own, src)
            }
            ConfigTarget::Topic(t) => (
                TOPIC_KEYS,
                &self.topics[t as usize].configs,
                source::TOPIC_CONFIG,
            ),
        };
        for &(name, _, default) in known {
            if !wanted(name) {
                continue;
            }
            let (value, src) = if let Some(v) = own.get(name) {
                (v.clone(), own_source)
            } else if let Some(v) = self.cluster_defaults.get(name) {
                (v.clone(), source::DYNAMIC_DEFAULT_BROKER_CONFIG)
            } else {
                (default.to_owned(), source::DEFAULT_CONFIG)
            };
            out.push(ConfigValue {
                name: name.to_owned(),
                value: Some(value),
                source: src,
            });
        }
        out
    }

    /// The `min.insync.replicas` in force for topic index `t`.
    pub fn min_insync_replicas(&self, t: u32) -> usize {
        self.topics[t as usize]
            .configs
            .get(MIN_INSYNC_REPLICAS)
            .or_else(|| self.cluster_defaults.get(MIN_INSYNC_REPLICAS))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
    }

    /// A broker's dynamic config value.
    pub fn broker_config(&self, broker: BrokerId, key: &str) -> Option<&str> {
        let b = self.broker_idx(broker)?;
        self.brokers[b].configs.get(key).map(String::as_str)
    }

    /// A topic's dynamic config value.
    pub fn topic_config(&self, topic: &str, key: &str) -> Option<&str> {
        let t = self.topic_idx(topic)?;
        self.topics[t as usize].configs.get(key).map(String::as_str)
    }
}

/// Validates the configs of a topic being created.
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), (i16, String)> {
    let mut scratch = BTreeMap::new();
    for (name, value) in configs {
        apply_op(
            &mut scratch,
            TOPIC_KEYS,
            &ConfigOp {
                name: name.clone(),
                op: 0,
                value: Some(value.clone()),
            },
        )?;
    }
    Ok(())
}
