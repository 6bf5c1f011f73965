//! `keel sidecar --once` in `auto` mode, end to end, against `keel sim-cluster` (in process,
//! over the real Kafka protocol): the real snapshot source (`keel::sidecar::LiveCluster`) and
//! the real plan runner (`keel::sidecar::LiveExecutor`, i.e. `keel execute`'s loop through
//! `__keel_state`), nothing faked.
//!
//! - Inside an open maintenance window the sidecar finds the skew (every replica on brokers
//!   1-3, brokers 4-6 empty), plans, persists the plan to `__keel_state` and executes it; the
//!   simulator ends exactly at the persisted plan's targets (replica lists and preferred
//!   leaders), with no move left and no throttle left set.
//! - With the window closed the same pass only proposes: plan files are written, the
//!   simulator's assignment is untouched and `__keel_state` is never created.
//! - A window that ends mid-execution pauses it (persisted as a deadline pause); the next
//!   window's pass continues that same plan before planning anything new, to convergence.
//!
//! The shared real-Kafka cluster is not used here: the sidecar plans the whole cluster, so
//! on the shared cluster it would move other tests' partitions.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel::execute::records::Replay;
use keel::execute::{StateTopic, read_status};
use keel::sidecar::rebalance::{RebalanceOutcome, RebalanceSettings, pass};
use keel::sidecar::window::Policy;
use keel::sidecar::{LiveCluster, LiveExecutor};
use keel::sim_cluster::{SimCluster, SimHandle, SimOptions};
use keel_balancer::PlanOptions;
use keel_balancer::executor::{Limits, Outcome, Phase};
use keel_wire::client::{ClientConfig, KafkaClient};

const STATE_TOPIC: &str = "__keel_state";

/// Six brokers on three racks; `orders` has 12 partitions of RF 3, all on brokers 1-3
/// (20 MB each); brokers 4-6 hold nothing. The replica-count goal is far out of band.
fn skewed_snapshot() -> String {
    let broker = |id: i32, rack: &str| {
        format!(
            r#"{{"id":{id},"rack":"{rack}","capacity":{{"disk_bytes":4000000000000,"network_in_bytes_per_sec":100000000,"network_out_bytes_per_sec":100000000,"cpu_cores":8}}}}"#
        )
    };
    let parts: Vec<String> = (0..12)
        .map(|p| {
            let r = [1 + p % 3, 1 + (p + 1) % 3, 1 + (p + 2) % 3];
            format!(
                r#"{{"topic":"orders","partition":{p},"replicas":[{},{},{}],"size_bytes":20000000,"bytes_in_per_sec":0}}"#,
                r[0], r[1], r[2]
            )
        })
        .collect();
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

async fn start_sim(speed: f64) -> SimHandle {
    SimCluster::from_snapshot_json(
        skewed_snapshot().as_bytes(),
        SimOptions {
            speed,
            ..Default::default()
        },
    )
    .unwrap()
    .start("127.0.0.1:0".parse().unwrap())
    .await
    .unwrap()
}

/// `orders` partition → (replicas, leader), as the simulator holds them.
fn assignment(sim: &SimHandle) -> BTreeMap<i32, (Vec<i32>, i32)> {
    let st = sim.state();
    (0..12)
        .map(|p| {
            let part = st.partition("orders", p).unwrap();
            (p, (part.replicas.clone(), part.leader))
        })
        .collect()
}

fn write_config(dir: &Path, bootstrap: &str, window: &str) -> std::path::PathBuf {
    let path = dir.join("keel.toml");
    let text = format!(
        r#"
[cluster]
bootstrap = "{bootstrap}"
broker_id = 1
request_timeout = "10s"

[rebalance]
policy = "auto"
windows = ["{window}"]
plan_dir = "{plans}"
sample = "1s"
throttle = 100000000
"#,
        plans = dir.join("plans").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `keel sidecar --config FILE --once` (at most 180 s); returns (success, stdout, stderr).
fn sidecar_once(config: &Path) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["sidecar", "--once", "--config"])
        .arg(config)
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (out_t.join().unwrap(), err_t.join().unwrap());
    match status {
        Some(s) => (s.success(), stdout, stderr),
        None => panic!("keel sidecar --once ran over 180 s\nstdout: {stdout}\nstderr: {stderr}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_inside_an_open_window_executes_the_plan_until_the_cluster_is_at_its_target() {
    let sim = start_sim(5.0).await;
    let before = assignment(&sim);
    assert!(
        before
            .values()
            .all(|(r, _)| r.iter().all(|b| (1..=3).contains(b))),
        "{before:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    // Open all day, every day: the pass runs inside it whenever the test runs.
    let config = write_config(dir.path(), &sim.bootstrap(), "daily 00:00-24:00");
    let bootstrap = sim.bootstrap();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || sidecar_once(&config))
        .await
        .unwrap();
    assert!(
        ok,
        "keel sidecar --once failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains("rebalance: executed") && stdout.contains("new plan: done (Converged)"),
        "stdout: {stdout}\nstderr: {stderr}"
    );

    // The plan the sidecar persisted before acting, and its final control record.
    let client = KafkaClient::connect(ClientConfig::new(&bootstrap))
        .await
        .unwrap();
    let mut state = StateTopic::open(&client, STATE_TOPIC).await.unwrap();
    let replay = Replay::of(&state.read_all().await.unwrap());
    assert!(replay.bad.is_empty(), "{:?}", replay.bad);
    let (_, control) = replay.last_control().expect("a control record");
    assert_eq!(
        control.phase,
        Phase::Done {
            outcome: Outcome::Converged
        }
    );
    let plan = replay.plan(&control.plan_id).expect("the plan record");
    assert!(!plan.is_empty());

    // The simulator is at the plan's targets: replica lists in order and preferred leaders.
    let after = assignment(&sim);
    let mut planned = 0;
    for i in 0..plan.len() {
        assert_eq!(plan.topic_of(i), "orders", "the plan moves only orders");
        let p = plan.partitions[i].partition;
        let target = plan.target(i);
        let (replicas, leader) = &after[&p];
        assert_eq!(replicas.as_slice(), target, "orders-{p}");
        assert_eq!(*leader, target[0], "orders-{p} leader");
        planned += 1;
    }
    // Partitions outside the plan did not change.
    for (p, was) in &before {
        if !(0..plan.len()).any(|i| plan.partitions[i].partition == *p) {
            assert_eq!(&after[p], was, "orders-{p} is not in the plan but changed");
        }
    }
    assert!(planned > 0);
    {
        let st = sim.state();
        assert!(st.moves.is_empty(), "moves left: {:?}", st.moves.keys());
        for b in 1..=6 {
            for k in [
                "leader.replication.throttled.rate",
                "follower.replication.throttled.rate",
            ] {
                assert_eq!(st.broker_config(b, k), None, "broker {b} {k} left set");
            }
        }
    }
    // The skew is gone: brokers 4-6 now hold replicas, and no broker holds twice its share.
    let mut per_broker: BTreeMap<i32, usize> = BTreeMap::new();
    for (replicas, _) in after.values() {
        for b in replicas {
            *per_broker.entry(*b).or_default() += 1;
        }
    }
    for b in 4..=6 {
        assert!(
            per_broker.get(&b).copied().unwrap_or(0) > 0,
            "{per_broker:?}"
        );
    }
    assert!(per_broker.values().all(|n| *n <= 12), "{per_broker:?}");
    let spread = per_broker.values().max().unwrap() - per_broker.values().min().unwrap();
    assert!(
        spread <= 2,
        "replicas per broker after: {per_broker:?} (before: 12/12/12/0/0/0)"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_with_the_window_closed_only_proposes() {
    let sim = start_sim(5.0).await;
    let before = assignment(&sim);
    let dir = tempfile::tempdir().unwrap();
    // A one-hour window two hours from now (UTC): closed for the whole test.
    let hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        + 2)
        % 24;
    let window = format!("daily {hour:02}:00-{:02}:00", (hour + 1) % 24);
    let config = write_config(dir.path(), &sim.bootstrap(), &window);
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || sidecar_once(&config))
        .await
        .unwrap();
    assert!(
        ok,
        "keel sidecar --once failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains("rebalance: proposed")
            && stdout.contains("(auto: outside every maintenance window)"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let plans = dir.path().join("plans");
    let kafka_json = std::fs::read_to_string(plans.join("latest.kafka.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&kafka_json).unwrap();
    let proposed = parsed["partitions"].as_array().unwrap();
    assert!(!proposed.is_empty(), "{kafka_json}");
    // The proposal moves replicas onto the empty brokers...
    assert!(
        proposed.iter().any(|p| p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b.as_i64().unwrap() >= 4)),
        "{kafka_json}"
    );
    // ...but nothing was executed: same assignment, no move, no state topic.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(assignment(&sim), before);
    {
        let st = sim.state();
        assert!(st.moves.is_empty());
        assert!(
            st.topic_idx(STATE_TOPIC).is_none(),
            "propose must not even open the state topic"
        );
    }
    sim.shutdown().await;
}

/// The plan persisted in `__keel_state` for `plan_id` is what the simulator holds now.
async fn at_persisted_plan(sim: &SimHandle, client: &KafkaClient, plan_id: &str) -> bool {
    let mut state = StateTopic::open(client, STATE_TOPIC).await.unwrap();
    let replay = Replay::of(&state.read_all().await.unwrap());
    let plan = replay.plan(plan_id).expect("the plan record");
    let now = assignment(sim);
    (0..plan.len()).all(|i| {
        let (replicas, leader) = &now[&plan.partitions[i].partition];
        replicas.as_slice() == plan.target(i) && *leader == plan.target(i)[0]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_paused_at_a_window_end_continues_the_same_plan_in_the_next_window() {
    // 20 MB moves at 1 MB/s, one per broker at a time, 20x simulated speed: about a second
    // per move, six in a row on each broker: far longer than the three seconds left.
    let sim = start_sim(20.0).await;
    let client = KafkaClient::connect(ClientConfig::new(&sim.bootstrap()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = RebalanceSettings {
        policy: Policy::Auto,
        windows: vec!["Sat 01:00-05:00".parse().unwrap()],
        plan: PlanOptions::default(),
        plan_dir: dir.path().to_path_buf(),
    };
    let source = LiveCluster::new(client.clone(), Duration::from_millis(500), None);
    let runner = LiveExecutor::new(
        client.clone(),
        STATE_TOPIC.to_owned(),
        Limits {
            throttle_bytes_per_sec: 1_000_000,
            per_broker_concurrency: 1,
            poll_ms: 200,
            ..Limits::default()
        },
    );
    // 2026-11-21 is a Saturday.
    const SAT_0000: i64 = 1_795_219_200;
    let closing = SAT_0000 + 5 * 3600 - 3;
    let out = pass(&source, &runner, &settings, closing).await.unwrap();
    let RebalanceOutcome::Executed { summary, moves } = &out else {
        panic!("{out:?}")
    };
    assert!(*moves > 0);
    assert!(
        summary.starts_with("new plan: paused (deadline reached"),
        "{summary}"
    );
    let status = read_status(&client, STATE_TOPIC).await.unwrap().unwrap();
    assert!(!status.finished);
    assert_eq!(
        status.phase, "paused: deadline reached (maintenance window over)",
        "{status:?}"
    );
    assert!(
        !at_persisted_plan(&sim, &client, &status.plan_id).await,
        "the plan finished within the window: the test proves nothing"
    );

    // The next window: the paused plan goes on (not a new one) and converges. Simulated
    // time runs 20x faster meanwhile, so the remaining moves take seconds, not a minute.
    let sim = std::sync::Arc::new(sim);
    let clock = {
        let sim = sim.clone();
        tokio::spawn(async move {
            loop {
                sim.advance(Duration::from_secs(1));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let out = pass(&source, &runner, &settings, SAT_0000 + 2 * 3600)
        .await
        .unwrap();
    clock.abort();
    let RebalanceOutcome::Continued { summary } = &out else {
        panic!("{out:?}")
    };
    assert!(
        summary.starts_with(&format!(
            "continued plan {} (paused: deadline reached",
            status.plan_id
        )) && summary.ends_with("done (Converged)"),
        "{summary}"
    );
    let after = read_status(&client, STATE_TOPIC).await.unwrap().unwrap();
    assert_eq!(after.plan_id, status.plan_id);
    assert_eq!(after.phase, "done: converged");
    assert!(at_persisted_plan(&sim, &client, &status.plan_id).await);
    assert!(sim.state().moves.is_empty());
}
