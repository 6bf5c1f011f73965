//! Executor reconcile-step cost on a 1M-replica plan (333,334 partitions × RF 3 over 200
//! brokers, every partition moving one replica). Target (issue 6): < 50 ms of CPU per step.
//!
//! - `Executor::step (1M replicas, steady)`: 1,250 moves complete (observations fed), then one
//!   step issues the next batch — the usual step.
//! - `Executor::step (1M replicas, first)`: the first step after everything was observed,
//!   which sorts the move order once.
//! - `Executor::observe (1M replicas, full poll)`: feeding every partition's observation by
//!   name, for hosts that re-send the whole Metadata each poll.
//!
//! Each iteration runs on a fresh clone of the executor (`iter_batched_ref`: cloning and
//! dropping the 1M-replica state are outside the measurement).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench setup outside the measured code

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use keel_balancer::executor::{
    Action, ControlRecord, DesiredState, Executor, Limits, ObservedPartition, TargetPartition,
};

const BROKERS: i32 = 200;
const PARTITIONS: usize = 333_334;
const TOPICS: usize = 100;

fn current(i: usize) -> Vec<i32> {
    let b = (i as i32 * 7) % BROKERS;
    vec![b, (b + 1) % BROKERS, (b + 2) % BROKERS]
}

fn target(i: usize) -> Vec<i32> {
    let c = current(i);
    vec![c[0], c[1], (c[2] + 3 + (i as i32 % 50)) % BROKERS]
}

fn topic(i: usize) -> (String, i32) {
    (format!("topic-{:03}", i % TOPICS), (i / TOPICS) as i32)
}

fn observed(replicas: Vec<i32>) -> ObservedPartition {
    ObservedPartition {
        isr: replicas.clone(),
        leader: Some(replicas[0]),
        replicas,
        min_isr: 2,
        ..Default::default()
    }
}

fn desired() -> DesiredState {
    let targets = (0..PARTITIONS)
        .map(|i| {
            let (t, p) = topic(i);
            TargetPartition {
                topic: t,
                partition: p,
                replicas: target(i),
                size_bytes: 1_000_000 + (i as u64 * 7919) % 50_000_000,
            }
        })
        .collect();
    DesiredState::new(targets, Limits::default()).unwrap()
}

fn feed_all(ex: &mut Executor) {
    for i in 0..PARTITIONS {
        let (t, p) = topic(i);
        ex.observe_partition(&t, p, &observed(current(i)));
    }
}

/// Drives `ex` through the lease claim and first persist, acknowledging writes.
fn drive(ex: &mut Executor, now: u64) -> Vec<Action> {
    let mut all = Vec::new();
    for k in 0..4 {
        let step = ex.step(now + k);
        for a in &step.actions {
            match a {
                Action::PersistDesiredState { control, .. } => {
                    let c: ControlRecord = control.clone();
                    ex.observe_control_record(&c);
                }
                other => {
                    if let Some(id) = other.id() {
                        ex.action_succeeded(id);
                    }
                }
            }
        }
        all.extend(step.actions);
    }
    all
}

fn bench(c: &mut Criterion) {
    let d = desired();
    let mut fresh = Executor::new(d.clone(), "bench");
    feed_all(&mut fresh);
    // Claim and persist, then stop before the first real step (which builds the order).
    let s = fresh.step(1);
    for a in &s.actions {
        if let Action::PersistDesiredState { control, .. } = a {
            fresh.observe_control_record(control);
        }
    }
    let s = fresh.step(2);
    for a in &s.actions {
        if let Action::PersistDesiredState { control, .. } = a {
            fresh.observe_control_record(control);
        }
    }

    let mut g = c.benchmark_group("executor");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("Executor::step (1M replicas, first)", |b| {
        b.iter_batched_ref(
            || fresh.clone(),
            |ex| black_box(ex.step(3)),
            BatchSize::LargeInput,
        )
    });

    // Steady state: a running executor with a full batch in flight.
    let mut running = fresh.clone();
    let actions = drive(&mut running, 3);
    let issued: Vec<(String, i32)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::AlterReassignments { moves, .. } => {
                Some(moves.iter().map(|m| (m.topic.clone(), m.partition)))
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        issued.len() > 100,
        "expected a batch in flight, got {}",
        issued.len()
    );
    let done: Vec<(String, i32, ObservedPartition)> = issued
        .iter()
        .map(|(t, p)| {
            let i = d.index_of(t, *p).unwrap() as usize;
            (t.clone(), *p, observed(d.target(i).to_vec()))
        })
        .collect();
    g.bench_function("Executor::step (1M replicas, steady)", |b| {
        b.iter_batched_ref(
            || running.clone(),
            |ex| {
                for (t, p, o) in &done {
                    ex.observe_partition(t, *p, o);
                }
                let s = ex.step(10);
                assert!(
                    s.actions
                        .iter()
                        .any(|a| matches!(a, Action::AlterReassignments { .. }))
                );
                black_box(s)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("Executor::observe (1M replicas, full poll)", |b| {
        b.iter_batched_ref(
            || running.clone(),
            |ex| {
                feed_all(ex);
                black_box(ex.status())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
