//! What-if edits of a cluster before planning: add hypothetical brokers, scale load, lose a
//! rack, or change broker states (add / remove / demote operations).

use crate::error::{BalancerError, Result};
use crate::model::{Broker, BrokerState, Cluster};

/// Adds a hypothetical empty broker (state `new`).
pub fn add_broker(c: &mut Cluster, id: i32, rack: Option<&str>, capacity: [f64; 4]) -> Result<()> {
    if c.broker_index(id).is_some() {
        return Err(BalancerError::option(
            "what-if-broker",
            format!("broker {id} already exists"),
        ));
    }
    if capacity.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(BalancerError::option(
            "what-if-broker",
            format!("broker {id}: every capacity must be > 0"),
        ));
    }
    let rack_name = rack.map_or_else(|| format!("broker-{id}"), str::to_string);
    let rack_idx = match c.racks.iter().position(|r| *r == rack_name) {
        Some(i) => i as u32,
        None => {
            c.racks.push(rack_name);
            (c.racks.len() - 1) as u32
        }
    };
    c.brokers.push(Broker {
        id,
        rack: rack.map(str::to_string),
        rack_idx,
        state: BrokerState::New,
        capacity,
    });
    Ok(())
}

/// Multiplies every partition's size, rates and CPU by `k`.
pub fn scale_load(c: &mut Cluster, k: f64) -> Result<()> {
    if !(k.is_finite() && k > 0.0) {
        return Err(BalancerError::option(
            "scale-load",
            format!("must be > 0, got {k}"),
        ));
    }
    for p in &mut c.partitions {
        p.size_bytes = (p.size_bytes as f64 * k).round() as u64;
        p.bytes_in *= k;
        p.bytes_out *= k;
        p.leader_cpu *= k;
        p.follower_cpu *= k;
    }
    Ok(())
}

/// Marks every broker of `rack` dead.
pub fn lose_rack(c: &mut Cluster, rack: &str) -> Result<()> {
    let mut n = 0;
    for b in &mut c.brokers {
        if b.rack.as_deref() == Some(rack) {
            b.state = BrokerState::Dead;
            n += 1;
        }
    }
    if n == 0 {
        let mut known: Vec<&str> = c.brokers.iter().filter_map(|b| b.rack.as_deref()).collect();
        known.sort_unstable();
        known.dedup();
        return Err(BalancerError::option(
            "lose-rack",
            format!("no broker in rack `{rack}` (racks: {})", known.join(", ")),
        ));
    }
    Ok(())
}

/// Sets broker `id`'s state.
pub fn set_state(c: &mut Cluster, id: i32, state: BrokerState, option: &str) -> Result<()> {
    let b = c.broker_index(id).ok_or_else(|| {
        BalancerError::option(option, format!("broker {id} is not in the cluster"))
    })?;
    c.brokers[b as usize].state = state;
    Ok(())
}
