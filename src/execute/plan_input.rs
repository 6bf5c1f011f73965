//! Plan files: Kafka's reassignment JSON (`{"version":1,"partitions":[...]}`, as written by
//! `kafka-reassign-partitions.sh --generate` and `keel plan --out-kafka`) and keel's plan
//! JSON (`"format":"keel.plan/v1"`, its `reassignments`). Both give `(topic, partition,
//! replicas)`; [`desired_state`] checks them against the live cluster and adds replica
//! sizes from DescribeLogDirs (to order moves smallest first).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use keel_balancer::executor::{DesiredState, Limits, TargetPartition};
use keel_wire::client::{ClusterMetadata, KafkaClient, OngoingReassignment};
use serde::Deserialize;

/// One target from a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlanTarget {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Target replicas, preferred leader first.
    pub replicas: Vec<i32>,
}

#[derive(Deserialize)]
struct KafkaFile {
    version: i32,
    partitions: Vec<PlanTarget>,
}

#[derive(Deserialize)]
struct KeelFile {
    reassignments: Vec<PlanTarget>,
}

/// Parses a plan file's text. Errors name the format and the position or field.
pub fn parse_plan(text: &str) -> Result<Vec<PlanTarget>, String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON (line {} column {}): {e}", e.line(), e.column()))?;
    let targets = match v.get("format") {
        Some(serde_json::Value::String(f)) if f == "keel.plan/v1" => {
            let f: KeelFile =
                serde_json::from_value(v).map_err(|e| format!("keel.plan/v1: {e}"))?;
            f.reassignments
        }
        Some(other) => return Err(format!("format {other} is not keel.plan/v1")),
        None => {
            let f: KafkaFile = serde_json::from_value(v)
                .map_err(|e| format!("neither keel.plan/v1 nor Kafka's reassignment JSON: {e}"))?;
            if f.version != 1 {
                return Err(format!("version: expected 1, found {}", f.version));
            }
            f.partitions
        }
    };
    let mut seen = BTreeSet::new();
    for (i, t) in targets.iter().enumerate() {
        if !seen.insert((t.topic.as_str(), t.partition)) {
            return Err(format!(
                "partitions[{i}]: {}-{} appears twice",
                t.topic, t.partition
            ));
        }
    }
    Ok(targets)
}

/// Checks `targets` against `meta`: every partition exists, keeps its replication factor
/// (during a reassignment in `ongoing`, the replicas it is headed to count, not the ones
/// being removed) and names brokers the cluster knows (live, or holding a replica now).
/// Errors name the entry.
pub fn check_against(
    meta: &ClusterMetadata,
    ongoing: &[OngoingReassignment],
    targets: &[PlanTarget],
) -> Result<(), String> {
    let removing: BTreeMap<(&str, i32), usize> = ongoing
        .iter()
        .map(|o| ((o.topic.as_str(), o.partition), o.removing.len()))
        .collect();
    let mut known: BTreeSet<i32> = meta.brokers.keys().copied().collect();
    for t in meta.topics.values() {
        for p in &t.partitions {
            known.extend(p.replicas.iter().copied());
        }
    }
    for (i, t) in targets.iter().enumerate() {
        let p = meta.partition(&t.topic, t.partition).map_err(|_| {
            format!(
                "partitions[{i}]: {}-{} is not in the cluster",
                t.topic, t.partition
            )
        })?;
        let rf = p.replicas.len()
            - removing
                .get(&(t.topic.as_str(), t.partition))
                .copied()
                .unwrap_or(0)
                .min(p.replicas.len());
        if rf != t.replicas.len() {
            return Err(format!(
                "partitions[{i}].replicas: {}-{} would change the replication factor from {rf} to {} (not supported)",
                t.topic,
                t.partition,
                t.replicas.len()
            ));
        }
        for (j, b) in t.replicas.iter().enumerate() {
            if !known.contains(b) {
                return Err(format!(
                    "partitions[{i}].replicas[{j}]: unknown broker id {b}"
                ));
            }
        }
    }
    Ok(())
}

/// The desired state of `targets` on the cluster behind `client`, with `limits`. Replica
/// sizes come from DescribeLogDirs (the largest replica of each partition); a broker that
/// cannot answer leaves sizes at 0, with a warning.
pub async fn desired_state(
    client: &KafkaClient,
    targets: Vec<PlanTarget>,
    limits: Limits,
) -> anyhow::Result<DesiredState> {
    // Reassignments first, then Metadata: a move listed as ongoing is seen with its full
    // replica set (see `translate::observations`).
    let ongoing = client
        .list_partition_reassignments(None)
        .await
        .context("listing partition reassignments")?;
    let meta = client
        .refresh_metadata()
        .await
        .context("reading cluster metadata")?;
    check_against(&meta, &ongoing, &targets).map_err(|e| anyhow::anyhow!("plan: {e}"))?;
    let mut sizes: BTreeMap<(String, i32), u64> = BTreeMap::new();
    match client.describe_all_log_dirs().await {
        Ok(per_broker) => {
            for (broker, r) in per_broker {
                match r {
                    Ok(dirs) => {
                        for d in dirs {
                            for rep in d.replicas {
                                let e = sizes.entry((rep.topic, rep.partition)).or_default();
                                *e = (*e).max(rep.size_bytes.max(0) as u64);
                            }
                        }
                    }
                    Err(e) => tracing::warn!("DescribeLogDirs on broker {broker}: {e}"),
                }
            }
        }
        Err(e) => tracing::warn!("DescribeLogDirs: {e}; moves are ordered without sizes"),
    }
    let targets = targets
        .into_iter()
        .map(|t| TargetPartition {
            size_bytes: sizes
                .get(&(t.topic.clone(), t.partition))
                .copied()
                .unwrap_or(0),
            topic: t.topic,
            partition: t.partition,
            replicas: t.replicas,
        })
        .collect();
    Ok(DesiredState::new(targets, limits)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_wire::client::{BrokerInfo, PartitionInfo, TopicInfo};
    use proptest::prelude::*;

    #[test]
    fn reads_both_formats() {
        let k = r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}"#;
        let p = parse_plan(k).unwrap();
        assert_eq!(
            p,
            vec![PlanTarget {
                topic: "a".into(),
                partition: 0,
                replicas: vec![1, 2]
            }]
        );
        let keel = r#"{"format":"keel.plan/v1","cost":{},"reassignments":[{"topic":"b","partition":3,"replicas":[2]}]}"#;
        assert_eq!(parse_plan(keel).unwrap()[0].partition, 3);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(parse_plan("{").unwrap_err().contains("line 1"));
        assert!(
            parse_plan(r#"{"version":2,"partitions":[]}"#)
                .unwrap_err()
                .contains("version")
        );
        assert!(
            parse_plan(r#"{"format":"x"}"#)
                .unwrap_err()
                .contains("keel.plan/v1")
        );
        let dup = r#"{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#;
        assert!(parse_plan(dup).unwrap_err().contains("partitions[1]"));
    }

    #[test]
    fn checks_partitions_rf_and_brokers_against_the_cluster() {
        let mut m = ClusterMetadata::default();
        for id in [1, 2, 3] {
            m.brokers.insert(
                id,
                BrokerInfo {
                    id,
                    host: "h".into(),
                    port: 1,
                    rack: None,
                    fenced: false,
                },
            );
        }
        m.topics.insert(
            "a".into(),
            TopicInfo {
                name: "a".into(),
                topic_id: String::new(),
                is_internal: false,
                partitions: vec![PartitionInfo {
                    partition: 0,
                    leader: Some(1),
                    leader_epoch: 0,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                    offline_replicas: vec![],
                    error: None,
                }],
            },
        );
        let t = |replicas: Vec<i32>, partition| {
            vec![PlanTarget {
                topic: "a".into(),
                partition,
                replicas,
            }]
        };
        assert!(check_against(&m, &[], &t(vec![3, 1], 0)).is_ok());
        assert!(
            check_against(&m, &[], &t(vec![3, 1], 1))
                .unwrap_err()
                .contains("not in the cluster")
        );
        assert!(
            check_against(&m, &[], &t(vec![3], 0))
                .unwrap_err()
                .contains("replication factor")
        );
        assert!(
            check_against(&m, &[], &t(vec![9, 1], 0))
                .unwrap_err()
                .contains("replicas[0]: unknown broker id 9")
        );
        // Mid-move the metadata lists target + removing: the RF is the target's.
        let p = &mut m.topics.get_mut("a").unwrap().partitions[0];
        p.replicas = vec![3, 1, 2];
        let moving = [OngoingReassignment {
            topic: "a".into(),
            partition: 0,
            replicas: vec![3, 1, 2],
            adding: vec![3],
            removing: vec![2],
        }];
        assert!(check_against(&m, &moving, &t(vec![3, 1], 0)).is_ok());
        assert!(
            check_against(&m, &[], &t(vec![3, 1], 0))
                .unwrap_err()
                .contains("from 3 to 2")
        );
    }

    proptest! {
        #[test]
        fn parse_plan_never_panics_on_arbitrary_text(s in ".{0,80}") {
            let _ = parse_plan(&s);
        }
    }
}
