//! Property tests of the executor against the simulated cluster, named after the invariants
//! they check. Clusters, plans and faults are generated from a seed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_balancer::executor::testing::{
    Kill, Rng, RunEnd, RunOptions, RunReport, SimCluster, SimPartition, run,
};
use keel_balancer::executor::{
    ControlRecord, DesiredState, Limits, Outcome, Phase, TargetPartition,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    brokers: usize,
    partitions: usize,
    max_rf: usize,
    per_broker: u32,
    cluster_cap: u32,
    kill_broker: bool,
    revive: bool,
    stuck: bool,
    throttle_failures: u32,
    alter_failures: u32,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        3usize..9,
        1usize..30,
        1usize..4,
        1u32..4,
        1u32..12,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u32..4,
        0u32..3,
    )
        .prop_map(
            |(
                seed,
                brokers,
                partitions,
                max_rf,
                per_broker,
                cluster_cap,
                kill_broker,
                revive,
                stuck,
                tf,
                af,
            )| Case {
                seed,
                brokers,
                partitions,
                max_rf,
                per_broker,
                cluster_cap,
                kill_broker,
                revive,
                stuck,
                throttle_failures: tf,
                alter_failures: af,
            },
        )
}

fn pick(rng: &mut Rng, brokers: usize, n: usize) -> Vec<i32> {
    let mut all: Vec<i32> = (0..brokers as i32).collect();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    all.truncate(n);
    all
}

fn build(c: &Case) -> (SimCluster, DesiredState) {
    let mut rng = Rng::new(c.seed);
    let mut parts = Vec::new();
    let mut targets = Vec::new();
    for p in 0..c.partitions {
        let rf = 1 + rng.below(c.max_rf.min(c.brokers) as u64) as usize;
        let cur = pick(&mut rng, c.brokers, rf);
        let size = 1 + rng.below(40_000_000);
        let topic = if p % 3 == 0 { "a" } else { "b" };
        let min_isr = if rf >= 3 { 2 } else { 1 };
        parts.push(SimPartition::new(
            topic,
            p as i32,
            cur.clone(),
            size,
            min_isr,
        ));
        if rng.below(4) > 0 {
            targets.push(TargetPartition {
                topic: topic.into(),
                partition: p as i32,
                replicas: pick(&mut rng, c.brokers, rf),
                size_bytes: size,
            });
        }
    }
    let brokers: Vec<i32> = (0..c.brokers as i32).collect();
    let mut sim = SimCluster::new(&brokers, parts);
    if c.kill_broker {
        let b = rng.below(c.brokers as u64) as i32;
        let at = rng.below(20_000);
        sim.faults.kill_broker = Some((at, b));
        if c.revive {
            sim.faults.revive_broker = Some((at + 1 + rng.below(60_000), b));
        }
    }
    if c.stuck && c.partitions > 0 {
        sim.faults
            .stuck
            .insert(rng.below(c.partitions as u64) as usize);
    }
    sim.faults.fail_throttles = c.throttle_failures;
    sim.faults.fail_alters = c.alter_failures;
    let limits = Limits {
        throttle_bytes_per_sec: 20_000_000,
        per_broker_concurrency: c.per_broker,
        cluster_concurrency: c.cluster_cap,
        error_budget: 3,
        stuck_grace_ms: 30_000,
        ..Limits::default()
    };
    (sim, DesiredState::new(targets, limits).unwrap())
}

fn opts(kill: Kill, seed: u64) -> RunOptions {
    RunOptions {
        kill,
        seed,
        max_steps: 20_000,
        settle_paused_ms: 120_000,
        ..RunOptions::default()
    }
}

fn at_target(sim: &SimCluster, d: &DesiredState) -> bool {
    sim.partitions
        .iter()
        .all(|p| match d.index_of(&p.topic, p.partition) {
            Some(i) => p.replicas == d.target(i as usize) && !p.moving(),
            None => true,
        })
}

fn persisted_phase(sim: &SimCluster) -> Option<Phase> {
    sim.control_log
        .last()
        .map(|c| ControlRecord::decode(c.as_bytes()).unwrap().phase)
}

fn check_converged_or_paused(
    sim: &SimCluster,
    d: &DesiredState,
    r: &RunReport,
) -> Result<(), TestCaseError> {
    prop_assert!(r.violations.is_empty(), "violations: {:?}", r.violations);
    match &r.end {
        RunEnd::Done(Outcome::Converged) => {
            prop_assert!(
                at_target(sim, d),
                "reported done but the cluster is not at target"
            );
            prop_assert!(
                sim.rates.is_empty() && sim.throttled.is_empty(),
                "throttles left behind"
            );
            prop_assert!(
                matches!(persisted_phase(sim), Some(Phase::Done { .. })),
                "Done not persisted"
            );
        }
        RunEnd::Paused(_) => {
            prop_assert!(
                matches!(persisted_phase(sim), Some(Phase::Paused { .. })),
                "pause not persisted: {:?}",
                persisted_phase(sim)
            );
            // Clean: whatever is in flight heads to the desired target.
            for p in &sim.partitions {
                if p.moving() {
                    let i = d.index_of(&p.topic, p.partition);
                    prop_assert!(
                        i.is_some(),
                        "{}-{} moving but not in the plan",
                        p.topic,
                        p.partition
                    );
                    let heading: Vec<i32> = p.observe().heading_to().collect();
                    prop_assert_eq!(heading.as_slice(), d.target(i.unwrap() as usize));
                }
            }
        }
        other => prop_assert!(
            false,
            "neither converged nor paused: {other:?} after {} steps",
            r.steps
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn executor_always_converges_or_pauses_cleanly(c in case(), killing in any::<bool>()) {
        let (mut sim, d) = build(&c);
        let kill = if killing { Kill::Randomly } else { Kill::Never };
        let r = run(&mut sim, &d, &opts(kill, c.seed));
        check_converged_or_paused(&sim, &d, &r)?;
        // Without faults that can stop it, it converges.
        if !c.kill_broker && !c.stuck && c.throttle_failures + c.alter_failures <= 3 {
            prop_assert_eq!(&r.end, &RunEnd::Done(Outcome::Converged));
        }
    }

    #[test]
    fn executor_never_loses_a_replica(c in case()) {
        let (mut sim, d) = build(&Case { kill_broker: true, ..c.clone() });
        let r = run(&mut sim, &d, &opts(Kill::Randomly, c.seed ^ 7));
        let lost: Vec<&String> = r.violations.iter().filter(|v| v.contains("ISR") || v.contains("RF")).collect();
        prop_assert!(lost.is_empty(), "{:?}", lost);
    }

    #[test]
    fn restart_at_any_step_does_no_work_twice(c in case()) {
        let c = Case { kill_broker: false, stuck: false, ..c };
        let (mut sim, d) = build(&c);
        let r = run(&mut sim, &d, &opts(Kill::Randomly, c.seed));
        prop_assert!(r.restarts > 0 || r.steps < 3);
        check_converged_or_paused(&sim, &d, &r)?;
        for (i, p) in sim.partitions.iter().enumerate() {
            prop_assert!(sim.starts[i] <= 1, "{}-{} reassigned {} times", p.topic, p.partition, sim.starts[i]);
            prop_assert!(sim.elections[i] <= 1, "{}-{} elected {} times", p.topic, p.partition, sim.elections[i]);
        }
        if c.throttle_failures + c.alter_failures <= 3 {
            prop_assert_eq!(&r.end, &RunEnd::Done(Outcome::Converged));
            // None lost: every partition of the plan reached its target.
            prop_assert!(at_target(&sim, &d));
        }
    }

    #[test]
    fn per_broker_concurrency_never_exceeded(c in case(), killing in any::<bool>()) {
        let (mut sim, d) = build(&c);
        let kill = if killing { Kill::Randomly } else { Kill::Never };
        let r = run(&mut sim, &d, &opts(kill, c.seed));
        prop_assert!(r.max_broker_moves <= c.per_broker, "{} > {}", r.max_broker_moves, c.per_broker);
        let over: Vec<&String> = r.violations.iter().filter(|v| v.contains("cap")).collect();
        prop_assert!(over.is_empty(), "{:?}", over);
    }
}
