//! The sidecar's rebalance loop against the real 3-broker Apache Kafka cluster (`./test.sh`
//! starts it): one pass in `propose` mode snapshots the live cluster (`crate::snapshot`),
//! finds the imbalance a topic piled onto one broker causes, and writes a plan that is valid
//! for that cluster, without executing anything; `keel sidecar --once` does the same from
//! the command line.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use keel::sidecar::LiveCluster;
use keel::sidecar::rebalance::{PlanRunner, RebalanceOutcome, RebalanceSettings, pass};
use keel::sidecar::window::Policy;
use keel_balancer::{Cluster, Plan, PlanOptions};
use keel_wire::client::{ClientConfig, KafkaClient, NewTopic};

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::kafka_bootstrap as bootstrap;

struct MustNotRun;
impl PlanRunner for MustNotRun {
    async fn execute(&self, _: &Cluster, _: &Plan, _: Duration) -> anyhow::Result<String> {
        panic!("propose must never execute")
    }
}

async fn skew(c: &KafkaClient) -> (String, i32) {
    // 40 single-replica partitions all on the lowest broker: the replica-count goal is then
    // out of band whatever else the shared cluster holds.
    let brokers: Vec<i32> = c
        .refresh_metadata()
        .await
        .unwrap()
        .brokers
        .keys()
        .copied()
        .collect();
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let topic = format!(
        "sidecar-rebalance-{:x}{}",
        n & 0xffff_ffff,
        std::process::id()
    );
    let mut t = NewTopic::new(topic.clone(), 40, 1);
    t.assignments = Some(vec![vec![brokers[0]]; 40]);
    let out = c.create_topics(&[t], false).await.unwrap();
    assert!(out.iter().all(|o| o.exists()), "{out:?}");
    for _ in 0..50 {
        let m = c.refresh_metadata().await.unwrap();
        if m.topics.get(&topic).is_some_and(|t| {
            t.partitions.len() == 40 && t.partitions.iter().all(|p| p.leader.is_some())
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (topic, brokers[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_propose_pass_writes_a_plan_valid_for_the_live_cluster() {
    let c = KafkaClient::connect(ClientConfig::new(&bootstrap()))
        .await
        .unwrap();
    let (topic, _) = skew(&c).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = RebalanceSettings {
        policy: Policy::Propose,
        windows: vec![],
        plan: PlanOptions::default(),
        plan_dir: dir.path().to_path_buf(),
    };
    let source = LiveCluster::new(c.clone(), Duration::from_secs(1), None);
    let now = 1_795_219_200;
    let out = pass(&source, &MustNotRun, &settings, now).await.unwrap();
    let RebalanceOutcome::Proposed {
        path,
        moves,
        outside_window: false,
    } = out
    else {
        panic!("expected a proposal, got {out:?}")
    };
    assert!(moves > 0);
    assert_eq!(path, dir.path().join(format!("plan-{now}.json")));
    let text = std::fs::read_to_string(&path).unwrap();
    let targets = keel::execute::parse_plan(&text).unwrap();
    assert!(!targets.is_empty());
    let meta = c.refresh_metadata().await.unwrap();
    let ongoing = c.list_partition_reassignments(None).await.unwrap();
    keel::execute::plan_input::check_against(&meta, &ongoing, &targets).unwrap();
    assert!(
        targets.iter().any(|t| t.topic == topic),
        "the piled-up topic is spread: {text:.400}"
    );
    let kafka = std::fs::read_to_string(dir.path().join("latest.kafka.json")).unwrap();
    assert_eq!(
        keel::execute::parse_plan(&kafka).unwrap().len(),
        targets.len()
    );
    // Nothing moved: propose never touches the cluster.
    let after = c.refresh_metadata().await.unwrap();
    assert!(
        after.topics[&topic]
            .partitions
            .iter()
            .all(|p| p.replicas.len() == 1
                && meta.topics[&topic].partitions[p.partition as usize].replicas == p.replicas)
    );
}

#[test]
fn sidecar_once_proposes_from_the_command_line() {
    let boot = bootstrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = rt
        .block_on(KafkaClient::connect(ClientConfig::new(&boot)))
        .unwrap();
    let (_, broker) = rt.block_on(skew(&c));
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    let cfg = dir.path().join("keel.toml");
    let list: Vec<String> = boot.split(',').map(|b| format!("{b:?}")).collect();
    std::fs::write(
        &cfg,
        format!(
            "[cluster]\nbootstrap = [{}]\nbroker_id = {broker}\n[rebalance]\npolicy = \"propose\"\nsample = \"1s\"\nplan_dir = {:?}\n",
            list.join(", "),
            plans.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["sidecar", "--config", cfg.to_str().unwrap(), "--once"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rebalance: proposed"), "{stdout}");
    let latest = std::fs::read_to_string(plans.join("latest.json")).unwrap();
    assert!(!keel::execute::parse_plan(&latest).unwrap().is_empty());
}
