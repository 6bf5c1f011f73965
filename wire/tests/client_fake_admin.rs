//! Admin operations against fake brokers, checking what goes on the wire and how answers
//! are typed: reassignment cancel (null replicas), ListPartitionReassignments, preferred
//! election with ELECTION_NOT_NEEDED, and per-broker DescribeLogDirs capability flags.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "client_support/fake_broker.rs"]
mod fake_broker;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fake_broker::{Reply, answer, basics, default_apis, start};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    DescribeLogDirsRequest, DescribeLogDirsResponse, ElectLeadersRequest, ElectLeadersResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::client::{ClientConfig, KafkaClient, first_error};
use keel_wire::frame::DecodedRequest;

type Seen = Arc<Mutex<Vec<(String, i32, Option<Vec<i32>>)>>>;

fn admin_handler(seen: Seen) -> fake_broker::Handler {
    Arc::new(move |id, req: &DecodedRequest, state| {
        let apis: Vec<ApiKey> = default_apis()
            .into_iter()
            .filter(|k| id != 2 || *k != ApiKey::DescribeLogDirs)
            .collect();
        if let Some(b) = basics(req, state, &apis) {
            return Reply::Now(b);
        }
        match req.api_key() {
            Some(ApiKey::AlterPartitionReassignments) => {
                let body = req.body_as::<AlterPartitionReassignmentsRequest>().unwrap();
                let mut topics = Vec::new();
                for t in &body.topics {
                    let mut partitions = Vec::new();
                    for p in &t.partitions {
                        seen.lock().unwrap().push((
                            t.name.0.to_string(),
                            p.partition_index,
                            p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
                        ));
                        let code = if p.replicas.is_none() {
                            ResponseError::NoReassignmentInProgress.code()
                        } else {
                            0
                        };
                        partitions.push(
                            ReassignablePartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code),
                        );
                    }
                    topics.push(
                        ReassignableTopicResponse::default()
                            .with_name(t.name.clone())
                            .with_partitions(partitions),
                    );
                }
                Reply::Now(answer::<AlterPartitionReassignmentsRequest>(
                    req,
                    &AlterPartitionReassignmentsResponse::default().with_responses(topics),
                ))
            }
            Some(ApiKey::ListPartitionReassignments) => {
                let _ = req.body_as::<ListPartitionReassignmentsRequest>().unwrap();
                Reply::Now(answer::<ListPartitionReassignmentsRequest>(
                    req,
                    &ListPartitionReassignmentsResponse::default().with_topics(vec![
                        OngoingTopicReassignment::default()
                            .with_name(kafka_protocol::messages::TopicName(
                                StrBytes::from_static_str("t"),
                            ))
                            .with_partitions(vec![
                                OngoingPartitionReassignment::default()
                                    .with_partition_index(3)
                                    .with_replicas(vec![BrokerId(0), BrokerId(1), BrokerId(2)])
                                    .with_adding_replicas(vec![BrokerId(2)])
                                    .with_removing_replicas(vec![BrokerId(0)]),
                            ]),
                    ]),
                ))
            }
            Some(ApiKey::ElectLeaders) => {
                let body = req.body_as::<ElectLeadersRequest>().unwrap();
                assert_eq!(body.election_type, 0, "preferred election");
                let results = body
                    .topic_partitions
                    .unwrap()
                    .iter()
                    .map(|t| {
                        ReplicaElectionResult::default()
                            .with_topic(t.topic.clone())
                            .with_partition_result(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        let code = match p {
                                            0 => 0,
                                            1 => ResponseError::ElectionNotNeeded.code(),
                                            _ => ResponseError::PreferredLeaderNotAvailable.code(),
                                        };
                                        PartitionResult::default()
                                            .with_partition_id(*p)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                Reply::Now(answer::<ElectLeadersRequest>(
                    req,
                    &ElectLeadersResponse::default().with_replica_election_results(results),
                ))
            }
            Some(ApiKey::DescribeLogDirs) => {
                let _ = req.body_as::<DescribeLogDirsRequest>().unwrap();
                Reply::Now(answer::<DescribeLogDirsRequest>(
                    req,
                    &DescribeLogDirsResponse::default().with_results(vec![
                        DescribeLogDirsResult::default()
                            .with_log_dir(StrBytes::from_string(format!("/data/b{id}")))
                            .with_total_bytes(1000)
                            .with_usable_bytes(400)
                            .with_topics(vec![
                                DescribeLogDirsTopic::default()
                                    .with_name(kafka_protocol::messages::TopicName(
                                        StrBytes::from_static_str("t"),
                                    ))
                                    .with_partitions(vec![
                                        DescribeLogDirsPartition::default()
                                            .with_partition_index(0)
                                            .with_partition_size(123 + i64::from(id)),
                                    ]),
                            ]),
                    ]),
                ))
            }
            _ => Reply::Close,
        }
    })
}

#[tokio::test]
async fn reassignment_cancel_sends_null_replicas_and_reports_per_partition_errors() {
    let seen: Seen = Arc::default();
    let cluster = start(3, admin_handler(seen.clone())).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client
        .alter_partition_reassignments(&[("t".into(), 0, Some(vec![2, 1])), ("t".into(), 1, None)])
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("t".into(), 0, Some(vec![2, 1])), ("t".into(), 1, None)]
    );
    assert!(outcomes[0].error.is_none());
    let err = outcomes[1].error.as_ref().unwrap();
    assert!(
        matches!(
            err,
            WireError::Kafka {
                error: ResponseError::NoReassignmentInProgress,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("partition 1"), "{err}");
    assert!(first_error(outcomes).is_err());
}

#[tokio::test]
async fn ongoing_reassignments_are_typed() {
    let cluster = start(1, admin_handler(Arc::default())).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let ongoing = client.list_partition_reassignments(None).await.unwrap();
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0].topic, "t");
    assert_eq!(ongoing[0].partition, 3);
    assert_eq!(ongoing[0].replicas, vec![0, 1, 2]);
    assert_eq!(ongoing[0].adding, vec![2]);
    assert_eq!(ongoing[0].removing, vec![0]);
}

#[tokio::test]
async fn preferred_election_treats_not_needed_as_success() {
    let cluster = start(1, admin_handler(Arc::default())).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client
        .elect_preferred_leaders(Some(&[("t".to_string(), vec![0, 1, 2])]))
        .await
        .unwrap();
    assert!(outcomes[0].error.is_none());
    assert!(outcomes[1].error.is_none(), "ELECTION_NOT_NEEDED is fine");
    assert!(matches!(
        outcomes[2].error,
        Some(WireError::Kafka {
            error: ResponseError::PreferredLeaderNotAvailable,
            ..
        })
    ));
}

#[tokio::test]
async fn log_dirs_of_all_brokers_flag_the_one_without_the_api() {
    let cluster = start(3, admin_handler(Arc::default())).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let all = client.describe_all_log_dirs().await.unwrap();
    assert_eq!(all.len(), 3);
    for broker in [0, 1] {
        let dirs = all[&broker].as_ref().unwrap();
        assert_eq!(dirs[0].path, format!("/data/b{broker}"));
        assert_eq!(dirs[0].replicas[0].size_bytes, 123 + i64::from(broker));
        assert_eq!(dirs[0].total_bytes, Some(1000));
        assert_eq!(dirs[0].usable_bytes, Some(400));
    }
    assert!(matches!(
        all[&2],
        Err(WireError::Unsupported {
            api: "DescribeLogDirs",
            ..
        })
    ));
    let _ = Bytes::new();
}
