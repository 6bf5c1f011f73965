//! `MetadataReader` against `kafka-protocol`'s own encoding of Metadata responses at every
//! version 0-13: what the reader reports equals what was encoded (brokers, cluster id,
//! controller, every topic and partition field the version carries), also when partitions
//! are skipped unread; every strict prefix of a body is an error; arbitrary bytes never
//! panic.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use keel_wire::client::MetadataReader;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Part {
    error_code: i16,
    index: i32,
    leader: i32,
    epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
}

#[derive(Debug, Clone)]
struct Topic {
    error_code: i16,
    name: Option<String>,
    id: [u8; 16],
    internal: bool,
    ops: i32,
    partitions: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Answer {
    version: i16,
    throttle: i32,
    brokers: Vec<(i32, String, i32, Option<String>)>,
    cluster_id: Option<String>,
    controller: i32,
    topics: Vec<Topic>,
    cluster_ops: i32,
    error_code: i16,
}

fn uuid_text(id: &[u8; 16]) -> String {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn ids() -> impl Strategy<Value = Vec<i32>> {
    prop::collection::vec(-1..300i32, 0..5)
}

fn part(version: i16) -> impl Strategy<Value = Part> {
    (
        any::<i16>(),
        0..100i32,
        -1..300i32,
        any::<i32>(),
        ids(),
        ids(),
        ids(),
    )
        .prop_map(
            move |(error_code, index, leader, epoch, replicas, isr, offline)| Part {
                error_code,
                index,
                leader,
                epoch: if version >= 7 { epoch } else { -1 },
                replicas,
                isr,
                offline: if version >= 5 { offline } else { Vec::new() },
            },
        )
}

fn topic(version: i16) -> impl Strategy<Value = Topic> {
    (
        any::<i16>(),
        prop::option::weighted(0.9, "[a-z._-]{1,12}|\u{e9}t\u{e9}"),
        any::<[u8; 16]>(),
        any::<bool>(),
        any::<i32>(),
        prop::collection::vec(part(version), 0..6),
    )
        .prop_map(
            move |(error_code, name, id, internal, ops, partitions)| Topic {
                error_code,
                // Only v12+ may leave the name null.
                name: if version >= 12 {
                    name
                } else {
                    Some(name.unwrap_or_else(|| "t".into()))
                },
                id: if version >= 10 { id } else { [0; 16] },
                internal: version >= 1 && internal,
                ops: if version >= 8 { ops } else { i32::MIN },
                partitions,
            },
        )
}

fn answer() -> impl Strategy<Value = Answer> {
    (0i16..=13).prop_flat_map(|version| {
        (
            any::<i32>(),
            prop::collection::vec(
                (
                    any::<i32>(),
                    "[a-z0-9.]{0,10}",
                    any::<i32>(),
                    prop::option::of("r[0-9]"),
                ),
                0..4,
            ),
            prop::option::of("[A-Za-z0-9]{0,8}"),
            any::<i32>(),
            prop::collection::vec(topic(version), 0..5),
            any::<i32>(),
            any::<i16>(),
        )
            .prop_map(
                move |(
                    throttle,
                    brokers,
                    cluster_id,
                    controller,
                    topics,
                    cluster_ops,
                    error_code,
                )| {
                    Answer {
                        version,
                        throttle: if version >= 3 { throttle } else { 0 },
                        brokers: brokers
                            .into_iter()
                            .map(|(id, host, port, rack)| {
                                (id, host, port, if version >= 1 { rack } else { None })
                            })
                            .collect(),
                        cluster_id: if version >= 2 { cluster_id } else { None },
                        controller: if version >= 1 { controller } else { -1 },
                        topics,
                        cluster_ops: if (8..=10).contains(&version) {
                            cluster_ops
                        } else {
                            i32::MIN
                        },
                        error_code: if version >= 13 { error_code } else { 0 },
                    }
                },
            )
    })
}

fn brokers(list: &[i32]) -> Vec<BrokerId> {
    list.iter().map(|b| BrokerId(*b)).collect()
}

fn encode(a: &Answer) -> Vec<u8> {
    let s = |v: &str| StrBytes::from_string(v.to_owned());
    let response = MetadataResponse::default()
        .with_throttle_time_ms(a.throttle)
        .with_brokers(
            a.brokers
                .iter()
                .map(|(id, host, port, rack)| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(*id))
                        .with_host(s(host))
                        .with_port(*port)
                        .with_rack(rack.as_deref().map(s))
                })
                .collect(),
        )
        .with_cluster_id(a.cluster_id.as_deref().map(s))
        .with_controller_id(BrokerId(a.controller))
        .with_topics(
            a.topics
                .iter()
                .map(|t| {
                    MetadataResponseTopic::default()
                        .with_error_code(t.error_code)
                        .with_name(t.name.as_deref().map(|n| TopicName(s(n))))
                        .with_topic_id(uuid_text(&t.id).parse().unwrap())
                        .with_is_internal(t.internal)
                        .with_topic_authorized_operations(t.ops)
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_error_code(p.error_code)
                                        .with_partition_index(p.index)
                                        .with_leader_id(BrokerId(p.leader))
                                        .with_leader_epoch(p.epoch)
                                        .with_replica_nodes(brokers(&p.replicas))
                                        .with_isr_nodes(brokers(&p.isr))
                                        .with_offline_replicas(brokers(&p.offline))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_cluster_authorized_operations(a.cluster_ops)
        .with_error_code(a.error_code);
    let mut buf = BytesMut::new();
    response.encode(&mut buf, a.version).unwrap();
    buf.to_vec()
}

/// Reads `body` fully, skipping the partitions of topics whose index is in `skip`; returns
/// the answer as read.
fn read(body: &[u8], version: i16, skip: &[bool]) -> keel_wire::Result<Answer> {
    let (mut reader, head) = MetadataReader::new(body, version, 0)?;
    let mut topics = Vec::new();
    while let Some(t) = reader.next_topic()? {
        let mut partitions = Vec::new();
        if !skip.get(topics.len()).copied().unwrap_or(false) {
            while let Some(p) = reader.next_partition()? {
                partitions.push(Part {
                    error_code: p.error_code,
                    index: p.partition,
                    leader: p.leader,
                    epoch: p.leader_epoch,
                    replicas: p.replicas.iter().collect(),
                    isr: p.isr.iter().collect(),
                    offline: p.offline_replicas.iter().collect(),
                });
            }
            assert_eq!(
                partitions.len(),
                t.partitions,
                "partition count as announced"
            );
        }
        topics.push(Topic {
            error_code: t.error_code,
            name: t.name.map(str::to_owned),
            id: t.topic_id,
            internal: t.is_internal,
            ops: 0,
            partitions,
        });
    }
    let error_code = reader.finish()?;
    Ok(Answer {
        version,
        throttle: head.throttle_time_ms,
        brokers: head
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id,
                    b.host.to_owned(),
                    b.port,
                    b.rack.map(str::to_owned),
                )
            })
            .collect(),
        cluster_id: head.cluster_id.map(str::to_owned),
        controller: head.controller_id,
        topics,
        cluster_ops: 0,
        error_code,
    })
}

fn assert_same(sent: &Answer, got: &Answer, skip: &[bool]) {
    assert_eq!(got.throttle, sent.throttle);
    assert_eq!(got.brokers, sent.brokers);
    assert_eq!(got.cluster_id, sent.cluster_id);
    assert_eq!(got.controller, sent.controller);
    assert_eq!(got.error_code, sent.error_code);
    assert_eq!(got.topics.len(), sent.topics.len());
    for (i, (g, s)) in got.topics.iter().zip(&sent.topics).enumerate() {
        assert_eq!(g.error_code, s.error_code);
        assert_eq!(g.name, s.name);
        assert_eq!(g.id, s.id);
        assert_eq!(g.internal, s.internal);
        if skip.get(i).copied().unwrap_or(false) {
            assert!(g.partitions.is_empty());
            continue;
        }
        assert_eq!(g.partitions.len(), s.partitions.len());
        for (gp, sp) in g.partitions.iter().zip(&s.partitions) {
            assert_eq!(
                (gp.error_code, gp.index, gp.leader, gp.epoch),
                (sp.error_code, sp.index, sp.leader, sp.epoch)
            );
            assert_eq!(gp.replicas, sp.replicas);
            assert_eq!(gp.isr, sp.isr);
            assert_eq!(gp.offline, sp.offline);
        }
    }
}

proptest! {
    #[test]
    fn reader_reports_what_kafka_protocol_encoded(
        a in answer(),
        skip in prop::collection::vec(any::<bool>(), 0..5),
    ) {
        let body = encode(&a);
        let got = read(&body, a.version, &[]).unwrap();
        assert_same(&a, &got, &[]);
        // Skipping partitions unread lands on the same following topics.
        let got = read(&body, a.version, &skip).unwrap();
        assert_same(&a, &got, &skip);
    }

    #[test]
    fn every_strict_prefix_of_a_body_is_an_error(a in answer(), cut in any::<prop::sample::Index>()) {
        let body = encode(&a);
        prop_assume!(!body.is_empty());
        let at = cut.index(body.len());
        let err = read(&body[..at], a.version, &[]).unwrap_err();
        prop_assert!(err.to_string().contains("Metadata response"), "{}", err);
        // Bytes after the body are refused too.
        let mut longer = body.clone();
        longer.push(0);
        prop_assert!(read(&longer, a.version, &[]).is_err());
    }

    #[test]
    fn metadata_reader_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        version in -1i16..=14,
        skip in prop::collection::vec(any::<bool>(), 0..4),
    ) {
        let _ = read(&bytes, version, &skip);
    }
}

#[test]
fn huge_claimed_lengths_are_errors_not_allocations() {
    // v9: throttle, brokers = compact array claiming 2^28 entries, then nothing.
    let body = [0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01];
    let err = read(&body, 9, &[]).unwrap_err();
    assert!(err.to_string().contains("broker node_id"), "{err}");
    // v1: no brokers, controller, topics claiming i32::MAX topics.
    let body = [0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
    let err = read(&body, 1, &[]).unwrap_err();
    assert!(err.to_string().contains("topic error_code"), "{err}");
    // A partition claiming 2^30 replicas.
    let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    body.extend_from_slice(&[0, 0, 0, 1, b't', 0, 0, 0, 0, 1]);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0]);
    let err = read(&body, 1, &[]).unwrap_err();
    assert!(err.to_string().contains("replica_nodes"), "{err}");
}
