//! Simulated execution (`keel_balancer::simulate`): moves start as soon as a slot frees, copies
//! share their destination's and their source's throttle, and the executor's order (smallest
//! first) holds. Hand-worked timelines plus bounds every schedule must respect.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::Reassignment;
use keel_balancer::{Cluster, ExecutionOptions, PlanOptions, Simulation, plan, simulate, snapshot};
use proptest::prelude::*;

/// Brokers 1..=n, each in its own rack; `parts` are (replicas, size) with the leader first.
fn cluster(n: i32, parts: &[(&[i32], u64)]) -> Cluster {
    let cap = r#""capacity":{"disk_bytes":1000000,"network_in_bytes_per_sec":1000000,"network_out_bytes_per_sec":1000000,"cpu_cores":8}"#;
    let brokers: Vec<String> = (1..=n)
        .map(|id| format!(r#"{{"id":{id},"rack":"r{id}",{cap}}}"#))
        .collect();
    let partitions: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, (replicas, size))| {
            let ids: Vec<String> = replicas.iter().map(|b| b.to_string()).collect();
            format!(
                r#"{{"topic":"t","partition":{i},"replicas":[{}],"size_bytes":{size}}}"#,
                ids.join(",")
            )
        })
        .collect();
    let text = format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{}],"partitions":[{}]}}"#,
        brokers.join(","),
        partitions.join(",")
    );
    snapshot::parse_str(&text).unwrap()
}

fn moves(c: &Cluster, targets: &[(usize, &[i32])]) -> Vec<Reassignment> {
    targets
        .iter()
        .map(|(p, ids)| Reassignment {
            partition: *p as u32,
            replicas: ids.iter().map(|&id| c.broker_index(id).unwrap()).collect(),
        })
        .collect()
}

fn exec(concurrency: u32) -> ExecutionOptions {
    ExecutionOptions {
        throttle_bytes_per_sec: 1.0,
        concurrency_per_broker: concurrency,
        ..ExecutionOptions::default()
    }
}

/// The simulation ends (the final election runs) at `secs`.
fn assert_ends_at(sim: &Simulation, secs: f64) {
    assert!(
        (sim.leadership_at - secs).abs() < 1e-9,
        "ends at {}, expected {secs}",
        sim.leadership_at
    );
}

/// Broker 7 takes a 10-byte copy; broker 8 takes two 1-byte copies, one slot each (limit 1).
/// In batches the second small copy would wait for the big one (11 s); continuously it
/// starts at 1 s, when the first small one ends, and everything is done at 10 s. The
/// preferred-leader election adds 1 s.
#[test]
fn a_move_starts_as_soon_as_a_slot_frees() {
    let c = cluster(8, &[(&[1, 4], 10), (&[2, 5], 1), (&[3, 6], 1)]);
    let r = moves(&c, &[(0, &[1, 7]), (1, &[2, 8]), (2, &[3, 8])]);
    let sim = simulate(&c, &r, &exec(1));
    assert_eq!(sim.cost.replica_moves, 3);
    assert_ends_at(&sim, 10.0);
    assert!((sim.cost.estimated_seconds - 11.0).abs() < 1e-9);
    assert_eq!(sim.peak_running, 2);
}

/// Copies into one broker share its throttle: 2 + 2 bytes end at 4 s. Copies into different
/// brokers from different leaders run at full rate.
#[test]
fn copies_into_one_broker_share_its_throttle() {
    let c = cluster(6, &[(&[1, 2], 2), (&[3, 4], 2)]);
    let r = moves(&c, &[(0, &[1, 5]), (1, &[3, 5])]);
    let sim = simulate(&c, &r, &exec(5));
    assert_ends_at(&sim, 4.0);

    let c = cluster(6, &[(&[1, 2], 2), (&[3, 4], 2)]);
    let r = moves(&c, &[(0, &[1, 5]), (1, &[3, 6])]);
    let sim = simulate(&c, &r, &exec(5));
    assert_ends_at(&sim, 2.0);

    // A copy that starts while another runs into the same broker slows it down from then on:
    // 1 byte alone would take 1 s; with a 1-byte copy joining at once both take 2 s.
    // The 3-byte copy into broker 6 comes from its own leader (2) and runs at full rate.
    let c = cluster(6, &[(&[1, 2], 1), (&[3, 4], 1), (&[2, 1], 3)]);
    let r = moves(&c, &[(0, &[1, 5]), (1, &[3, 5]), (2, &[2, 6])]);
    let sim = simulate(&c, &r, &exec(5));
    assert_ends_at(&sim, 3.0);
}

/// Copies one leader serves share its outbound throttle (`leader.replication.throttled.rate`):
/// broker 1 leads both partitions and feeds both new replicas, so 2 + 2 bytes into two
/// different brokers end at 4 s, not 2 s (the leader is not charged a slot, so both run).
#[test]
fn copies_out_of_one_leader_share_its_throttle() {
    let c = cluster(6, &[(&[1, 2], 2), (&[1, 3], 2)]);
    let r = moves(&c, &[(0, &[1, 4]), (1, &[1, 5])]);
    let sim = simulate(&c, &r, &exec(5));
    assert_ends_at(&sim, 4.0);
    assert_eq!(sim.peak_running, 2);
}

/// A copy runs at the smaller of its two shares. X (leader 1 -> 5, 2 bytes) and Y (leader 3
/// -> 5, 2 bytes) share broker 5's inbound throttle; Z (leader 1 -> 6, 3 bytes) shares
/// broker 1's outbound throttle with X. All three run at 1/2 until X and Y end at 4 s; Z has
/// 1 byte left and ends alone at 5 s. (With the destination share only, Z would run at full
/// rate and everything would end at 4 s.)
#[test]
fn a_copy_runs_at_the_smaller_of_its_destination_and_source_shares() {
    let c = cluster(6, &[(&[1, 2], 2), (&[3, 4], 2), (&[1, 2], 3)]);
    let r = moves(&c, &[(0, &[1, 5]), (1, &[3, 5]), (2, &[1, 6])]);
    let sim = simulate(&c, &r, &exec(5));
    assert_ends_at(&sim, 5.0);
    assert_eq!(sim.peak_running, 3);
}

/// With one slot on the destination, the executor's order holds: smallest first. The big
/// move waits until both small ones are done; its old replica is deleted only at the end, so
/// the destination peaks at every new replica it holds at once.
#[test]
fn moves_run_smallest_first_and_hold_their_slots_until_in_sync() {
    let c = cluster(8, &[(&[1, 4], 5), (&[2, 5], 1), (&[3, 6], 2)]);
    let r = moves(&c, &[(0, &[1, 7]), (1, &[2, 7]), (2, &[3, 7])]);
    let sim = simulate(&c, &r, &exec(1));
    // 1 byte (0-1 s), 2 bytes (1-3 s), 5 bytes (3-8 s).
    assert_ends_at(&sim, 8.0);
    assert_eq!(sim.peak_running, 1);
    let b7 = c.brokers[c.broker_index(7).unwrap() as usize].id;
    assert_eq!(sim.cost.peak_extra_disk.get(&b7), Some(&8));
    // The removed brokers (4, 5, 6) hold slots too: a move out of broker 4 waits for it.
    let c = cluster(8, &[(&[1, 4], 1), (&[2, 4], 1)]);
    let r = moves(&c, &[(0, &[1, 7]), (1, &[2, 8])]);
    let sim = simulate(&c, &r, &exec(1));
    assert_ends_at(&sim, 2.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// No schedule beats the busiest throttle (bytes into one broker, or served by one source
    /// broker, over the throttle), and running moves one after another is never faster.
    #[test]
    fn simulated_time_lies_between_the_busiest_broker_and_running_moves_one_by_one(
        seed in any::<u64>(),
        skew in 0.5f64..2.0,
        concurrency in 1u32..6,
        brokers in 6u32..16,
    ) {
        let o = GenOptions { brokers, racks: 3, replicas: 60 * u64::from(brokers), skew, seed, dead_brokers: 1, ..GenOptions::default() };
        let c = snapshot::parse_str(&generate_string(&o).unwrap()).unwrap();
        let Ok(p) = plan(&c, &PlanOptions::default(), &mut |_| {}) else { return Ok(()); };
        let e = ExecutionOptions { concurrency_per_broker: concurrency, ..ExecutionOptions::default() };
        let sim = simulate(&c, &p.reassignments, &e);
        let mut into = vec![0.0f64; c.brokers.len()];
        let mut served = vec![0.0f64; c.brokers.len()];
        let mut serial = 0.0;
        for r in &p.reassignments {
            let part = &c.partitions[r.partition as usize];
            let old = c.replicas_of(r.partition as usize);
            let live = |b: u32| c.brokers[b as usize].state.can_host();
            let src = if live(part.leader) { Some(part.leader) } else { old.iter().copied().find(|&b| live(b)) };
            for &b in r.replicas.iter().filter(|b| !old.contains(b)) {
                into[b as usize] += part.size_bytes as f64;
                if let Some(s) = src {
                    served[s as usize] += part.size_bytes as f64;
                }
                serial += part.size_bytes as f64 / e.throttle_bytes_per_sec;
            }
        }
        let busiest = into.iter().chain(&served).fold(0.0f64, |a, &b| a.max(b)) / e.throttle_bytes_per_sec;
        prop_assert!(sim.leadership_at >= busiest * (1.0 - 1e-9), "{} < busiest {}", sim.leadership_at, busiest);
        prop_assert!(sim.leadership_at <= serial * (1.0 + 1e-9), "{} > serial {}", sim.leadership_at, serial);
        prop_assert!(sim.peak_running as usize <= c.brokers.len() * concurrency as usize);
        let last = sim.progress.last().unwrap();
        prop_assert_eq!(last.1, sim.cost.bytes_moved);
    }
}
