//! The soft goals' search budget bounds a plan's work: once it is spent every search stops
//! within a bounded number of further steps, and the plan still keeps every hard goal.

use super::{PlanOptions, plan_within};
use crate::generate::{GenOptions, generate_string};
use crate::snapshot;

fn mixed(replicas: u64) -> crate::Cluster {
    let o = GenOptions {
        brokers: 24,
        racks: 4,
        replicas,
        skew: 1.0,
        hetero: true,
        seed: 1,
        ..GenOptions::default()
    };
    snapshot::parse_str(&generate_string(&o).unwrap()).unwrap()
}

#[test]
fn search_work_stays_within_its_budget_on_mixed_clusters() {
    // Far below what these clusters' joint phase would spend, so the budget runs out.
    let budget = 200_000;
    for replicas in [1_200, 4_800] {
        let c = mixed(replicas);
        let (plan, work) =
            plan_within(&c, &PlanOptions::default(), &mut |_| {}, Some(budget)).unwrap();
        // One charge is at most one broker's replicas.
        let largest_charge = replicas;
        assert!(
            work.spent >= budget && work.spent <= budget + largest_charge,
            "{replicas} replicas: spent {} of {budget}",
            work.spent
        );
        // After the budget is spent, searches stop: the steps still tried are linear (the
        // undo pass's one look per moved replica and leadership in each of its rounds, and
        // each pass's first refused check), not a search per candidate.
        assert!(
            work.refused <= super::UNDO_ROUNDS as u64 * replicas + 1_000,
            "{replicas} replicas: {} refused charges after the budget ran out",
            work.refused
        );
        assert!(plan.after.iter().all(|g| g.violations == 0));
    }
}

#[test]
fn unbounded_joint_work_would_exceed_the_budget() {
    // The same cluster with the default budget spends more than the small one above, so
    // the test above does exercise the cut-off.
    let c = mixed(1_200);
    let (_, work) = plan_within(&c, &PlanOptions::default(), &mut |_| {}, None).unwrap();
    assert!(work.spent > 200_000, "spent only {}", work.spent);
}
