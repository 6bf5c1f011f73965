//! `keel execute` (the binary) against `keel sim-cluster` (in process, over the real Kafka
//! protocol) with injected faults: a broker dies mid-move, a reassignment gets stuck,
//! throttle calls fail, and the executor is SIGKILLed and restarted after every number of
//! actions. Each run must converge to the target or stop in a clean paused state, and a
//! monitor checks throughout that no partition's replica set ever shrinks below its
//! replication factor (no replica lost).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel::execute::read_status;
use keel::sim_cluster::{Fault, SimCluster, SimHandle, SimOptions};
use keel_wire::client::{ClientConfig, KafkaClient};

#[path = "common/keel_execute.rs"]
mod keel_execute;
use keel_execute::Exec;

/// Six brokers on three racks; `orders` has 6 partitions of RF 3 on brokers 1-3 (20 MB
/// each), `other` one partition outside the plan.
fn snapshot() -> String {
    let broker = |id: i32, rack: &str| {
        format!(
            r#"{{"id":{id},"rack":"{rack}","capacity":{{"disk_bytes":4000000000000,"network_in_bytes_per_sec":100000000,"network_out_bytes_per_sec":100000000,"cpu_cores":8}}}}"#
        )
    };
    let mut parts = Vec::new();
    for p in 0..6 {
        let r = [1 + p % 3, 1 + (p + 1) % 3, 1 + (p + 2) % 3];
        parts.push(format!(
            r#"{{"topic":"orders","partition":{p},"replicas":[{},{},{}],"size_bytes":20000000,"bytes_in_per_sec":0}}"#,
            r[0], r[1], r[2]
        ));
    }
    parts.push(r#"{"topic":"other","partition":0,"replicas":[1,2,3],"size_bytes":1000,"bytes_in_per_sec":0}"#.into());
    parts.push(r#"{"topic":"other","partition":1,"replicas":[4,5,6],"size_bytes":1000,"bytes_in_per_sec":0}"#.into());
    format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{},{},{},{},{},{}],"partitions":[{}]}}"#,
        broker(1, "a"),
        broker(2, "b"),
        broker(3, "c"),
        broker(4, "a"),
        broker(5, "b"),
        broker(6, "c"),
        parts.join(",")
    )
}

/// Targets: each partition swaps one replica for a broker of 4-6 on the same rack, and makes
/// another replica preferred.
fn targets() -> Vec<Vec<i32>> {
    (0..6)
        .map(|p| {
            let r = [1 + p % 3, 1 + (p + 1) % 3, 1 + (p + 2) % 3];
            vec![r[1], r[0] + 3, r[2]]
        })
        .collect()
}

fn write_plan(dir: &Path) -> String {
    let parts: Vec<String> = targets()
        .iter()
        .enumerate()
        .map(|(p, r)| format!(r#"{{"topic":"orders","partition":{p},"replicas":{r:?}}}"#))
        .collect();
    let path = dir.join("plan.json");
    std::fs::write(
        &path,
        format!(r#"{{"version":1,"partitions":[{}]}}"#, parts.join(",")),
    )
    .unwrap();
    path.display().to_string()
}

/// The simulator and a monitor that records any partition whose replica set falls below 3.
struct Sim {
    handle: Arc<SimHandle>,
    violations: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Sim {
    async fn start(speed: f64) -> Sim {
        let handle = SimCluster::from_snapshot_json(
            snapshot().as_bytes(),
            SimOptions {
                speed,
                ..Default::default()
            },
        )
        .unwrap()
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
        let handle = Arc::new(handle);
        let violations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, v, s) = (handle.clone(), violations.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                {
                    let st = h.state();
                    for p in &st.partitions {
                        let mut set = p.replicas.clone();
                        set.sort_unstable();
                        set.dedup();
                        // Every topic here has RF 3 (`__keel_state`: min(3, brokers)).
                        let rf = 3;
                        if set.len() < rf {
                            v.lock().unwrap().push(format!(
                                "{}-{} has replica set {:?} at {} ms",
                                st.topic_name(p.topic),
                                p.partition,
                                p.replicas,
                                st.now_ms
                            ));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Sim {
            handle,
            violations,
            stop,
        }
    }

    fn bootstrap(&self) -> String {
        self.handle.bootstrap()
    }

    fn at_target(&self) -> bool {
        let st = self.handle.state();
        targets().iter().enumerate().all(|(p, t)| {
            let part = st.partition("orders", p as i32).unwrap();
            &part.replicas == t && part.leader == t[0]
        }) && st.moves.is_empty()
    }

    fn assert_no_replica_lost(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "replica lost: {:?}", &v[..v.len().min(5)]);
    }

    fn throttles_left(&self) -> Vec<String> {
        let st = self.handle.state();
        let mut out = Vec::new();
        for b in 1..=6 {
            for k in [
                "leader.replication.throttled.rate",
                "follower.replication.throttled.rate",
            ] {
                if let Some(v) = st.broker_config(b, k) {
                    out.push(format!("broker {b} {k}={v}"));
                }
            }
        }
        for k in [
            "leader.replication.throttled.replicas",
            "follower.replication.throttled.replicas",
        ] {
            if let Some(v) = st.topic_config("orders", k)
                && !v.is_empty()
            {
                out.push(format!("orders {k}={v}"));
            }
        }
        out
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// GET /metrics from `addr` (plain HTTP/1.1).
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("keel_execute_") {
                return body;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no keel metrics on {addr}: {last}");
}

fn action_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(": action "))
        .cloned()
        .collect()
}

fn issued(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split("issue reassignment ").nth(1))
        .map(|s| s.split(" -> ").next().unwrap().to_string())
        .collect()
}

const FAST: [&str; 8] = [
    "--poll",
    "200ms",
    "--lease",
    "5s",
    "--action-timeout",
    "5s",
    "--progress",
    "0s",
];

fn args<'a>(bootstrap: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--bootstrap", bootstrap];
    if !extra.contains(&"--throttle") {
        v.extend(["--throttle", "20M"]);
    }
    if !extra.contains(&"--concurrency") {
        v.extend(["--concurrency", "2"]);
    }
    v.extend(FAST);
    v.extend(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_run_converges_and_clears_throttles() {
    let sim = Sim::start(20.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path());
    let bs = sim.bootstrap();
    let (code, lines) = Exec::start(&args(&bs, &["--plan", &plan]))
        .finish(120)
        .await;
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(sim.at_target(), "at target with preferred leaders");
    assert_eq!(sim.throttles_left(), Vec::<String>::new());
    let mut i = issued(&lines);
    assert_eq!(i.len(), 6);
    i.sort();
    i.dedup();
    assert_eq!(i.len(), 6, "each partition issued once");
    sim.assert_no_replica_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_dying_mid_move_pauses_cleanly_and_resumes_when_it_is_back() {
    let sim = Sim::start(5.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path());
    let bs = sim.bootstrap();
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let exec = Exec::start(&args(
        &bs,
        &[
            "--plan",
            &plan,
            "--throttle",
            "2M",
            "--concurrency",
            "1",
            "--metrics-listen",
            &metrics_addr,
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while issued(&exec.lines()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no move issued: {:?}",
            exec.lines()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Broker 4 is a target of moves in flight (orders-0, orders-3) and holds a replica of
    // other-1, which no move touches: its loss makes other-1 under-replicated.
    sim.handle.inject(Fault::BrokerDown { broker: 4 });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !exec.lines().iter().any(|l| l.contains("paused: ")) {
        assert!(Instant::now() < deadline, "no pause: {:?}", exec.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pause = exec
        .lines()
        .into_iter()
        .find(|l| l.contains("paused: "))
        .unwrap();
    assert!(
        pause.contains("under-replicated")
            || pause.contains("min.insync")
            || pause.contains("down"),
        "{pause}"
    );
    let c = KafkaClient::connect(ClientConfig::new(&bs)).await.unwrap();
    let status = read_status(&c, "__keel_state").await.unwrap().unwrap();
    assert!(status.phase.starts_with("paused"), "{status:?}");
    // The pause shows in the metrics and in `keel execute status --json`.
    let metrics = scrape(&metrics_addr);
    assert!(metrics.contains("keel_execute_paused 1"), "{metrics}");
    assert!(metrics.contains("keel_execute_pauses_total 1"), "{metrics}");
    assert!(
        metrics.contains("keel_execute_partitions_total 6"),
        "{metrics}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["execute", "--bootstrap", &bs, "status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        js["phase"]
            .as_str()
            .unwrap()
            .starts_with("paused: cluster unhealthy"),
        "{js}"
    );
    assert_eq!(js["partitions"], 6);
    assert_eq!(js["finished"], false);
    // Issued while paused: nothing new.
    let before = issued(&exec.lines()).len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        issued(&exec.lines()).len(),
        before,
        "no new moves while paused"
    );
    sim.handle.inject(Fault::BrokerUp { broker: 4 });
    let (code, lines) = exec.finish(180).await;
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("resumed")));
    assert!(sim.at_target());
    assert_eq!(sim.throttles_left(), Vec::<String>::new());
    sim.assert_no_replica_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_reassignment_exhausts_the_budget_and_stops_paused() {
    let sim = Sim::start(20.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path());
    let bs = sim.bootstrap();
    for p in 0..6 {
        sim.handle.inject(Fault::StuckMove {
            topic: "orders".into(),
            partition: p,
        });
    }
    let (code, lines) = Exec::start(&args(
        &bs,
        &[
            "--plan",
            &plan,
            "--stuck-grace",
            "1s",
            "--error-budget",
            "1",
        ],
    ))
    .finish(120)
    .await;
    assert_eq!(code, 3, "{}", lines.join("\n"));
    let pause = lines
        .iter()
        .find(|l| l.contains("paused: "))
        .expect("pause line");
    assert!(pause.contains("stuck"), "{pause}");
    sim.assert_no_replica_lost();
    // Cancel rolls the stuck moves back and clears the throttles.
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["execute", "--bootstrap", &bs, "cancel"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, lines) = Exec::start(&args(&bs, &[])).finish(120).await;
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("Cancelled")), "{lines:?}");
    assert!(sim.handle.state().moves.is_empty(), "rolled back");
    assert_eq!(sim.throttles_left(), Vec::<String>::new());
    sim.assert_no_replica_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_throttle_calls_are_retried_within_budget_and_pause_beyond_it() {
    // Within the budget: two failures, then it converges.
    let sim = Sim::start(20.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path());
    let bs = sim.bootstrap();
    sim.handle.inject(Fault::FailRequests {
        api_key: 44,
        error_code: 40,
        count: Some(2),
        probability: 1.0,
    });
    let (code, lines) = Exec::start(&args(&bs, &["--plan", &plan]))
        .finish(120)
        .await;
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("set_throttles failed"))
            .count()
            >= 1,
        "{lines:?}"
    );
    assert!(sim.at_target());
    sim.assert_no_replica_lost();

    // Beyond it: every call fails; it pauses and never moves data unthrottled.
    let sim = Sim::start(20.0).await;
    let bs = sim.bootstrap();
    sim.handle.inject(Fault::FailRequests {
        api_key: 44,
        error_code: 40,
        count: None,
        probability: 1.0,
    });
    let (code, lines) = Exec::start(&args(&bs, &["--plan", &plan, "--error-budget", "2"]))
        .finish(120)
        .await;
    assert_eq!(code, 3, "{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("paused: error budget")),
        "{lines:?}"
    );
    assert!(
        sim.handle.state().moves.is_empty(),
        "no reassignment without its throttle"
    );
    let st = sim.handle.state();
    for p in 0..6 {
        let r = [1 + p % 3, 1 + (p + 1) % 3, 1 + (p + 2) % 3];
        assert_eq!(st.partition("orders", p).unwrap().replicas, r.to_vec());
    }
    drop(st);
    sim.assert_no_replica_lost();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_every_number_of_actions_still_converges_without_double_work() {
    // Slow enough (a move takes ~1 s of wall time) that kills land while moves are in flight.
    let sim = Sim::start(1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path());
    let bs = sim.bootstrap();
    // Incarnation k is killed right after its k-th action line (the same holder id: a
    // restarted sidecar takes its lease back at once).
    let mut incarnations: Vec<Vec<String>> = Vec::new();
    let mut finished = None;
    for k in 1..=40usize {
        // Every incarnation is given the plan, as a restarted sidecar would be: it continues
        // the persisted execution (an early kill may come before the plan was persisted).
        let extra = vec![
            "--holder-id",
            "sim-sidecar-1",
            "--plan",
            plan.as_str(),
            "--concurrency",
            "1",
        ];
        let mut exec = Exec::start(&args(&bs, &extra));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(code) = exec.wait(0).await {
                finished = Some((code, exec.lines()));
                break;
            }
            if action_lines(&exec.lines()).len() >= k {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "incarnation {k} stalled: {:?}",
                exec.lines()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some((code, lines)) = finished.take() {
            incarnations.push(lines);
            assert_eq!(
                code,
                0,
                "incarnation {k} ended with {code}: {:?}",
                incarnations.last()
            );
            finished = Some((code, Vec::new()));
            break;
        }
        incarnations.push(exec.sigkill());
    }
    assert!(finished.is_some(), "never finished in 40 incarnations");
    assert!(
        incarnations.len() >= 5,
        "killed at several points: {}",
        incarnations.len()
    );
    assert!(sim.at_target(), "converged");
    assert_eq!(sim.throttles_left(), Vec::<String>::new());
    sim.assert_no_replica_lost();
    // A partition is issued again only if the incarnation that issued it was killed during
    // that very action (the request may not have reached the controller).
    let mut seen: Vec<String> = Vec::new();
    let last = incarnations.len() - 1;
    for (n, lines) in incarnations.iter().enumerate() {
        let mut batches: Vec<Vec<String>> = Vec::new();
        for l in lines {
            if l.contains(": action ") {
                batches.push(Vec::new());
            } else if let Some(rest) = l.split("issue reassignment ").nth(1)
                && let Some(b) = batches.last_mut()
            {
                b.push(rest.split(" -> ").next().unwrap().to_string());
            }
        }
        let killed_mid_issue = n != last && batches.last().is_some_and(|b| !b.is_empty());
        for (i, b) in batches.iter().enumerate() {
            for p in b {
                assert!(
                    !seen.contains(p),
                    "{p} issued again after incarnation {n} or earlier issued it"
                );
            }
            if !(killed_mid_issue && i == batches.len() - 1) {
                seen.extend(b.iter().cloned());
            }
        }
    }
    let mut all: Vec<String> = incarnations.iter().flat_map(|l| issued(l)).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "every partition issued: {all:?}");
}
