//! Mixed capacities with many replicas per broker, where the joint resource phase's exact
//! search is too costly to finish within the plan's search budget and its bulk pass
//! (`planner/joint/bulk.rs`) does most of the work.
//!
//! Before the bulk pass paired each broker out of band with every partner (it paired it
//! with 4, for 6 rounds), this cluster ended with disk outside its band on 12 of 24 brokers
//! and network in on 9: the exact search spent the whole budget on them.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::apply;
use keel_balancer::{PlanOptions, plan, snapshot};

/// 24 brokers (0.5x/1x/2x in turn) on 4 racks with 1,000 replicas each, skew 1, seed 1. An
/// assignment with every soft goal in band exists: the old exact search reaches one with
/// four times the search budget, and this plan is one.
#[test]
fn mixed_capacity_plan_with_many_replicas_per_broker_reaches_every_band() {
    let o = GenOptions {
        brokers: 24,
        racks: 4,
        replicas: 24_000,
        skew: 1.0,
        hetero: true,
        seed: 1,
        ..GenOptions::default()
    };
    let c = snapshot::parse_str(&generate_string(&o).unwrap()).unwrap();
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let disk = p.before.iter().find(|s| s.goal == "disk").unwrap();
    assert!(
        disk.out_of_band > 0,
        "the input should start with disk out of band"
    );
    let left: Vec<String> = p
        .after
        .iter()
        .filter(|s| s.out_of_band > 0 || s.violations > 0)
        .map(|s| {
            format!(
                "{} ({} out, {} violations)",
                s.goal, s.out_of_band, s.violations
            )
        })
        .collect();
    assert!(left.is_empty(), "outside band after the plan: {left:?}");
    let again = plan(
        &apply(&c, &p.reassignments),
        &PlanOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again.cost.replica_moves, 0, "re-planning moved replicas");
    assert_eq!(again.cost.leadership_moves, 0, "re-planning moved leaders");
}
