//! `KafkaClient::metadata`, `KafkaClient::refresh_routing` and
//! `KafkaClient::describe_log_dirs` against an in-process fake broker whose answers describe
//! a large cluster (pre-encoded once; only the correlation id is patched per request), so the
//! figure is the client's own cost: socket read, framing, decoding and keel's typed
//! conversion; and `MetadataReader` alone over the same Metadata body in memory.

// Bench set-up: a failure here is a bench bug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, DescribeLogDirsRequest,
    DescribeLogDirsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::client::{ClientConfig, KafkaClient, MetadataReader};
use keel_wire::frame::{FrameDecoder, decode_request_frame, encode_response_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOPICS: usize = 1_000;
const PARTITIONS: usize = 100;

fn metadata_body(port: u16) -> MetadataResponse {
    let brokers = (0..3)
        .map(|id| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(i32::from(port))
                .with_rack(Some(StrBytes::from_string(format!("r{id}"))))
        })
        .collect();
    let topics = (0..TOPICS)
        .map(|t| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(format!(
                    "topic-{t:05}"
                )))))
                .with_partitions(
                    (0..PARTITIONS)
                        .map(|p| {
                            let r: Vec<BrokerId> =
                                (0..3).map(|i| BrokerId(((p + i) % 3) as i32)).collect();
                            MetadataResponsePartition::default()
                                .with_partition_index(p as i32)
                                .with_leader_id(r[0])
                                .with_leader_epoch(7)
                                .with_replica_nodes(r.clone())
                                .with_isr_nodes(r)
                        })
                        .collect(),
                )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_controller_id(BrokerId(0))
        .with_cluster_id(Some(StrBytes::from_static_str("bench")))
        .with_topics(topics)
}

fn log_dirs_body() -> DescribeLogDirsResponse {
    let topics = (0..TOPICS)
        .map(|t| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(format!("topic-{t:05}"))))
                .with_partitions(
                    (0..PARTITIONS)
                        .map(|p| {
                            DescribeLogDirsPartition::default()
                                .with_partition_index(p as i32)
                                .with_partition_size(1 << 30)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(vec![
        DescribeLogDirsResult::default()
            .with_log_dir(StrBytes::from_static_str("/data/kafka"))
            .with_total_bytes(1 << 40)
            .with_usable_bytes(1 << 39)
            .with_topics(topics),
    ])
}

/// A pre-encoded answer; `respond` patches in the correlation id.
struct Canned {
    version: i16,
    frame: Bytes,
}

fn respond(canned: &Canned, correlation_id: i32) -> Bytes {
    let mut out = BytesMut::from(&canned.frame[..]);
    out[4..8].copy_from_slice(&correlation_id.to_be_bytes());
    out.freeze()
}

/// One fake broker answering ApiVersions, Metadata and DescribeLogDirs with canned frames.
async fn fake_broker() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let api_keys = [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::DescribeLogDirs,
    ]
    .iter()
    .map(|k| {
        let r = k.valid_versions();
        let max = if *k == ApiKey::Metadata { 12 } else { r.max };
        ApiVersion::default()
            .with_api_key(*k as i16)
            .with_min_version(r.min)
            .with_max_version(max)
    })
    .collect();
    let versions = ApiVersionsResponse::default().with_api_keys(api_keys);
    let metadata = Arc::new(Canned {
        version: 12,
        frame: encode_response_frame::<MetadataRequest>(0, 12, &metadata_body(port)).unwrap(),
    });
    let log_dirs_version = ApiKey::DescribeLogDirs.valid_versions().max;
    let log_dirs = Arc::new(Canned {
        version: log_dirs_version,
        frame: encode_response_frame::<DescribeLogDirsRequest>(
            0,
            log_dirs_version,
            &log_dirs_body(),
        )
        .unwrap(),
    });
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (versions, metadata, log_dirs) =
                (versions.clone(), metadata.clone(), log_dirs.clone());
            tokio::spawn(async move {
                let mut decoder = FrameDecoder::new();
                let mut buf = vec![0u8; 65536];
                loop {
                    while let Ok(Some(frame)) = decoder.next_frame() {
                        let req = decode_request_frame(&frame).unwrap();
                        let h = &req.header;
                        let out = match ApiKey::try_from(h.request_api_key).unwrap() {
                            ApiKey::ApiVersions => encode_response_frame::<ApiVersionsRequest>(
                                h.correlation_id,
                                h.request_api_version,
                                &versions,
                            )
                            .unwrap(),
                            ApiKey::Metadata => {
                                assert_eq!(h.request_api_version, metadata.version);
                                respond(&metadata, h.correlation_id)
                            }
                            ApiKey::DescribeLogDirs => {
                                assert_eq!(h.request_api_version, log_dirs.version);
                                respond(&log_dirs, h.correlation_id)
                            }
                            other => panic!("unexpected {other:?}"),
                        };
                        socket.write_all(&out).await.unwrap();
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => decoder.push(&buf[..n]),
                    }
                }
            });
        }
    });
    port
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = rt.block_on(fake_broker());
    let client = rt
        .block_on(KafkaClient::connect(ClientConfig::new(&format!(
            "127.0.0.1:{port}"
        ))))
        .unwrap();
    let partitions = (TOPICS * PARTITIONS) as u64;
    let mut group = c.benchmark_group("client");
    group.sample_size(10);
    group.throughput(Throughput::Elements(partitions));
    group.bench_function("KafkaClient::metadata (100k partitions, RF 3)", |b| {
        b.iter(|| {
            let meta = rt.block_on(client.metadata(None)).unwrap();
            assert_eq!(meta.partition_count(), TOPICS * PARTITIONS);
            black_box(meta)
        })
    });
    group.bench_function(
        "KafkaClient::refresh_routing (100k partitions, RF 3)",
        |b| {
            b.iter(|| {
                let routing = rt.block_on(client.refresh_routing()).unwrap();
                assert_eq!(routing.partition_slots(), TOPICS * PARTITIONS);
                black_box(routing)
            })
        },
    );
    let body = encode_response_frame::<MetadataRequest>(0, 12, &metadata_body(port)).unwrap();
    // Length prefix (4) and response header v1 (correlation id 4 + empty tagged fields 1).
    let body = body.slice(9..);
    group.bench_function(
        "MetadataReader::next_partition (100k partitions, RF 3)",
        |b| {
            b.iter(|| {
                let (mut reader, _) = MetadataReader::new(&body, 12, 0).unwrap();
                let mut replicas = 0usize;
                while reader.next_topic().unwrap().is_some() {
                    while let Some(p) = reader.next_partition().unwrap() {
                        replicas += p.replicas.len();
                    }
                }
                reader.finish().unwrap();
                assert_eq!(replicas, TOPICS * PARTITIONS * 3);
                black_box(replicas)
            })
        },
    );
    group.bench_function("KafkaClient::describe_log_dirs (100k replicas)", |b| {
        b.iter(|| {
            let dirs = rt.block_on(client.describe_log_dirs(0, None)).unwrap();
            assert_eq!(dirs[0].replicas.len(), TOPICS * PARTITIONS);
            black_box(dirs)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
