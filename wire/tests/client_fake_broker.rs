//! The Kafka client against in-process fake brokers: routing to leaders and the controller,
//! retries on NOT_LEADER_OR_FOLLOWER / NOT_CONTROLLER, timeouts, reconnects, pipelined
//! requests answered out of order, unsupported APIs, SASL PLAIN, and secrets kept out of
//! Debug output and errors.

// Test code: helpers outside #[test] fns unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "client_support/fake_broker.rs"]
mod fake_broker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_broker::{Handler, Reply, answer, basics, default_apis, start};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, ProduceRequest, ProduceResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::client::{
    ClientConfig, ConfigResource, KafkaClient, NewTopic, RetryPolicy, SaslConfig, SaslMechanism,
    Secret,
};
use keel_wire::frame::DecodedRequest;

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new(bootstrap);
    c.request_timeout = Duration::from_secs(5);
    c.retry = RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        jitter: 0.2,
    };
    c
}

fn produce_ok(request: &DecodedRequest, base_offset: i64) -> Bytes {
    produce_answer(request, 0, base_offset)
}

fn produce_answer(request: &DecodedRequest, code: i16, base_offset: i64) -> Bytes {
    let body = request.body_as::<ProduceRequest>().unwrap();
    let topic = &body.topic_data[0];
    let partition = topic.partition_data[0].index;
    answer::<ProduceRequest>(
        request,
        &ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(vec![
                    PartitionProduceResponse::default()
                        .with_index(partition)
                        .with_error_code(code)
                        .with_base_offset(base_offset),
                ]),
        ]),
    )
}

/// A DescribeConfigs answer with one config whose name is the resource name.
fn configs_answer(request: &DecodedRequest) -> Bytes {
    let body = request.body_as::<DescribeConfigsRequest>().unwrap();
    let resource = &body.resources[0];
    answer::<DescribeConfigsRequest>(
        request,
        &DescribeConfigsResponse::default().with_results(vec![
            DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_configs(vec![
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(format!(
                            "echo.{}",
                            resource.resource_name.as_str()
                        )))
                        .with_value(Some(StrBytes::from_static_str("1"))),
                ]),
        ]),
    )
}

fn handler(
    f: impl Fn(i32, &DecodedRequest, &Arc<Mutex<fake_broker::ClusterState>>) -> Reply
    + Send
    + Sync
    + 'static,
) -> Handler {
    Arc::new(f)
}

#[tokio::test]
async fn requests_are_routed_to_the_partition_leader() {
    let cluster = start(
        3,
        handler(|id, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            match req.api_key() {
                Some(ApiKey::Produce) => Reply::Now(produce_ok(req, i64::from(id) * 100)),
                _ => Reply::Close,
            }
        }),
    )
    .await;
    cluster
        .state
        .lock()
        .unwrap()
        .leaders
        .insert("t".into(), vec![1, 2]);
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let ack = client
        .produce("t", 1, Bytes::from_static(b"batch"))
        .await
        .unwrap();
    assert_eq!(ack.base_offset, 200, "partition 1 is led by broker 2");
    let ack = client
        .produce("t", 0, Bytes::from_static(b"batch"))
        .await
        .unwrap();
    assert_eq!(ack.base_offset, 100);
    assert_eq!(cluster.seen(0, ApiKey::Produce), 0);
    assert_eq!(cluster.seen(1, ApiKey::Produce), 1);
    assert_eq!(cluster.seen(2, ApiKey::Produce), 1);
}

#[tokio::test]
async fn not_leader_is_retried_on_the_new_leader_after_a_metadata_refresh() {
    let cluster = start(
        3,
        handler(|id, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            match (id, req.api_key()) {
                (1, Some(ApiKey::Produce)) => {
                    // Leadership moves to broker 2; the client must find out.
                    state.lock().unwrap().leaders.insert("t".into(), vec![2]);
                    Reply::Now(produce_answer(
                        req,
                        ResponseError::NotLeaderOrFollower.code(),
                        -1,
                    ))
                }
                (2, Some(ApiKey::Produce)) => Reply::Now(produce_ok(req, 42)),
                _ => Reply::Close,
            }
        }),
    )
    .await;
    cluster
        .state
        .lock()
        .unwrap()
        .leaders
        .insert("t".into(), vec![1]);
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let metadata_before: usize = (0..3).map(|b| cluster.seen(b, ApiKey::Metadata)).sum();
    let ack = client
        .produce("t", 0, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(ack.base_offset, 42);
    assert_eq!(cluster.seen(1, ApiKey::Produce), 1);
    assert_eq!(cluster.seen(2, ApiKey::Produce), 1);
    let metadata_after: usize = (0..3).map(|b| cluster.seen(b, ApiKey::Metadata)).sum();
    assert!(metadata_after > metadata_before, "metadata was refreshed");
}

#[tokio::test]
async fn not_leader_forever_gives_up_with_context() {
    let cluster = start(
        1,
        handler(|_, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            Reply::Now(produce_answer(
                req,
                ResponseError::NotLeaderOrFollower.code(),
                -1,
            ))
        }),
    )
    .await;
    cluster
        .state
        .lock()
        .unwrap()
        .leaders
        .insert("t".into(), vec![0]);
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let err = client
        .produce("t", 0, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            WireError::Kafka {
                error: ResponseError::NotLeaderOrFollower,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("broker 0") && text.contains("\"t\"") && text.contains("partition 0"),
        "{text}"
    );
    assert_eq!(cluster.seen(0, ApiKey::Produce), 5, "max_attempts requests");
}

#[tokio::test]
async fn a_silent_broker_times_out() {
    let cluster = start(
        1,
        handler(|_, req, state| match basics(req, state, &default_apis()) {
            Some(b) => Reply::Now(b),
            None => Reply::Silent,
        }),
    )
    .await;
    let mut cfg = config(&cluster.bootstrap());
    cfg.request_timeout = Duration::from_millis(200);
    cfg.retry.max_attempts = 2;
    let client = KafkaClient::connect(cfg).await.unwrap();
    let started = Instant::now();
    let err = client
        .describe_configs(&ConfigResource::Topic("t".into()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Timeout {
                api: "DescribeConfigs",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cluster.seen(0, ApiKey::DescribeConfigs), 2, "retried once");
}

#[tokio::test]
async fn a_dropped_connection_is_reconnected() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let cluster = start(
        1,
        handler(move |_, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            if d.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::Close
            } else {
                Reply::Now(configs_answer(req))
            }
        }),
    )
    .await;
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let entries = client
        .describe_configs(&ConfigResource::Topic("t".into()), None)
        .await
        .unwrap();
    assert_eq!(entries[0].name, "echo.t");
    assert_eq!(cluster.seen(0, ApiKey::DescribeConfigs), 2);
    assert!(
        cluster.connections.load(Ordering::SeqCst) >= 2,
        "reconnected"
    );
}

#[tokio::test]
async fn out_of_order_responses_reach_the_right_caller() {
    let cluster = start(
        1,
        handler(|_, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            let body = req.body_as::<DescribeConfigsRequest>().unwrap();
            let frame = configs_answer(req);
            if body.resources[0].resource_name.as_str() == "first" {
                Reply::Later(frame)
            } else {
                Reply::Now(frame)
            }
        }),
    )
    .await;
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let first = ConfigResource::Topic("first".into());
    let second = ConfigResource::Topic("second".into());
    let c1 = client.clone();
    let f1 = tokio::spawn(async move { c1.describe_configs(&first, None).await });
    // Make sure "first" is on the wire before "second".
    while cluster.seen(0, ApiKey::DescribeConfigs) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r2 = client.describe_configs(&second, None).await.unwrap();
    let r1 = f1.await.unwrap().unwrap();
    assert_eq!(r1[0].name, "echo.first");
    assert_eq!(r2[0].name, "echo.second");
    assert_eq!(
        cluster.connections.load(Ordering::SeqCst),
        1,
        "one pipelined connection"
    );
}

#[tokio::test]
async fn an_api_the_broker_does_not_advertise_is_unsupported() {
    let apis: Vec<ApiKey> = default_apis()
        .into_iter()
        .filter(|k| *k != ApiKey::DescribeLogDirs)
        .collect();
    let cluster = start(
        1,
        handler(move |_, req, state| match basics(req, state, &apis) {
            Some(b) => Reply::Now(b),
            None => Reply::Close,
        }),
    )
    .await;
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let err = client.describe_log_dirs(0, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Unsupported {
                api: "DescribeLogDirs",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(cluster.seen(0, ApiKey::DescribeLogDirs), 0, "never sent");
}

#[tokio::test]
async fn not_controller_is_retried_on_the_new_controller() {
    let cluster = start(
        3,
        handler(|id, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            match req.api_key() {
                Some(ApiKey::DescribeCluster) => {
                    Reply::Now(fake_broker::describe_cluster(req, state))
                }
                Some(ApiKey::CreateTopics) => {
                    let body = req.body_as::<CreateTopicsRequest>().unwrap();
                    let code = if id == 1 {
                        0
                    } else {
                        state.lock().unwrap().controller = 1;
                        ResponseError::NotController.code()
                    };
                    Reply::Now(answer::<CreateTopicsRequest>(
                        req,
                        &CreateTopicsResponse::default().with_topics(
                            body.topics
                                .iter()
                                .map(|t| {
                                    CreatableTopicResult::default()
                                        .with_name(t.name.clone())
                                        .with_error_code(code)
                                })
                                .collect(),
                        ),
                    ))
                }
                _ => Reply::Close,
            }
        }),
    )
    .await;
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let description = client.describe_cluster().await.unwrap();
    assert_eq!(description.controller_id, Some(0));
    assert_eq!(description.brokers.len(), 3);
    assert_eq!(description.brokers[2].rack.as_deref(), Some("r2"));
    let outcomes = client
        .create_topics(&[NewTopic::new("new", 3, 3)], false)
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    assert_eq!(cluster.seen(0, ApiKey::CreateTopics), 1);
    assert_eq!(cluster.seen(1, ApiKey::CreateTopics), 1);
}

#[tokio::test]
async fn per_item_errors_carry_topic_context() {
    let cluster = start(
        1,
        handler(|_, req, state| {
            if let Some(b) = basics(req, state, &default_apis()) {
                return Reply::Now(b);
            }
            match req.api_key() {
                Some(ApiKey::DescribeCluster) => {
                    Reply::Now(fake_broker::describe_cluster(req, state))
                }
                Some(ApiKey::CreateTopics) => {
                    let body = req.body_as::<CreateTopicsRequest>().unwrap();
                    Reply::Now(answer::<CreateTopicsRequest>(
                        req,
                        &CreateTopicsResponse::default().with_topics(
                            body.topics
                                .iter()
                                .map(|t| {
                                    CreatableTopicResult::default()
                                        .with_name(t.name.clone())
                                        .with_error_code(ResponseError::TopicAlreadyExists.code())
                                        .with_error_message(Some(StrBytes::from_static_str(
                                            "exists",
                                        )))
                                })
                                .collect(),
                        ),
                    ))
                }
                _ => Reply::Close,
            }
        }),
    )
    .await;
    let client = KafkaClient::connect(config(&cluster.bootstrap()))
        .await
        .unwrap();
    let outcomes = client
        .create_topics(&[NewTopic::new("dup", 1, 1)], false)
        .await
        .unwrap();
    assert!(outcomes[0].exists());
    let text = outcomes[0].error.as_ref().unwrap().to_string();
    assert!(
        text.contains("CreateTopics")
            && text.contains("\"dup\"")
            && text.contains("TopicAlreadyExists")
            && text.contains("exists"),
        "{text}"
    );
    let _ = TopicName(StrBytes::from_static_str("unused"));
}

fn sasl_handler(seen_token: Arc<Mutex<Vec<u8>>>, accept: bool) -> Handler {
    handler(move |_, req, state| {
        let mut apis = default_apis();
        apis.push(ApiKey::SaslHandshake);
        apis.push(ApiKey::SaslAuthenticate);
        if let Some(b) = basics(req, state, &apis) {
            return Reply::Now(b);
        }
        match req.api_key() {
            Some(ApiKey::SaslHandshake) => {
                let body = req.body_as::<SaslHandshakeRequest>().unwrap();
                let code = if body.mechanism.as_str() == "PLAIN" {
                    0
                } else {
                    33
                };
                Reply::Now(answer::<SaslHandshakeRequest>(
                    req,
                    &SaslHandshakeResponse::default()
                        .with_error_code(code)
                        .with_mechanisms(vec![StrBytes::from_static_str("PLAIN")]),
                ))
            }
            Some(ApiKey::SaslAuthenticate) => {
                let body = req.body_as::<SaslAuthenticateRequest>().unwrap();
                *seen_token.lock().unwrap() = body.auth_bytes.to_vec();
                let response = if accept {
                    SaslAuthenticateResponse::default()
                } else {
                    SaslAuthenticateResponse::default()
                        .with_error_code(58)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Invalid username or password",
                        )))
                };
                Reply::Now(answer::<SaslAuthenticateRequest>(req, &response))
            }
            _ => Reply::Close,
        }
    })
}

#[tokio::test]
async fn sasl_plain_sends_the_rfc4616_token() {
    let token = Arc::new(Mutex::new(Vec::new()));
    let cluster = start(1, sasl_handler(token.clone(), true)).await;
    let mut cfg = config(&cluster.bootstrap());
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::Plain,
        username: "alice".into(),
        password: Secret::new("wonderland"),
    });
    let client = KafkaClient::connect(cfg).await.unwrap();
    assert_eq!(token.lock().unwrap().as_slice(), b"\0alice\0wonderland");
    assert_eq!(client.cluster_metadata().await.unwrap().brokers.len(), 1);
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output_or_errors() {
    let password = "pa55-do-not-print";
    let token = Arc::new(Mutex::new(Vec::new()));
    let cluster = start(1, sasl_handler(token, false)).await;
    let mut cfg = config(&cluster.bootstrap());
    cfg.retry.max_attempts = 1;
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::Plain,
        username: "alice".into(),
        password: Secret::new(password),
    });
    let debug = format!("{cfg:?}");
    assert!(!debug.contains(password), "{debug}");
    assert!(debug.contains("***"), "{debug}");
    let client = KafkaClient::new(cfg).unwrap();
    assert!(!format!("{client:?}").contains(password));
    let err = client.refresh_metadata().await.unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Auth {
                mechanism: "PLAIN",
                ..
            }
        ),
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("Invalid username or password"), "{text}");
    assert!(!text.contains(password), "{text}");

    // SCRAM is refused by this broker: the error lists what it enables, not the password.
    let token = Arc::new(Mutex::new(Vec::new()));
    let cluster = start(1, sasl_handler(token, true)).await;
    let mut cfg = config(&cluster.bootstrap());
    cfg.retry.max_attempts = 1;
    cfg.sasl = Some(SaslConfig {
        mechanism: SaslMechanism::ScramSha512,
        username: "alice".into(),
        password: Secret::new(password),
    });
    let err = KafkaClient::connect(cfg).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("PLAIN") && !text.contains(password), "{text}");
}

#[tokio::test]
async fn an_unreachable_bootstrap_is_one_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut cfg = config(&format!("127.0.0.1:{port}"));
    cfg.retry.max_attempts = 2;
    let err = KafkaClient::connect(cfg).await.unwrap_err();
    assert!(
        matches!(err, WireError::Network { op: "connect", .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    let bad = KafkaClient::new(ClientConfig::new("no-port-here")).unwrap_err();
    assert!(bad.to_string().contains("bootstrap"), "{bad}");
}

/// (partition, leader, replicas) of one partition a walk showed.
type WalkedPartition = (i32, i32, Vec<i32>);

/// Records what a Metadata walk shows: totals, then topics with their partition count.
#[derive(Default)]
struct Walked {
    totals: Option<(usize, usize, usize)>,
    topics: Vec<(String, usize, Vec<WalkedPartition>)>,
}

impl keel_wire::client::MetadataVisitor for Walked {
    fn totals(&mut self, topics: usize, partitions: usize, replicas: usize) {
        assert!(self.topics.is_empty(), "totals come before the first topic");
        self.totals = Some((topics, partitions, replicas));
    }
    fn topic(&mut self, t: &keel_wire::client::TopicHead<'_>) {
        self.topics
            .push((t.name.unwrap().to_owned(), t.partitions, Vec::new()));
    }
    fn partition(&mut self, p: &keel_wire::client::PartitionEntry<'_>) {
        let replicas = p.replicas.iter().collect();
        self.topics
            .last_mut()
            .unwrap()
            .2
            .push((p.partition, p.leader, replicas));
    }
}

#[tokio::test]
async fn walk_metadata_visits_every_partition_and_fills_the_routing_cache() {
    let cluster = start(
        3,
        handler(|_, req, state| match basics(req, state, &default_apis()) {
            Some(b) => Reply::Now(b),
            None => Reply::Close,
        }),
    )
    .await;
    {
        let mut s = cluster.state.lock().unwrap();
        s.leaders.insert("a".into(), vec![0, 1, 2]);
        s.leaders.insert("b".into(), vec![2]);
    }
    let metadata_requests = || -> usize { (0..3).map(|b| cluster.seen(b, ApiKey::Metadata)).sum() };
    let client = KafkaClient::new(config(&cluster.bootstrap())).unwrap();
    let mut walked = Walked::default();
    let head = client.walk_metadata(&mut walked).await.unwrap();
    assert_eq!(
        head.brokers.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(head.brokers[&2].rack.as_deref(), Some("r2"));
    assert_eq!(head.cluster_id.as_deref(), Some("fake"));
    assert_eq!(walked.totals, Some((2, 4, 4)));
    walked.topics.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        walked.topics,
        vec![
            (
                "a".to_owned(),
                3,
                vec![(0, 0, vec![0]), (1, 1, vec![1]), (2, 2, vec![2])]
            ),
            ("b".to_owned(), 1, vec![(0, 2, vec![2])]),
        ]
    );
    assert_eq!(metadata_requests(), 1);

    // The walk filled the routing cache: routing needs no second Metadata request.
    let routing = client.routing().await.unwrap();
    assert_eq!(routing.leader_of("a", 1).unwrap(), 1);
    assert_eq!(routing.leader_of("b", 0).unwrap(), 2);
    assert!(routing.leader_of("b", 1).is_err());
    assert_eq!(routing.partition_slots(), 4);
    assert_eq!(metadata_requests(), 1);

    // Full metadata is fetched on demand and shared while a caller holds it...
    let full = client.cluster_metadata().await.unwrap();
    assert_eq!(full.partition_count(), 4);
    assert_eq!(full.partition("a", 2).unwrap().replicas, vec![2]);
    assert_eq!(metadata_requests(), 2);
    let again = client.cluster_metadata().await.unwrap();
    assert!(Arc::ptr_eq(&full, &again));
    assert_eq!(metadata_requests(), 2);
    // ...and not kept by the client once nobody holds it.
    drop((full, again));
    let fresh = client.cluster_metadata().await.unwrap();
    assert_eq!(fresh.partition_count(), 4);
    assert_eq!(metadata_requests(), 3);
}
