//! The sidecar's tiering loop with its object store down (static stability): the loop keeps
//! running and backs off, deletes no local segment, and `/metrics` plus a log line say how
//! far behind tiering is (segments and bytes not yet uploaded); once the store is back it
//! catches up, and only then does local retention delete what is committed remotely.
//!
//! The loop runs the way `keel sidecar` runs it (`health::drive` with the real
//! `TieringLoop`, `/metrics` and `/healthz` served by `sidecar::http` from the Prometheus
//! recorder); the store is keel-tiering's fault-injecting wrapper around an in-memory store,
//! failing every request while "down".

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel::sidecar::health::{self, Health, LoopTiming};
use keel::sidecar::http;
use keel::sidecar::tiering::{TieringLoop, UploadKnobs, sync_settings};
use keel_tiering::fault::{Fault, FaultyStore, Rule};
use keel_tiering::object_store::ObjectStore;
use keel_tiering::object_store::memory::InMemory;
use keel_tiering::object_store::path::Path as StorePath;
use keel_tiering::testing::{SegmentSpec, write_high_watermarks, write_partition};
use keel_tiering::{TierConfig, TierStore, TopicPartition, manifest_store};

#[path = "common/sidecar_process.rs"]
mod sidecar_process;
use sidecar_process::{assert_no_tiering_lag, files, get, metric};

/// Log lines, captured from the global `tracing` subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_the_loop_keeps_every_segment_reports_its_lag_and_catches_up() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let logs = Logs::default();
    let sink = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .unwrap();

    // A broker log dir: two partitions of four segments each (three closed, one active),
    // everything below the high watermark.
    let log_dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        batches: 4,
        records_per_batch: 10,
        value_len: 300,
    };
    let tps = [
        TopicPartition::new("orders", 0),
        TopicPartition::new("orders", 1),
    ];
    let mut hws = Vec::new();
    for tp in &tps {
        let leo = write_partition(log_dir.path(), tp, &[spec; 4], now_ms(), 3).unwrap();
        hws.push((tp.clone(), leo));
    }
    write_high_watermarks(log_dir.path(), &hws).unwrap();
    let local_before = files(log_dir.path());
    // Closed segments: every `.log` but the last of each partition.
    let mut closed_bytes = 0u64;
    let mut active_bases = Vec::new();
    for tp in &tps {
        let mut logs: Vec<(PathBuf, u64)> = local_before
            .iter()
            .filter(|(p, _)| {
                p.parent().unwrap().ends_with(tp.to_string())
                    && p.extension().is_some_and(|e| e == "log")
            })
            .cloned()
            .collect();
        logs.sort();
        assert_eq!(logs.len(), 4);
        closed_bytes += logs[..3].iter().map(|(_, n)| n).sum::<u64>();
        let stem = logs[3].0.file_stem().unwrap().to_str().unwrap().to_owned();
        active_bases.push(stem.parse::<i64>().unwrap());
    }

    // The store, down: every request fails.
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let faulty = FaultyStore::new(inner.clone());
    faulty.add_rule(Rule::new(None, Fault::Fail));
    let store = TierStore::new(
        Arc::new(faulty.clone()),
        StorePath::from("tier"),
        "faulty-memory",
    );
    // Local retention would delete every committed closed segment at once (0 bytes kept):
    // so any local delete while the store is down would show.
    let cfg = TierConfig {
        local_retention_bytes: 0,
        ..TierConfig::default()
    };
    let knobs = UploadKnobs {
        part_size: 1 << 20,
        concurrency: 2,
        partitions: 2,
        rate: None,
        zstd_level: None,
        delete_local: true,
    };
    let tiering = Arc::new(tokio::sync::Mutex::new(TieringLoop::new(
        log_dir.path().to_path_buf(),
        store.clone(),
        sync_settings(cfg, knobs),
        true,
    )));

    let timing = LoopTiming {
        interval: Duration::from_millis(300),
        jitter: 0.0,
        max_backoff: Duration::from_secs(2),
    };
    let health = Health::new();
    health.register("tiering", timing);
    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(http::serve(
        listener,
        http::Endpoints {
            health: health.clone(),
            metrics: Some(recorder),
        },
    ));
    // Each pass's end time and outcome.
    let passes: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let (t, p) = (tiering.clone(), passes.clone());
    let driver = tokio::spawn(health::drive(
        "tiering",
        timing,
        health.clone(),
        move || {
            let (t, p) = (t.clone(), p.clone());
            async move {
                let r = t.lock().await.pass().await;
                p.lock().unwrap().push((Instant::now(), r.is_ok()));
                r
            }
        },
    ));

    // While down: the loop keeps failing and backing off (0.3, 0.6, 1.2, 2 s ...).
    let deadline = Instant::now() + Duration::from_secs(30);
    while passes.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "fewer than 5 passes in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let down: Vec<(Instant, bool)> = passes.lock().unwrap().clone();
    assert!(
        down.iter().all(|(_, ok)| !ok),
        "a pass succeeded with the store down"
    );
    let gaps: Vec<f64> = down
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64())
        .collect();
    assert!(
        gaps[2] > 1.5 * gaps[0] && gaps[3] >= 1.5,
        "no backoff between failed passes: {gaps:?}"
    );
    assert_eq!(
        files(log_dir.path()),
        local_before,
        "a local file changed while the store was down"
    );
    assert!(faulty.bytes_put() == 0, "something reached the store");

    let (code, body) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        metric(&body, "keel_sidecar_tiering_lag_bytes"),
        Some(closed_bytes as f64),
        "{body}"
    );
    assert_eq!(
        metric(&body, "keel_sidecar_tiering_lag_segments"),
        Some(6.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "keel_sidecar_tiering_failed_partitions"),
        Some(2.0),
        "{body}"
    );
    assert!(
        metric(&body, "keel_sidecar_consecutive_failures").is_some_and(|n| n >= 4.0),
        "{body}"
    );
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 200, "a loop retrying a down store is alive: {body}");
    assert!(body.contains("injected fault"), "{body}");
    let text = logs.text();
    let line = format!("tiering is behind: 6 segment(s), {closed_bytes} bytes not yet uploaded");
    assert!(
        text.contains(&line),
        "no lag line ({line}) in the log:\n{text}"
    );

    // The store is back: the next pass (within the 2 s backoff cap) uploads everything.
    faulty.clear_rules();
    let failed_so_far = passes.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if passes.lock().unwrap()[failed_so_far..]
            .iter()
            .any(|(_, ok)| *ok)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no successful pass 30 s after the store came back:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (tp, active) in tps.iter().zip(&active_bases) {
        let m = manifest_store::load(&store, tp).await.unwrap().unwrap();
        assert_eq!(
            m.committed_end_offset(),
            *active,
            "{tp}: the remote log must end where the active segment starts"
        );
    }
    let (_, body) = get(&addr, "/metrics");
    assert_no_tiering_lag(&body);
    assert_eq!(
        metric(&body, "keel_sidecar_consecutive_failures"),
        Some(0.0),
        "{body}"
    );
    // Now committed, the closed segments go (local retention keeps 0 bytes); the active
    // segments stay.
    let left: Vec<PathBuf> = files(log_dir.path())
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    driver.abort();
    server.abort();
}
