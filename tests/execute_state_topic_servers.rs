//! `StateTopic` (the executor's `__keel_state`) against two independent Kafka-protocol
//! brokers: tansu 0.6 and the real Apache Kafka cluster (`./test.sh` starts both).
//!
//! tansu 0.6 differs from Kafka where a reader could trip: ListOffsets(latest) answers the
//! last batch's base offset + 1 (below the log end when that batch holds several records; the
//! executor's first write is a two-record batch: plan, then control record), a Fetch from an
//! offset inside a batch skips that whole batch, and a Fetch past the end is empty where
//! Kafka answers OffsetOutOfRange (Fetch's high watermark is right on both). `StateTopic`
//! must read and replay the same records in the same order on both:
//!
//! 1. executor A persists its desired state and claims the lease (one two-record batch), and
//!    reads its own records back;
//! 2. an operator writes two commands (one record each); A's next poll sees exactly those,
//!    and a poll with nothing new returns nothing;
//! 3. a fresh `StateTopic` replays everything: the plan record decodes to the same desired
//!    state, the control record is the lease A wrote, the commands are pending;
//! 4. executor B, restored from that replay, is fenced while A's lease runs, claims the next
//!    epoch once it has expired, and its record is what a further fresh replay ends with;
//!    the pending Pause applies to B once, by offset.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel::execute::control::send_command;
use keel::execute::records::{Replay, StateEvent, persist_records};
use keel::execute::{StateTopic, read_status};
use keel_balancer::executor::{
    Action, Command, DesiredState, Executor, Limits, PauseReason, Phase, TargetPartition,
};
use keel_wire::client::KafkaClient;

#[path = "common/real_servers.rs"]
mod real_servers;
use real_servers::{kafka_client, tansu_client, unique};

fn desired() -> DesiredState {
    DesiredState::new(
        (0..3)
            .map(|p| TargetPartition {
                topic: "orders".into(),
                partition: p,
                replicas: vec![1 + p % 3, 1 + (p + 1) % 3],
                size_bytes: 1_000_000,
            })
            .collect(),
        Limits::default(),
    )
    .unwrap()
}

/// Steps `ex` at `now` and returns the persist action it must emit (plan, control).
fn persist_of(ex: &mut Executor, now: u64) -> Vec<(String, Vec<u8>)> {
    let step = ex.step(now);
    let persist = step.actions.iter().find_map(|a| match a {
        Action::PersistDesiredState { plan, control } => {
            Some(persist_records(plan.as_deref(), control))
        }
        _ => None,
    });
    persist.unwrap_or_else(|| panic!("no PersistDesiredState in {:?}", step.actions))
}

async fn append(state: &StateTopic, recs: &[(String, Vec<u8>)]) -> i64 {
    let refs: Vec<(&str, Option<&[u8]>)> = recs
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_slice())))
        .collect();
    state.append(&refs).await.unwrap()
}

fn feed(ex: &mut Executor, records: &[keel::execute::StateRecord]) {
    for e in Replay::of(records).events {
        if let StateEvent::Control { control, .. } = e {
            ex.observe_control_record(&control);
        }
    }
}

async fn state_topic_round_trip(client: &KafkaClient, server: &str) {
    let name = unique(&format!("keel-state-{server}"));
    let now = keel::execute::state_topic::now_ms();
    let d = desired();

    // 1. A persists plan + lease in one two-record batch and reads it back.
    let mut state_a = StateTopic::open(client, &name).await.unwrap();
    assert!(
        state_a.read_all().await.unwrap().is_empty(),
        "{server}: new topic not empty"
    );
    let mut a = Executor::new(d.clone(), "holder-a");
    let first = persist_of(&mut a, now);
    assert_eq!(first.len(), 2, "plan record and control record");
    assert_eq!(append(&state_a, &first).await, 0);
    let own = state_a.poll().await.unwrap();
    let keys: Vec<(i64, &str)> = own.iter().map(|r| (r.offset, r.key.as_str())).collect();
    assert_eq!(
        keys,
        [(0, first[0].0.as_str()), (1, first[1].0.as_str())],
        "{server}: A's own batch"
    );
    feed(&mut a, &own);
    assert!(
        a.holds_lease(now),
        "{server}: A does not hold the lease it wrote"
    );
    assert_eq!(state_a.position(), 2, "{server}");

    // 2. Two operator commands, one record each; A polls exactly those, then nothing.
    let pause = send_command(client, &name, Command::Pause, Some(a.plan_id().to_owned()))
        .await
        .unwrap();
    let resume = send_command(client, &name, Command::Resume, None)
        .await
        .unwrap();
    assert_eq!((pause, resume), (2, 3), "{server}: command offsets");
    let cmds = state_a.poll().await.unwrap();
    let offsets: Vec<i64> = cmds.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [2, 3], "{server}: A's poll after the commands");
    assert!(
        state_a.poll().await.unwrap().is_empty(),
        "{server}: a poll with nothing new"
    );
    assert_eq!(state_a.position(), 4, "{server}");

    // 3. A fresh reader replays everything, in order.
    let mut fresh = StateTopic::open(client, &name).await.unwrap();
    let all = fresh.read_all().await.unwrap();
    let offsets: Vec<i64> = all.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3], "{server}: replay");
    let replay = Replay::of(&all);
    assert!(replay.bad.is_empty(), "{server}: {:?}", replay.bad);
    assert_eq!(replay.plan(a.plan_id()), Some(&d), "{server}: plan record");
    let (at, lease) = replay.last_control().unwrap();
    assert_eq!(at, 1);
    assert_eq!(lease.holder, "holder-a");
    assert_eq!(lease.epoch, 1);
    let status = read_status(client, &name).await.unwrap().unwrap();
    assert_eq!(status.phase, "running", "{server}");
    assert!(status.lease_live, "{server}");
    assert_eq!(
        status.pending_commands,
        ["Pause at offset 2", "Resume at offset 3"],
        "{server}"
    );

    // 4. B, restored from the replay, is fenced until A's lease expires, then takes over.
    let lease = lease.clone();
    let mut b = Executor::restore(
        replay.plan(a.plan_id()).unwrap().clone(),
        lease.clone(),
        "holder-b",
    )
    .unwrap();
    let fenced = b.step(now + 1);
    assert!(
        fenced.actions.is_empty(),
        "{server}: B acted under A's live lease: {:?}",
        fenced.actions
    );
    let later = lease.expires_at_ms + 1;
    let takeover = persist_of(&mut b, later);
    assert_eq!(takeover.len(), 1, "the plan record is written once");
    assert_eq!(append(&state_a, &takeover).await, 4);
    let mut fresh = StateTopic::open(client, &name).await.unwrap();
    let all = fresh.read_all().await.unwrap();
    assert_eq!(all.len(), 5, "{server}");
    feed(&mut b, &all);
    let replay = Replay::of(&all);
    let (at, last) = replay.last_control().unwrap();
    assert_eq!(
        (at, last.holder.as_str(), last.epoch),
        (4, "holder-b", 2),
        "{server}"
    );
    assert!(b.holds_lease(later), "{server}: B after its takeover");
    // The pending Pause applies to B once, by its offset; a replay of it does nothing.
    assert!(b.apply_command(2, Command::Pause));
    assert!(!b.apply_command(2, Command::Pause));
    assert_eq!(
        b.phase(),
        &Phase::Paused {
            reason: PauseReason::Command
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_topic_replays_plan_lease_and_commands_on_tansu() {
    let client = tansu_client("keel-state-topic-test").await;
    state_topic_round_trip(&client, "tansu").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_topic_replays_plan_lease_and_commands_on_kafka() {
    let client = kafka_client("keel-state-topic-test").await;
    state_topic_round_trip(&client, "kafka").await;
}
