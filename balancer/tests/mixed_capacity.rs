//! Mixed capacities (`gen-cluster --hetero`: brokers of 0.5x, 1x and 2x capacity): the
//! resource goals are balanced jointly (`planner/joint.rs`), so a small broker ends up with
//! replicas light in disk, network in and CPU at once.
//!
//! Before the joint phase, the goals ran one after another and this cluster kept network in
//! outside its band on 16 of 24 brokers (CPU on 8, leader count on 15).

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::outside;
use keel_balancer::plan::apply;
use keel_balancer::{Cluster, PlanOptions, plan};

/// 24 brokers (0.5x/1x/2x in turn) on 4 racks, 2,400 replicas, skew 0.05, seed 1. An
/// assignment with every soft goal in band exists: this very plan is one (the reachability
/// example finds one too).
fn mixed_cluster() -> Cluster {
    mixed_cluster_with(0.05, 1)
}

/// The same shape with another skew and seed.
fn mixed_cluster_with(skew: f64, seed: u64) -> Cluster {
    common::mixed_cluster(24, 2400, skew, seed)
}

#[test]
fn mixed_capacity_plan_puts_every_soft_goal_in_band_where_reachable() {
    let c = mixed_cluster();
    let before = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let network_in = before
        .before
        .iter()
        .find(|s| s.goal == "network-in")
        .unwrap();
    assert!(
        network_in.out_of_band > 0,
        "the input should start with network in outside its band"
    );
    let left = outside(&before);
    assert!(left.is_empty(), "outside band after the plan: {left:?}");
}

#[test]
fn mixed_capacity_plan_is_idempotent_and_deterministic() {
    let c = mixed_cluster();
    let p1 = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let p2 = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(p1.to_keel_json(&c), p2.to_keel_json(&c));
    let after = apply(&c, &p1.reassignments);
    let again = plan(&after, &PlanOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(again.cost.replica_moves, 0, "re-planning moved replicas");
    assert_eq!(again.cost.leadership_moves, 0, "re-planning moved leaders");
}

/// Skew 1, seed 4: after the resource goals, small broker 1009 is one leader short (30 for
/// a band of 31..36) with its network out and CPU near the top of their bands, and the
/// brokers that could give leaderships away mostly sit at an edge of the leader-count band
/// (the other small brokers at its bottom, the large ones at its top). Only a trade fixes it
/// (two light leaderships taken over, a heavy one given away). Before the trade skipped
/// partners at their band's edge, its few candidates were such partners, and the broker stayed
/// one leader short.
#[test]
fn mixed_capacity_leader_count_reaches_its_band_through_trades() {
    let c = mixed_cluster_with(1.0, 4);
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let left = outside(&p);
    assert!(left.is_empty(), "outside band after the plan: {left:?}");
    let after = apply(&c, &p.reassignments);
    let again = plan(&after, &PlanOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(again.cost.replica_moves, 0, "re-planning moved replicas");
    assert_eq!(again.cost.leadership_moves, 0, "re-planning moved leaders");
}
