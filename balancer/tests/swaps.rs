//! Count-neutral swaps (`planner/balance/swap.rs`): when every single move would push an
//! already optimised goal out of its band, a resource goal exchanges replicas instead.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::plan::apply;
use keel_balancer::{ActionKind, Cluster, PlanOptions, plan, snapshot};

/// Broker 1 holds `hot` partitions of 10 B/s, broker 2 `cold` partitions of 1 B/s; every
/// partition has one replica of the same size. Racks differ, capacities are equal.
fn two_brokers(hot: usize, cold: usize) -> Cluster {
    let cap = r#""capacity":{"disk_bytes":1000000000,"network_in_bytes_per_sec":10000,"network_out_bytes_per_sec":10000,"cpu_cores":8}"#;
    let brokers = format!(r#"{{"id":1,"rack":"r1",{cap}}},{{"id":2,"rack":"r2",{cap}}}"#);
    let partitions: Vec<String> = (0..hot + cold)
        .map(|i| {
            let (broker, rate) = if i < hot { (1, 10) } else { (2, 1) };
            format!(
                r#"{{"topic":"t","partition":{i},"replicas":[{broker}],"size_bytes":1000,"bytes_in_per_sec":{rate},"bytes_out_per_sec":0}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{brokers}],"partitions":[{}]}}"#,
        partitions.join(",")
    );
    snapshot::parse_str(&text).unwrap()
}

fn replicas_per_broker(c: &Cluster) -> Vec<usize> {
    let mut n = vec![0; c.brokers.len()];
    for &b in &c.replicas {
        n[b as usize] += 1;
    }
    n
}

/// 91 hot replicas on broker 1 and 109 cold ones on broker 2: both counts sit at the edges of
/// the replica-count band [91, 109] (average 100), so any single move breaks it. Network in
/// (910 vs 109 B/s, band about 464-555) can only come into band by swapping hot replicas for
/// cold ones, and the counts must not change.
#[test]
fn network_in_is_balanced_by_swaps_when_counts_sit_at_their_band_edges() {
    let c = two_brokers(91, 109);
    let p = plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
    let status = |g: &str| p.after.iter().find(|s| s.goal == g).unwrap().clone();
    let before = p.before.iter().find(|s| s.goal == "network-in").unwrap();
    assert_eq!(before.out_of_band, 2, "{before:?}");
    assert_eq!(
        status("network-in").out_of_band,
        0,
        "{:?}",
        status("network-in")
    );
    assert_eq!(status("replica-count").out_of_band, 0);
    assert_eq!(status("disk").out_of_band, 0);
    let swaps = p
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Swap)
        .count();
    assert!(swaps > 0, "{:?}", p.actions);
    let after = apply(&c, &p.reassignments);
    assert_eq!(replicas_per_broker(&after), replicas_per_broker(&c));
    // Planning the result again finds nothing to do.
    let again = plan(&after, &PlanOptions::default(), &mut |_| {}).unwrap();
    assert!(again.reassignments.is_empty(), "{:?}", again.actions);
}
