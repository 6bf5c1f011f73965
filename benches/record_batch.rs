//! Record-batch benches: the header walk and the walk + CRC-32C over a 1 GiB segment held
//! in memory, and full record decoding of uncompressed and zstd batches, each side by side
//! with the `kafka-protocol` crate's `RecordBatchDecoder` on the same bytes.
//!
//! Every input is built once with keel's `RecordBatchBuilder`.
//! Run: `cargo bench --bench record_batch -- --warm-up-time 1 --measurement-time 3`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench set-up: a failure is a bug to see

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::RecordBatchDecoder;
use keel_wire::batch::{BatchIter, Compression, LogEntry, RecordBatchBuilder};

const GIB: usize = 1 << 30;
const BATCH_TARGET: usize = 16 * 1024;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 256;

/// Deterministic, text-like, moderately compressible bytes (a xorshift over 16 words).
struct Filler(u64);

impl Filler {
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        const WORDS: [&[u8]; 16] = [
            b"order ",
            b"user ",
            b"42 ",
            b"id=",
            b"status:ok ",
            b"eu-west ",
            b"cart ",
            b"9f3a ",
            b"price ",
            b"qty ",
            b"sku-",
            b"2026 ",
            b"true ",
            b"null ",
            b"{\"k\":",
            b"} ",
        ];
        out.clear();
        while out.len() < len {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.extend_from_slice(WORDS[(self.0 & 15) as usize]);
            if self.0 & 0x300 == 0 {
                out.extend_from_slice(&self.0.to_le_bytes()[..3]);
            }
        }
        out.truncate(len);
    }
}

/// Batches of ~`BATCH_TARGET` uncompressed bytes with `codec`, until `total` bytes of
/// uncompressed records were written. Returns the segment and its record count.
fn build_segment(codec: Compression, total: usize) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(total + total / 8);
    let mut filler = Filler(0x9e37_79b9_7f4a_7c15);
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut offset = 0i64;
    let mut records = 0u64;
    let mut written = 0usize;
    while written < total {
        let mut b = RecordBatchBuilder::new(offset)
            .compression(codec)
            .partition_leader_epoch(3);
        while b.records_size() + KEY_LEN + VALUE_LEN + 8 < BATCH_TARGET - 61 {
            filler.fill(&mut key, KEY_LEN);
            filler.fill(&mut value, VALUE_LEN);
            b.append(1_700_000_000_000 + offset, Some(&key), Some(&value), &[])
                .unwrap();
            offset += 1;
            records += 1;
        }
        written += b.records_size() + 61;
        b.write_to(&mut out).unwrap();
    }
    (out, records)
}

/// 1 GiB of 16 KiB uncompressed batches: one built batch, copied with consecutive base
/// offsets (the base offset is outside the CRC, so every copy stays valid).
fn gib_segment() -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0).partition_leader_epoch(3);
    let mut filler = Filler(7);
    let (mut key, mut value) = (Vec::new(), Vec::new());
    while b.records_size() + KEY_LEN + VALUE_LEN + 8 < BATCH_TARGET - 61 {
        filler.fill(&mut key, KEY_LEN);
        filler.fill(&mut value, VALUE_LEN);
        b.append(1_700_000_000_000, Some(&key), Some(&value), &[])
            .unwrap();
    }
    let one = b.build().unwrap();
    let per_batch = i64::from(b.record_count());
    let n = GIB / one.len();
    let mut out = Vec::with_capacity(n * one.len());
    for i in 0..n {
        let start = out.len();
        out.extend_from_slice(&one);
        out[start..start + 8].copy_from_slice(&(i as i64 * per_batch).to_be_bytes());
    }
    out
}

fn walk(c: &mut Criterion) {
    let seg = Bytes::from(gib_segment());
    let len = seg.len();
    let batches = BatchIter::new(&seg).count();
    let params = format!("1 GiB, 16 KiB batches, {batches} batches");
    let mut g = c.benchmark_group("record_batch_walk");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(len as u64));

    g.bench_function(format!("BatchIter::next ({params})"), |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut last = 0i64;
            for e in BatchIter::new(black_box(&seg)) {
                let e = e.unwrap();
                if let LogEntry::V2(batch) = e {
                    last = batch.last_offset();
                }
                n += 1;
            }
            assert_eq!(n as usize, batches);
            black_box(last)
        })
    });

    g.bench_function(format!("RecordBatch::validate_crc ({params})"), |b| {
        b.iter(|| {
            let mut n = 0u64;
            for e in BatchIter::new(black_box(&seg)) {
                if let LogEntry::V2(batch) = e.unwrap() {
                    batch.validate_crc().unwrap();
                }
                n += 1;
            }
            assert_eq!(n as usize, batches);
        })
    });

    // kafka-protocol's header walk: it checks the CRC of every batch as it goes.
    g.bench_function(
        format!("kafka_protocol::RecordBatchDecoder::decode_batch_info ({params})"),
        |b| {
            b.iter(|| {
                let mut buf = seg.clone();
                let infos = RecordBatchDecoder::decode_batch_info(&mut buf).unwrap();
                assert_eq!(infos.len(), batches);
                black_box(infos.len())
            })
        },
    );
    g.finish();
}

fn decode(c: &mut Criterion) {
    const TOTAL: usize = 64 << 20;
    let mut g = c.benchmark_group("record_batch_decode");
    g.sample_size(10);
    for codec in [Compression::None, Compression::Zstd] {
        let (seg, records) = build_segment(codec, TOTAL);
        let seg = Bytes::from(seg);
        let params = format!(
            "{}, 64 MiB of records in 16 KiB batches, {} bytes on disk, {records} records of {KEY_LEN}+{VALUE_LEN} bytes",
            codec.name(),
            seg.len()
        );
        g.throughput(Throughput::Elements(records));

        // keel: walk, check the CRC, decode every record and touch its key and value.
        g.bench_function(format!("RecordBatch::records ({params})"), |b| {
            let mut scratch = Vec::new();
            b.iter(|| {
                let mut n = 0u64;
                let mut bytes = 0usize;
                for e in BatchIter::new(black_box(&seg)) {
                    let LogEntry::V2(batch) = e.unwrap() else {
                        unreachable!()
                    };
                    batch.validate_crc().unwrap();
                    for r in batch.records_with(&mut scratch).unwrap() {
                        let r = r.unwrap();
                        bytes += r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
                        n += 1;
                    }
                }
                assert_eq!(n, records);
                black_box(bytes)
            })
        });

        // kafka-protocol: the same bytes, decoded into its owned records (it also checks CRCs).
        g.bench_function(
            format!("kafka_protocol::RecordBatchDecoder::decode_all ({params})"),
            |b| {
                b.iter(|| {
                    let mut buf = seg.clone();
                    let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
                    let mut n = 0u64;
                    let mut bytes = 0usize;
                    for set in &sets {
                        for r in &set.records {
                            bytes += r.key.as_ref().map_or(0, |k| k.len())
                                + r.value.as_ref().map_or(0, |v| v.len());
                            n += 1;
                        }
                    }
                    assert_eq!(n, records);
                    black_box(bytes)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, walk, decode);
criterion_main!(benches);
