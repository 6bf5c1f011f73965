//! The provable move bound (`keel_balancer::bound`): a hand-worked case, agreement with the
//! plan's own lower bound, and that no plan that meets the goals moves fewer replicas.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::bound::move_bound;
use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{PlanOptions, plan, snapshot};
use proptest::prelude::*;

fn partition(topic: &str, broker: i32, size: u64) -> String {
    format!(
        r#"{{"topic":"{topic}","partition":0,"replicas":[{broker}],"size_bytes":{size},"bytes_in_per_sec":1000}}"#
    )
}

/// Two equal brokers with two replicas each: broker 1 holds two of size 10, broker 2 two of
/// size 1. Replica counts are already even (band [2, 2]), but disk (average 11, band ±9%)
/// needs broker 1 at ≤ 11.99: only exchanging a 10 for a 1 gets there, so each broker must
/// receive one replica: 2 moves, where the issue's bound (replicas above the count band) is 0.
#[test]
fn an_exchange_that_only_disk_needs_is_counted() {
    let cap = r#""capacity":{"disk_bytes":100,"network_in_bytes_per_sec":1000000,"network_out_bytes_per_sec":1000000,"cpu_cores":8}"#;
    let text = format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{{"id":1,"rack":"a",{cap}}},{{"id":2,"rack":"b",{cap}}}],"partitions":[{},{},{},{}]}}"#,
        partition("a", 1, 10),
        partition("b", 1, 10),
        partition("c", 2, 1),
        partition("d", 2, 1)
    );
    let c = snapshot::parse_str(&text).unwrap();
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let b = move_bound(&c, &p.before);
    assert_eq!(p.lower_bound, 0);
    assert_eq!(b.issue_bound(), 0);
    assert_eq!((b.count_excess, b.count_deficit, b.soft_goals), (0, 0, 2));
    assert!(b.unreachable.is_empty());
    assert_eq!(
        p.cost.replica_moves, 2,
        "the plan is the swap: {:?}",
        p.actions
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The bound is a lower bound: a plan that brings replica count, disk and network in into
    /// their bands never moves fewer replicas, and the issue's part of it is the plan's own
    /// lower bound.
    #[test]
    fn no_plan_meeting_the_goals_moves_fewer_replicas_than_the_bound(
        seed in any::<u64>(),
        skew in 0.0f64..2.0,
        hetero in any::<bool>(),
        brokers in 6u32..20,
        dead in 0u32..2,
        new in 0u32..2,
    ) {
        let o = GenOptions {
            brokers,
            racks: 3,
            replicas: 120 * u64::from(brokers),
            skew,
            hetero,
            seed,
            dead_brokers: dead,
            new_brokers: new,
            ..GenOptions::default()
        };
        let c = snapshot::parse_str(&generate_string(&o).unwrap()).unwrap();
        let Ok(p) = plan(&c, &PlanOptions::default(), &mut |_| {}) else {
            return Ok(());
        };
        let b = move_bound(&c, &p.before);
        prop_assert_eq!(b.issue_bound(), p.lower_bound);
        prop_assert!(b.soft_goals >= p.lower_bound);
        let in_band = |g: &str| p.after.iter().any(|s| s.goal == g && s.out_of_band == 0);
        if in_band("replica-count") && in_band("disk") && in_band("network-in") {
            prop_assert!(b.unreachable.is_empty(), "the plan reached the bands the bound calls unreachable on {:?}", b.unreachable);
            prop_assert!(p.cost.replica_moves >= b.soft_goals, "{} moves, bound {}", p.cost.replica_moves, b.soft_goals);
        }
    }
}
