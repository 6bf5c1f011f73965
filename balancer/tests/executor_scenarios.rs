//! Executor scenarios on the simulated cluster: a plain run, faults (a broker dies mid-move,
//! a move gets stuck, throttle calls fail), pause/resume/cancel, lease fencing, and a kill at
//! every step and every action position of a small plan.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_balancer::executor::testing::{Kill, RunEnd, RunOptions, SimCluster, SimPartition, run};
use keel_balancer::executor::{
    Action, DesiredState, Executor, Limits, ObservedPartition, Outcome, PauseReason, Phase,
    TargetPartition,
};

/// 6 brokers, `n` partitions of RF 3 on brokers 0..3, moving to 3..6 (or a rotation).
fn cluster(n: usize) -> (SimCluster, DesiredState) {
    let mut parts = Vec::new();
    let mut targets = Vec::new();
    for i in 0..n {
        let cur = vec![(i % 3) as i32, ((i + 1) % 3) as i32, ((i + 2) % 3) as i32];
        let tgt = if i % 4 == 3 {
            vec![cur[1], cur[0], cur[2]]
        } else {
            vec![3 + (i % 3) as i32, cur[0], 3 + ((i + 1) % 3) as i32]
        };
        let size = 1_000_000 * (1 + (i as u64 * 7) % 13);
        parts.push(SimPartition::new("t", i as i32, cur, size, 2));
        targets.push(TargetPartition {
            topic: "t".into(),
            partition: i as i32,
            replicas: tgt,
            size_bytes: size,
        });
    }
    parts.push(SimPartition::new("other", 0, vec![0, 1, 2], 1000, 2));
    let limits = Limits {
        throttle_bytes_per_sec: 10_000_000,
        per_broker_concurrency: 2,
        cluster_concurrency: 5,
        ..Limits::default()
    };
    (
        SimCluster::new(&[0, 1, 2, 3, 4, 5], parts),
        DesiredState::new(targets, limits).unwrap(),
    )
}

fn at_target(sim: &SimCluster, d: &DesiredState) -> bool {
    sim.partitions
        .iter()
        .all(|p| match d.index_of(&p.topic, p.partition) {
            Some(i) => {
                p.replicas == d.target(i as usize) && !p.moving() && p.leader == Some(p.replicas[0])
            }
            None => true,
        })
}

#[test]
fn plain_run_converges_with_throttles_cleared_and_leaders_elected() {
    let (mut sim, d) = cluster(20);
    let r = run(&mut sim, &d, &RunOptions::default());
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged), "{r:?}");
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert!(at_target(&sim, &d));
    assert!(
        sim.rates.is_empty() && sim.throttled.is_empty(),
        "throttles left: {:?} {:?}",
        sim.rates,
        sim.throttled
    );
    assert!(sim.starts.iter().all(|&s| s <= 1), "{:?}", sim.starts);
    assert_eq!(
        r.max_broker_moves, 2,
        "the per-broker cap should be reached and held"
    );
}

#[test]
fn smallest_moves_go_first() {
    let (mut sim, d) = cluster(12);
    let sim0 = sim.clone();
    let mut ex = Executor::new(d.clone(), "a");
    let mut batches = Vec::new();
    for _ in 0..10 {
        sim.observe_into(&mut ex);
        let step = ex.step(sim.now_ms);
        for a in &step.actions {
            if let Action::AlterReassignments { moves, .. } = a {
                batches.push(moves.clone());
            }
            let res = sim.apply(a);
            if let (Some(id), Ok(())) = (a.id(), res) {
                ex.action_succeeded(id);
            }
        }
        for c in sim.control_log.clone() {
            ex.observe_control_record(
                &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
            );
        }
    }
    // Reference: sort by (bytes copied, topic, partition), take greedily under both caps.
    let mut keyed: Vec<(u64, usize)> = (0..d.len())
        .map(|i| {
            let cur = &sim0.partitions[i].replicas;
            let adds = d.target(i).iter().filter(|b| !cur.contains(b)).count() as u64;
            (d.partitions[i].size_bytes * adds, i)
        })
        .collect();
    keyed.sort();
    let mut load = std::collections::BTreeMap::new();
    let mut expected = Vec::new();
    for (_, i) in keyed {
        let cur = &sim0.partitions[i].replicas;
        let t = d.target(i);
        let touched: Vec<i32> = t
            .iter()
            .filter(|b| !cur.contains(b))
            .chain(cur.iter().filter(|b| !t.contains(b)))
            .copied()
            .collect();
        if expected.len() < 5
            && touched
                .iter()
                .all(|b| load.get(b).copied().unwrap_or(0) < 2)
        {
            for b in touched {
                *load.entry(b).or_insert(0) += 1;
            }
            expected.push(d.partitions[i].partition);
        }
    }
    let first: Vec<i32> = batches[0].iter().map(|m| m.partition).collect();
    assert_eq!(first, expected);
}

#[test]
fn broker_dying_mid_move_pauses_cleanly_and_auto_resumes_when_back() {
    let (mut sim, d) = cluster(20);
    sim.faults.kill_broker = Some((3_000, 1));
    let opts = RunOptions {
        settle_paused_ms: 60_000,
        ..RunOptions::default()
    };
    let r = run(&mut sim, &d, &opts);
    assert!(
        matches!(r.end, RunEnd::Paused(PauseReason::Unhealthy { .. })),
        "{:?}",
        r.end
    );
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    let last =
        keel_balancer::executor::ControlRecord::decode(sim.control_log.last().unwrap().as_bytes())
            .unwrap();
    assert!(
        matches!(last.phase, Phase::Paused { .. }),
        "pause must be persisted: {:?}",
        last.phase
    );
    // The broker comes back: the executor resumes by itself and finishes.
    sim.set_alive(1, true);
    let r = run(&mut sim, &d, &RunOptions::default());
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged), "{r:?}");
    assert!(at_target(&sim, &d));
    assert!(sim.starts.iter().all(|&s| s <= 1), "{:?}", sim.starts);
}

#[test]
fn stuck_move_exhausts_the_budget_and_pauses() {
    let (mut sim, mut d) = cluster(8);
    d.limits.error_budget = 0;
    d.limits.stuck_grace_ms = 10_000;
    sim.faults.stuck.insert(0);
    sim.faults.stuck.insert(1);
    let r = run(
        &mut sim,
        &d,
        &RunOptions {
            settle_paused_ms: 30_000,
            ..RunOptions::default()
        },
    );
    match &r.end {
        RunEnd::Paused(PauseReason::ErrorBudget { last, .. }) => {
            assert!(last.contains("stuck"), "{last}")
        }
        other => panic!("expected an error-budget pause, got {other:?}"),
    }
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

#[test]
fn throttle_failures_within_budget_are_retried_and_converge() {
    let (mut sim, d) = cluster(10);
    sim.faults.fail_throttles = 2;
    sim.faults.fail_alters = 1;
    let r = run(&mut sim, &d, &RunOptions::default());
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged), "{r:?}");
    assert!(at_target(&sim, &d));
    assert!(sim.starts.iter().all(|&s| s <= 1));
}

#[test]
fn throttle_failures_beyond_budget_pause_without_unthrottled_moves() {
    let (mut sim, d) = cluster(10);
    sim.faults.fail_throttles = 100;
    let r = run(
        &mut sim,
        &d,
        &RunOptions {
            settle_paused_ms: 10_000,
            ..RunOptions::default()
        },
    );
    assert!(
        matches!(r.end, RunEnd::Paused(PauseReason::ErrorBudget { .. })),
        "{:?}",
        r.end
    );
    assert!(
        sim.starts.iter().all(|&s| s == 0),
        "no move may start without its throttle: {:?}",
        sim.starts
    );
}

#[test]
fn cancel_rolls_back_in_flight_moves_and_clears_throttles() {
    let (mut sim, d) = cluster(20);
    let original: Vec<Vec<i32>> = sim.partitions.iter().map(|p| p.replicas.clone()).collect();
    let mut ex = Executor::new(d.clone(), "a");
    let mut cancelled = false;
    let mut outcome = None;
    for k in 0..10_000 {
        sim.observe_into(&mut ex);
        if k == 6 {
            assert!(
                sim.partitions.iter().any(|p| p.moving()),
                "something should be in flight by now"
            );
            assert!(ex.cancel());
            cancelled = true;
        }
        let step = ex.step(sim.now_ms);
        for a in &step.actions {
            if let Action::Done { outcome: o } = a {
                outcome = Some(*o);
            }
            let res = sim.apply(a);
            if let Some(id) = a.id() {
                match res {
                    Ok(()) => ex.action_succeeded(id),
                    Err(e) => ex.action_failed(id, &e),
                }
            }
        }
        for c in sim.control_log.clone() {
            ex.observe_control_record(
                &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
            );
        }
        if outcome.is_some() {
            break;
        }
        sim.advance(step.poll_after_ms.min(200));
    }
    assert!(cancelled);
    assert_eq!(outcome, Some(Outcome::Cancelled));
    assert!(sim.partitions.iter().all(|p| !p.moving()));
    assert!(
        sim.cancels.iter().sum::<u32>() > 0,
        "in-flight moves must be cancelled with null targets"
    );
    assert!(sim.rates.is_empty() && sim.throttled.is_empty());
    for (p, orig) in sim.partitions.iter().zip(&original) {
        let i = d.index_of(&p.topic, p.partition);
        let ok = p.replicas == *orig || i.is_some_and(|i| p.replicas == d.target(i as usize));
        assert!(
            ok,
            "{}-{} ended at {:?}: neither original nor target",
            p.topic, p.partition, p.replicas
        );
    }
}

#[test]
fn pause_command_stops_new_moves_and_resume_continues() {
    let (mut sim, d) = cluster(20);
    let mut ex = Executor::new(d.clone(), "a");
    let drive = |ex: &mut Executor, sim: &mut SimCluster, steps: usize| {
        let mut alters = 0;
        for _ in 0..steps {
            sim.observe_into(ex);
            let step = ex.step(sim.now_ms);
            for a in &step.actions {
                if matches!(a, Action::AlterReassignments { .. }) {
                    alters += 1;
                }
                let res = sim.apply(a);
                if let (Some(id), Ok(())) = (a.id(), res) {
                    ex.action_succeeded(id);
                }
            }
            for c in sim.control_log.clone() {
                ex.observe_control_record(
                    &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
                );
            }
            sim.advance(step.poll_after_ms.min(1000));
        }
        alters
    };
    assert!(drive(&mut ex, &mut sim, 5) > 0);
    assert!(ex.pause());
    assert_eq!(drive(&mut ex, &mut sim, 200), 0, "no moves while paused");
    assert!(matches!(
        ex.phase(),
        Phase::Paused {
            reason: PauseReason::Command
        }
    ));
    assert!(ex.resume());
    drive(&mut ex, &mut sim, 2000);
    assert!(
        matches!(
            ex.phase(),
            Phase::Done {
                outcome: Outcome::Converged
            }
        ),
        "{:?}",
        ex.phase()
    );
}

#[test]
fn a_second_executor_is_fenced_while_the_lease_is_live() {
    let (mut sim, d) = cluster(4);
    let mut a = Executor::new(d.clone(), "a");
    sim.observe_into(&mut a);
    let s = a.step(1000);
    for act in &s.actions {
        sim.apply(act).unwrap();
    }
    let recs: Vec<_> = sim
        .control_log
        .iter()
        .map(|c| keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap())
        .collect();
    for r in &recs {
        a.observe_control_record(r);
    }
    assert!(a.holds_lease(1001));
    // B starts with the same plan, sees A's lease and must not act until it expires.
    let mut b = Executor::new(d.clone(), "b");
    for r in &recs {
        b.observe_control_record(r);
    }
    sim.observe_into(&mut b);
    let s = b.step(2000);
    assert!(
        s.actions.is_empty(),
        "fenced executor acted: {:?}",
        s.actions
    );
    assert!(!b.holds_lease(2000));
    // After expiry B claims epoch 2; A's later writes of epoch 1 are then stale.
    let later = 1000 + d.limits.lease_ms + 1;
    let s = b.step(later);
    let claim = match &s.actions[..] {
        [Action::PersistDesiredState { control, .. }] => control.clone(),
        other => panic!("expected a claim, got {other:?}"),
    };
    assert_eq!(claim.epoch, 2);
    b.observe_control_record(&claim);
    a.observe_control_record(&claim);
    assert!(b.holds_lease(later + 1));
    assert!(!a.holds_lease(later + 1));
    sim.observe_into(&mut a);
    let s = a.step(later + 2);
    assert!(
        s.actions.iter().all(|x| x.id().is_none()),
        "the fenced old holder issued cluster actions: {:?}",
        s.actions
    );
}

#[test]
fn first_claim_of_an_epoch_wins_in_log_order() {
    let (_, d) = cluster(2);
    let mut a = Executor::new(d.clone(), "a");
    let mut b = Executor::new(d.clone(), "b");
    let ca = match &a.step(10).actions[..] {
        [Action::PersistDesiredState { control, .. }] => control.clone(),
        o => panic!("{o:?}"),
    };
    let cb = match &b.step(10).actions[..] {
        [Action::PersistDesiredState { control, .. }] => control.clone(),
        o => panic!("{o:?}"),
    };
    assert_eq!(ca.epoch, cb.epoch);
    // The log has B's claim first, then A's: both agree B holds the lease.
    for ex in [&mut a, &mut b] {
        ex.observe_control_record(&cb);
        ex.observe_control_record(&ca);
    }
    assert!(b.holds_lease(11));
    assert!(!a.holds_lease(11));
}

#[test]
fn pre_existing_under_replication_is_tolerated_but_new_one_pauses() {
    let (mut sim, d) = cluster(6);
    // Broker 2 is dead before the plan starts: tolerated (the plan may be fixing it).
    sim.set_alive(2, false);
    let mut ex = Executor::new(d.clone(), "a");
    sim.observe_into(&mut ex);
    let s = ex.step(0);
    for a in &s.actions {
        sim.apply(a).unwrap();
    }
    for c in sim.control_log.clone() {
        ex.observe_control_record(
            &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
        );
    }
    sim.observe_into(&mut ex);
    for t in 1..3 {
        let s = ex.step(t);
        assert!(
            !s.actions.iter().any(|a| matches!(a, Action::Pause { .. })),
            "{:?}",
            s.actions
        );
        for a in &s.actions {
            sim.apply(a).unwrap();
        }
        for c in sim.control_log.clone() {
            ex.observe_control_record(
                &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
            );
        }
    }
    // A partition outside the plan newly loses a replica: pause.
    let bad = ObservedPartition {
        replicas: vec![3, 4, 5],
        isr: vec![3, 4],
        leader: Some(3),
        min_isr: 2,
        ..Default::default()
    };
    ex.observe_partition("other", 7, &bad);
    let mut paused = false;
    for t in 3..8 {
        let s = ex.step(t);
        paused |= s.actions.iter().any(|a| {
            matches!(
                a,
                Action::Pause {
                    reason: PauseReason::Unhealthy { .. }
                }
            )
        });
        for a in &s.actions {
            sim.apply(a).ok();
        }
        for c in sim.control_log.clone() {
            ex.observe_control_record(
                &keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap(),
            );
        }
    }
    assert!(paused);
}

#[test]
fn kill_at_every_step_and_every_action_position_does_no_work_twice() {
    let (sim0, d) = cluster(6);
    let mut base = sim0.clone();
    let r = run(&mut base, &d, &RunOptions::default());
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged));
    let steps = r.steps;
    let mut cases = 0;
    for step in 1..=steps {
        for cut in 0..4 {
            let mut sim = sim0.clone();
            let opts = RunOptions {
                kill: Kill::AtStep { step, cut },
                ..RunOptions::default()
            };
            let r = run(&mut sim, &d, &opts);
            assert_eq!(
                r.end,
                RunEnd::Done(Outcome::Converged),
                "kill at step {step} cut {cut}: {r:?}"
            );
            assert!(r.violations.is_empty(), "{:?}", r.violations);
            assert!(at_target(&sim, &d), "kill at step {step} cut {cut}");
            assert!(
                sim.starts.iter().all(|&s| s <= 1),
                "kill at step {step} cut {cut}: starts {:?}",
                sim.starts
            );
            assert!(
                sim.elections.iter().all(|&s| s <= 1),
                "kill at step {step} cut {cut}: elections {:?}",
                sim.elections
            );
            cases += 1;
        }
    }
    assert!(cases >= 20, "only {cases} kill points");
}

#[test]
fn executes_a_balancer_plan_onto_a_new_broker_with_kills() {
    use keel_balancer::generate::{GenOptions, generate_string};
    let text = generate_string(&GenOptions {
        brokers: 7,
        racks: 3,
        replicas: 300,
        new_brokers: 1,
        seed: 5,
        ..GenOptions::default()
    })
    .unwrap();
    let cluster = keel_balancer::snapshot::parse_str(&text).unwrap();
    let plan = keel_balancer::plan(
        &cluster,
        &keel_balancer::PlanOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(
        !plan.reassignments.is_empty(),
        "the new broker should attract moves"
    );
    let limits = Limits {
        throttle_bytes_per_sec: 1 << 30,
        ..Limits::default()
    };
    let d = DesiredState::from_plan(&cluster, &plan.reassignments, limits).unwrap();
    let ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    let parts = (0..cluster.partitions.len())
        .map(|p| {
            let part = &cluster.partitions[p];
            let reps = cluster
                .replicas_of(p)
                .iter()
                .map(|&b| cluster.brokers[b as usize].id)
                .collect();
            SimPartition::new(
                &cluster.topics[part.topic as usize],
                part.partition,
                reps,
                part.size_bytes,
                1,
            )
        })
        .collect();
    let mut sim = SimCluster::new(&ids, parts);
    let r = run(
        &mut sim,
        &d,
        &RunOptions {
            kill: Kill::Randomly,
            seed: 3,
            ..RunOptions::default()
        },
    );
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged), "{r:?}");
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert!(at_target(&sim, &d));
    assert!(sim.starts.iter().all(|&s| s <= 1));
    // The cluster now matches the plan's final assignment.
    let after = keel_balancer::plan::apply(&cluster, &plan.reassignments);
    for (p, sp) in sim.partitions.iter().enumerate() {
        let want: Vec<i32> = after
            .replicas_of(p)
            .iter()
            .map(|&b| after.brokers[b as usize].id)
            .collect();
        assert_eq!(sp.replicas, want, "{}-{}", sp.topic, sp.partition);
    }
}

#[test]
fn operator_commands_apply_once_by_log_position_across_restarts() {
    use keel_balancer::executor::{Command, ControlRecord, record};
    let (mut sim, d) = cluster(8);
    let mut ex = Executor::new(d.clone(), "a");
    let mut seen = 0;
    let step = |ex: &mut Executor, sim: &mut SimCluster, seen: &mut usize| {
        sim.observe_into(ex);
        let s = ex.step(sim.now_ms);
        for a in &s.actions {
            let res = sim.apply(a);
            if let (Some(id), Ok(())) = (a.id(), res) {
                ex.action_succeeded(id);
            }
        }
        for c in &sim.control_log[*seen..] {
            ex.observe_control_record(&ControlRecord::decode(c.as_bytes()).unwrap());
        }
        *seen = sim.control_log.len();
        sim.advance(s.poll_after_ms.min(500));
    };
    for _ in 0..6 {
        step(&mut ex, &mut sim, &mut seen);
    }
    // A pause at position 10 applies; the same position again does nothing.
    assert!(ex.apply_command(10, Command::Pause));
    assert_eq!(ex.next_command(), 11);
    assert!(ex.resume());
    assert!(
        !ex.apply_command(10, Command::Pause),
        "position 10 was applied"
    );
    assert!(matches!(ex.phase(), Phase::Running));
    // A later pause is persisted with its watermark; a restarted executor replaying the log
    // from the start skips both commands.
    assert!(ex.apply_command(12, Command::Pause));
    for _ in 0..4 {
        step(&mut ex, &mut sim, &mut seen);
    }
    let last = ControlRecord::decode(sim.control_log.last().unwrap().as_bytes()).unwrap();
    assert_eq!(last.next_command, 13);
    assert!(matches!(
        last.phase,
        Phase::Paused {
            reason: PauseReason::Command
        }
    ));
    let plan = record::decode_plan(sim.plan_record.as_ref().unwrap().as_bytes()).unwrap();
    let mut again = Executor::restore(plan, last, "a").unwrap();
    assert!(!again.apply_command(10, Command::Resume));
    assert!(!again.apply_command(12, Command::Resume));
    assert!(matches!(again.phase(), Phase::Paused { .. }));
    // A resume written while it was down (position 13) applies.
    assert!(again.apply_command(13, Command::Resume));
    assert!(matches!(again.phase(), Phase::Running));
    assert!(again.apply_command(20, Command::Cancel));
    assert!(matches!(again.phase(), Phase::Cancelling { .. }));
}

#[test]
fn a_finished_execution_releases_its_lease_at_once() {
    let (mut sim, d) = cluster(4);
    let r = run(&mut sim, &d, &RunOptions::default());
    assert_eq!(r.end, RunEnd::Done(Outcome::Converged));
    let recs: Vec<_> = sim
        .control_log
        .iter()
        .map(|c| keel_balancer::executor::ControlRecord::decode(c.as_bytes()).unwrap())
        .collect();
    let last = recs.last().unwrap().clone();
    assert!(matches!(last.phase, Phase::Done { .. }));
    // Another process, well before the finished lease would expire, claims at once.
    let mut b = Executor::new(d.clone(), "other-process");
    for r in &recs {
        b.observe_control_record(r);
    }
    sim.observe_into(&mut b);
    let now = last.expires_at_ms - d.limits.lease_ms / 2;
    let s = b.step(now);
    let claim = match &s.actions[..] {
        [Action::PersistDesiredState { control, .. }] => control.clone(),
        other => panic!("expected a claim, got {other:?}"),
    };
    assert_eq!(claim.epoch, last.epoch + 1);
    b.observe_control_record(&claim);
    assert!(b.holds_lease(now + 1));
    // A live lease of a running execution still fences (the rule is only for Done).
    let mut running = last.clone();
    running.phase = Phase::Running;
    running.epoch += 5;
    let mut c = Executor::new(d.clone(), "third");
    c.observe_control_record(&running);
    sim.observe_into(&mut c);
    assert!(c.step(now).actions.is_empty(), "fenced by a running lease");
}

#[test]
fn a_deadline_pause_is_resumed_by_the_next_run_but_an_operator_pause_is_not() {
    use keel_balancer::executor::{Command, ControlRecord, record};
    let (mut sim, d) = cluster(8);
    let mut ex = Executor::new(d.clone(), "a");
    let mut seen = 0;
    let step = |ex: &mut Executor, sim: &mut SimCluster, seen: &mut usize| {
        sim.observe_into(ex);
        let s = ex.step(sim.now_ms);
        for a in &s.actions {
            let res = sim.apply(a);
            if let (Some(id), Ok(())) = (a.id(), res) {
                ex.action_succeeded(id);
            }
        }
        for c in &sim.control_log[*seen..] {
            ex.observe_control_record(&ControlRecord::decode(c.as_bytes()).unwrap());
        }
        *seen = sim.control_log.len();
        sim.advance(s.poll_after_ms.min(500));
    };
    for _ in 0..6 {
        step(&mut ex, &mut sim, &mut seen);
    }
    // The run's deadline passes: paused, persisted as a deadline pause.
    assert!(ex.pause_at_deadline());
    assert!(!ex.pause_at_deadline(), "already paused");
    for _ in 0..4 {
        step(&mut ex, &mut sim, &mut seen);
    }
    let last = ControlRecord::decode(sim.control_log.last().unwrap().as_bytes()).unwrap();
    assert_eq!(
        last.phase,
        Phase::Paused {
            reason: PauseReason::Deadline
        }
    );
    let plan = record::decode_plan(sim.plan_record.as_ref().unwrap().as_bytes()).unwrap();
    // The next run (a restart from the log) resumes it by itself.
    let mut next = Executor::restore(plan.clone(), last.clone(), "b").unwrap();
    assert!(next.resume_after_deadline());
    assert!(matches!(next.phase(), Phase::Running));
    // An operator's pause written in between wins: that run stays paused.
    let mut held = Executor::restore(plan.clone(), last, "b").unwrap();
    assert!(held.apply_command(50, Command::Pause));
    assert_eq!(
        held.phase(),
        &Phase::Paused {
            reason: PauseReason::Command
        }
    );
    assert!(!held.resume_after_deadline());
    // Other pauses are never resumed that way either.
    let mut other = Executor::new(d, "c");
    assert!(other.pause());
    assert!(!other.resume_after_deadline());
}
