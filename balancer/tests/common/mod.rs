//! Helpers shared by the integration tests that plan generated mixed-capacity clusters.

// Test helpers may unwrap: a failure is a test failure. Not every test file uses every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::apply;
use keel_balancer::{Cluster, Plan, PlanOptions, plan, snapshot};

/// `gen-cluster --brokers BROKERS --racks 4 --replicas REPLICAS --skew SKEW --hetero --seed
/// SEED` (brokers of 0.5x, 1x and 2x capacity in turn).
pub fn mixed_cluster(brokers: u32, replicas: u64, skew: f64, seed: u64) -> Cluster {
    let o = GenOptions {
        brokers,
        racks: 4,
        replicas,
        skew,
        hetero: true,
        seed,
        ..GenOptions::default()
    };
    snapshot::parse_str(&generate_string(&o).unwrap()).unwrap()
}

/// The goals a plan leaves outside their band or with hard violations.
pub fn outside(p: &Plan) -> Vec<String> {
    p.after
        .iter()
        .filter(|s| s.out_of_band > 0 || s.violations > 0)
        .map(|s| {
            format!(
                "{} ({} out, {} violations)",
                s.goal, s.out_of_band, s.violations
            )
        })
        .collect()
}

/// Plans `c`, checks every soft goal ends in band with no hard violation and that planning
/// the result again moves nothing; returns the plan.
pub fn assert_in_band_and_idempotent(c: &Cluster) -> Plan {
    let p = plan(c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let left = outside(&p);
    assert!(left.is_empty(), "outside band after the plan: {left:?}");
    let again = plan(
        &apply(c, &p.reassignments),
        &PlanOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again.cost.replica_moves, 0, "re-planning moved replicas");
    assert_eq!(again.cost.leadership_moves, 0, "re-planning moved leaders");
    p
}
