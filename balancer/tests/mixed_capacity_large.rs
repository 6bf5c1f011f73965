//! Mixed capacities with many replicas per broker, where the joint resource phase's exact
//! search is too costly to finish within the plan's search budget and its bulk pass
//! (`planner/joint/bulk.rs`) does most of the work.
//!
//! Before the bulk pass paired each broker out of band with every partner (it paired it
//! with 4, for 6 rounds), this cluster ended with disk outside its band on 12 of 24 brokers
//! and network in on 9: the exact search spent the whole budget on them.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_in_band_and_idempotent, mixed_cluster};

/// 24 brokers (0.5x/1x/2x in turn) on 4 racks with 1,000 replicas each, skew 1, seed 1. An
/// assignment with every soft goal in band exists: the old exact search reaches one with
/// four times the search budget, and this plan is one.
#[test]
fn mixed_capacity_plan_with_many_replicas_per_broker_reaches_every_band() {
    let c = mixed_cluster(24, 24_000, 1.0, 1);
    let p = assert_in_band_and_idempotent(&c);
    let disk = p.before.iter().find(|s| s.goal == "disk").unwrap();
    assert!(
        disk.out_of_band > 0,
        "the input should start with disk out of band"
    );
}
