//! Tests of [`super::assemble`]: metadata layout, log-dir and offset folding, warnings, and
//! the invariant that whatever the cluster answers, the result is a valid snapshot.

use std::collections::{BTreeMap, BTreeSet};

use keel_balancer::BrokerState;
use keel_wire::client::{
    BrokerInfo, ClusterMetadata, LogDirInfo, PartitionInfo, ReplicaLogInfo, TopicInfo,
};
use proptest::prelude::*;

use super::assemble::{Draft, OffsetAnswer, OffsetGroup, Round};
use super::capacity::CapacityFile;
use super::json::write_snapshot;

fn broker(id: i32, rack: Option<&str>) -> BrokerInfo {
    BrokerInfo {
        id,
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        rack: rack.map(str::to_owned),
        fenced: false,
    }
}

fn partition(p: i32, leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
    PartitionInfo {
        partition: p,
        leader,
        leader_epoch: 0,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        offline_replicas: vec![],
        error: None,
    }
}

fn metadata(brokers: Vec<BrokerInfo>, topics: Vec<(&str, Vec<PartitionInfo>)>) -> ClusterMetadata {
    ClusterMetadata {
        cluster_id: Some("c".into()),
        controller_id: Some(0),
        brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| {
                (
                    name.to_owned(),
                    TopicInfo {
                        name: name.to_owned(),
                        topic_id: String::new(),
                        is_internal: false,
                        partitions,
                    },
                )
            })
            .collect(),
    }
}

fn three_racks() -> ClusterMetadata {
    metadata(
        vec![
            broker(0, Some("r0")),
            broker(1, Some("r1")),
            broker(2, Some("r2")),
        ],
        vec![
            (
                "orders",
                vec![
                    partition(0, Some(1), &[1, 2, 0], &[1, 2, 0]),
                    partition(1, Some(2), &[2, 0, 1], &[2, 0]),
                ],
            ),
            ("audit", vec![partition(0, None, &[0, 9], &[])]),
        ],
    )
}

fn dir(broker: i32, replicas: &[(&str, i32, i64)]) -> LogDirInfo {
    LogDirInfo {
        broker,
        path: format!("/data/{broker}"),
        error: None,
        replicas: replicas
            .iter()
            .map(|(t, p, size)| ReplicaLogInfo {
                topic: (*t).to_owned(),
                partition: *p,
                size_bytes: *size,
                offset_lag: 0,
                is_future: false,
            })
            .collect(),
        total_bytes: Some(1_000_000),
        usable_bytes: Some(500_000),
    }
}

/// Answers every partition of `group` with the offset in `offsets` (0 when absent).
fn answer(
    draft: &mut Draft,
    group: &mut OffsetGroup,
    round: Round,
    offsets: &BTreeMap<(String, i32), i64>,
    at: f64,
) {
    let keys: Vec<(String, i32)> = draft
        .group_keys(group)
        .map(|(t, p)| (t.to_owned(), p))
        .collect();
    let answers = keys.iter().map(|(t, p)| OffsetAnswer {
        topic: t,
        partition: *p,
        offset: Ok(offsets.get(&(t.clone(), *p)).copied().unwrap_or(0)),
    });
    draft.record_offsets(group, round, answers, at);
}

#[test]
fn metadata_layout_keeps_racks_leaders_and_marks_unknown_brokers_dead() {
    let draft = Draft::from_metadata(&three_racks(), None, 1.0);
    let (cluster, warnings) = draft.finish(&CapacityFile::default());
    let ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, [0, 1, 2, 9]);
    let racks: Vec<Option<&str>> = cluster.brokers.iter().map(|b| b.rack.as_deref()).collect();
    assert_eq!(racks, [Some("r0"), Some("r1"), Some("r2"), None]);
    assert_eq!(cluster.brokers[3].state, BrokerState::Dead);
    // Topics sorted by name: audit first.
    assert_eq!(cluster.topics, ["audit", "orders"]);
    let leader_id = |p: usize| cluster.brokers[cluster.partitions[p].leader as usize].id;
    assert_eq!(
        leader_id(0),
        0,
        "leaderless audit-0 falls back to replicas[0]"
    );
    assert_eq!(leader_id(1), 1);
    assert_eq!(leader_id(2), 2);
    let text: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
    let all = text.join("\n");
    assert!(all.contains("brokers 9 host replicas"), "{all}");
    assert!(
        all.contains("1 partitions have no live leader (e.g. audit-0)"),
        "{all}"
    );
    assert!(all.contains("2 partitions are under-replicated"), "{all}");
}

#[test]
fn describe_cluster_racks_and_fencing_win_over_metadata() {
    let mut fenced = broker(2, Some("r2-new"));
    fenced.fenced = true;
    let described = [broker(0, Some("r0")), broker(1, Some("r1")), fenced];
    let draft = Draft::from_metadata(&three_racks(), Some(&described), 1.0);
    let (cluster, warnings) = draft.finish(&CapacityFile::default());
    assert_eq!(cluster.brokers[2].rack.as_deref(), Some("r2-new"));
    assert_eq!(cluster.brokers[2].state, BrokerState::Dead);
    // orders-1 was led by the fenced broker: written with replicas[0] = 2 still, but noted.
    assert!(warnings.iter().any(|w| w.message.contains("fenced")));
}

#[test]
fn sizes_rates_and_fan_out_come_from_log_dirs_and_offsets() {
    let mut draft = Draft::from_metadata(&three_racks(), None, 3.0);
    draft.record_log_dirs(
        0,
        &[dir(
            0,
            &[
                ("orders", 0, 900),
                ("orders", 1, 2_000),
                ("audit", 0, 50),
                ("gone", 0, 7),
            ],
        )],
    );
    draft.record_log_dirs(1, &[dir(1, &[("orders", 0, 1_000), ("orders", 1, 1_990)])]);
    draft.record_log_dirs(2, &[dir(2, &[("orders", 0, 1_000)])]);
    let mut groups = draft.offset_groups(1);
    assert_eq!(groups.len(), 3, "one partition per group at max 1");
    let before: BTreeMap<(String, i32), i64> = [
        (("orders".into(), 0), 80),
        (("orders".into(), 1), 100),
        (("audit".into(), 0), 5),
    ]
    .into();
    let start: BTreeMap<(String, i32), i64> = [
        (("orders".into(), 0), 0),
        (("orders".into(), 1), 0),
        (("audit".into(), 0), 0),
    ]
    .into();
    let after: BTreeMap<(String, i32), i64> = [
        (("orders".into(), 0), 100),
        (("orders".into(), 1), 100),
        (("audit".into(), 0), 5),
    ]
    .into();
    for g in &mut groups {
        answer(&mut draft, g, Round::EndBefore, &before, 1.0);
        answer(&mut draft, g, Round::LogStart, &start, 1.5);
        answer(&mut draft, g, Round::EndAfter, &after, 3.0);
    }
    let capacity = CapacityFile::parse(
        "[default]\ncpu_cores = 4\n",
        false,
        std::path::Path::new("c.toml"),
    )
    .unwrap();
    let (cluster, warnings) = draft.finish(&capacity);
    let orders0 = &cluster.partitions[1];
    // Largest replica: 1000 bytes over 100 offsets = 10 B/offset, 20 offsets in 2 s.
    assert_eq!(orders0.size_bytes, 1_000);
    assert!(
        (orders0.bytes_in - 100.0).abs() < 1e-9,
        "{}",
        orders0.bytes_in
    );
    assert!(
        (orders0.bytes_out - 300.0).abs() < 1e-9,
        "{}",
        orders0.bytes_out
    );
    assert_eq!(cluster.partitions[2].size_bytes, 2_000);
    assert_eq!(cluster.partitions[2].bytes_in, 0.0);
    assert_eq!(cluster.partitions[0].size_bytes, 50);
    // Disk capacity from the log-dir volume; cpu from the file; network built in.
    assert_eq!(cluster.brokers[0].capacity[0], 1_000_000.0);
    assert_eq!(cluster.brokers[0].capacity[3], 4.0);
    let all: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        all.iter()
            .any(|w| w.contains("1 replicas in log dirs are not in the metadata")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|w| w.contains("network_in_bytes_per_sec")),
        "{all:?}"
    );
    assert!(!all.iter().any(|w| w.contains("cpu_cores")), "{all:?}");
}

#[test]
fn growth_without_size_is_a_warning_not_a_made_up_rate() {
    let mut draft = Draft::from_metadata(&three_racks(), None, 1.0);
    let mut groups = draft.offset_groups(100);
    let zero = BTreeMap::new();
    let grown: BTreeMap<(String, i32), i64> = [(("orders".into(), 0), 10)].into();
    for g in &mut groups {
        answer(&mut draft, g, Round::EndBefore, &zero, 0.0);
        answer(&mut draft, g, Round::LogStart, &zero, 0.0);
        answer(&mut draft, g, Round::EndAfter, &grown, 1.0);
    }
    let (cluster, warnings) = draft.finish(&CapacityFile::default());
    assert!(cluster.partitions.iter().all(|p| p.bytes_in == 0.0));
    assert!(warnings.iter().any(|w| {
        w.message
            .contains("1 partitions grew during the sample but have no size")
    }));
}

#[test]
fn failed_round_is_reported_per_group() {
    let mut draft = Draft::from_metadata(&three_racks(), None, 1.0);
    let groups = draft.offset_groups(100);
    draft.record_offsets_failed(&groups[0], Round::EndBefore, &"broker went away");
    let (_, warnings) = draft.finish(&CapacityFile::default());
    assert!(
        warnings
            .iter()
            .any(|w| w.api == Some("ListOffsets") && w.message.contains("broker went away"))
    );
}

fn arb_metadata() -> impl Strategy<Value = ClusterMetadata> {
    let brokers = proptest::collection::btree_set(0i32..12, 1..6);
    (
        brokers,
        proptest::collection::vec((0usize..4, 1usize..6, proptest::bool::ANY), 0..6),
    )
        .prop_flat_map(|(brokers, topics)| {
            let ids: Vec<i32> = brokers.iter().copied().collect();
            let parts = topics
                .iter()
                .map(|(_, n, _)| {
                    proptest::collection::vec(
                        (
                            proptest::collection::vec(0i32..14, 0..4),
                            proptest::option::of(0i32..14),
                        ),
                        *n,
                    )
                })
                .collect::<Vec<_>>();
            (Just(ids), Just(topics), parts)
        })
        .prop_map(|(ids, topics, parts)| {
            let brokers = ids
                .iter()
                .map(|&id| {
                    broker(
                        id,
                        if id % 3 == 0 {
                            None
                        } else {
                            Some(["a", "b"][(id % 2) as usize])
                        },
                    )
                })
                .collect();
            let topics = topics
                .iter()
                .zip(parts)
                .enumerate()
                .map(|(t, (_, ps))| {
                    let name: &'static str = ["t0", "t1", "t2", "t3", "t4", "t5"][t];
                    let partitions = ps
                        .into_iter()
                        .enumerate()
                        .map(|(p, (replicas, leader))| {
                            partition(p as i32, leader, &replicas, &replicas)
                        })
                        .collect();
                    (name, partitions)
                })
                .collect();
            metadata(brokers, topics)
        })
}

proptest! {
    #[test]
    fn assembled_snapshot_always_parses_as_a_valid_cluster(meta in arb_metadata(), max in 1usize..4) {
        let mut draft = Draft::from_metadata(&meta, None, 2.0);
        let groups = draft.offset_groups(max);
        // Every partition with a live leader is in exactly one group, led by its leader.
        let mut seen = BTreeSet::new();
        for g in &groups {
            prop_assert!(g.partitions.len() <= max);
            for &p in &g.partitions {
                prop_assert!(seen.insert(p));
                let part = &draft.cluster().partitions[p as usize];
                prop_assert_eq!(draft.cluster().brokers[part.leader as usize].id, g.leader);
            }
        }
        for (i, p) in draft.cluster().partitions.iter().enumerate() {
            let name = &draft.cluster().topics[p.topic as usize];
            prop_assert_eq!(draft.index_of(name, p.partition), Some(i));
        }
        draft.record_log_dirs(0, &[dir(0, &[("t0", 0, 10), ("t9", 0, 1)])]);
        let (cluster, _) = draft.finish(&CapacityFile::default());
        let mut bytes = Vec::new();
        write_snapshot(&cluster, &[], &mut bytes).unwrap();
        let back = keel_balancer::snapshot::parse_slice(&bytes);
        prop_assert!(back.is_ok(), "{:?}", back.err());
        // Topics without partitions are not in the text; everything else reads back as is.
        let mut again = Vec::new();
        write_snapshot(&back.unwrap(), &[], &mut again).unwrap();
        prop_assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(bytes).unwrap());
    }
}

#[test]
fn partition_error_answers_are_counted_with_an_example() {
    let mut draft = Draft::from_metadata(&three_racks(), None, 1.0);
    let mut groups = draft.offset_groups(100);
    let g = groups.iter_mut().find(|g| g.leader == 1).unwrap();
    let answers = [OffsetAnswer {
        topic: "orders",
        partition: 0,
        offset: Err(kafka_protocol::ResponseError::NotLeaderOrFollower),
    }];
    draft.record_offsets(g, Round::EndBefore, answers, 0.0);
    let (cluster, warnings) = draft.finish(&CapacityFile::default());
    assert_eq!(cluster.partitions[1].bytes_in, 0.0);
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("NotLeaderOrFollower on orders-0")),
        "{warnings:?}"
    );
}

/// Feeds `meta` to a [`Layout`] the way a broker may list it: topics and partitions in
/// reverse order.
fn laid_in_reverse(meta: &ClusterMetadata) -> super::layout::Laid {
    let mut layout = super::layout::Layout::new();
    for (name, t) in meta.topics.iter().rev() {
        layout.begin_topic(name);
        for p in t.partitions.iter().rev() {
            layout.push_partition(
                p.partition,
                p.leader,
                p.replicas.iter().copied(),
                p.isr.len(),
            );
        }
    }
    layout.finish(&meta.brokers, None)
}

proptest! {
    #[test]
    fn layout_does_not_depend_on_the_order_metadata_lists_topics_and_partitions(meta in arb_metadata()) {
        let sorted = Draft::from_metadata(&meta, None, 1.0);
        let laid = laid_in_reverse(&meta);
        prop_assert_eq!(shape(&laid.cluster), shape(sorted.cluster()));
        prop_assert_eq!(laid.warnings.len(), draft_warnings(sorted).len());
        let draft = Draft::from_layout(laid, 1.0);
        for (i, p) in draft.cluster().partitions.iter().enumerate() {
            let topic = &draft.cluster().topics[p.topic as usize];
            prop_assert_eq!(draft.index_of(topic, p.partition), Some(i));
        }
    }
}

type Shape = (
    Vec<keel_balancer::Broker>,
    Vec<String>,
    Vec<String>,
    Vec<(u32, i32, Vec<u32>, u32)>,
);

/// What a cluster says, without where in `replicas` each partition's list is stored.
fn shape(c: &keel_balancer::Cluster) -> Shape {
    let partitions = (0..c.partitions.len())
        .map(|i| {
            let p = &c.partitions[i];
            (p.topic, p.partition, c.replicas_of(i).to_vec(), p.leader)
        })
        .collect();
    (
        c.brokers.clone(),
        c.racks.clone(),
        c.topics.clone(),
        partitions,
    )
}

fn draft_warnings(draft: Draft) -> Vec<super::warning::Warning> {
    // Metadata's warnings only: no rates, capacities or log dirs are involved.
    draft
        .finish(&CapacityFile::default())
        .1
        .into_iter()
        .filter(|w| w.api == Some("Metadata") || w.api == Some("DescribeCluster"))
        .collect()
}

#[test]
fn layout_skips_topics_metadata_answered_with_an_error() {
    use keel_wire::client::{MetadataVisitor, PartitionEntry, TopicHead};
    let head = |name: &'static str, code: i16| TopicHead {
        error_code: code,
        name: Some(name),
        topic_id: [0; 16],
        is_internal: false,
        partitions: 1,
    };
    let empty = PartitionEntry {
        error_code: 0,
        partition: 0,
        leader: 0,
        leader_epoch: 0,
        replicas: Default::default(),
        isr: Default::default(),
        offline_replicas: Default::default(),
    };
    let mut layout = super::layout::Layout::new();
    layout.topic(&head("zeta", 0));
    layout.push_partition(1, Some(0), [0, 1, 1], 2);
    layout.push_partition(0, Some(5), [1, 0], 2);
    layout.topic(&head(
        "gone",
        kafka_protocol::ResponseError::UnknownTopicOrPartition.code(),
    ));
    layout.partition(&empty);
    layout.topic(&head(
        "busy",
        kafka_protocol::ResponseError::LeaderNotAvailable.code(),
    ));
    layout.partition(&empty);
    layout.topic(&head("alpha", 0));
    layout.push_partition(0, None, [1], 1);
    let laid = layout.finish(&three_racks().brokers, None);
    let c = &laid.cluster;
    assert_eq!(
        c.topics,
        vec!["alpha", "zeta"],
        "sorted; errored topics left out"
    );
    let rows: Vec<(u32, i32, Vec<i32>, i32)> = (0..c.partitions.len())
        .map(|i| {
            let p = &c.partitions[i];
            let ids = c
                .replicas_of(i)
                .iter()
                .map(|b| c.brokers[*b as usize].id)
                .collect();
            (p.topic, p.partition, ids, c.brokers[p.leader as usize].id)
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, 0, vec![1], 1),
            (1, 0, vec![1, 0], 1),
            (1, 1, vec![0, 1], 0),
        ],
        "partitions by topic then index, repeats dropped, leaderless -> replicas[0]"
    );
    assert_eq!(laid.topic_start, vec![0, 1, 3]);
    let text: Vec<String> = laid.warnings.iter().map(|w| w.message.clone()).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("1 topics left out") && m.contains("busy (LeaderNotAvailable)")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|m| m.contains("2 partitions have no live leader (e.g. alpha-0, zeta-0)")),
        "{text:?}"
    );
    assert!(!text.iter().any(|m| m.contains("gone")), "{text:?}");
    assert!(
        text.iter()
            .any(|m| m.contains("1 partitions are under-replicated")),
        "{text:?}"
    );
}
