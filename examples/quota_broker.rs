//! A minimal Kafka-protocol endpoint that embeds keel-quotas: how a Rust broker links keel's
//! per-tenant quotas.
//!
//! It answers ApiVersions, Metadata (one broker, any topic with one partition led by itself),
//! InitProducerId and Produce; produced data is accepted and discarded. Each connection
//! resolves its [`QuotaHandle`] once (from the request header's client-id) and records every
//! produce request's bytes; the response carries `throttle_time_ms`, and the broker stops
//! reading from the connection until the throttle ends (KIP-219 channel muting), so even a
//! client that ignores the throttle is held to the quota.
//!
//! ```sh
//! cargo run --example quota_broker -- 127.0.0.1:9092 2000000   # listen address, produce bytes/s
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // example: failing fast is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes, decode_request_header_from_buffer};
use keel_quotas::{
    CoarseClock, QuotaEntity, QuotaHandle, QuotaKind, QuotaRegistry, RegistryConfig,
    RequestIdentity, TenantResolver,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Versions this endpoint speaks.
const SUPPORTED: [(ApiKey, i16, i16); 4] = [
    (ApiKey::Produce, 3, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 4),
];

/// Shared broker state: the quota registry and the coarse clock the hot path reads.
#[derive(Debug)]
pub struct QuotaBroker {
    pub registry: QuotaRegistry,
    pub clock: CoarseClock,
    next_offset: AtomicI64,
}

impl QuotaBroker {
    /// A broker whose every client belongs to tenant `demo` with `produce_bytes_per_sec`.
    pub fn new(produce_bytes_per_sec: f64) -> anyhow::Result<Arc<Self>> {
        let registry = QuotaRegistry::new(
            RegistryConfig::default(),
            TenantResolver::new().default_tenant("demo"),
        )?;
        registry.set_quota(
            &QuotaEntity::Tenant("demo".into()),
            QuotaKind::Produce,
            produce_bytes_per_sec,
            0,
        )?;
        Ok(Arc::new(Self {
            registry,
            clock: CoarseClock::new(),
            next_offset: AtomicI64::new(0),
        }))
    }
}

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, broker: Arc<QuotaBroker>) -> anyhow::Result<()> {
    let port = listener.local_addr()?.port();
    // The coarse clock: one tick per millisecond, so request handlers never make a syscall for time.
    let ticker = broker.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(1));
        loop {
            iv.tick().await;
            ticker.clock.tick();
        }
    });
    loop {
        let (sock, _) = listener.accept().await?;
        sock.set_nodelay(true)?;
        let broker = broker.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(sock, broker, port).await {
                eprintln!("quota_broker: connection closed: {e:#}");
            }
        });
    }
}

async fn connection(
    mut sock: TcpStream,
    broker: Arc<QuotaBroker>,
    port: u16,
) -> anyhow::Result<()> {
    let mut handle: Option<QuotaHandle> = None;
    let mut muted_until = 0u64;
    loop {
        // KIP-219: a throttled channel is not read until its throttle has passed.
        let now = broker.clock.now();
        if muted_until > now {
            tokio::time::sleep(Duration::from_nanos(muted_until - now)).await;
        }
        let mut len = [0u8; 4];
        if sock.read_exact(&mut len).await.is_err() {
            return Ok(());
        }
        let len = i32::from_be_bytes(len);
        if !(4..=100 << 20).contains(&len) {
            bail!("bad frame length {len}");
        }
        let mut frame = vec![0u8; len as usize];
        sock.read_exact(&mut frame).await?;
        let mut buf = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut buf).context("request header")?;
        let key = ApiKey::try_from(header.request_api_key)
            .map_err(|_| anyhow::anyhow!("unknown api key"))?;
        let version = header.request_api_version;
        let mut out = BytesMut::new();
        match key {
            ApiKey::ApiVersions => {
                let mut resp = ApiVersionsResponse::default();
                resp.api_keys = SUPPORTED
                    .iter()
                    .map(|(k, min, max)| {
                        let mut v = ApiVersion::default();
                        v.api_key = *k as i16;
                        v.min_version = *min;
                        v.max_version = *max;
                        v
                    })
                    .collect();
                // Unsupported version: answer in v0 with UNSUPPORTED_VERSION, as Kafka does.
                let v = if version > 3 {
                    resp.error_code = 35;
                    0
                } else {
                    version
                };
                respond(&mut out, &header, key, v, &resp)?;
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(&mut buf, version)?;
                let mut b = MetadataResponseBroker::default();
                b.node_id = BrokerId(0);
                b.host = StrBytes::from_static_str("127.0.0.1");
                b.port = i32::from(port);
                let mut resp = MetadataResponse::default();
                resp.brokers = vec![b];
                resp.controller_id = BrokerId(0);
                resp.cluster_id = Some(StrBytes::from_static_str("keel-quota-demo"));
                resp.topics = req
                    .topics
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|t| t.name)
                    .map(|name| {
                        let mut p = MetadataResponsePartition::default();
                        p.leader_id = BrokerId(0);
                        p.replica_nodes = vec![BrokerId(0)];
                        p.isr_nodes = vec![BrokerId(0)];
                        let mut t = MetadataResponseTopic::default();
                        t.name = Some(name);
                        t.partitions = vec![p];
                        t
                    })
                    .collect();
                respond(&mut out, &header, key, version, &resp)?;
            }
            ApiKey::InitProducerId => {
                let mut resp = InitProducerIdResponse::default();
                resp.producer_id = kafka_protocol::messages::ProducerId(1000);
                respond(&mut out, &header, key, version, &resp)?;
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut buf, version)?;
                let now = broker.clock.now();
                let h = handle.get_or_insert_with(|| {
                    let client_id = header.client_id.as_deref().unwrap_or("");
                    let id = RequestIdentity {
                        principal: "",
                        client_id,
                    };
                    broker.registry.resolve(&id, QuotaKind::Produce, now)
                });
                let bytes: usize = req
                    .topic_data
                    .iter()
                    .flat_map(|t| &t.partition_data)
                    .map(|p| p.records.as_ref().map_or(0, Bytes::len))
                    .sum();
                let throttle = h.record(bytes as u64, now);
                muted_until = throttle.readable_at;
                if req.acks == 0 {
                    continue;
                }
                let mut resp = ProduceResponse::default();
                resp.throttle_time_ms =
                    i32::try_from(throttle.throttle_time_ms).unwrap_or(i32::MAX);
                resp.responses = req
                    .topic_data
                    .iter()
                    .map(|t| {
                        let mut tr = TopicProduceResponse::default();
                        tr.name = TopicName(t.name.0.clone());
                        tr.partition_responses = t
                            .partition_data
                            .iter()
                            .map(|p| {
                                let mut pr = PartitionProduceResponse::default();
                                pr.index = p.index;
                                pr.base_offset = broker.next_offset.fetch_add(1, Ordering::Relaxed);
                                pr.log_append_time_ms = -1;
                                pr
                            })
                            .collect();
                        tr
                    })
                    .collect();
                respond(&mut out, &header, key, version, &resp)?;
            }
            other => bail!("unsupported request {other:?}"),
        }
        sock.write_all(&out).await?;
    }
}

fn respond<M: Encodable>(
    out: &mut BytesMut,
    req: &RequestHeader,
    key: ApiKey,
    version: i16,
    body: &M,
) -> anyhow::Result<()> {
    let mut frame = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = req.correlation_id;
    header.encode(&mut frame, key.response_header_version(version))?;
    body.encode(&mut frame, version)?;
    out.put_i32(i32::try_from(frame.len())?);
    out.put_slice(&frame);
    let _ = out.remaining();
    Ok(())
}

#[allow(dead_code)] // also compiled into tests/quota_real_client.rs, which has its own main
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let rate: f64 = args
        .next()
        .map_or(Ok(2_000_000.0), |s| s.parse())
        .context("produce bytes/s")?;
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!(
        "quota_broker: listening on {}, tenant `demo` produce quota {rate} B/s",
        listener.local_addr()?
    );
    serve(listener, QuotaBroker::new(rate)?).await
}
