//! End-to-end tests of `keel gen-cluster`, `keel plan` and `keel simulate`.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

#[test]
fn gen_cluster_then_plan_writes_both_plan_forms() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("c.json");
    let st = keel()
        .args([
            "gen-cluster",
            "--brokers",
            "12",
            "--racks",
            "3",
            "--replicas",
            "3000",
            "--skew",
            "1",
            "--dead-brokers",
            "1",
            "--new-brokers",
            "1",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&cluster)
        .status()
        .unwrap();
    assert!(st.success());
    let kafka = dir.path().join("plan.json");
    let keel_plan = dir.path().join("plan.keel.json");
    let out = keel()
        .arg("plan")
        .arg("--cluster")
        .arg(&cluster)
        .arg("--out-kafka")
        .arg(&kafka)
        .arg("--out")
        .arg(&keel_plan)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("lower bound"), "{stdout}");
    assert!(
        stdout.contains("replica-count") && stdout.contains("broker-states"),
        "{stdout}"
    );
    let k: serde_json::Value = serde_json::from_slice(&std::fs::read(&kafka).unwrap()).unwrap();
    assert_eq!(k["version"], 1);
    let parts = k["partitions"].as_array().unwrap();
    assert!(
        !parts.is_empty(),
        "a skewed cluster with a dead broker needs moves"
    );
    // Dead broker 1000 is gone from every reassigned partition.
    for p in parts {
        assert!(
            !p["replicas"].as_array().unwrap().iter().any(|r| r == 1000),
            "{p}"
        );
    }
    let kp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keel_plan).unwrap()).unwrap();
    assert_eq!(kp["format"], "keel.plan/v1");
    assert!(
        kp["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["goal"].as_str().is_some_and(|g| g != "none"))
    );
    assert!(kp["cost"]["bytes_moved"].as_u64().unwrap() > 0);
}

#[test]
fn gen_cluster_is_deterministic() {
    let run = || {
        keel()
            .args([
                "gen-cluster",
                "--brokers",
                "6",
                "--racks",
                "2",
                "--replicas",
                "300",
                "--seed",
                "9",
                "--hetero",
            ])
            .output()
            .unwrap()
            .stdout
    };
    let a = run();
    assert!(!a.is_empty());
    assert_eq!(a, run());
}

#[test]
fn plan_of_malformed_snapshot_names_the_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("bad.json");
    std::fs::write(
        &cluster,
        r#"{"format":"keel.cluster/v1","brokers":[{"id":1,"capacity":{"disk_bytes":1,"network_in_bytes_per_sec":1,"network_out_bytes_per_sec":1,"cpu_cores":1}}],
            "partitions":[{"topic":"t","partition":0,"replicas":[1,7],"size_bytes":1}]}"#,
    )
    .unwrap();
    let out = keel()
        .arg("plan")
        .arg("--cluster")
        .arg(&cluster)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("partitions[0].replicas[1]") && err.contains("unknown broker id 7"),
        "{err}"
    );
}

#[test]
fn plan_of_infeasible_cluster_explains_what_would_help() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("c.json");
    let st = keel()
        .args([
            "gen-cluster",
            "--brokers",
            "6",
            "--racks",
            "3",
            "--replicas",
            "3000",
            "--out",
        ])
        .arg(&cluster)
        .status()
        .unwrap();
    assert!(st.success());
    let out = keel()
        .arg("plan")
        .arg("--cluster")
        .arg(&cluster)
        .args(["--max-replicas-per-broker", "100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("replica-limit") && err.contains("add at least"),
        "{err}"
    );
    // Best effort: the same input gives a plan for every other goal, the infeasible goal
    // spelled out, and exit code 3.
    let kafka = dir.path().join("plan.json");
    let out = keel()
        .arg("plan")
        .arg("--cluster")
        .arg(&cluster)
        .args([
            "--max-replicas-per-broker",
            "100",
            "--best-effort",
            "--out-kafka",
        ])
        .arg(&kafka)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("INFEASIBLE goal `replica-limit`")
            && stdout.contains("(30 in all)")
            && stdout.contains("at least 500"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&kafka).unwrap();
    assert!(written.starts_with("{\"version\":1"), "{written}");
}

#[test]
fn simulate_without_cluster_uses_the_bundled_example_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let out = keel()
        .arg("simulate")
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("bundled skewed 48-broker example"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("<svg") && html.contains("Movement timeline") && html.contains("network_out")
    );
}

#[test]
fn simulate_runs_a_kafka_plan_file() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("c.json");
    assert!(
        keel()
            .args([
                "gen-cluster",
                "--brokers",
                "8",
                "--racks",
                "2",
                "--replicas",
                "800",
                "--skew",
                "1",
                "--out"
            ])
            .arg(&cluster)
            .status()
            .unwrap()
            .success()
    );
    let kafka = dir.path().join("plan.json");
    assert!(
        keel()
            .arg("plan")
            .arg("--cluster")
            .arg(&cluster)
            .arg("--out-kafka")
            .arg(&kafka)
            .output()
            .unwrap()
            .status
            .success()
    );
    let report = dir.path().join("r.html");
    let out = keel()
        .arg("simulate")
        .arg("--cluster")
        .arg(&cluster)
        .arg("--plan")
        .arg(&kafka)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("simulated"));
    assert!(report.exists());
}
