//! Pure translation between the executor's vocabulary and Kafka's admin requests: actions to
//! config changes and reassignment entries, and Metadata + ListPartitionReassignments +
//! `min.insync.replicas` to [`ObservedPartition`]s. No IO here, so every rule is unit-tested.
//!
//! Throttles follow [KIP-73](https://cwiki.apache.org/confluence/display/KAFKA/KIP-73+Replication+Quotas):
//! broker configs `leader.replication.throttled.rate` and `follower.replication.throttled.rate`
//! (bytes/s), topic configs `leader.replication.throttled.replicas` and
//! `follower.replication.throttled.replicas` (`partition:broker` lists, comma-separated).

use std::collections::BTreeMap;

use keel_balancer::executor::{BrokerId, Move, ObservedPartition, Throttles};
use keel_wire::client::{ClusterMetadata, ConfigChange, ConfigResource, OngoingReassignment};

/// Broker config: leader-side replication throttle, bytes/s.
pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
/// Broker config: follower-side replication throttle, bytes/s.
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
/// Topic config: replicas throttled on the leader side.
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
/// Topic config: replicas throttled on the follower side.
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// One IncrementalAlterConfigs call: a resource and its changes.
pub type ConfigCall = (ConfigResource, Vec<ConfigChange>);

/// `partition:broker,...` as Kafka's throttled-replica configs spell it.
pub fn throttled_list(pairs: &[(i32, BrokerId)]) -> String {
    pairs
        .iter()
        .map(|(p, b)| format!("{p}:{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a throttled-replica list (`partition:broker,...`, or `*` for all, returned as
/// `None`); errors name the bad entry.
pub fn parse_throttled_list(s: &str) -> Result<Option<Vec<(i32, BrokerId)>>, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, item) in s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .enumerate()
    {
        let (p, b) = item
            .split_once(':')
            .ok_or_else(|| format!("entry {i} {item:?} is not partition:broker"))?;
        let p = p
            .trim()
            .parse()
            .map_err(|_| format!("entry {i} {item:?}: bad partition"))?;
        let b = b
            .trim()
            .parse()
            .map_err(|_| format!("entry {i} {item:?}: bad broker id"))?;
        out.push((p, b));
    }
    Ok(Some(out))
}

/// The config calls that set `t`: broker rates first, then topic lists. An empty list is
/// deleted rather than set to an empty string.
pub fn set_throttle_calls(t: &Throttles) -> Vec<ConfigCall> {
    let mut calls = Vec::new();
    for &(b, rate) in &t.rates {
        calls.push((
            ConfigResource::Broker(b),
            vec![
                ConfigChange::set(LEADER_RATE, rate.to_string()),
                ConfigChange::set(FOLLOWER_RATE, rate.to_string()),
            ],
        ));
    }
    for tt in &t.topics {
        let list = |name: &str, pairs: &[(i32, BrokerId)]| {
            if pairs.is_empty() {
                ConfigChange::delete(name)
            } else {
                ConfigChange::set(name, throttled_list(pairs))
            }
        };
        calls.push((
            ConfigResource::Topic(tt.topic.clone()),
            vec![
                list(LEADER_REPLICAS, &tt.leader),
                list(FOLLOWER_REPLICAS, &tt.follower),
            ],
        ));
    }
    calls
}

/// The config calls that clear every throttle on `brokers` and `topics`.
pub fn clear_throttle_calls(brokers: &[BrokerId], topics: &[String]) -> Vec<ConfigCall> {
    let mut calls: Vec<ConfigCall> = brokers
        .iter()
        .map(|&b| {
            (
                ConfigResource::Broker(b),
                vec![
                    ConfigChange::delete(LEADER_RATE),
                    ConfigChange::delete(FOLLOWER_RATE),
                ],
            )
        })
        .collect();
    calls.extend(topics.iter().map(|t| {
        (
            ConfigResource::Topic(t.clone()),
            vec![
                ConfigChange::delete(LEADER_REPLICAS),
                ConfigChange::delete(FOLLOWER_REPLICAS),
            ],
        )
    }));
    calls
}

/// AlterPartitionReassignments entries starting `moves`.
pub fn alter_entries(moves: &[Move]) -> Vec<(String, i32, Option<Vec<i32>>)> {
    moves
        .iter()
        .map(|m| (m.topic.clone(), m.partition, Some(m.replicas.clone())))
        .collect()
}

/// AlterPartitionReassignments entries cancelling (null target) `partitions`.
pub fn cancel_entries(partitions: &[(String, i32)]) -> Vec<(String, i32, Option<Vec<i32>>)> {
    partitions
        .iter()
        .map(|(t, p)| (t.clone(), *p, None))
        .collect()
}

/// `(topic, partitions)` groups for ElectLeaders, topics sorted, partitions in input order.
pub fn group_partitions(partitions: &[(String, i32)]) -> Vec<(String, Vec<i32>)> {
    let mut map: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        map.entry(t.as_str()).or_default().push(*p);
    }
    map.into_iter().map(|(t, ps)| (t.to_string(), ps)).collect()
}

/// One partition as observed, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// What the executor is fed.
    pub observed: ObservedPartition,
}

/// Builds observations from one round: `ongoing` (ListPartitionReassignments, asked
/// **before** Metadata), `meta`, and `min_isr` per topic (`default_min_isr` when unknown).
///
/// A reassignment listed as ongoing is taken from the list (its replicas, adding,
/// removing), since the controller is the source of truth; ISR and leader come from
/// Metadata. `expected_rf` gives the plan's target replication factor per partition: a
/// partition that is not listed as moving but whose Metadata replica list has a different
/// length is a broker's stale view of a move that just finished, and is left out of this
/// round (the executor keeps its previous view) instead of being reported as a partition
/// that needs a move.
pub fn observations(
    meta: &ClusterMetadata,
    ongoing: &[OngoingReassignment],
    min_isr: &BTreeMap<String, u16>,
    default_min_isr: u16,
    expected_rf: &dyn Fn(&str, i32) -> Option<usize>,
) -> Vec<Observation> {
    let moving: BTreeMap<(&str, i32), &OngoingReassignment> = ongoing
        .iter()
        .map(|o| ((o.topic.as_str(), o.partition), o))
        .collect();
    let mut out = Vec::with_capacity(meta.partition_count());
    for (name, topic) in &meta.topics {
        let mi = min_isr.get(name).copied().unwrap_or(default_min_isr);
        for p in &topic.partitions {
            let observed = match moving.get(&(name.as_str(), p.partition)) {
                Some(o) => ObservedPartition {
                    replicas: o.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    min_isr: mi,
                    adding: o.adding.clone(),
                    removing: o.removing.clone(),
                },
                None => {
                    if expected_rf(name, p.partition).is_some_and(|rf| rf != p.replicas.len()) {
                        continue;
                    }
                    ObservedPartition {
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        leader: p.leader.filter(|l| *l >= 0),
                        min_isr: mi,
                        adding: Vec::new(),
                        removing: Vec::new(),
                    }
                }
            };
            out.push(Observation {
                topic: name.clone(),
                partition: p.partition,
                observed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_balancer::executor::TopicThrottle;
    use keel_wire::client::{AlterConfigOp, PartitionInfo, TopicInfo};
    use proptest::prelude::*;

    /// (topic, partition, replicas, ISR, leader)
    type PartRow<'a> = (&'a str, i32, Vec<i32>, Vec<i32>, Option<i32>);

    fn meta(parts: Vec<PartRow<'_>>) -> ClusterMetadata {
        let mut m = ClusterMetadata::default();
        for (t, p, replicas, isr, leader) in parts {
            m.topics
                .entry(t.to_string())
                .or_insert_with(|| TopicInfo {
                    name: t.to_string(),
                    topic_id: String::new(),
                    is_internal: false,
                    partitions: Vec::new(),
                })
                .partitions
                .push(PartitionInfo {
                    partition: p,
                    leader,
                    leader_epoch: 0,
                    replicas,
                    isr,
                    offline_replicas: Vec::new(),
                    error: None,
                });
        }
        m
    }

    #[test]
    fn set_throttles_give_both_rates_per_broker_and_both_lists_per_topic() {
        let t = Throttles {
            rates: vec![(1, 100_000), (3, 100_000)],
            topics: vec![TopicThrottle {
                topic: "orders".into(),
                leader: vec![(0, 1), (0, 2)],
                follower: vec![],
            }],
        };
        let calls = set_throttle_calls(&t);
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].0, ConfigResource::Broker(1));
        assert_eq!(calls[0].1[0].name, LEADER_RATE);
        assert_eq!(calls[0].1[0].op, AlterConfigOp::Set("100000".into()));
        assert_eq!(calls[0].1[1].name, FOLLOWER_RATE);
        assert_eq!(calls[2].0, ConfigResource::Topic("orders".into()));
        assert_eq!(calls[2].1[0].op, AlterConfigOp::Set("0:1,0:2".into()));
        assert_eq!(
            calls[2].1[1].op,
            AlterConfigOp::Delete,
            "empty list is deleted"
        );
    }

    #[test]
    fn clear_deletes_every_throttle_key() {
        let calls = clear_throttle_calls(&[1, 2], &["a".into()]);
        assert_eq!(calls.len(), 3);
        assert!(
            calls
                .iter()
                .all(|(_, ch)| ch.iter().all(|c| c.op == AlterConfigOp::Delete))
        );
        assert_eq!(calls[2].1[0].name, LEADER_REPLICAS);
        assert_eq!(calls[2].1[1].name, FOLLOWER_REPLICAS);
    }

    #[test]
    fn ongoing_reassignment_comes_from_the_list_and_health_from_metadata() {
        let m = meta(vec![
            ("t", 0, vec![3, 1, 2], vec![1, 2], Some(1)),
            ("t", 1, vec![1, 2], vec![1], None),
        ]);
        let ongoing = vec![OngoingReassignment {
            topic: "t".into(),
            partition: 0,
            replicas: vec![3, 1, 2],
            adding: vec![3],
            removing: vec![2],
        }];
        let mi = BTreeMap::from([("t".to_string(), 2u16)]);
        let obs = observations(&m, &ongoing, &mi, 1, &|_, _| Some(2));
        assert_eq!(obs.len(), 2);
        assert_eq!(obs[0].observed.adding, vec![3]);
        assert_eq!(obs[0].observed.removing, vec![2]);
        assert_eq!(obs[0].observed.min_isr, 2);
        assert!(obs[0].observed.in_flight());
        assert!(
            !obs[0].observed.unhealthy(),
            "ISR of 2 for 2 replicas heading to target"
        );
        assert_eq!(obs[1].observed.leader, None);
        assert!(obs[1].observed.unhealthy());
        assert!(obs[1].observed.below_min_isr());
    }

    #[test]
    fn a_stale_view_of_a_finished_move_is_left_out() {
        // The controller no longer lists the move; a broker still reports 4 replicas.
        let m = meta(vec![("t", 0, vec![3, 1, 2, 0], vec![3, 1, 2, 0], Some(1))]);
        let obs = observations(&m, &[], &BTreeMap::new(), 1, &|_, _| Some(3));
        assert!(obs.is_empty());
        let obs = observations(&m, &[], &BTreeMap::new(), 1, &|_, _| None);
        assert_eq!(
            obs.len(),
            1,
            "partitions outside the plan are always reported"
        );
    }

    proptest! {
        #[test]
        fn throttled_list_round_trips(pairs in proptest::collection::vec((0i32..10_000, 0i32..10_000), 0..50)) {
            let s = throttled_list(&pairs);
            prop_assert_eq!(parse_throttled_list(&s).unwrap(), Some(pairs));
        }

        #[test]
        fn parse_throttled_list_never_panics(s in ".{0,40}") {
            let _ = parse_throttled_list(&s);
        }

        #[test]
        fn alter_and_cancel_entries_keep_every_partition_once(
            moves in proptest::collection::vec(("[a-c]", 0i32..5, proptest::collection::vec(0i32..6, 1..4)), 0..10)
        ) {
            let ms: Vec<Move> = moves.iter().map(|(t, p, r)| Move { topic: t.clone(), partition: *p, replicas: r.clone() }).collect();
            let e = alter_entries(&ms);
            prop_assert_eq!(e.len(), ms.len());
            for (m, (t, p, r)) in ms.iter().zip(&e) {
                prop_assert_eq!(&m.topic, t);
                prop_assert_eq!(m.partition, *p);
                prop_assert_eq!(Some(&m.replicas), r.as_ref());
            }
            let parts: Vec<(String, i32)> = ms.iter().map(|m| (m.topic.clone(), m.partition)).collect();
            prop_assert!(cancel_entries(&parts).iter().all(|(_, _, r)| r.is_none()));
            let grouped = group_partitions(&parts);
            let n: usize = grouped.iter().map(|(_, ps)| ps.len()).sum();
            prop_assert_eq!(n, parts.len());
        }

        #[test]
        fn observed_partitions_match_metadata_outside_moves(
            parts in proptest::collection::vec((0i32..8, proptest::collection::btree_set(0i32..5, 1..4), any::<bool>()), 0..8)
        ) {
            let mut seen = std::collections::BTreeSet::new();
            let mut rows = Vec::new();
            for (p, reps, leaderless) in parts {
                if !seen.insert(p) { continue; }
                let r: Vec<i32> = reps.into_iter().collect();
                let leader = if leaderless { None } else { Some(r[0]) };
                rows.push(("t", p, r.clone(), r, leader));
            }
            let m = meta(rows.clone());
            let obs = observations(&m, &[], &BTreeMap::new(), 1, &|_, _| None);
            prop_assert_eq!(obs.len(), rows.len());
            for (o, (_, p, r, isr, leader)) in obs.iter().zip(&rows) {
                prop_assert_eq!(o.partition, *p);
                prop_assert_eq!(&o.observed.replicas, r);
                prop_assert_eq!(&o.observed.isr, isr);
                prop_assert_eq!(o.observed.leader, *leader);
                prop_assert!(!o.observed.in_flight());
            }
        }
    }
}
