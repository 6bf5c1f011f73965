//! Upload throughput: keel's segment upload (verify + CRC-32C + multipart + manifest
//! commits) against a plain `object_store` multipart put of the same bytes, same part size
//! and concurrency, to the same store in the same run. Local filesystem always; the S3
//! server too when `KEEL_TEST_S3_BUCKET` and the `AWS_*` env from `./test.sh` are set.
//! Run: `cargo bench --bench tiering_upload -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // bench code: failing loudly is the point

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_tiering::object_store::{ObjectStore, WriteMultipart};
use keel_tiering::testing::{clear_store, upload_bench_segment};
use keel_tiering::upload::{UploadOptions, new_attempt_id, upload_segment};
use keel_tiering::{SegmentManifest, TierStore, TopicPartition};

const PART: usize = 8 << 20;
const CONCURRENCY: usize = 4;

fn stores() -> Vec<(String, TierStore)> {
    let dir = std::env::temp_dir().join(format!("keel-bench-store-{}", std::process::id()));
    let mut out = vec![(
        "local fs".to_string(),
        TierStore::open(&format!("file://{}", dir.display())).unwrap_or_else(|e| panic!("{e}")),
    )];
    if let Ok(bucket) = std::env::var("KEEL_TEST_S3_BUCKET") {
        let url = format!("s3://{bucket}/bench-{}", std::process::id());
        out.push((
            "s3s-fs".to_string(),
            TierStore::open(&url).unwrap_or_else(|e| panic!("{e}")),
        ));
    }
    out
}

/// A plain multipart put to a fresh key under `dir`, with the upload's part size.
async fn plain_put(store: &TierStore, dir: &str) -> WriteMultipart {
    let key = store
        .prefix
        .child(dir)
        .child(format!("{:016x}", new_attempt_id()));
    let up = store
        .store
        .put_multipart(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    WriteMultipart::new_with_chunk_size(up, PART)
}

/// Waits until fewer than the upload's `CONCURRENCY` parts are in flight.
async fn wait_for_a_slot(w: &mut WriteMultipart) {
    w.wait_for_capacity(CONCURRENCY)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Runs `op` `iters` times and returns the time spent in it; after each run, everything under
/// the store's prefix is deleted outside the measurement, so no run pays for the page cache or
/// disk space of earlier ones (and the bench does not fill the disk).
fn timed_then_cleared<F, Fut>(
    rt: &tokio::runtime::Runtime,
    store: &TierStore,
    iters: u64,
    mut op: F,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        rt.block_on(op());
        spent += start.elapsed();
        rt.block_on(clear_store(store))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    spent
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (src, log) = upload_bench_segment(dir.path()).unwrap_or_else(|e| panic!("{e}")); // ~64 MiB
    let data = Bytes::from(log);
    let mut g = c.benchmark_group("upload");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for (name, store) in stores() {
        let opts = UploadOptions {
            part_size: PART,
            concurrency: CONCURRENCY,
            ..UploadOptions::default()
        };
        g.bench_function(
            format!("upload_segment ({} MiB, {name})", data.len() >> 20),
            |b| {
                b.iter_custom(|iters| {
                    timed_then_cleared(&rt, &store, iters, || async {
                        // A fresh partition each time: one segment, manifest started + finished.
                        let tp =
                            TopicPartition::new("bench", (new_attempt_id() % 1_000_000) as i32);
                        let mut m = SegmentManifest::new();
                        black_box(
                            upload_segment(&store, &tp, &src, 0, &mut m, &opts)
                                .await
                                .unwrap_or_else(|e| panic!("{e}")),
                        );
                    })
                })
            },
        );
        if store.multipart.is_some() {
            // The same upload through `put_multipart` (no upload ids: no intent, no resume).
            let no_ids = TierStore::new(store.store.clone(), store.prefix.clone(), "no ids");
            g.bench_function(
                format!(
                    "upload_segment ({} MiB, {name}, no upload ids)",
                    data.len() >> 20
                ),
                |b| {
                    b.iter_custom(|iters| {
                        timed_then_cleared(&rt, &no_ids, iters, || async {
                            let tp =
                                TopicPartition::new("bench", (new_attempt_id() % 1_000_000) as i32);
                            let mut m = SegmentManifest::new();
                            black_box(
                                upload_segment(&no_ids, &tp, &src, 0, &mut m, &opts)
                                    .await
                                    .unwrap_or_else(|e| panic!("{e}")),
                            );
                        })
                    })
                },
            );
        }
        g.bench_function(
            format!(
                "ObjectStore::put_multipart ({} MiB, {name})",
                data.len() >> 20
            ),
            |b| {
                b.iter_custom(|iters| {
                    timed_then_cleared(&rt, &store, iters, || async {
                        let mut w = plain_put(&store, "plain").await;
                        for chunk in data.chunks(PART) {
                            wait_for_a_slot(&mut w).await;
                            w.put(data.slice_ref(chunk));
                        }
                        black_box(w.finish().await.unwrap_or_else(|e| panic!("{e}")));
                    })
                })
            },
        );
        // The same plain put, but of the segment file: each part read from disk (page cache)
        // first, as any uploader of the file must. keel's upload also reads the file, and
        // verifies every batch (walk + CRC-32C) on top.
        g.bench_function(
            format!(
                "ObjectStore::put_multipart from the file ({} MiB, {name})",
                data.len() >> 20
            ),
            |b| {
                b.iter_custom(|iters| {
                    timed_then_cleared(&rt, &store, iters, || async {
                        use tokio::io::AsyncReadExt;
                        let mut w = plain_put(&store, "plain-file").await;
                        let mut f = tokio::fs::File::open(&src.log)
                            .await
                            .unwrap_or_else(|e| panic!("{e}"));
                        loop {
                            let mut buf = Vec::with_capacity(PART);
                            let n = (&mut f)
                                .take(PART as u64)
                                .read_to_end(&mut buf)
                                .await
                                .unwrap_or_else(|e| panic!("{e}"));
                            if n == 0 {
                                break;
                            }
                            wait_for_a_slot(&mut w).await;
                            w.put(Bytes::from(buf));
                        }
                        black_box(w.finish().await.unwrap_or_else(|e| panic!("{e}")));
                    })
                })
            },
        );
        let _ = Arc::clone(&store.store);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
