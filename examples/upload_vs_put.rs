//! Paired upload comparison: keel's `upload_segment` against a plain `object_store`
//! multipart put of the same segment bytes (from memory), same part size and concurrency,
//! same store, in alternating rounds. Criterion measures the two in separate phases
//! seconds apart, and on a small shared VM the machine drifts between phases by as much as
//! the gap being measured. Here each round times both back to back, alternating which goes
//! first, and the figure is the median of the per-round ratios. Everything written is deleted
//! after each timed upload, outside the timing.
//!
//! Run: `cargo run --release --example upload_vs_put -- [ROUNDS] [STORE_URL] [--uniform]`
//! (defaults: 60 rounds, a fresh local folder under the temp dir). With `--uniform`, each
//! round also times keel with uniform parts (the store's `any_part_size` off, so no part
//! ramp: the session-4 behaviour), the three in rotating order, for an A/B in one run.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // a measurement tool: failing loudly is the point

use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_tiering::object_store::{ObjectStore, WriteMultipart};
use keel_tiering::testing::{clear_store, upload_bench_segment};
use keel_tiering::upload::{SegmentSource, UploadOptions, new_attempt_id, upload_segment};
use keel_tiering::{SegmentManifest, TierStore, TopicPartition};

const PART: usize = 8 << 20;
const CONCURRENCY: usize = 4;

async fn clear(store: &TierStore) {
    clear_store(store).await.unwrap();
}

async fn keel_upload(store: &TierStore, src: &SegmentSource) -> Duration {
    let opts = UploadOptions {
        part_size: PART,
        concurrency: CONCURRENCY,
        ..UploadOptions::default()
    };
    let tp = TopicPartition::new("paired", (new_attempt_id() % 1_000_000) as i32);
    let mut m = SegmentManifest::new();
    let t = Instant::now();
    upload_segment(store, &tp, src, 0, &mut m, &opts)
        .await
        .unwrap();
    let spent = t.elapsed();
    clear(store).await;
    spent
}

async fn plain_put(store: &TierStore, data: &Bytes) -> Duration {
    let key = store
        .prefix
        .child("plain")
        .child(format!("{:016x}", new_attempt_id()));
    let t = Instant::now();
    let up = store.store.put_multipart(&key).await.unwrap();
    let mut w = WriteMultipart::new_with_chunk_size(up, PART);
    for chunk in data.chunks(PART) {
        w.wait_for_capacity(CONCURRENCY).await.unwrap();
        w.put(data.slice_ref(chunk));
    }
    w.finish().await.unwrap();
    let spent = t.elapsed();
    clear(store).await;
    spent
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let uniform = std::env::args().any(|a| a == "--uniform");
    let mut args = std::env::args().skip(1).filter(|a| a != "--uniform");
    let rounds: usize = args
        .next()
        .map_or(60, |a| a.parse().expect("ROUNDS: a whole number"));
    let dir = tempfile::tempdir().unwrap();
    let url = args
        .next()
        .unwrap_or_else(|| format!("file://{}", dir.path().join("store").display()));
    let store = TierStore::open(&url).unwrap();
    let mut uniform_store = store.clone();
    uniform_store.any_part_size = false;
    let seg_dir = dir.path().join("log");
    std::fs::create_dir_all(&seg_dir).unwrap();
    let (src, log) = upload_bench_segment(&seg_dir).unwrap(); // as in benches/tiering_upload.rs
    let data = Bytes::from(log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Warm-up: page cache, allocator, store folders.
    for _ in 0..3 {
        rt.block_on(keel_upload(&store, &src));
        rt.block_on(plain_put(&store, &data));
        if uniform {
            rt.block_on(keel_upload(&uniform_store, &src));
        }
    }
    let (mut keel, mut plain, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    let (mut flat, mut flat_ratio) = (Vec::new(), Vec::new());
    let modes = if uniform { 3 } else { 2 };
    for round in 0..rounds {
        let (mut k, mut p, mut u) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for step in 0..modes {
            match (round + step) % modes {
                0 => k = rt.block_on(keel_upload(&store, &src)),
                1 => p = rt.block_on(plain_put(&store, &data)),
                _ => u = rt.block_on(keel_upload(&uniform_store, &src)),
            }
        }
        keel.push(k.as_secs_f64() * 1e3);
        plain.push(p.as_secs_f64() * 1e3);
        ratio.push(p.as_secs_f64() / k.as_secs_f64());
        if uniform {
            flat.push(u.as_secs_f64() * 1e3);
            flat_ratio.push(p.as_secs_f64() / u.as_secs_f64());
        }
    }
    let mb = data.len() >> 20;
    println!(
        "{rounds} paired rounds, {mb} MiB segment, {url}: keel upload_segment median {:.2} ms, \
         plain put_multipart median {:.2} ms, median per-round throughput ratio keel/plain {:.1} %",
        median(&mut keel),
        median(&mut plain),
        100.0 * median(&mut ratio)
    );
    if uniform {
        println!(
            "  keel with uniform parts (no ramp) median {:.2} ms, median per-round ratio keel/plain {:.1} %",
            median(&mut flat),
            100.0 * median(&mut flat_ratio)
        );
    }
}
