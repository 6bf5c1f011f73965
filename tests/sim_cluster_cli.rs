//! `keel sim-cluster` as a command: bad input gives one clear error line and a non-zero exit;
//! a good snapshot is served on consecutive ports from `--listen`, with a fault schedule.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keel_wire::client::{ClientConfig, KafkaClient};

const SNAPSHOT: &str = r#"{"format":"keel.cluster/v1","brokers":[
  {"id":1,"rack":"a","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e8,"network_out_bytes_per_sec":1e8,"cpu_cores":4}},
  {"id":2,"rack":"b","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e8,"network_out_bytes_per_sec":1e8,"cpu_cores":4}},
  {"id":3,"rack":"c","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e8,"network_out_bytes_per_sec":1e8,"cpu_cores":4}}],
  "partitions":[{"topic":"orders","partition":0,"replicas":[1,2,3],"size_bytes":1000}]}"#;

fn keel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("sim-cluster")
        .args(args)
        .output()
        .unwrap()
}

fn assert_one_error_line(out: &std::process::Output, mentions: &str) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("keel: error:"), "{stderr}");
    assert!(lines[0].contains(mentions), "{stderr}");
}

#[test]
fn bad_inputs_give_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let out = keel(&[
        "--cluster",
        missing.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_one_error_line(&out, "missing.json");

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format":"keel.cluster/v1","brokers":[{"id":1}],"partitions":[]}"#,
    )
    .unwrap();
    let out = keel(&[
        "--cluster",
        bad.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_one_error_line(&out, "brokers[0]");

    let good = dir.path().join("good.json");
    std::fs::write(&good, SNAPSHOT).unwrap();
    let out = keel(&["--cluster", good.to_str().unwrap(), "--listen", "localhost"]);
    assert_one_error_line(&out, "--listen");
    let out = keel(&[
        "--cluster",
        good.to_str().unwrap(),
        "--listen",
        "127.0.0.1:65534",
    ]);
    assert_one_error_line(&out, "65535");

    let faults = dir.path().join("faults.json");
    std::fs::write(&faults, r#"[{"at_ms":0,"fault":"melt_down"}]"#).unwrap();
    let out = keel(&[
        "--cluster",
        good.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--faults",
        faults.to_str().unwrap(),
    ]);
    assert_one_error_line(&out, "faults.json");
}

/// Kills the server when the test ends, also on failure.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_the_snapshot_with_scheduled_faults() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, SNAPSHOT).unwrap();
    let faults = dir.path().join("faults.json");
    std::fs::write(&faults, r#"[{"at_ms":0,"fault":"broker_down","broker":3}]"#).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "sim-cluster",
            "--cluster",
            good.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--faults", faults.to_str().unwrap(), "--speed", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let banner = lines.next().unwrap().unwrap();
    assert!(
        banner.contains("3 brokers, 1 topics, 1 partitions"),
        "{banner}"
    );
    let bootstrap = lines.next().unwrap().unwrap();
    let bootstrap = bootstrap.strip_prefix("bootstrap: ").unwrap().to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = ClientConfig::new(&bootstrap);
        config.request_timeout = Duration::from_secs(10);
        let client = KafkaClient::connect(config).await.unwrap();
        let meta = client.refresh_metadata().await.unwrap();
        assert_eq!(meta.brokers.len(), 2, "broker 3 is down from the start");
        let p = meta.partition("orders", 0).unwrap();
        assert_eq!(p.isr, vec![1, 2]);
        assert_eq!(p.offline_replicas, vec![3]);
    });
}
