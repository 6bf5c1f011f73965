//! Development helper: for one generated cluster, print the brokers whose leader count ends
//! outside its band, with their other leadership-sensitive goals relative to their bands.
//! `cargo run --release -p keel-balancer --example leader_debug -- SKEW SEED`

use keel_balancer::generate::{GenOptions, generate_string};
use keel_balancer::plan::apply;
use keel_balancer::{PlanOptions, plan, snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let skew: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0.2);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let o = GenOptions {
        brokers: 24,
        racks: 4,
        replicas: 6000,
        skew,
        seed,
        ..GenOptions::default()
    };
    let c = snapshot::parse_str(&generate_string(&o)?)?;
    let p = plan(&c, &PlanOptions::default(), &mut |_| {})?;
    let after = apply(&c, &p.reassignments);
    let loads = after.broker_loads();
    let mut leaders = vec![0usize; after.brokers.len()];
    let mut lbi = vec![0.0; after.brokers.len()];
    for part in &after.partitions {
        leaders[part.leader as usize] += 1;
        lbi[part.leader as usize] += part.bytes_in;
    }
    let st = |g: &str| p.after.iter().find(|s| s.goal == g).cloned();
    for g in ["network-out", "cpu", "leader-count", "leader-bytes-in"] {
        if let Some(s) = st(g) {
            println!(
                "{g}: band {:?}..{:?} min {} max {}",
                s.band_lo, s.band_hi, s.min, s.max
            );
        }
    }
    for (b, broker) in after.brokers.iter().enumerate() {
        println!(
            "broker {} leaders {} nw-out {:.4} cpu {:.4} lbi {:.4}",
            broker.id,
            leaders[b],
            loads[b][2] / broker.capacity[2],
            loads[b][3] / broker.capacity[3],
            lbi[b] / broker.capacity[1]
        );
    }
    Ok(())
}
