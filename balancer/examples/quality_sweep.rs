//! Development helper: plan generated clusters across skew levels, homogeneous and mixed
//! capacities, and print replica moves against the lower bound and the goals left outside
//! their band. `cargo run --release -p keel-balancer --example quality_sweep [BROKERS RACKS REPLICAS SEEDS]`

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{PlanOptions, plan, snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(d);
    let (brokers, racks, replicas, seeds) = (num(1, 24), num(2, 4), num(3, 6000), num(4, 4));
    println!(
        "{:>5} {:>6} {:>5} {:>7} {:>7} {:>6} {:>6} {:>8}  outside band after",
        "skew", "hetero", "seed", "moves", "lbound", "ratio", "swaps", "leaders"
    );
    for hetero in [false, true] {
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
                println!(
                    "{skew:>5} {hetero:>6} {seed:>5} {:>7} {:>7} {:>6.3} {:>6} {:>8}  {}",
                    p.cost.replica_moves,
                    p.lower_bound,
                    p.cost.replica_moves as f64 / p.lower_bound.max(1) as f64,
                    swaps,
                    p.cost.leadership_moves,
                    outside.join(" ")
                );
            }
        }
    }
    Ok(())
}
