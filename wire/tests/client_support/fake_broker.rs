//! An in-process fake Kafka cluster for client tests: each broker is a tokio `TcpListener`
//! that decodes framed requests and answers through a test-supplied handler. The handler can
//! answer now, hold an answer until the next one is sent (out-of-order replies), stay silent
//! (timeouts) or close the connection (reconnects).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::{Message, Request, StrBytes};
use keel_wire::frame::{DecodedRequest, FrameDecoder, decode_request_frame, encode_response_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a broker does with one request.
pub enum Reply {
    /// Send this frame now (then any held frames).
    Now(Bytes),
    /// Hold this frame; it goes out right after the next `Now`.
    Later(Bytes),
    /// Never answer.
    Silent,
    /// Close the connection.
    Close,
}

/// Shared cluster state the default handlers read.
#[derive(Default)]
pub struct ClusterState {
    /// (id, port) of every broker.
    pub brokers: Vec<(i32, u16)>,
    /// topic -> partition -> leader.
    pub leaders: HashMap<String, Vec<i32>>,
    pub controller: i32,
}

pub type Handler =
    Arc<dyn Fn(i32, &DecodedRequest, &Arc<Mutex<ClusterState>>) -> Reply + Send + Sync>;

pub struct FakeCluster {
    pub state: Arc<Mutex<ClusterState>>,
    pub ports: Vec<u16>,
    /// Requests seen per (broker, api key).
    pub seen: Arc<Mutex<HashMap<(i32, i16), usize>>>,
    pub connections: Arc<AtomicUsize>,
}

impl FakeCluster {
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    pub fn seen(&self, broker: i32, key: ApiKey) -> usize {
        *self
            .seen
            .lock()
            .unwrap()
            .get(&(broker, key as i16))
            .unwrap_or(&0)
    }
}

/// Starts `n` brokers (ids 0..n) that all use `handler`.
pub async fn start(n: usize, handler: Handler) -> FakeCluster {
    start_with_tls(n, handler, None).await
}

/// Like [`start`], with every broker behind TLS when `tls` is given.
pub async fn start_with_tls(
    n: usize,
    handler: Handler,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> FakeCluster {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let state = Arc::new(Mutex::new(ClusterState {
        brokers: ports
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, *p))
            .collect(),
        leaders: HashMap::new(),
        controller: 0,
    }));
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    for (id, listener) in listeners.into_iter().enumerate() {
        let id = id as i32;
        let handler = handler.clone();
        let state = state.clone();
        let seen = seen.clone();
        let connections = connections.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let state = state.clone();
                let seen = seen.clone();
                match &tls {
                    None => {
                        tokio::spawn(serve(id, socket, handler, state, seen));
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            // A failed handshake just drops the connection, as a broker would.
                            if let Ok(stream) = acceptor.accept(socket).await {
                                serve(id, stream, handler, state, seen).await;
                            }
                        });
                    }
                }
            }
        });
    }
    FakeCluster {
        state,
        ports,
        seen,
        connections,
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    id: i32,
    mut socket: S,
    handler: Handler,
    state: Arc<Mutex<ClusterState>>,
    seen: Arc<Mutex<HashMap<(i32, i16), usize>>>,
) {
    let mut decoder = FrameDecoder::new();
    let mut held: Vec<Bytes> = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        while let Ok(Some(frame)) = decoder.next_frame() {
            let request = decode_request_frame(&frame).unwrap();
            *seen
                .lock()
                .unwrap()
                .entry((id, request.header.request_api_key))
                .or_default() += 1;
            match handler(id, &request, &state) {
                Reply::Now(bytes) => {
                    if socket.write_all(&bytes).await.is_err() {
                        return;
                    }
                    for h in held.drain(..) {
                        if socket.write_all(&h).await.is_err() {
                            return;
                        }
                    }
                    if socket.flush().await.is_err() {
                        return;
                    }
                }
                Reply::Later(bytes) => held.push(bytes),
                Reply::Silent => {}
                Reply::Close => return,
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => decoder.push(&buf[..n]),
        }
    }
}

/// Encodes the answer to `request` (same correlation id and version).
pub fn answer<R: Request>(request: &DecodedRequest, body: &R::Response) -> Bytes {
    encode_response_frame::<R>(
        request.header.correlation_id,
        request.header.request_api_version,
        body,
    )
    .unwrap()
}

/// An ApiVersions answer advertising every API in `keys` with the crate's full range.
pub fn api_versions(request: &DecodedRequest, keys: &[ApiKey]) -> Bytes {
    let api_keys = keys
        .iter()
        .map(|k| {
            let r = k.valid_versions();
            ApiVersion::default()
                .with_api_key(*k as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    answer::<ApiVersionsRequest>(
        request,
        &ApiVersionsResponse::default().with_api_keys(api_keys),
    )
}

/// The APIs the default fake broker advertises.
pub fn default_apis() -> Vec<ApiKey> {
    vec![
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::DescribeCluster,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::DescribeConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::DescribeLogDirs,
        ApiKey::CreateTopics,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ListPartitionReassignments,
        ApiKey::ElectLeaders,
        ApiKey::DescribeClientQuotas,
        ApiKey::AlterClientQuotas,
    ]
}

/// A Metadata answer from the shared state.
pub fn metadata(request: &DecodedRequest, state: &Arc<Mutex<ClusterState>>) -> Bytes {
    let _ = request.body_as::<MetadataRequest>().unwrap();
    let s = state.lock().unwrap();
    let brokers = s
        .brokers
        .iter()
        .map(|(id, port)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(*id))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(*port as i32)
                .with_rack(Some(StrBytes::from_string(format!("r{id}"))))
        })
        .collect();
    let topics = s
        .leaders
        .iter()
        .map(|(name, leaders)| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(p, leader)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p as i32)
                                .with_leader_id(BrokerId(*leader))
                                .with_replica_nodes(vec![BrokerId(*leader)])
                                .with_isr_nodes(vec![BrokerId(*leader)])
                        })
                        .collect(),
                )
        })
        .collect();
    answer::<MetadataRequest>(
        request,
        &MetadataResponse::default()
            .with_brokers(brokers)
            .with_controller_id(BrokerId(s.controller))
            .with_cluster_id(Some(StrBytes::from_static_str("fake")))
            .with_topics(topics),
    )
}

/// A DescribeCluster answer from the shared state.
pub fn describe_cluster(request: &DecodedRequest, state: &Arc<Mutex<ClusterState>>) -> Bytes {
    use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
    use kafka_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};
    let s = state.lock().unwrap();
    answer::<DescribeClusterRequest>(
        request,
        &DescribeClusterResponse::default()
            .with_cluster_id(StrBytes::from_static_str("fake"))
            .with_controller_id(BrokerId(s.controller))
            .with_brokers(
                s.brokers
                    .iter()
                    .map(|(id, port)| {
                        DescribeClusterBroker::default()
                            .with_broker_id(BrokerId(*id))
                            .with_host(StrBytes::from_static_str("127.0.0.1"))
                            .with_port(i32::from(*port))
                            .with_rack(Some(StrBytes::from_string(format!("r{id}"))))
                    })
                    .collect(),
            ),
    )
}

/// Answers ApiVersions, Metadata and (when advertised) DescribeCluster; `None` otherwise.
pub fn basics(
    request: &DecodedRequest,
    state: &Arc<Mutex<ClusterState>>,
    apis: &[ApiKey],
) -> Option<Bytes> {
    match request.api_key()? {
        ApiKey::ApiVersions => Some(api_versions(request, apis)),
        ApiKey::Metadata => Some(metadata(request, state)),
        ApiKey::DescribeCluster if apis.contains(&ApiKey::DescribeCluster) => {
            Some(describe_cluster(request, state))
        }
        _ => None,
    }
}

/// Checks that `R`'s versions are known; keeps the `Message` import used.
pub fn max_version<R: Message>() -> i16 {
    R::VERSIONS.max
}
