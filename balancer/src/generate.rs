//! Deterministic synthetic clusters in the `keel.cluster/v1` format, for tests, benches
//! and demos (`keel gen-cluster`). Streams JSON text to a sink so millions of partitions
//! never sit in memory. Uses its own splitmix64 generator: the same options always give
//! the same bytes.
//!
//! Load is sized so the cluster is feasible: on average disk ≈ 45%, network in ≈ 40%,
//! network out ≈ 40% and CPU ≈ 30% of capacity. `skew` makes the first quarter of the old
//! brokers `1 + skew` times as likely to receive replicas.

use crate::error::{BalancerError, Result};
use crate::model::{Broker, BrokerState, Partition};
use crate::snapshot::{write_broker, write_partition};

/// splitmix64: small, fast, good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Options of [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// Brokers (including new and dead ones).
    pub brokers: u32,
    /// Racks; brokers are assigned round-robin.
    pub racks: u32,
    /// Approximate number of replicas.
    pub replicas: u64,
    /// Replication factor.
    pub replication_factor: u8,
    /// Placement skew (0 = uniform).
    pub skew: f64,
    /// Brokers in state `new` (empty), taken from the end.
    pub new_brokers: u32,
    /// Brokers in state `dead` (holding replicas), taken from the start.
    pub dead_brokers: u32,
    /// Mixed broker sizes (0.5×, 1×, 2×).
    pub hetero: bool,
    /// Seed.
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            brokers: 12,
            racks: 3,
            replicas: 3000,
            replication_factor: 3,
            skew: 0.0,
            new_brokers: 0,
            dead_brokers: 0,
            hetero: false,
            seed: 1,
        }
    }
}

fn validate(o: &GenOptions) -> Result<()> {
    let old = o.brokers.saturating_sub(o.new_brokers);
    if o.brokers == 0 || o.brokers > 60_000 {
        return Err(BalancerError::option(
            "brokers",
            "must be between 1 and 60000",
        ));
    }
    if o.racks == 0 || o.racks > o.brokers {
        return Err(BalancerError::option(
            "racks",
            format!(
                "must be between 1 and the number of brokers ({})",
                o.brokers
            ),
        ));
    }
    if o.replication_factor == 0 {
        return Err(BalancerError::option(
            "replication-factor",
            "must be at least 1",
        ));
    }
    if o.new_brokers + o.dead_brokers >= o.brokers {
        return Err(BalancerError::option(
            "new-brokers",
            "new plus dead brokers must leave at least one alive broker",
        ));
    }
    if u32::from(o.replication_factor) > old {
        return Err(BalancerError::option(
            "replication-factor",
            format!(
                "{} exceeds the {old} brokers that can hold the initial replicas",
                o.replication_factor
            ),
        ));
    }
    if !(o.skew.is_finite() && o.skew >= 0.0) {
        return Err(BalancerError::option("skew", "must be >= 0"));
    }
    Ok(())
}

/// Writes a synthetic snapshot, in chunks of about 64 KiB, to `sink`.
pub fn generate(o: &GenOptions, sink: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
    validate(o)?;
    let mut rng = SplitMix64::new(o.seed ^ 0x6B65_656C);
    let nb = o.brokers as usize;
    let mut brokers = Vec::with_capacity(nb);
    for i in 0..nb {
        let scale = if o.hetero {
            [0.5, 1.0, 2.0][i % 3]
        } else {
            1.0
        };
        let state = if i < o.dead_brokers as usize {
            BrokerState::Dead
        } else if i >= nb - o.new_brokers as usize {
            BrokerState::New
        } else {
            BrokerState::Alive
        };
        brokers.push(Broker {
            id: 1000 + i as i32,
            rack: Some(format!("rack-{}", i % o.racks as usize)),
            rack_idx: (i % o.racks as usize) as u32,
            state,
            capacity: [8e12 * scale, 400e6 * scale, 800e6 * scale, 16.0 * scale],
        });
    }
    let mut out = String::with_capacity(1 << 17);
    out.push_str("{\"format\":\"keel.cluster/v1\",\"brokers\":[\n");
    for (i, b) in brokers.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        write_broker(&mut out, b);
    }
    out.push_str("\n],\"partitions\":[\n");
    // Replicas go to brokers that existed before (not new), Kafka-style: each topic walks a
    // shuffled ring of brokers from a random start, followers at a per-topic shift. A broker
    // appears in the ring in proportion to its capacity, `1 + skew` times more often in the
    // first quarter.
    let old: Vec<usize> = (0..nb)
        .filter(|&i| brokers[i].state != BrokerState::New)
        .collect();
    let quarter = old.len().div_ceil(4);
    let mut ring: Vec<usize> = Vec::new();
    for (j, &i) in old.iter().enumerate() {
        let w = brokers[i].capacity[0] / 8e12 * if j < quarter { 1.0 + o.skew } else { 1.0 };
        let reps = (w * 2.0 + rng.next_f64()).floor().max(1.0) as usize;
        ring.extend(std::iter::repeat_n(i, reps));
    }
    for i in (1..ring.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ring.swap(i, j);
    }
    let rf = usize::from(o.replication_factor);
    let partitions = (o.replicas / rf as u64).max(1);
    let hosts = (0..nb).filter(|&i| brokers[i].state.can_host());
    let cap = |r: usize| hosts.clone().map(|i| brokers[i].capacity[r]).sum::<f64>();
    // Keep every replica small against the smallest broker (at most ~5% of it even at the
    // top of the size distribution), so small clusters stay packable.
    let smallest = |r: usize| {
        hosts
            .clone()
            .map(|i| brokers[i].capacity[r])
            .fold(f64::INFINITY, f64::min)
    };
    let cap_share = |r: usize| 0.02 * smallest(r);
    let avg_size = (0.45 * cap(0) / (partitions as f64 * rf as f64)).min(cap_share(0));
    let avg_in = (0.40 * cap(1) / (partitions as f64 * rf as f64)).min(cap_share(1) / 2.0);
    // nw-out per partition: bytes_out + (rf - 1) × bytes_in; bytes_out = 2 × bytes_in on average.
    let out_factor = ((0.40 * cap(2) / partitions as f64).min(cap_share(2)) / avg_in
        - (rf as f64 - 1.0))
        .max(0.1);
    let avg_cpu = (0.30 * cap(3) / (partitions as f64 * rf as f64)).min(cap_share(3) / 2.0);
    let mut topic = 0u64;
    let mut left_in_topic = 0u64;
    let mut partition_no = 0i32;
    let mut chosen: Vec<usize> = Vec::with_capacity(rf);
    let mut ids: Vec<i32> = Vec::with_capacity(rf);
    let mut ring_start = 0usize;
    let mut shift = 1usize;
    for p in 0..partitions {
        if left_in_topic == 0 {
            topic += 1;
            left_in_topic = 1 + rng.below(96);
            partition_no = 0;
            ring_start = rng.below(ring.len() as u64) as usize;
            shift = 1 + rng.below(ring.len().max(2) as u64 - 1) as usize;
        }
        left_in_topic -= 1;
        chosen.clear();
        let base = ring_start + partition_no as usize;
        let mut step = 0usize;
        while chosen.len() < rf {
            let b = if step > 64 + ring.len() {
                // The ring walk cycles over too few brokers: take the next unused one.
                old.iter()
                    .copied()
                    .find(|b| !chosen.contains(b))
                    .unwrap_or(old[0])
            } else {
                let pos = if step == 0 {
                    base
                } else {
                    base + shift + step - 1
                };
                ring[pos % ring.len()]
            };
            step += 1;
            let same_rack = chosen
                .iter()
                .any(|&c| brokers[c].rack_idx == brokers[b].rack_idx);
            if chosen.contains(&b) || (same_rack && step < 64) {
                continue;
            }
            chosen.push(b);
        }
        let f = |rng: &mut SplitMix64| {
            let u = rng.next_f64();
            (0.2 + 1.6 * u * u) / (0.2 + 1.6 / 3.0)
        };
        let heat = f(&mut rng);
        let part = Partition {
            topic: 0,
            partition: partition_no,
            start: 0,
            rf: o.replication_factor,
            leader: 0,
            size_bytes: (avg_size * f(&mut rng)) as u64,
            bytes_in: (avg_in * heat).round(),
            bytes_out: (avg_in * heat * out_factor).round(),
            leader_cpu: ((avg_cpu * rf as f64) * heat * 0.6 * 1e4).round() / 1e4,
            follower_cpu: ((avg_cpu * rf as f64) * heat * 0.2 * 1e4).round() / 1e4,
        };
        ids.clear();
        ids.extend(chosen.iter().map(|&b| brokers[b].id));
        if p > 0 {
            out.push_str(",\n");
        }
        write_partition(&mut out, &format!("topic-{topic:05}"), &part, &ids, ids[0]);
        partition_no += 1;
        if out.len() > 1 << 16 {
            sink(&out)?;
            out.clear();
        }
    }
    out.push_str("\n]}\n");
    sink(&out)
}

/// Generates a snapshot into a string (for tests and small clusters).
pub fn generate_string(o: &GenOptions) -> Result<String> {
    let mut s = String::new();
    generate(o, &mut |chunk| {
        s.push_str(chunk);
        Ok(())
    })?;
    Ok(s)
}
