//! The simulator's request decode path on untrusted bytes: the allocation guard refuses
//! impossible array lengths, arbitrary bytes never panic, and every request a real client
//! encodes (every served API, every advertised version, with populated arrays) passes the
//! guard and decodes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use keel::sim_cluster::dispatch::decode_request;
use keel::sim_cluster::guard::{SERVED, advertised};
use keel_wire::frame::{Frame, encode_request_frame, request_header};
use proptest::prelude::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn t(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Encodes `body` at `version` as a frame (without its length prefix).
fn frame<R: Request>(version: i16, body: &R) -> Frame {
    let header = request_header::<R>(version, 7, Some("test"));
    let wire = encode_request_frame(&header, body).unwrap();
    Frame::new(wire.slice(4..))
}

/// One populated request per served API (arrays with elements, nested arrays, nulls).
fn populated(key: ApiKey, v: i16) -> Frame {
    use kafka_protocol::messages::{
        alter_client_quotas_request as acq, alter_partition_reassignments_request as apr,
        create_topics_request as ct, describe_client_quotas_request as dcq,
        describe_configs_request as dc, describe_log_dirs_request as dld,
        elect_leaders_request as el, fetch_request as f, incremental_alter_configs_request as iac,
        list_offsets_request as lo, list_partition_reassignments_request as lpr,
        metadata_request as m, produce_request as p,
    };
    match key {
        ApiKey::ApiVersions => frame(
            v,
            &ApiVersionsRequest::default()
                .with_client_software_name(s("keel"))
                .with_client_software_version(s("1")),
        ),
        ApiKey::Metadata => frame(
            v,
            &MetadataRequest::default().with_topics(Some(vec![
                m::MetadataRequestTopic::default().with_name(Some(t("orders"))),
                m::MetadataRequestTopic::default().with_name(Some(t("b"))),
            ])),
        ),
        ApiKey::Produce => frame(
            v,
            &ProduceRequest::default()
                .with_acks(-1)
                .with_transactional_id(None)
                .with_topic_data(vec![
                    p::TopicProduceData::default()
                        .with_name(t("orders"))
                        .with_partition_data(vec![
                            p::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(Bytes::from_static(&[1, 2, 3]))),
                            p::PartitionProduceData::default().with_index(1),
                        ]),
                ]),
        ),
        ApiKey::Fetch => frame(
            v,
            &FetchRequest::default()
                .with_topics(vec![
                    f::FetchTopic::default()
                        .with_topic(t("o"))
                        .with_partitions(vec![
                            f::FetchPartition::default()
                                .with_partition(3)
                                .with_fetch_offset(9),
                        ]),
                ])
                .with_forgotten_topics_data(if v >= 7 {
                    vec![
                        f::ForgottenTopic::default()
                            .with_topic(t("x"))
                            .with_partitions(vec![1, 2]),
                    ]
                } else {
                    vec![]
                })
                .with_rack_id(s(if v >= 11 { "r1" } else { "" })),
        ),
        ApiKey::ListOffsets => frame(
            v,
            &ListOffsetsRequest::default().with_topics(vec![
                lo::ListOffsetsTopic::default()
                    .with_name(t("o"))
                    .with_partitions(vec![
                        lo::ListOffsetsPartition::default().with_timestamp(-1),
                        lo::ListOffsetsPartition::default().with_partition_index(2),
                    ]),
            ]),
        ),
        ApiKey::CreateTopics => frame(
            v,
            &CreateTopicsRequest::default().with_topics(vec![
                ct::CreatableTopic::default()
                    .with_name(t("new"))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_assignments(vec![
                        ct::CreatableReplicaAssignment::default()
                            .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
                    ])
                    .with_configs(vec![
                        ct::CreatableTopicConfig::default()
                            .with_name(s("cleanup.policy"))
                            .with_value(Some(s("compact"))),
                        ct::CreatableTopicConfig::default().with_name(s("x")),
                    ]),
            ]),
        ),
        ApiKey::DescribeConfigs => frame(
            v,
            &DescribeConfigsRequest::default().with_resources(vec![
                dc::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("1"))
                    .with_configuration_keys(Some(vec![s("a"), s("bb")])),
                dc::DescribeConfigsResource::default().with_resource_type(2),
            ]),
        ),
        ApiKey::IncrementalAlterConfigs => frame(
            v,
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                iac::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("o"))
                    .with_configs(vec![
                        iac::AlterableConfig::default()
                            .with_name(s("min.insync.replicas"))
                            .with_value(Some(s("2"))),
                        iac::AlterableConfig::default().with_config_operation(1),
                    ]),
            ]),
        ),
        ApiKey::AlterPartitionReassignments => frame(
            v,
            &AlterPartitionReassignmentsRequest::default().with_topics(vec![
                apr::ReassignableTopic::default()
                    .with_name(t("o"))
                    .with_partitions(vec![
                        apr::ReassignablePartition::default()
                            .with_replicas(Some(vec![BrokerId(1), BrokerId(2)])),
                        apr::ReassignablePartition::default().with_partition_index(1),
                    ]),
            ]),
        ),
        ApiKey::ListPartitionReassignments => frame(
            v,
            &ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
                lpr::ListPartitionReassignmentsTopics::default()
                    .with_name(t("o"))
                    .with_partition_indexes(vec![0, 5]),
            ])),
        ),
        ApiKey::ElectLeaders => frame(
            v,
            &ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                el::TopicPartitions::default()
                    .with_topic(t("o"))
                    .with_partitions(vec![0, 1, 2]),
            ])),
        ),
        ApiKey::DescribeLogDirs => frame(
            v,
            &DescribeLogDirsRequest::default().with_topics(Some(vec![
                dld::DescribableLogDirTopic::default()
                    .with_topic(t("o"))
                    .with_partitions(vec![4]),
            ])),
        ),
        ApiKey::DescribeClientQuotas => frame(
            v,
            &DescribeClientQuotasRequest::default().with_components(vec![
                dcq::ComponentData::default()
                    .with_entity_type(s("user"))
                    .with_match(Some(s("alice"))),
                dcq::ComponentData::default().with_entity_type(s("client-id")),
            ]),
        ),
        ApiKey::AlterClientQuotas => frame(
            v,
            &AlterClientQuotasRequest::default().with_entries(vec![
                acq::EntryData::default()
                    .with_entity(vec![
                        acq::EntityData::default()
                            .with_entity_type(s("user"))
                            .with_entity_name(Some(s("alice"))),
                    ])
                    .with_ops(vec![
                        acq::OpData::default()
                            .with_key(s("producer_byte_rate"))
                            .with_value(1e6),
                    ]),
            ]),
        ),
        ApiKey::DescribeCluster => frame(v, &DescribeClusterRequest::default()),
        other => panic!("no populated request for {other:?}"),
    }
}

#[test]
fn every_served_request_version_passes_the_guard_and_decodes() {
    let mut checked = 0;
    for &key in SERVED {
        for v in advertised(key).unwrap() {
            let frame = populated(key, v);
            assert_eq!(decode_request(&frame), Ok(key), "{key:?} v{v} was refused");
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked}");
}

#[test]
fn truncated_requests_are_refused() {
    for &key in SERVED {
        for v in advertised(key).unwrap() {
            let frame = populated(key, v);
            let header_len = 8 + 2 + 4 + usize::from(key.request_header_version(v) >= 2);
            for cut in header_len..frame.payload.len() {
                let short = Frame::new(frame.payload.slice(..cut));
                assert!(
                    decode_request(&short).is_err(),
                    "{key:?} v{v} cut at {cut} of {} was accepted",
                    frame.payload.len()
                );
            }
        }
    }
}

/// librdkafka's Metadata v12 for all topics carries 3 bytes after the body; Kafka ignores
/// them, so the simulator does too.
#[test]
fn trailing_bytes_after_the_body_are_ignored() {
    let frame = frame(12, &MetadataRequest::default().with_topics(None));
    let mut bytes = frame.payload.to_vec();
    bytes.extend_from_slice(&[1, 0, 0]);
    assert_eq!(decode_request(&Frame::new(bytes)), Ok(ApiKey::Metadata));
}

/// A Metadata v1 request claiming 2^31 - 1 topics in 4 bytes.
#[test]
fn huge_claimed_array_is_refused_before_decoding() {
    let mut payload = vec![0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0xff];
    payload.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
    let err = decode_request(&Frame::new(payload)).unwrap_err();
    assert!(err.contains("claims 2147483647 elements"), "{err}");
    // ApiVersions v3 (flexible) claiming a huge compact string is refused too.
    let payload = vec![
        0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
    ];
    assert!(decode_request(&Frame::new(payload)).is_err());
}

#[test]
fn unsupported_versions_are_refused() {
    let frame = populated(ApiKey::Metadata, 12);
    let mut bytes = frame.payload.to_vec();
    bytes[3] = 13;
    assert!(decode_request(&Frame::new(bytes)).is_err());
}

/// A request header for a served API at an advertised version, then arbitrary body bytes.
fn header_then_body() -> impl Strategy<Value = Vec<u8>> {
    let pairs: Vec<(i16, i16)> = SERVED
        .iter()
        .flat_map(|&k| advertised(k).unwrap().map(move |v| (k as i16, v)))
        .collect();
    (
        proptest::sample::select(pairs),
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(
            prop_oneof![Just(0xffu8), Just(0x7f), Just(0x80), Just(1)],
            0..16,
        ),
    )
        .prop_map(|((key, version), body, noise)| {
            let mut out = Vec::new();
            out.extend_from_slice(&key.to_be_bytes());
            out.extend_from_slice(&version.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&(-1i16).to_be_bytes());
            let flexible = ApiKey::try_from(key)
                .unwrap()
                .request_header_version(version)
                >= 2;
            if flexible {
                out.push(0);
            }
            out.extend(noise);
            out.extend(body);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn sim_request_decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&Frame::new(bytes));
    }

    #[test]
    fn sim_request_decoding_arbitrary_bodies_never_panics(bytes in header_then_body()) {
        let _ = decode_request(&Frame::new(bytes));
    }

    #[test]
    fn sim_request_decoding_mutated_valid_requests_never_panics(
        pick in 0usize..1000,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let pairs: Vec<(ApiKey, i16)> = SERVED
            .iter()
            .flat_map(|&k| advertised(k).unwrap().map(move |v| (k, v)))
            .collect();
        let (key, v) = pairs[pick % pairs.len()];
        let mut bytes = populated(key, v).payload.to_vec();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            if i >= 8 {
                bytes[i] = b;
            }
        }
        let _ = decode_request(&Frame::new(bytes));
    }
}
