//! Index build from a `.log` held in memory, and index lookups.
//!
//! The synthetic segment is one uncompressed v2 batch built with keel's `RecordBatchBuilder`
//! and copied back to back to 1 GiB, each copy with its own base offset and timestamps and
//! a recomputed CRC-32C. The batch size is part of the bench name: the builder's cost is
//! per batch (it reads a few header fields of each and skips the records), so smaller
//! batches are the harder case.
//!
//! Run: `cargo bench --bench segment_index -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use keel_wire::batch::{RecordBatch, RecordBatchBuilder};
use keel_wire::segment::{
    OffsetIndex, OffsetIndexBuilder, SegmentIndexBuilder, SegmentView, TimeIndexBuilder,
};

const GIB: usize = 1 << 30;

/// One batch of `records` records of `value_len` bytes, starting at offset 0.
fn template(records: usize, value_len: usize) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0);
    let value = vec![b'k'; value_len];
    for r in 0..records {
        b.append(1_700_000_000_000 + r as i64, None, Some(&value), &[])
            .expect("append");
    }
    b.build().expect("build")
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Copies of `batch` up to about `target` bytes, base offsets consecutive, base and max
/// timestamps moved 1 ms later every copy (records hold deltas, so they move along) and the
/// CRC-32C recomputed, so the time index grows and every batch is valid.
fn synthetic_log(batch: &[u8], records: usize, target: usize) -> Vec<u8> {
    let n = target / batch.len();
    let (base_ts, max_ts) = (be_i64(batch, 27), be_i64(batch, 35));
    let mut log = Vec::with_capacity(n * batch.len());
    for i in 0..n {
        let start = log.len();
        log.extend_from_slice(batch);
        let b = &mut log[start..];
        b[0..8].copy_from_slice(&((i * records) as i64).to_be_bytes());
        b[27..35].copy_from_slice(&(base_ts + i as i64).to_be_bytes());
        b[35..43].copy_from_slice(&(max_ts + i as i64).to_be_bytes());
        let crc = RecordBatch::new(b, 0).expect("batch").compute_crc();
        b[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    log
}

fn index_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment index build");
    g.sample_size(10);
    // (label, records per batch, value bytes): ~150 B, ~1 KiB, ~16 KiB batches.
    for (label, records, value_len) in [
        ("150 B batches", 1usize, 80usize),
        ("1 KiB batches", 8, 110),
        ("16 KiB batches", 64, 250),
    ] {
        let batch = template(records, value_len);
        let log = synthetic_log(&batch, records, GIB);
        g.throughput(Throughput::Bytes(log.len() as u64));
        let params = format!("1 GiB, {label}, interval 4096");
        g.bench_function(
            BenchmarkId::new("OffsetIndexBuilder::build", &params),
            |b| {
                let builder = OffsetIndexBuilder::new(0);
                b.iter(|| black_box(builder.build(black_box(&log)).expect("index")))
            },
        );
        g.bench_function(BenchmarkId::new("TimeIndexBuilder::build", &params), |b| {
            let builder = TimeIndexBuilder::new(0);
            b.iter(|| black_box(builder.build(black_box(&log)).expect("index")))
        });
        g.bench_function(
            BenchmarkId::new("SegmentIndexBuilder::build", &params),
            |b| {
                let builder = SegmentIndexBuilder::new(0);
                b.iter(|| black_box(builder.build(black_box(&log)).expect("index")))
            },
        );
        if label == "1 KiB batches" {
            let params = format!("1 GiB, {label}, interval 4096, CRC-32C checked");
            g.bench_function(
                BenchmarkId::new("SegmentIndexBuilder::build", &params),
                |b| {
                    let builder = SegmentIndexBuilder::new(0).verify_crc(true);
                    b.iter(|| black_box(builder.build(black_box(&log)).expect("index")))
                },
            );
        }
    }
    g.finish();
}

fn lookups(c: &mut Criterion) {
    let records = 8;
    let batch = template(records, 110);
    // A 1 GiB segment's index (interval 4096): about 250k entries.
    let log = synthetic_log(&batch, records, GIB);
    let built = OffsetIndexBuilder::new(0).build(&log).expect("index");
    let index = OffsetIndex::parse(&built, 0).expect("parse");
    let last_offset = (log.len() / batch.len() * records) as i64 - 1;
    // Pseudo-random targets spread over the segment (xorshift, fixed seed).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let targets: Vec<i64> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (last_offset as u64 + 1)) as i64
        })
        .collect();

    let mut g = c.benchmark_group("segment lookups");
    g.throughput(Throughput::Elements(targets.len() as u64));
    let entries = index.len();
    g.bench_function(
        BenchmarkId::new(
            "OffsetIndex::lookup",
            format!("{entries} entries, 4096 random offsets"),
        ),
        |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &t in &targets {
                    acc = acc.wrapping_add(u64::from(index.lookup(black_box(t)).position));
                }
                acc
            })
        },
    );
    g.bench_function(
        BenchmarkId::new("OffsetIndex::parse", format!("{entries} entries")),
        |b| {
            b.iter(|| {
                black_box(
                    OffsetIndex::parse(black_box(&built), 0)
                        .expect("parse")
                        .len(),
                )
            })
        },
    );
    let view = SegmentView::new(0, &log, index, None);
    g.bench_function(
        BenchmarkId::new(
            "SegmentView::find_batch_for_offset",
            format!("1 GiB, 1 KiB batches, {entries} entries, 4096 random offsets"),
        ),
        |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &t in &targets {
                    let loc = view.find_batch_for_offset(black_box(t)).expect("scan");
                    acc = acc.wrapping_add(loc.map_or(0, |l| l.position));
                }
                acc
            })
        },
    );
    g.finish();
}

criterion_group!(benches, index_build, lookups);
criterion_main!(benches);
