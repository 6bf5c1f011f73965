//! Remote read path: `RemoteReader::fetch` of 1 MiB near the tail of a 64 MiB remote
//! segment with the manifest and offset index cached, once with the hot chunks cached
//! (no GET) and once without a chunk cache (exactly one ranged GET). Local filesystem
//! store always; the S3 server too when `KEEL_TEST_S3_BUCKET` and the `AWS_*` env from
//! `./test.sh` are set.
//! Run: `cargo bench --bench tiering_read -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // bench code: failing loudly is the point

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel_tiering::fetch::RemoteReader;
use keel_tiering::sync::{SyncSettings, sync_log_dir};
use keel_tiering::testing::{SegmentSpec, write_high_watermarks, write_partition};
use keel_tiering::upload::UploadOptions;
use keel_tiering::{TierConfig, TierStore, TopicPartition};

const MAX_BYTES: usize = 1 << 20;

fn stores() -> Vec<(String, TierStore)> {
    let dir = std::env::temp_dir().join(format!("keel-bench-read-{}", std::process::id()));
    let mut out = vec![(
        "local fs".to_string(),
        TierStore::open(&format!("file://{}", dir.display())).unwrap(),
    )];
    if let Ok(bucket) = std::env::var("KEEL_TEST_S3_BUCKET") {
        let url = format!("s3://{bucket}/bench-read-{}", std::process::id());
        out.push(("s3s-fs".to_string(), TierStore::open(&url).unwrap()));
    }
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let spec = SegmentSpec {
        batches: 1024,
        records_per_batch: 4,
        value_len: 16 * 1024,
    }; // ~64 MiB
    let tp = TopicPartition::new("read", 0);
    let dir = tempfile::tempdir().unwrap();
    let leo = write_partition(dir.path(), &tp, &[spec, spec], 0, 1).unwrap();
    write_high_watermarks(dir.path(), &[(tp.clone(), leo)]).unwrap();
    let settings = SyncSettings {
        cfg: TierConfig::default(),
        opts: UploadOptions::default(),
        now_ms: 0,
        delete_local: false,
        partition_concurrency: 1,
    };
    let tail = i64::from(spec.batches * spec.records_per_batch) - 200; // ~3 MiB before the end
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(MAX_BYTES as u64));
    g.sample_size(20);
    for (name, store) in stores() {
        let r = rt
            .block_on(sync_log_dir(&store, dir.path(), &settings))
            .unwrap();
        r.partitions[0].1.as_ref().unwrap();
        let cached = RemoteReader::new(store.clone(), 64 << 20, None).with_chunk_cache(64 << 20);
        let uncached = RemoteReader::new(store.clone(), 64 << 20, None).with_chunk_cache(0);
        for reader in [&cached, &uncached] {
            let r = rt.block_on(reader.fetch(&tp, tail, MAX_BYTES)).unwrap();
            assert!(r.records.len() > MAX_BYTES / 2);
        }
        g.bench_function(
            format!("RemoteReader::fetch (cached hit, 1 MiB, {name})"),
            |b| b.iter(|| rt.block_on(cached.fetch(&tp, tail, MAX_BYTES)).unwrap()),
        );
        let gets = cached.range_gets();
        g.bench_function(
            format!("RemoteReader::fetch (miss: one ranged GET, 1 MiB, {name})"),
            |b| b.iter(|| rt.block_on(uncached.fetch(&tp, tail, MAX_BYTES)).unwrap()),
        );
        assert_eq!(cached.range_gets(), gets, "cached hits made no GET");
        let stats = cached.chunk_cache_stats();
        eprintln!(
            "{name}: chunk cache {stats:?}, {} bytes held",
            cached.chunk_cache_size()
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
