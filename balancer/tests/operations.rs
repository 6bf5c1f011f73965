//! Operations: restricted rebalance (topics, brokers), what-if edits, remove broker.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{BrokerState, Cluster, PlanOptions, plan, snapshot, whatif};

fn cluster(skew: f64) -> Cluster {
    let o = GenOptions {
        brokers: 12,
        racks: 3,
        replicas: 2400,
        skew,
        seed: 11,
        ..GenOptions::default()
    };
    snapshot::parse_str(&generate_string(&o).unwrap()).unwrap()
}

#[test]
fn restricted_rebalance_moves_only_named_topics() {
    // Skew 0.6 keeps every broker under its capacity limit (a restricted plan cannot fix
    // capacity with the other topics pinned; that case is an infeasibility error).
    let c = cluster(0.6);
    let topic = c.topics[0].clone();
    let opts = PlanOptions {
        topics: Some(vec![topic.clone()]),
        ..PlanOptions::default()
    };
    let p = plan(&c, &opts, &mut |_| {}).unwrap();
    assert!(
        !p.reassignments.is_empty(),
        "a skewed cluster gives the topic something to do"
    );
    let over = cluster(1.5);
    let pinned = PlanOptions {
        topics: Some(vec![over.topics[0].clone()]),
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&over, &pinned, &mut |_| {}),
        Err(keel_balancer::BalancerError::Infeasible { .. })
    ));
    for r in &p.reassignments {
        assert_eq!(
            c.topics[c.partitions[r.partition as usize].topic as usize],
            topic
        );
    }
}

#[test]
fn restricted_rebalance_keeps_other_brokers_untouched() {
    let c = cluster(1.5);
    let ids: Vec<i32> = c.brokers.iter().take(6).map(|b| b.id).collect();
    let opts = PlanOptions {
        brokers: Some(ids.clone()),
        ..PlanOptions::default()
    };
    let p = plan(&c, &opts, &mut |_| {}).unwrap();
    assert!(!p.reassignments.is_empty());
    for r in &p.reassignments {
        let old = c.replicas_of(r.partition as usize);
        for b in old
            .iter()
            .filter(|b| !r.replicas.contains(b))
            .chain(r.replicas.iter().filter(|b| !old.contains(b)))
        {
            assert!(
                ids.contains(&c.brokers[*b as usize].id),
                "broker {} outside --brokers changed",
                c.brokers[*b as usize].id
            );
        }
    }
}

#[test]
fn losing_a_rack_drains_it_and_keeps_other_racks_distinct() {
    let mut c = cluster(0.0);
    whatif::lose_rack(&mut c, "rack-0").unwrap();
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let after = keel_balancer::plan::apply(&c, &p.reassignments);
    for &b in &after.replicas {
        assert_ne!(after.brokers[b as usize].rack.as_deref(), Some("rack-0"));
    }
    assert!(whatif::lose_rack(&mut c, "nowhere").is_err());
}

#[test]
fn hypothetical_broker_and_scaled_load_are_planned_for() {
    let mut c = cluster(0.0);
    whatif::add_broker(&mut c, 99, Some("rack-1"), [8e12, 4e8, 8e8, 16.0]).unwrap();
    let p = plan(
        &c,
        &PlanOptions {
            only_new_destinations: true,
            ..PlanOptions::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let b99 = c.broker_index(99).unwrap();
    assert!(
        p.reassignments.iter().any(|r| r.replicas.contains(&b99)),
        "the new broker gets replicas"
    );
    // Doubling the load of a ~45%-full cluster cannot fit under the 80% limit.
    let mut heavy = cluster(0.0);
    whatif::scale_load(&mut heavy, 2.0).unwrap();
    match plan(&heavy, &PlanOptions::default(), &mut |_| {}) {
        Err(keel_balancer::BalancerError::Infeasible { goal, .. }) => assert_eq!(goal, "capacity"),
        other => panic!(
            "expected capacity infeasibility, got {:?}",
            other.map(|p| p.reassignments.len())
        ),
    }
}

#[test]
fn removing_a_broker_drains_only_it_without_rebalancing() {
    // No skew: no other hard goal needs fixing, so only the drained replicas move.
    let mut c = cluster(0.0);
    let gone = c.brokers[3].id;
    whatif::set_state(&mut c, gone, BrokerState::Removing, "remove-broker").unwrap();
    let p = plan(
        &c,
        &PlanOptions {
            rebalance: false,
            ..PlanOptions::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let held = c.replicas.iter().filter(|&&b| b == 3).count() as u64;
    assert_eq!(
        p.cost.replica_moves, held,
        "exactly the removed broker's replicas move"
    );
    for r in &p.reassignments {
        assert!(c.replicas_of(r.partition as usize).contains(&3));
        assert!(!r.replicas.contains(&3));
    }
}

/// The issue's own headline shape in miniature: more replicas than brokers × the default
/// limit. The default is an error that names the goal, the numbers and the remedy; with
/// `best_effort` the limit is set aside and reported, and every other goal is still met.
#[test]
fn best_effort_sets_an_infeasible_replica_limit_aside_and_balances_the_rest() {
    let c = cluster(1.0); // 12 brokers, 2400 replicas: 200 per broker on average
    let mut strict = PlanOptions::default();
    strict.goals.max_replicas_per_broker = 150;
    match plan(&c, &strict, &mut |_| {}) {
        Err(keel_balancer::BalancerError::Infeasible {
            goal,
            blocking,
            remedy,
        }) => {
            assert_eq!(goal, "replica-limit");
            assert!(blocking.contains("average 200 per broker"), "{blocking}");
            assert!(
                remedy.contains("add at least 4 broker(s) (16 in all)")
                    && remedy.contains("at least 200")
                    && remedy.contains("--best-effort"),
                "{remedy}"
            );
        }
        other => panic!(
            "expected replica-limit infeasibility, got {:?}",
            other.map(|p| p.reassignments.len())
        ),
    }
    let lenient = PlanOptions {
        best_effort: true,
        ..strict.clone()
    };
    let p = plan(&c, &lenient, &mut |_| {}).unwrap();
    assert_eq!(p.infeasible.len(), 1);
    assert_eq!(p.infeasible[0].goal, "replica-limit");
    let status = |goal: &str| p.after.iter().find(|s| s.goal == goal).unwrap();
    // The goal as asked is still reported, with its violations (every broker is above 150).
    assert_eq!(status("replica-limit").violations, 12);
    for s in &p.after {
        if s.goal != "replica-limit" {
            assert_eq!(s.violations, 0, "hard goal {} violated", s.goal);
        }
    }
    assert_eq!(status("replica-count").out_of_band, 0);
    assert_eq!(status("disk").out_of_band, 0);
    // The rest of the plan is what a feasible limit gives.
    let mut feasible = PlanOptions::default();
    feasible.goals.max_replicas_per_broker = 10_000;
    let q = plan(&c, &feasible, &mut |_| {}).unwrap();
    assert_eq!(p.to_kafka_json(&c), q.to_kafka_json(&c));
}

/// Total disk above 0.8 × capacity: best effort sets only the disk limit aside; the other
/// resources keep theirs.
#[test]
fn best_effort_relaxes_only_the_resource_that_does_not_fit() {
    let mut c = cluster(0.5);
    // Disk ~45% → ~90% of capacity; the rates stay as they are.
    for part in &mut c.partitions {
        part.size_bytes *= 2;
    }
    let err = plan(&c, &PlanOptions::default(), &mut |_| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("disk"), "{err}");
    let p = plan(
        &c,
        &PlanOptions {
            best_effort: true,
            ..PlanOptions::default()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(p.infeasible.len(), 1);
    assert!(
        p.infeasible[0].blocking.contains("disk"),
        "{:?}",
        p.infeasible
    );
    let after = keel_balancer::plan::apply(&c, &p.reassignments);
    let loads = after.broker_loads();
    let limits = keel_balancer::Goals::default().capacity_threshold;
    for (b, broker) in after.brokers.iter().enumerate() {
        for r in 1..4 {
            assert!(
                loads[b][r] <= limits[r] * broker.capacity[r] * (1.0 + 1e-9),
                "broker {} resource {r} over its limit",
                broker.id
            );
        }
    }
}
