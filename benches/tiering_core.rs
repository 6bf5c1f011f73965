//! Benches of tiering's pure cores: verification before upload (batch walk + CRC-32C),
//! remote retention over a 1M-segment manifest, manifest encode/decode at 100k segments.
//! Run: `cargo bench --bench tiering_core -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // bench code: failing loudly is the point

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keel_tiering::manifest::{decode, encode};
use keel_tiering::retention::plan_remote_retention;
use keel_tiering::testing::{SegmentSpec, segment_bytes};
use keel_tiering::verify::SegmentVerifier;
use keel_tiering::{
    ObjectChecksums, ObjectKind, RemoteSegment, SegmentManifest, SegmentState, TierConfig,
};

fn manifest(n: usize) -> SegmentManifest {
    let mut checksums = ObjectChecksums::default();
    for k in [
        ObjectKind::Log,
        ObjectKind::OffsetIndex,
        ObjectKind::TimeIndex,
        ObjectKind::LeaderEpochCheckpoint,
    ] {
        checksums.set(k, 0x1234_5678);
    }
    let segments = (0..n as i64)
        .map(|i| RemoteSegment {
            base_offset: i * 1000,
            last_offset: i * 1000 + 999,
            max_timestamp: 1_700_000_000_000 + i * 60_000,
            size_bytes: 1 << 30,
            leader_epoch: 3,
            attempt: i as u64 * 7919,
            state: SegmentState::CopySegmentFinished,
            checksums,
        })
        .collect();
    match SegmentManifest::from_parts(1, 3, 1, 0, segments) {
        Ok(m) => m,
        Err(e) => panic!("bench manifest: {e}"),
    }
}

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    // ~64 MiB each: 1 MiB batches (the original row), and 16 KiB batches (a producer's
    // default batch.size), where the object CRC costs one combine per batch.
    for (spec, label) in [
        (
            SegmentSpec {
                batches: 64,
                records_per_batch: 16,
                value_len: 64 * 1024,
            },
            "",
        ),
        (
            SegmentSpec {
                batches: 4096,
                records_per_batch: 4,
                value_len: 4 * 1024,
            },
            ", 16 KiB batches",
        ),
    ] {
        let (bytes, _) = segment_bytes(0, spec, 0, 1).unwrap_or_default();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let chunk = 8usize << 20;
        g.bench_with_input(
            BenchmarkId::new(
                "SegmentVerifier::feed",
                format!(
                    "{} MiB segment, {} MiB chunks{label}",
                    bytes.len() >> 20,
                    chunk >> 20
                ),
            ),
            &chunk,
            |b, &chunk| {
                b.iter(|| {
                    let mut v = SegmentVerifier::new("bench.log");
                    for c in bytes.chunks(chunk) {
                        if let Err(e) = v.feed(c) {
                            panic!("{e}");
                        }
                    }
                    v.finish().map(|s| s.crc32c).unwrap_or(0)
                })
            },
        );
    }
    g.finish();
}

fn retention(c: &mut Criterion) {
    let m = manifest(1_000_000);
    let cfg = TierConfig {
        retention_ms: 7 * 24 * 3600 * 1000,
        retention_bytes: 500 << 40,
        ..TierConfig::default()
    };
    let now = 1_700_000_000_000 + 1_000_000 * 60_000;
    let mut g = c.benchmark_group("retention");
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("plan_remote_retention (1M segments, time+size)", |b| {
        b.iter(|| plan_remote_retention(&m, 1 << 30, &cfg, now).expired.len())
    });
    g.finish();
}

fn manifest_codec(c: &mut Criterion) {
    let m = manifest(100_000);
    let bytes = encode(&m);
    let mut g = c.benchmark_group("manifest");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function(
        format!("manifest::decode (100k segments, {} bytes)", bytes.len()),
        |b| {
            b.iter(|| {
                decode(&bytes, "bench")
                    .map(|m| m.segments().len())
                    .unwrap_or(0)
            })
        },
    );
    g.bench_function("manifest::encode (100k segments)", |b| {
        b.iter(|| encode(&m).len())
    });
    g.finish();
}

criterion_group!(benches, verify, retention, manifest_codec);
criterion_main!(benches);
