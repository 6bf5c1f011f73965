//! Paired upload comparison: keel's `upload_segment` against a plain `object_store`
//! multipart put of the same segment bytes (from memory), same part size and concurrency,
//! same store, in alternating rounds. Criterion measures the two in separate phases
//! seconds apart, and on a small shared VM the machine drifts between phases by as much as
//! the gap being measured. Here each round times both back to back, alternating which goes
//! first, and the figure is the median of the per-round ratios. Everything written is deleted
//! after each timed upload, outside the timing.
//!
//! Run: `cargo run --release --example upload_vs_put -- [ROUNDS] [STORE_URL] [--uniform]
//! [--tasks] [--part-kib K1,K2,...]` (defaults: 60 rounds, a fresh local folder under the temp dir).
//! Extra keel variants, each timed in every round in an order rotating with the plain put,
//! for A/B comparisons within one run: `--uniform` adds keel with uniform 8 MiB parts (the
//! store's `any_part_size` off: no ramp and no part cap, the session-4 behaviour);
//! `--tasks` adds keel writing each part on a blocking-pool task of its own (the store's
//! `inline_writes` off: the session-5 behaviour, before the writer thread);
//! `--part-kib` adds keel with those `part_size`s. The plain put always uses 8 MiB parts.
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

async fn keel_upload(store: &TierStore, src: &SegmentSource, part_size: usize) -> Duration {
    let opts = UploadOptions {
        part_size,
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

/// One keel configuration timed in every round.
struct Variant {
    name: String,
    store: TierStore,
    part_size: usize,
    times: Vec<f64>,
    ratios: Vec<f64>,
}

fn main() {
    let mut rounds = 60;
    let mut url = None;
    let mut uniform = false;
    let mut tasks = false;
    let mut part_kib: Vec<usize> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--uniform" => uniform = true,
            "--tasks" => tasks = true,
            "--part-kib" => {
                let list = args.next().expect("--part-kib: a comma-separated list");
                part_kib.extend(list.split(',').map(|k| k.parse::<usize>().expect("KiB")));
            }
            _ if a.parse::<usize>().is_ok() => rounds = a.parse().unwrap(),
            _ => url = Some(a),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| format!("file://{}", dir.path().join("store").display()));
    let store = TierStore::open(&url).unwrap();
    let variant = |name: String, store: TierStore, part_size: usize| Variant {
        name,
        store,
        part_size,
        times: Vec::new(),
        ratios: Vec::new(),
    };
    let mut variants = vec![variant("keel upload_segment".into(), store.clone(), PART)];
    if uniform {
        let mut flat = store.clone();
        flat.any_part_size = false;
        flat.inline_writes = false;
        variants.push(variant("keel, uniform parts (no ramp)".into(), flat, PART));
    }
    if tasks {
        let mut on_tasks = store.clone();
        on_tasks.inline_writes = false;
        variants.push(variant(
            "keel, parts on tasks (session 5)".into(),
            on_tasks,
            PART,
        ));
    }
    for kib in part_kib {
        variants.push(variant(
            format!("keel, part_size {kib} KiB"),
            store.clone(),
            kib << 10,
        ));
    }
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
        rt.block_on(plain_put(&store, &data));
        for v in &variants {
            rt.block_on(keel_upload(&v.store, &src, v.part_size));
        }
    }
    // Each round times the plain put and every variant, in an order rotating per round.
    let mut plain = Vec::new();
    let n = variants.len() + 1;
    for round in 0..rounds {
        let mut spent = vec![Duration::ZERO; n];
        for step in 0..n {
            let i = (round + step) % n;
            spent[i] = match i {
                0 => rt.block_on(plain_put(&store, &data)),
                _ => {
                    let v = &variants[i - 1];
                    rt.block_on(keel_upload(&v.store, &src, v.part_size))
                }
            };
        }
        plain.push(spent[0].as_secs_f64() * 1e3);
        for (v, t) in variants.iter_mut().zip(&spent[1..]) {
            v.times.push(t.as_secs_f64() * 1e3);
            v.ratios.push(spent[0].as_secs_f64() / t.as_secs_f64());
        }
    }
    let mb = data.len() >> 20;
    println!(
        "{rounds} paired rounds, {mb} MiB segment, {url}: plain put_multipart median {:.2} ms",
        median(&mut plain)
    );
    for v in &mut variants {
        println!(
            "  {} median {:.2} ms, median per-round throughput ratio keel/plain {:.1} %",
            v.name,
            median(&mut v.times),
            100.0 * median(&mut v.ratios)
        );
    }
}
