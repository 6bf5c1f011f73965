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

/// Every partition's actual leader differs from `replicas[0]`, but the actual leaders are
/// already balanced (each broker leads one partition). The planner starts from the actual
/// leaders and keeps them, so each partition is written with its current leader first (the
/// leader swapped with position 0): the final preferred-leader election then changes nothing.
#[test]
fn golden_actual_leaders_are_kept_as_preferred() {
    run_case("actual-leaders-kept", &PlanOptions::default());
}

/// Broker 1 actually leads all three partitions although each has a different `replicas[0]`.
/// Network out (300 B/s per leader, band avg 300 × 1.09 = 327) is out of band on broker 1, so
/// two leaderships move off it. Excess 573 ≥ 300: the largest candidate not above the excess,
/// ties to the higher partition, is t-2, which goes to its least-loaded follower 3 (its
/// `replicas[0]`: the election does it, no reassignment). Excess 273 < 300: the smallest
/// candidate above, ties to the lower partition, is t-0, to its follower 2: written [2,1,3].
/// t-1 keeps its actual leader 1, so it is written with 1 first: [1,3,2].
#[test]
fn golden_actual_leader_imbalance_is_fixed_by_the_election() {
    run_case("actual-leaders-imbalanced", &PlanOptions::default());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let text = std::fs::read_to_string(format!("{dir}/actual-leaders-imbalanced.cluster.json"))
        .expect("cluster file");
    let c = snapshot::parse_str(&text).expect("valid cluster");
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).expect("feasible");
    let moves: Vec<(String, i32, i32)> = p
        .actions
        .iter()
        .map(|a| (a.partition.clone(), a.from, a.to))
        .collect();
    assert_eq!(
        moves,
        vec![("t-0".to_string(), 1, 2), ("t-2".to_string(), 1, 3)]
    );
    assert_eq!(p.cost.leadership_moves, 2);
    assert_eq!(p.cost.replica_moves, 0);
}
