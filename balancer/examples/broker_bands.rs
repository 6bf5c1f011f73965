//! Per-broker view of a plan: for one generated mixed-capacity cluster (`--hetero`), prints
//! every broker's replica count, resource utilisations and leader count after planning, with
//! the bands, to see which goals end outside their band, on which brokers and in which
//! direction (the quality sweep only counts them).
//! `cargo run --release -p keel-balancer --example broker_bands -- SKEW SEED [BROKERS RACKS REPLICAS]`

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::apply;
use keel_balancer::{PlanOptions, plan, snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let skew: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.05);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(d);
    let o = GenOptions {
        brokers: num(3, 24) as u32,
        racks: num(4, 4) as u32,
        replicas: num(5, 6000),
        skew,
        seed,
        hetero: true,
        ..GenOptions::default()
    };
    let c = snapshot::parse_str(&generate_string(&o)?)?;
    let p = plan(&c, &PlanOptions::default(), &mut |_| {})?;
    println!(
        "replica moves {} lower bound {} leadership moves {}",
        p.cost.replica_moves, p.lower_bound, p.cost.leadership_moves
    );
    for s in &p.after {
        if s.band_lo.is_some() || s.out_of_band > 0 {
            println!(
                "{:>26}: band {:?}..{:?} min {:.4} max {:.4} out {}",
                s.goal, s.band_lo, s.band_hi, s.min, s.max, s.out_of_band
            );
        }
    }
    let after = apply(&c, &p.reassignments);
    let loads = after.broker_loads();
    let mut leaders = vec![0usize; after.brokers.len()];
    let mut replicas = vec![0usize; after.brokers.len()];
    for part in &after.partitions {
        leaders[part.leader as usize] += 1;
    }
    for &b in &after.replicas {
        replicas[b as usize] += 1;
    }
    println!("broker scale replicas disk nw-in nw-out cpu leaders");
    for (b, broker) in after.brokers.iter().enumerate() {
        println!(
            "{} {:.1} {} {:.4} {:.4} {:.4} {:.4} {}",
            broker.id,
            broker.capacity[0] / 8e12,
            replicas[b],
            loads[b][0] / broker.capacity[0],
            loads[b][1] / broker.capacity[1],
            loads[b][2] / broker.capacity[2],
            loads[b][3] / broker.capacity[3],
            leaders[b]
        );
    }
    Ok(())
}
