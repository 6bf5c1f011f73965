//! One conformance suite, run against the in-memory store, the local filesystem and the
//! S3-compatible server started by `./test.sh` (tests/servers/s3-start.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;

macro_rules! conformance_suite {
    ($name:ident, $open:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn manifest_commit_is_conditional() {
                suite::manifest_commit_is_conditional($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upload_roundtrips_small_and_multipart() {
                suite::upload_roundtrips_small_and_multipart($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_segment_is_not_uploaded_and_others_carry_on() {
                suite::corrupt_segment_is_not_uploaded_and_others_carry_on($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn deletes_are_idempotent() {
                suite::deletes_are_idempotent($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fetch_reads_whole_batches_with_one_ranged_get() {
                suite::fetch_reads_whole_batches_with_one_ranged_get($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fetch_concurrency_limit_bounds_gets_in_flight() {
                suite::fetch_concurrency_limit_bounds_gets_in_flight($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fetch_serves_hot_chunks_from_cache() {
                suite::fetch_serves_hot_chunks_from_cache($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn expire_advances_log_start_before_deleting() {
                suite::expire_advances_log_start_before_deleting($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn expire_with_a_stale_leader_epoch_is_refused() {
                suite::expire_with_a_stale_leader_epoch_is_refused($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn zstd_chunked_upload_roundtrips_and_reads_with_one_get() {
                suite::zstd_chunked_upload_roundtrips_and_reads_with_one_get($open).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gc_removes_only_old_orphans() {
                suite::gc_removes_only_old_orphans($open).await;
            }
        }
    };
}

conformance_suite!(memory, memory_store());
conformance_suite!(local_fs, fs_store());
conformance_suite!(s3, s3_store());
