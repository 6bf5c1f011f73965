//! Move-quality sweep: plan generated clusters across skew levels, homogeneous and mixed
//! capacities, and print replica moves against the lower bound (`lbound`: replicas
//! on drained brokers plus replicas above the replica-count band), against the provable bound
//! for the replica-count, disk and network-in goals together (`soft`, see
//! `keel_balancer::bound`), the moves each goal made while planning, and the goals left
//! outside their band.
//!
//! `cargo run --release -p keel-balancer --example quality_sweep [BROKERS RACKS REPLICAS SEEDS [hetero|homo]]`

use keel_balancer::bound::move_bound;
use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{PlanOptions, plan, snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(d);
    let (brokers, racks, replicas, seeds) = (num(1, 24), num(2, 4), num(3, 6000), num(4, 4));
    let kinds: Vec<bool> = match args.get(5).map(String::as_str) {
        Some("hetero") => vec![true],
        Some("homo") => vec![false],
        _ => vec![false, true],
    };
    println!(
        "{:>5} {:>6} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>7}  per goal (replica/leadership) | outside band after",
        "skew", "hetero", "seed", "moves", "lbound", "ratio", "soft", "s/lb", "swaps", "leaders"
    );
    let (mut worst, mut worst_reachable) = (0.0f64, 0.0f64);
    for hetero in kinds {
        for skew in [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0] {
            for seed in 1..=seeds {
                let o = GenOptions {
                    brokers: brokers as u32,
                    racks: racks as u32,
                    replicas,
                    skew,
                    hetero,
                    seed,
                    ..GenOptions::default()
                };
                let c = snapshot::parse_str(&generate_string(&o)?)?;
                let p = match plan(&c, &PlanOptions::default(), &mut |_| {}) {
                    Ok(p) => p,
                    Err(e) => {
                        println!("{skew:>5} {hetero:>6} {seed:>5} error: {e}");
                        continue;
                    }
                };
                let bound = move_bound(&c, &p.before);
                let swaps = p
                    .actions
                    .iter()
                    .filter(|a| a.kind == keel_balancer::ActionKind::Swap)
                    .count();
                let outside: Vec<String> = p
                    .after
                    .iter()
                    .filter(|s| s.out_of_band > 0 || s.violations > 0)
                    .map(|s| format!("{}={}/{}", s.goal, s.out_of_band, s.violations))
                    .collect();
                let per_goal: Vec<String> = p
                    .moves_by_goal
                    .iter()
                    .map(|g| format!("{}={}/{}", g.goal, g.replica_moves, g.leadership_moves))
                    .collect();
                let lb = p.lower_bound.max(1) as f64;
                let ratio = p.cost.replica_moves as f64 / lb;
                worst = worst.max(ratio);
                if (bound.soft_goals as f64) <= 1.2 * lb && bound.unreachable.is_empty() {
                    worst_reachable = worst_reachable.max(ratio);
                }
                println!(
                    "{skew:>5} {hetero:>6} {seed:>5} {:>6} {:>6} {:>6.3} {:>6} {:>6.3} {:>5} {:>7}  {} | {}{}",
                    p.cost.replica_moves,
                    p.lower_bound,
                    ratio,
                    bound.soft_goals,
                    bound.soft_goals as f64 / lb,
                    swaps,
                    p.cost.leadership_moves,
                    per_goal.join(" "),
                    outside.join(" "),
                    if bound.unreachable.is_empty() {
                        String::new()
                    } else {
                        format!(" unreachable on {:?}", bound.unreachable)
                    }
                );
            }
        }
    }
    println!(
        "worst ratio {worst:.3}; worst where the soft-goal bound allows 1.2x: {worst_reachable:.3}"
    );
    Ok(())
}
