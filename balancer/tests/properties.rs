//! Property tests on random generated clusters (size, racks, replication factor, dead and
//! new brokers, mixed capacities, skew). Each test is named after the invariant it checks.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop
)]

use std::collections::BTreeSet;

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::apply;
use keel_balancer::{BalancerError, Cluster, Plan, PlanOptions, plan, snapshot};
use proptest::prelude::*;

fn gen_options() -> impl Strategy<Value = GenOptions> {
    (
        3u32..18,
        1u32..6,
        10u64..900,
        1u8..4,
        0.0f64..2.0,
        0u32..3,
        0u32..3,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(brokers, racks, replicas, rf, skew, new, dead, hetero, seed)| {
                let racks = racks.min(brokers);
                let new = new.min(brokers.saturating_sub(2));
                let dead = dead.min(brokers.saturating_sub(new + 1));
                let rf = u32::from(rf).min(brokers - new).max(1) as u8;
                GenOptions {
                    brokers,
                    racks,
                    replicas,
                    replication_factor: rf,
                    skew,
                    new_brokers: new,
                    dead_brokers: dead,
                    hetero,
                    seed,
                }
            },
        )
}

/// A generated cluster; for two seeds in three, some partitions' actual leader is not their
/// `replicas[0]` (as after broker restarts without a preferred-leader election), so every
/// property also covers planning from the actual leaders.
fn cluster_of(o: &GenOptions) -> Cluster {
    let mut c = snapshot::parse_str(&generate_string(o).expect("valid options"))
        .expect("generated snapshots parse");
    if !o.seed.is_multiple_of(3) {
        let mut x = o.seed | 1;
        for p in 0..c.partitions.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let rf = c.partitions[p].rf as u64;
            if x.is_multiple_of(4) && rf > 1 {
                let pick = ((x >> 8) % rf) as usize;
                c.partitions[p].leader = c.replicas_of(p)[pick];
            }
        }
    }
    c
}

fn leader_counts(c: &Cluster) -> Vec<f64> {
    let mut v = vec![0.0; c.brokers.len()];
    for part in &c.partitions {
        v[part.leader as usize] += 1.0;
    }
    v
}

/// Plans, allowing only a well-formed infeasibility error.
fn plan_or_infeasible(c: &Cluster, opts: &PlanOptions) -> Option<Plan> {
    match plan(c, opts, &mut |_| {}) {
        Ok(p) => Some(p),
        Err(BalancerError::Infeasible {
            goal,
            blocking,
            remedy,
        }) => {
            assert!(!goal.is_empty() && !blocking.is_empty() && !remedy.is_empty());
            None
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn hosting_racks(c: &Cluster) -> usize {
    c.brokers
        .iter()
        .filter(|b| b.state.can_host())
        .map(|b| b.rack_idx)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Whether the input can satisfy rack awareness at all.
fn racks_enough(c: &Cluster) -> bool {
    let racks = hosting_racks(c);
    c.partitions.iter().all(|p| usize::from(p.rf) <= racks)
}

fn check_rack_awareness(after: &Cluster) {
    let racks = hosting_racks(after);
    for p in 0..after.partitions.len() {
        let rf = usize::from(after.partitions[p].rf);
        let limit = rf.div_ceil(racks.max(1));
        let mut counts = std::collections::BTreeMap::new();
        for &b in after.replicas_of(p) {
            *counts
                .entry(after.brokers[b as usize].rack_idx)
                .or_insert(0usize) += 1;
        }
        let worst = counts.values().copied().max().unwrap_or(0);
        assert!(
            worst <= limit,
            "partition {} has {worst} replicas in one rack (limit {limit})",
            after.partition_name(p)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn plan_never_loses_or_duplicates_a_replica(o in gen_options()) {
        let c = cluster_of(&o);
        if let Some(p) = plan_or_infeasible(&c, &PlanOptions::default()) {
            let after = apply(&c, &p.reassignments);
            prop_assert_eq!(after.partitions.len(), c.partitions.len());
            for i in 0..c.partitions.len() {
                let before = c.replicas_of(i);
                let now = after.replicas_of(i);
                prop_assert_eq!(before.len(), now.len(), "replication factor changed");
                let distinct: BTreeSet<u32> = now.iter().copied().collect();
                prop_assert_eq!(distinct.len(), now.len(), "duplicate replica");
                prop_assert_eq!(&after.topics[after.partitions[i].topic as usize], &c.topics[c.partitions[i].topic as usize]);
            }
        }
    }

    #[test]
    fn plan_never_breaks_rack_awareness(o in gen_options()) {
        let c = cluster_of(&o);
        if let Some(p) = plan_or_infeasible(&c, &PlanOptions::default()) {
            check_rack_awareness(&apply(&c, &p.reassignments));
        }
    }

    #[test]
    fn plan_empties_dead_brokers_and_respects_capacity_and_limits(o in gen_options()) {
        let c = cluster_of(&o);
        let opts = PlanOptions::default();
        if let Some(p) = plan_or_infeasible(&c, &opts) {
            let after = apply(&c, &p.reassignments);
            let loads = after.broker_loads();
            let mut counts = vec![0u32; after.brokers.len()];
            for &b in &after.replicas {
                counts[b as usize] += 1;
            }
            for (b, broker) in after.brokers.iter().enumerate() {
                if !broker.state.can_host() {
                    prop_assert_eq!(counts[b], 0, "dead broker {} still holds replicas", broker.id);
                    continue;
                }
                prop_assert!(counts[b] <= opts.goals.max_replicas_per_broker);
                for r in 0..4 {
                    let limit = opts.goals.capacity_threshold[r] * broker.capacity[r];
                    prop_assert!(loads[b][r] <= limit * (1.0 + 1e-9), "broker {} resource {} at {} > {}", broker.id, r, loads[b][r], limit);
                }
            }
        }
    }

    #[test]
    fn plan_is_feasible_whenever_racks_and_capacity_allow_it(o in gen_options()) {
        // Generated load is ~45% of capacity, so only too few racks/brokers can block a plan.
        let c = cluster_of(&o);
        let hosts = c.brokers.iter().filter(|b| b.state.can_host()).count();
        let max_rf = c.partitions.iter().map(|p| usize::from(p.rf)).max().unwrap_or(0);
        if racks_enough(&c) && max_rf <= hosts && !o.hetero {
            let r = plan(&c, &PlanOptions::default(), &mut |_| {});
            prop_assert!(r.is_ok(), "feasible input rejected: {:?}", r.err());
        }
    }

    #[test]
    fn plan_written_as_kafka_json_gives_the_planned_leaders_after_election(o in gen_options()) {
        let c = cluster_of(&o);
        if let Some(p) = plan_or_infeasible(&c, &PlanOptions::default()) {
            // The plan starts from the actual leaders, not from `replicas[0]`.
            let before = leader_counts(&c);
            let leads: Vec<usize> = (0..c.brokers.len()).filter(|&b| c.brokers[b].state.can_lead() && c.brokers[b].state.can_host()).collect();
            let was = p.before.iter().find(|s| s.goal == "leader-count").unwrap();
            let bmax = leads.iter().map(|&b| before[b]).fold(0.0f64, f64::max);
            prop_assert_eq!(bmax, was.max, "the before status does not use the actual leaders");
            // Round-trip through Kafka's reassignment JSON, then a preferred-leader election.
            let written = keel_balancer::plan::parse_kafka_plan(&c, &p.to_kafka_json(&c)).unwrap();
            let after = apply(&c, &written);
            let counts = leader_counts(&after);
            let hosts: Vec<usize> = (0..after.brokers.len()).filter(|&b| after.brokers[b].state.can_lead()).collect();
            let status = p.after.iter().find(|s| s.goal == "leader-count").unwrap();
            let min = hosts.iter().map(|&b| counts[b]).fold(f64::INFINITY, f64::min);
            let max = hosts.iter().map(|&b| counts[b]).fold(0.0f64, f64::max);
            prop_assert_eq!((min, max), (status.min, status.max), "leader counts after execution differ from the plan's");
            let changed = (0..c.partitions.len()).filter(|&i| after.partitions[i].leader != c.partitions[i].leader).count() as u64;
            prop_assert_eq!(changed, p.cost.leadership_moves + p.reassignments.iter().filter(|r| !c.replicas_of(r.partition as usize).contains(&r.replicas[0])).count() as u64);
        }
    }

    #[test]
    fn plan_is_deterministic(o in gen_options()) {
        let c = cluster_of(&o);
        let a = plan(&c, &PlanOptions::default(), &mut |_| {});
        let b = plan(&c, &PlanOptions::default(), &mut |_| {});
        match (a, b) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.to_kafka_json(&c), b.to_kafka_json(&c));
                prop_assert_eq!(a.to_keel_json(&c), b.to_keel_json(&c));
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "one run failed, the other did not"),
        }
    }

    #[test]
    fn plan_is_idempotent(o in gen_options()) {
        let c = cluster_of(&o);
        if let Some(p) = plan_or_infeasible(&c, &PlanOptions::default()) {
            let after = apply(&c, &p.reassignments);
            let again = plan(&after, &PlanOptions::default(), &mut |_| {}).expect("the result of a plan is feasible");
            prop_assert!(again.reassignments.is_empty(), "re-planning moved {} partitions: {:?}", again.reassignments.len(), again.actions.iter().take(5).collect::<Vec<_>>());
        }
    }

    #[test]
    fn plan_moves_only_onto_new_brokers_when_adding(o in gen_options()) {
        let c = cluster_of(&o);
        let opts = PlanOptions { only_new_destinations: true, ..PlanOptions::default() };
        if let Some(p) = plan_or_infeasible(&c, &opts) {
            for r in &p.reassignments {
                let old = c.replicas_of(r.partition as usize);
                for b in r.replicas.iter().filter(|b| !old.contains(b)) {
                    prop_assert_eq!(c.brokers[*b as usize].state, keel_balancer::BrokerState::New);
                }
            }
        }
    }

    #[test]
    fn plan_proposes_only_changes_and_keeps_leaders_off_demoting_brokers(o in gen_options(), demote in 0usize..18) {
        let mut c = cluster_of(&o);
        let d = demote % c.brokers.len();
        if c.brokers[d].state == keel_balancer::BrokerState::Alive {
            c.brokers[d].state = keel_balancer::BrokerState::Demoting;
        }
        if let Some(p) = plan_or_infeasible(&c, &PlanOptions::default()) {
            for r in &p.reassignments {
                prop_assert_ne!(&r.replicas[..], c.replicas_of(r.partition as usize), "unchanged partition in the plan");
            }
            let after = apply(&c, &p.reassignments);
            for part in &after.partitions {
                prop_assert!(after.brokers[part.leader as usize].state.can_lead());
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn moves_stay_within_1_2x_of_the_lower_bound_on_skewed_clusters(seed in any::<u64>(), skew in 1.0f64..2.0) {
        let o = GenOptions { brokers: 24, racks: 4, replicas: 6000, skew, seed, ..GenOptions::default() };
        let c = cluster_of(&o);
        let p = plan(&c, &PlanOptions::default(), &mut |_| {}).expect("feasible");
        prop_assert!(p.cost.replica_moves as f64 <= 1.2 * p.lower_bound as f64 + 10.0, "{} moves, lower bound {}", p.cost.replica_moves, p.lower_bound);
        for s in &p.after {
            prop_assert_eq!(s.violations, 0, "hard goal {} violated", s.goal);
            prop_assert_eq!(s.out_of_band, 0, "soft goal {} has brokers out of band", s.goal);
        }
    }

    /// Leader count is the goal most boxed in by higher-priority ones (network out, CPU):
    /// a broker one leader over its band may sit at the lower edge of network out, so no
    /// single leadership move is acceptable. Chains and trades must still bring it in band,
    /// on lightly and heavily skewed clusters alike.
    #[test]
    fn plan_leaves_leader_count_within_band_when_feasible(seed in any::<u64>(), skew in 0.05f64..2.0, brokers in 12u32..30) {
        let o = GenOptions { brokers, racks: 4, replicas: 250 * u64::from(brokers), skew, seed, ..GenOptions::default() };
        let c = cluster_of(&o);
        let p = plan(&c, &PlanOptions::default(), &mut |_| {}).expect("feasible");
        let s = p.after.iter().find(|s| s.goal == "leader-count").unwrap();
        prop_assert_eq!(s.out_of_band, 0, "leader count {}..{} outside band {:?}..{:?}", s.min, s.max, s.band_lo, s.band_hi);
    }
}
