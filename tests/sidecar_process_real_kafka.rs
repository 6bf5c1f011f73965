//! The `keel sidecar` process against the real 3-broker Apache Kafka cluster (`./test.sh`
//! starts it): it serves `/healthz` (per-loop status) and `/metrics` (Prometheus) on the
//! configured address, its quota loop writes a quota that reads back through
//! DescribeClientQuotas, its logs are JSON lines with `--log-format json`, and SIGTERM stops
//! it cleanly.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel_wire::client::{ClientConfig, KafkaClient, QuotaAlteration, QuotaFilter, QuotaMatch};

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::kafka_bootstrap as bootstrap;
#[path = "common/sidecar_process.rs"]
mod sidecar_process;
use sidecar_process::{Kill, get};

#[test]
fn the_sidecar_serves_health_and_metrics_and_applies_quotas() {
    let boot = bootstrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(KafkaClient::connect(ClientConfig::new(&boot)))
        .unwrap();
    let brokers: Vec<i32> = rt
        .block_on(client.refresh_metadata())
        .unwrap()
        .brokers
        .keys()
        .copied()
        .collect();
    let s = format!(
        "{:x}{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            & 0xffff_ffff,
        std::process::id()
    );
    let user = format!("keel-sidecar-proc-{s}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keel.toml");
    let bootstrap_list: Vec<String> = boot.split(',').map(|b| format!("{b:?}")).collect();
    std::fs::write(
        &cfg,
        format!(
            r#"
[cluster]
bootstrap = [{}]
broker_id = {}
[http]
listen = "127.0.0.1:0"
[rebalance]
policy = "off"
[quotas]
enabled = true
interval = "1s"
report_timeout = "5s"
topic = "__keel_quota_reports_proc_{s}"
[[quotas.tenants]]
name = "proc-{s}"
user = "{user}"
topic_prefixes = ["proc-{s}."]
producer_byte_rate = 900000
"#,
            bootstrap_list.join(", "),
            brokers[0]
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "--log",
            "info",
            "--log-format",
            "json",
            "sidecar",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Kill(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    assert!(line.contains("serving /metrics and /healthz"), "{line}");
    assert!(addr.starts_with("127.0.0.1:"), "bound to loopback: {line}");

    // Wait until the quota loop has passed at least once, successfully.
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let (code, body) = get(&addr, "/healthz");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let q = &v["loops"]["quotas"];
        assert_eq!(q["alive"], true, "{body}");
        if q["last_success_unix"].is_u64() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no successful quota pass within 60 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        !body.contains("\"rebalance\""),
        "policy off runs no rebalance loop: {body}"
    );

    let (code, metrics) = get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("keel_sidecar_passes_total{loop=\"quotas\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("keel_sidecar_quota_distributor"),
        "{metrics}"
    );
    assert_eq!(get(&addr, "/nope").0, 404);

    // A lone sidecar with no traffic: the uniform value is the equal split, 900k / 3.
    let f = [QuotaFilter {
        entity_type: "user".into(),
        matching: QuotaMatch::Exact(user.clone()),
    }];
    let mut value = None;
    for _ in 0..50 {
        let entries = rt
            .block_on(client.describe_client_quotas(&f, true))
            .unwrap();
        value = entries
            .into_iter()
            .find_map(|e| e.values.get("producer_byte_rate").copied());
        if value.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(value, Some(300_000.0));

    // SIGTERM: a clean exit; logs are JSON lines.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    assert!(stderr.contains("sidecar started"), "{stderr}");

    let alt = QuotaAlteration {
        entity: vec![("user".into(), Some(user))],
        ops: vec![("producer_byte_rate".into(), None)],
    };
    let _ = rt.block_on(client.alter_client_quotas(&[alt], false));
}

#[test]
fn a_broker_id_outside_the_cluster_is_one_line_naming_the_brokers() {
    let boot = bootstrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.toml");
    std::fs::write(
        &path,
        format!("[cluster]\nbootstrap = \"{boot}\"\nbroker_id = 9999\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["sidecar", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cluster.broker_id = 9999 is not a broker of the cluster"),
        "{stderr}"
    );
    // The real cluster's ids, from the routing cache the connection filled.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(real_servers::kafka_client("keel-broker-id-check"));
    let routing = rt.block_on(client.routing()).unwrap();
    let ids: Vec<String> = routing.brokers.keys().map(|b| b.to_string()).collect();
    assert!(
        stderr.contains(&format!("(brokers: {})", ids.join(", "))),
        "{stderr} vs {ids:?}"
    );
}
