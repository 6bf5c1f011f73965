//! `KafkaClient::delete_topics` against fake brokers: the names go on the wire in the field
//! of the negotiated version (`topics` entries from v6, `topic_names` before), per-topic
//! errors come back typed with the topic named, and NOT_CONTROLLER is retried on the new
//! controller.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "client_support/fake_broker.rs"]
mod fake_broker;

use std::sync::{Arc, Mutex};

use fake_broker::{Reply, answer, api_versions, default_apis, start};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::client::{ClientConfig, KafkaClient};
use keel_wire::frame::DecodedRequest;

/// (broker, request version, names as sent) of every DeleteTopics request.
type Seen = Arc<Mutex<Vec<(i32, i16, Vec<String>)>>>;

/// Brokers advertising DeleteTopics up to `max_version`; broker 0 is the controller until
/// it first answers NOT_CONTROLLER (when `move_controller`), then broker 1 is. Topic
/// `missing` is unknown, `locked` cannot be deleted, anything else is deleted.
fn handler(seen: Seen, max_version: i16, move_controller: bool) -> fake_broker::Handler {
    Arc::new(move |id, req: &DecodedRequest, state| {
        match req.api_key() {
            Some(ApiKey::ApiVersions) => {
                let mut keys = default_apis();
                keys.push(ApiKey::DeleteTopics);
                let mut versions = api_versions(req, &keys);
                if max_version < 6 {
                    // Re-encode with DeleteTopics capped at `max_version`.
                    use kafka_protocol::messages::api_versions_response::ApiVersion;
                    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
                    let api_keys = keys
                        .iter()
                        .map(|k| {
                            let r = k.valid_versions();
                            let max = if *k == ApiKey::DeleteTopics {
                                max_version
                            } else {
                                r.max
                            };
                            ApiVersion::default()
                                .with_api_key(*k as i16)
                                .with_min_version(r.min)
                                .with_max_version(max)
                        })
                        .collect();
                    versions = fake_broker::answer::<ApiVersionsRequest>(
                        req,
                        &ApiVersionsResponse::default().with_api_keys(api_keys),
                    );
                }
                Reply::Now(versions)
            }
            Some(ApiKey::Metadata) => Reply::Now(fake_broker::metadata(req, state)),
            Some(ApiKey::DescribeCluster) => Reply::Now(fake_broker::describe_cluster(req, state)),
            Some(ApiKey::DeleteTopics) => {
                let version = req.header.request_api_version;
                let body = req.body_as::<DeleteTopicsRequest>().unwrap();
                let names: Vec<String> = if version >= 6 {
                    assert!(
                        body.topic_names.is_empty(),
                        "v{version} names go in `topics`"
                    );
                    body.topics
                        .iter()
                        .map(|t| t.name.as_ref().unwrap().0.to_string())
                        .collect()
                } else {
                    assert!(body.topics.is_empty(), "v{version} has no `topics`");
                    body.topic_names.iter().map(|n| n.0.to_string()).collect()
                };
                assert!(body.timeout_ms > 0);
                seen.lock().unwrap().push((id, version, names.clone()));
                let not_controller = move_controller && id != 1;
                if not_controller {
                    state.lock().unwrap().controller = 1;
                }
                let responses = names
                    .iter()
                    .map(|n| {
                        let code = match n.as_str() {
                            _ if not_controller => ResponseError::NotController.code(),
                            "missing" => ResponseError::UnknownTopicOrPartition.code(),
                            "locked" => ResponseError::TopicDeletionDisabled.code(),
                            _ => 0,
                        };
                        DeletableTopicResult::default()
                            .with_name(Some(kafka_protocol::messages::TopicName(
                                StrBytes::from_string(n.clone()),
                            )))
                            .with_error_code(code)
                    })
                    .collect();
                Reply::Now(answer::<DeleteTopicsRequest>(
                    req,
                    &DeleteTopicsResponse::default().with_responses(responses),
                ))
            }
            _ => Reply::Close,
        }
    })
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn delete_topics_types_per_topic_outcomes_at_v6() {
    let seen: Seen = Arc::default();
    let cluster = start(2, handler(seen.clone(), 6, false)).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client
        .delete_topics(&names(&["orders", "missing", "locked"]))
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, 6, names(&["orders", "missing", "locked"]))]
    );
    let by_name: Vec<(&str, bool, bool)> = outcomes
        .iter()
        .map(|o| (o.name.as_str(), o.error.is_none(), o.gone()))
        .collect();
    assert_eq!(
        by_name,
        vec![
            ("orders", true, true),
            ("missing", false, true),
            ("locked", false, false)
        ]
    );
    let err = outcomes[2].error.as_ref().unwrap();
    assert!(
        matches!(
            err,
            WireError::Kafka {
                api: "DeleteTopics",
                error: ResponseError::TopicDeletionDisabled,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"locked\""), "{err}");
}

#[tokio::test]
async fn delete_topics_uses_topic_names_before_v6() {
    let seen: Seen = Arc::default();
    let cluster = start(1, handler(seen.clone(), 5, false)).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client.delete_topics(&names(&["a", "b"])).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(0, 5, names(&["a", "b"]))]);
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
}

#[tokio::test]
async fn delete_topics_retries_not_controller_on_the_new_controller() {
    let seen: Seen = Arc::default();
    let cluster = start(2, handler(seen.clone(), 6, true)).await;
    let client = KafkaClient::connect(ClientConfig::new(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client.delete_topics(&names(&["x"])).await.unwrap();
    assert!(outcomes[0].error.is_none(), "{outcomes:?}");
    let brokers: Vec<i32> = seen.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(
        brokers,
        vec![0, 1],
        "first the old controller, then the new one"
    );
}
