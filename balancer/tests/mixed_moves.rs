//! Replica moves on mixed capacities (`gen-cluster --hetero`: brokers of 0.5x, 1x and 2x
//! capacity). The issue asks for "minimise bytes moved" and "never propose a move that no
//! goal needs"; on these clusters keel moved 2.3-3.1x the issue's bound in session 6.
//!
//! Measured on this cluster (24 brokers, 4 racks, 2,400 replicas, skew 0.05, seed 1; the
//! issue's bound is 507 replicas above the count band, the provable bound for replica count,
//! disk and network in together 657): 1,400 replica moves at `0a8a43e`, 1,217 once the
//! joint phase ranks actions by gain per net replica move and the undo pass sends moved
//! replicas home in pairs. The limit, 1,300, sits between the two with room for plans that
//! differ by a few swaps; it fails on `0a8a43e`.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{mixed_cluster, outside};
use keel_balancer::{PlanOptions, plan};

/// Replica moves this cluster's plan may make (see the module docs for the figures).
const MOVES_LIMIT: u64 = 1_300;

#[test]
fn mixed_capacity_plan_moves_few_replicas_with_every_goal_in_band() {
    let c = mixed_cluster(24, 2400, 0.05, 1);
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let outside = outside(&p);
    assert!(outside.is_empty(), "goals outside their band: {outside:?}");
    assert_eq!(p.lower_bound, 507, "the generated cluster changed");
    assert!(
        p.cost.replica_moves <= MOVES_LIMIT,
        "{} replica moves for a bound of {} (limit {MOVES_LIMIT})",
        p.cost.replica_moves,
        p.lower_bound
    );
}
