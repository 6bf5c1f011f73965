//! The `keel sidecar` process with its S3 store unreachable, then back (static stability,
//! end to end): the store URL points at the S3 test server (`./test.sh` starts s3s-fs)
//! through a port the test controls. While nothing listens there (connection refused) the
//! tiering loop keeps failing and backing off, deletes no local file, and `/metrics` and the
//! log say how far behind it is; once the port forwards to the S3 server again, the loop
//! uploads everything and the lag is zero. The cluster side is an in-process
//! `keel sim-cluster` (the sidecar only needs a broker to start).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel::sim_cluster::{SimCluster, SimOptions};
use keel_tiering::testing::{SegmentSpec, write_high_watermarks, write_partition};
use keel_tiering::{TierStore, TopicPartition, manifest_store};

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::{server_env, unique};
#[path = "common/sidecar_process.rs"]
mod sidecar_process;
use sidecar_process::{Kill, assert_no_tiering_lag, files, get, metric};

/// Forwards every connection on `listener` to `upstream` until the task is aborted.
async fn forward(listener: tokio::net::TcpListener, upstream: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_process_rides_out_a_dead_store_and_catches_up() {
    let s3 = server_env("AWS_ENDPOINT");
    let bucket = server_env("KEEL_TEST_S3_BUCKET");
    let upstream = s3
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // A port nothing listens on for now: the store is "down" (connection refused).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };

    let sim = SimCluster::from_snapshot_json(
        br#"{"format":"keel.cluster/v1","brokers":[{"id":1,"rack":"a","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e8,"network_out_bytes_per_sec":1e8,"cpu_cores":4}}],"partitions":[{"topic":"orders","partition":0,"replicas":[1],"size_bytes":1000}]}"#,
        SimOptions::default(),
    )
    .unwrap()
    .start("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap();

    // One partition, four segments (three closed), all below the high watermark.
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("data");
    let tp = TopicPartition::new("orders", 0);
    let spec = SegmentSpec {
        batches: 3,
        records_per_batch: 10,
        value_len: 400,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let leo = write_partition(&log_dir, &tp, &[spec; 4], now, 2).unwrap();
    write_high_watermarks(&log_dir, &[(tp.clone(), leo)]).unwrap();
    let before = files(&log_dir);
    let logs: Vec<&(PathBuf, u64)> = before
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(logs.len(), 4);
    let closed_bytes: u64 = logs[..3].iter().map(|(_, n)| n).sum();
    let active_base: i64 = logs[3]
        .0
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();

    let prefix = unique("sidecar-dead-store");
    let cfg = dir.path().join("keel.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[cluster]
bootstrap = "{}"
broker_id = 1
[http]
listen = "127.0.0.1:0"
[rebalance]
policy = "off"
[tiering]
enabled = true
log_dir = "{}"
store = "s3://{bucket}/{prefix}"
interval = "1s"
max_backoff = "2s"
delete_local = false
"#,
            sim.bootstrap(),
            log_dir.display()
        ),
    )
    .unwrap();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args([
                "--log",
                "info",
                "sidecar",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving /metrics and /healthz"), "{line}");
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let err = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });

    // Down: failures pile up, the lag is the three closed segments, nothing local changes.
    let deadline = Instant::now() + Duration::from_secs(90);
    let body = loop {
        let body = tokio::task::spawn_blocking({
            let addr = addr.clone();
            move || get(&addr, "/metrics").1
        })
        .await
        .unwrap();
        if metric(&body, "keel_sidecar_consecutive_failures").is_some_and(|n| n >= 2.0) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no two failed tiering passes in 90 s\n{body}\n{}",
            stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        metric(&body, "keel_sidecar_tiering_lag_bytes"),
        Some(closed_bytes as f64),
        "{body}"
    );
    assert_eq!(
        metric(&body, "keel_sidecar_tiering_lag_segments"),
        Some(3.0),
        "{body}"
    );
    assert_eq!(
        files(&log_dir),
        before,
        "a local file changed with the store down"
    );
    let health = get(&addr, "/healthz").1;
    assert!(health.contains("\"alive\":true"), "{health}");
    let expected =
        format!("tiering is behind: 3 segment(s), {closed_bytes} bytes not yet uploaded");
    assert!(
        stderr.lock().unwrap().contains(&expected),
        "no `{expected}` line:\n{}",
        stderr.lock().unwrap()
    );

    // Back: the port forwards to the S3 server; the next pass uploads everything.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let proxy = tokio::spawn(forward(listener, upstream));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = tokio::task::spawn_blocking({
            let addr = addr.clone();
            move || get(&addr, "/metrics").1
        })
        .await
        .unwrap();
        if metric(&body, "keel_sidecar_consecutive_failures") == Some(0.0) {
            assert_no_tiering_lag(&body);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no successful pass 60 s after the store came back\n{body}\n{}",
            stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let store = TierStore::open(&format!("s3://{bucket}/{prefix}")).unwrap();
    let m = manifest_store::load(&store, &tp).await.unwrap().unwrap();
    assert_eq!(m.committed_end_offset(), active_base);
    assert_eq!(
        files(&log_dir),
        before,
        "delete_local = false keeps every file"
    );
    proxy.abort();
    drop(child);
    sim.shutdown().await;
}
