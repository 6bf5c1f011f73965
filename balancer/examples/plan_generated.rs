//! Development helper: generate (or read) a cluster, plan it, print timings and goal status.
//! `cargo run --release -p keel-balancer --example plan_generated -- BROKERS RACKS REPLICAS SKEW [FILE|-] [MAX_REPLICAS] [SEED]`

use std::time::Instant;

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::{PlanOptions, plan, snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: f64| args.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(d);
    let t0 = Instant::now();
    let text = match args.get(5).filter(|s| s.as_str() != "-") {
        Some(path) => std::fs::read(path)?,
        None => generate_string(&GenOptions {
            brokers: num(1, 40.0) as u32,
            racks: num(2, 4.0) as u32,
            replicas: num(3, 50_000.0) as u64,
            skew: num(4, 1.0),
            seed: num(7, 1.0) as u64,
            ..GenOptions::default()
        })?
        .into_bytes(),
    };
    let t1 = Instant::now();
    let cluster = snapshot::parse_slice(&text)?;
    let t2 = Instant::now();
    let mut opts = PlanOptions::default();
    opts.goals.max_replicas_per_broker = num(6, 10_000.0) as u32;
    let mut last = Instant::now();
    let p = plan(&cluster, &opts, &mut |pr| {
        eprintln!("  {:?} -> {}", last.elapsed(), pr.stage);
        last = Instant::now();
    })?;
    let t3 = Instant::now();
    println!(
        "gen/read {:?} parse {:?} plan {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2
    );
    println!(
        "replica moves {} (lower bound {}), leadership {}, actions {}, bytes {}",
        p.cost.replica_moves,
        p.lower_bound,
        p.cost.leadership_moves,
        p.actions.len(),
        p.cost.bytes_moved
    );
    let mut by_goal = std::collections::BTreeMap::new();
    for a in &p.actions {
        *by_goal
            .entry((a.goal, format!("{:?}", a.kind)))
            .or_insert(0) += 1;
    }
    println!("{by_goal:?}");
    for (b, a) in p.before.iter().zip(&p.after) {
        println!(
            "{:28} before [{:.3}, {:.3}] out {:4} viol {:5} | after [{:.3}, {:.3}] band [{:.3?}, {:.3?}] out {:4} viol {}",
            a.goal,
            b.min,
            b.max,
            b.out_of_band,
            b.violations,
            a.min,
            a.max,
            a.band_lo,
            a.band_hi,
            a.out_of_band,
            a.violations
        );
    }
    Ok(())
}
