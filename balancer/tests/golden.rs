//! Golden tests: small hand-written clusters under `tests/golden/` with the plan a reader
//! can work out by hand (the reasoning is next to each case).

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::{PlanOptions, plan, snapshot};
use serde_json::Value;

fn run_case(name: &str, opts: &PlanOptions) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let cluster_text =
        std::fs::read_to_string(format!("{dir}/{name}.cluster.json")).expect("cluster file");
    let expected_text =
        std::fs::read_to_string(format!("{dir}/{name}.expected.json")).expect("expected file");
    let c = snapshot::parse_str(&cluster_text).expect("valid cluster");
    let p = plan(&c, opts, &mut |_| {}).expect("feasible");
    let got: Value = serde_json::from_str(&p.to_kafka_json(&c)).expect("plan JSON");
    let want: Value = serde_json::from_str(&expected_text).expect("expected JSON");
    assert_eq!(got, want, "golden case {name}");
}

fn hard_only() -> PlanOptions {
    PlanOptions {
        rebalance: false,
        ..PlanOptions::default()
    }
}

/// Broker 4 (rack d) is dead. orders-0 has replicas in racks a, d, b; the only live broker
/// in a rack without a replica of orders-0 is 5 (rack d). orders-1 is untouched.
#[test]
fn golden_drain_dead_broker() {
    run_case("drain-dead", &hard_only());
}

/// t-0 has two replicas in rack a (brokers 1 and 2). The later one moves to the only broker
/// in a rack without a replica (4, rack c); order is kept.
#[test]
fn golden_rack_fix() {
    run_case("rack-fix", &hard_only());
}

/// Broker 1 is demoting: each partition it leads passes leadership to the follower that leads
/// the fewest partitions, ties to the earlier replica, by swapping it to the front. t-0
/// [1,2,3]: broker 2 leads t-1, broker 3 leads nothing, so [3,2,1]. t-2 [1,3,2]: both now
/// lead one, so the earlier (3): [3,1,2]. No replica moves.
#[test]
fn golden_demote() {
    run_case("demote", &hard_only());
}

/// Four equal single-replica partitions on broker 1 of 2: the replica-count band is exactly
/// [2, 2], so two move; equal sizes tie and the lowest partitions go first. Disk, network
/// and leaders then balance too, so nothing else moves.
#[test]
fn golden_rebalance_two_brokers() {
    run_case("rebalance-two-brokers", &PlanOptions::default());
}

/// Every broker holds one replica of each partition and leads one: every goal is already in
/// its band, so the plan is empty.
#[test]
fn golden_balanced_cluster_has_no_moves() {
    run_case("balanced-no-moves", &PlanOptions::default());
}

/// Broker 3 is new; 6 equal partitions, 3 on each old broker. Average 2: each old broker
/// gives its lowest-numbered partition to the new broker.
#[test]
fn golden_add_broker() {
    run_case(
        "add-broker",
        &PlanOptions {
            only_new_destinations: true,
            ..PlanOptions::default()
        },
    );
}
