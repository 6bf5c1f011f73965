//! `keel execute` (the binary) against the real 3-broker Apache Kafka KRaft cluster that
//! `./test.sh` starts (`KEEL_KAFKA_BOOTSTRAP`, `KEEL_KAFKA_HOME`): a throttled reassignment
//! of a topic with data (throttles set while moving, cleared at the end, preferred leaders
//! elected); SIGKILL mid-way and restart (converges, nothing issued twice, no data lost);
//! a broker stopped mid-execution (a clean pause with its reason, then resume).
//!
//! Every test uses its own topic and its own state topic, so they run side by side with
//! each other and with other people's tests on the shared cluster.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel::execute::{StateTopic, read_status};
use keel_balancer::executor::{ControlRecord, Outcome, Phase};
use keel_wire::batch::RecordBatchBuilder;
use keel_wire::client::{
    ClientConfig, ConfigResource, ConfigSource, KafkaClient, NewTopic, OffsetSpec,
};

/// The tests of this file run one at a time: one of them stops a broker, which would make
/// the others pause (correctly, but slowly or with a failing throttle call on that broker).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::kafka_bootstrap as bootstrap;

#[path = "common/keel_execute.rs"]
mod keel_execute;
use keel_execute::Exec;

async fn client() -> KafkaClient {
    real_servers::kafka_client("keel-execute-test").await
}

fn unique(prefix: &str) -> String {
    real_servers::unique(&format!("keel-exec-{prefix}"))
}

fn kafka_home() -> String {
    match std::env::var("KEEL_KAFKA_HOME") {
        Ok(h) if !h.is_empty() => h,
        _ => panic!("KEEL_KAFKA_HOME is not set: run ./test.sh (or tests/servers/kafka-start.sh)"),
    }
}

async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates `topic` with explicit assignments and writes `bytes_per_partition` of data to
/// each partition; returns the records written per partition.
async fn topic_with_data(
    c: &KafkaClient,
    topic: &str,
    assignments: Vec<Vec<i32>>,
    bytes_per_partition: usize,
) -> Vec<i64> {
    let n = assignments.len();
    let mut t = NewTopic::new(topic, -1, -1);
    t.assignments = Some(assignments);
    let out = c.create_topics(&[t], false).await.unwrap();
    assert!(out.iter().all(|o| o.error.is_none()), "{out:?}");
    eventually("topic leaders", 30, || async {
        let meta = c.refresh_metadata().await.ok()?;
        let t = meta.topics.get(topic)?;
        (t.partitions.len() == n && t.partitions.iter().all(|p| p.leader.is_some())).then_some(())
    })
    .await;
    let value = vec![0x5au8; 10_000];
    let mut counts = Vec::new();
    for p in 0..n as i32 {
        let mut written = 0i64;
        while (written as usize) * value.len() < bytes_per_partition {
            let mut b = RecordBatchBuilder::new(0);
            for _ in 0..50 {
                b.append(1_700_000_000_000, Some(b"k"), Some(&value), &[])
                    .unwrap();
            }
            c.produce(topic, p, Bytes::from(b.build().unwrap()))
                .await
                .unwrap();
            written += 50;
        }
        counts.push(written);
    }
    counts
}

impl Exec {
    async fn wait_line(&self, what: &str, secs: u64) {
        eventually(
            &format!("stderr line containing {what:?}"),
            secs,
            || async { self.lines().iter().any(|l| l.contains(what)).then_some(()) },
        )
        .await
    }
}

fn write_plan(dir: &Path, topic: &str, targets: &[Vec<i32>]) -> String {
    let parts: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(p, r)| format!(r#"{{"topic":"{topic}","partition":{p},"replicas":{r:?}}}"#))
        .collect();
    let path = dir.join("plan.json");
    std::fs::write(
        &path,
        format!(r#"{{"version":1,"partitions":[{}]}}"#, parts.join(",")),
    )
    .unwrap();
    path.display().to_string()
}

/// Broker and topic throttle configs as set now: (broker rates, topic lists).
async fn throttles(c: &KafkaClient, topic: &str) -> (BTreeMap<i32, String>, Vec<String>) {
    let mut rates = BTreeMap::new();
    for b in [0, 1, 2] {
        if let Ok(entries) = c.describe_configs(&ConfigResource::Broker(b), None).await {
            for e in entries {
                if e.name == "leader.replication.throttled.rate"
                    && e.source == ConfigSource::DynamicBroker
                    && let Some(v) = e.value
                    && !v.is_empty()
                {
                    rates.insert(b, v);
                }
            }
        }
    }
    let mut lists = Vec::new();
    let entries = c
        .describe_configs(&ConfigResource::Topic(topic.into()), None)
        .await
        .unwrap();
    for e in entries {
        if e.name.ends_with(".replication.throttled.replicas")
            && e.source == ConfigSource::DynamicTopic
            && let Some(v) = e.value
            && !v.is_empty()
        {
            lists.push(format!("{}={v}", e.name));
        }
    }
    (rates, lists)
}

async fn assert_final(c: &KafkaClient, topic: &str, targets: &[Vec<i32>], counts: &[i64]) {
    let meta = eventually("final leaders", 30, || async {
        let meta = c.refresh_metadata().await.ok()?;
        let t = meta.topics.get(topic)?;
        t.partitions
            .iter()
            .all(|p| p.leader == Some(p.replicas[0]) && p.isr.len() == p.replicas.len())
            .then_some(meta)
    })
    .await;
    let t = &meta.topics[topic];
    for (p, want) in targets.iter().enumerate() {
        let got = &t
            .partitions
            .iter()
            .find(|x| x.partition == p as i32)
            .unwrap()
            .replicas;
        assert_eq!(got, want, "{topic}-{p} replicas");
    }
    let reqs: Vec<_> = (0..counts.len() as i32)
        .map(|p| (topic.to_string(), p, OffsetSpec::Latest))
        .collect();
    let ends = c.list_offsets(&reqs).await.unwrap();
    for (p, e) in ends.iter().enumerate() {
        assert_eq!(e.offset, counts[p], "{topic}-{p}: every record still there");
    }
}

async fn control_records(c: &KafkaClient, state_topic: &str) -> Vec<ControlRecord> {
    let mut st = StateTopic::open(c, state_topic).await.unwrap();
    st.read_all()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.key.starts_with("executor/lease/"))
        .filter_map(|r| ControlRecord::decode(r.value.as_deref()?).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reassignment_sets_and_clears_throttles_and_elects_preferred_leaders() {
    let _serial = SERIAL.lock().await;
    let c = client().await;
    let topic = unique("move");
    let state = unique("state");
    let dir = tempfile::tempdir().unwrap();
    let counts = topic_with_data(
        &c,
        &topic,
        vec![vec![0, 1], vec![1, 2], vec![2, 0]],
        1_500_000,
    )
    .await;
    // Every move keeps the current leader in the set but makes another broker preferred,
    // so the final election is needed.
    let targets = vec![vec![2, 0], vec![0, 1], vec![1, 2]];
    let plan = write_plan(dir.path(), &topic, &targets);
    let bs = bootstrap();
    let exec = Exec::start(&[
        "--bootstrap",
        &bs,
        "--plan",
        &plan,
        "--throttle",
        "300K",
        "--concurrency",
        "1",
        "--state-topic",
        &state,
        "--poll",
        "500ms",
        "--progress",
        "2s",
        "--health",
        "plan",
    ]);
    exec.wait_line("issue reassignment", 60).await;
    // While moving: the throttles are set, read back from the brokers and the topic.
    let (rates, lists) = eventually("throttles set while moving", 30, || async {
        let (r, l) = throttles(&c, &topic).await;
        (!r.is_empty() && !l.is_empty()).then_some((r, l))
    })
    .await;
    assert!(rates.values().all(|v| v == "300000"), "{rates:?}");
    assert!(lists.iter().any(|l| l.starts_with("leader.")), "{lists:?}");
    assert!(
        lists.iter().any(|l| l.starts_with("follower.")),
        "{lists:?}"
    );
    let (code, lines) = exec.finish(240).await;
    assert_eq!(code, 0, "exit code; stderr:\n{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("preferred-leader election")),
        "election ran"
    );
    assert!(
        lines.iter().any(|l| l.contains("clear throttles")),
        "throttles cleared"
    );
    let (rates, lists) = throttles(&c, &topic).await;
    assert!(lists.is_empty(), "topic throttle lists cleared: {lists:?}");
    // Other tests may throttle brokers at the same time; ours used exactly 300000.
    assert!(
        !rates.values().any(|v| v == "300000"),
        "broker rates cleared: {rates:?}"
    );
    assert_final(&c, &topic, &targets, &counts).await;
    let recs = control_records(&c, &state).await;
    assert!(matches!(
        recs.last().unwrap().phase,
        Phase::Done {
            outcome: Outcome::Converged
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_way_and_restart_converges_without_reissuing_or_losing_data() {
    let _serial = SERIAL.lock().await;
    let c = client().await;
    let topic = unique("kill");
    let state = unique("state");
    let dir = tempfile::tempdir().unwrap();
    let current = vec![vec![0, 1], vec![1, 2], vec![2, 0], vec![0, 1]];
    let targets = vec![vec![2, 1], vec![0, 2], vec![1, 0], vec![2, 0]];
    let counts = topic_with_data(&c, &topic, current, 800_000).await;
    let plan = write_plan(dir.path(), &topic, &targets);
    let bs = bootstrap();
    let common = [
        "--bootstrap",
        &bs,
        "--throttle",
        "300K",
        "--concurrency",
        "1",
        "--cluster-concurrency",
        "1",
        "--state-topic",
        &state,
        "--poll",
        "500ms",
        "--lease",
        "6s",
        "--health",
        "plan",
    ];
    let mut first_args = common.to_vec();
    first_args.extend(["--plan", plan.as_str()]);
    let first = Exec::start(&first_args);
    first.wait_line("issue reassignment", 60).await;
    // Kill while that move is in flight.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let first_lines = first.sigkill();
    let first_issued: Vec<String> = first_lines
        .iter()
        .filter_map(|l| l.split("issue reassignment ").nth(1))
        .map(|s| s.split(" -> ").next().unwrap().to_string())
        .collect();
    assert!(
        !first_issued.is_empty() && first_issued.len() < targets.len(),
        "{first_issued:?}"
    );
    let in_flight = c.list_partition_reassignments(None).await.unwrap();
    let in_flight: Vec<String> = in_flight
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| format!("{}-{}", r.topic, r.partition))
        .collect();
    // Restart without --plan: it continues the plan in the state topic (a new process id,
    // so it waits for the dead one's lease to expire first).
    let second = Exec::start(&common);
    let (code, lines) = second.finish(300).await;
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("continuing plan")),
        "{lines:?}"
    );
    let second_issued: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split("issue reassignment ").nth(1))
        .map(|s| s.split(" -> ").next().unwrap().to_string())
        .collect();
    let mut all: Vec<&String> = first_issued.iter().chain(&second_issued).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        n,
        "a partition was issued twice: first {first_issued:?} second {second_issued:?}"
    );
    for p in &in_flight {
        assert!(
            !second_issued.contains(p),
            "{p} was in flight at the kill and re-issued"
        );
    }
    assert_eq!(n, targets.len(), "every move issued exactly once");
    assert_final(&c, &topic, &targets, &counts).await;
    let recs = control_records(&c, &state).await;
    let holders: BTreeSet<&str> = recs.iter().map(|r| r.holder.as_str()).collect();
    assert_eq!(
        holders.len(),
        2,
        "two incarnations held the lease: {holders:?}"
    );
    let epochs: Vec<u64> = recs.iter().map(|r| r.epoch).collect();
    assert!(
        epochs.windows(2).all(|w| w[0] <= w[1]),
        "epochs only grow: {epochs:?}"
    );
}

/// Restarts a stopped broker when dropped (also when the test fails) and waits until it is
/// back in the metadata.
struct BrokerBack {
    node: i32,
    back: bool,
}

fn pid_of(node: i32) -> String {
    std::fs::read_to_string(format!("{}/run/node-{node}.pid", kafka_home()))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn process_alive(pid: &str) -> bool {
    !pid.is_empty()
        && Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Whether the metadata lists broker `node` (own thread and runtime: callable anywhere).
fn in_metadata(node: i32) -> bool {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let c = KafkaClient::new(ClientConfig::new(&bootstrap())).ok()?;
            let m = c.refresh_metadata().await.ok()?;
            Some(m.brokers.contains_key(&node))
        })
        .unwrap_or(false)
    })
    .join()
    .unwrap_or(false)
}

/// Starts broker `node` unless its process runs, and waits (up to 120 s) until the process
/// lives and the metadata lists it.
fn start_broker_and_wait(node: i32) -> bool {
    // A stopping broker holds its directory lock until it exits: wait for that first.
    let deadline = Instant::now() + Duration::from_secs(120);
    let old = pid_of(node);
    while process_alive(&old) && !in_metadata(node) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    if !process_alive(&pid_of(node)) {
        let script = format!("{}/run/start-node-{node}.sh", kafka_home());
        let _ = Command::new(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if process_alive(&pid_of(node)) && in_metadata(node) {
            return true;
        }
    }
    false
}

impl BrokerBack {
    /// Stops broker `node` (SIGTERM, a controlled shutdown) and waits until its process has
    /// exited.
    fn stop(node: i32) -> BrokerBack {
        let pid = pid_of(node);
        assert!(
            process_alive(&pid),
            "broker {node} is not running (pid {pid:?})"
        );
        let st = Command::new("kill").arg(&pid).status().unwrap();
        assert!(st.success(), "kill broker {node}");
        let b = BrokerBack { node, back: false };
        let deadline = Instant::now() + Duration::from_secs(120);
        while process_alive(&pid) {
            assert!(
                Instant::now() < deadline,
                "broker {node} did not stop in 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        b
    }

    fn start_and_wait(&mut self) {
        self.back = start_broker_and_wait(self.node);
        assert!(self.back, "broker {} did not come back in 120 s", self.node);
    }
}

impl Drop for BrokerBack {
    fn drop(&mut self) {
        if !self.back {
            start_broker_and_wait(self.node);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_mid_execution_pauses_with_its_reason_then_resumes() {
    let _serial = SERIAL.lock().await;
    let c = client().await;
    let topic = unique("broker");
    let state = unique("state");
    let dir = tempfile::tempdir().unwrap();
    // Every partition has a replica on broker 2; the moves go between 0 and 1 only, so the
    // plan never needs broker 2 and its loss shows up as under-replication.
    let current = vec![vec![0, 2], vec![1, 2], vec![0, 2]];
    let targets = vec![vec![1, 2], vec![0, 2], vec![1, 2]];
    let counts = topic_with_data(&c, &topic, current, 600_000).await;
    let plan = write_plan(dir.path(), &topic, &targets);
    let bs = bootstrap();
    let exec = Exec::start(&[
        "--bootstrap",
        &bs,
        "--plan",
        &plan,
        "--throttle",
        "200K",
        "--concurrency",
        "1",
        "--cluster-concurrency",
        "1",
        "--state-topic",
        &state,
        "--poll",
        "500ms",
        "--health",
        "plan",
        "--no-auto-resume",
    ]);
    exec.wait_line("issue reassignment", 60).await;
    let mut broker = BrokerBack::stop(2);
    let (code, lines) = exec.finish(120).await;
    assert_eq!(code, 3, "paused exit; stderr:\n{}", lines.join("\n"));
    let reason = lines
        .iter()
        .find(|l| l.contains("paused: "))
        .expect("a pause line");
    assert!(
        reason.contains("under-replicated")
            || reason.contains("min.insync")
            || reason.contains("down"),
        "the reason names the harm: {reason}"
    );
    let status = read_status(&c, &state).await.unwrap().unwrap();
    assert!(status.phase.starts_with("paused"), "{status:?}");
    broker.start_and_wait();
    // An operator resumes once the cluster is healthy again: every replica back in sync.
    eventually(
        "topic fully in sync after the broker's return",
        120,
        || async {
            let meta = c.refresh_metadata().await.ok()?;
            let t = meta.topics.get(&topic)?;
            t.partitions
                .iter()
                .all(|p| p.isr.len() >= 2 && p.leader.is_some())
                .then_some(())
        },
    )
    .await;
    // The operator resumes; the next run picks the command up and finishes.
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "execute",
            "--bootstrap",
            &bs,
            "--state-topic",
            &state,
            "resume",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Exec::start(&[
        "--bootstrap",
        &bs,
        "--state-topic",
        &state,
        "--poll",
        "500ms",
        "--health",
        "plan",
        "--max-pause",
        "60s",
    ]);
    let (code, lines) = again.finish(300).await;
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("applied Resume")),
        "{lines:?}"
    );
    assert_final(&c, &topic, &targets, &counts).await;
}

#[test]
fn bad_plan_file_and_unreachable_bootstrap_give_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"version\":1,\"partitions\":[{\"topic\":1}]}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["execute", "--bootstrap", "127.0.0.1:1", "--plan"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("bad.json"), "{err}");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"version":1,"partitions":[]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["execute", "--bootstrap", "127.0.0.1:1", "--plan"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
