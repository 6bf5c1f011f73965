//! Feasibility of the capacity goal rack by rack.
//!
//! Rack awareness caps the replicas of a partition on one rack at `ceil(rf / R)` with `R`
//! racks (one when there are at least as many racks as the replication factor `rf`, as
//! evenly as the racks allow otherwise), so the other `R - 1` racks hold at most
//! `(R - 1) * ceil(rf / R)` of them and every rack at least the rest: one of every partition
//! when `rf == R`. That load is on the rack whatever the
//! plan does, so a rack whose brokers cannot carry it under the capacity threshold makes the
//! input infeasible even when the cluster's total capacity would do (a 12-broker cluster on 3
//! racks whose 0.5x brokers all sit in one rack must put a third of every partition there).
//! Without this check such an input is planned and fails at the end with the brokers left
//! over their limit, but without the reason.

use super::Scope;
use crate::error::{BalancerError, Result};
use crate::goals::{GoalKind, Goals};
use crate::model::{Cluster, Resource};

/// Replicas of a partition with replication factor `rf` that every one of `racks` racks
/// must hold under rack awareness.
pub(crate) fn replicas_every_rack_holds(rf: usize, racks: usize) -> usize {
    if racks == 0 {
        return 0;
    }
    rf.saturating_sub((racks - 1) * rf.div_ceil(racks))
}

/// Checks resource `r` rack by rack (only with rack awareness on and every broker in scope).
pub(crate) fn rack_loads_fit(
    c: &Cluster,
    g: &Goals,
    scope: &Scope,
    hosts: &[usize],
    r: usize,
) -> Result<()> {
    if !g.enabled(GoalKind::RackAwareness) || scope.in_scope.iter().any(|x| !x) {
        return Ok(());
    }
    let mut cap = vec![0.0f64; c.racks.len()];
    let mut members: Vec<Vec<i32>> = vec![Vec::new(); c.racks.len()];
    for &b in hosts {
        let rack = c.brokers[b].rack_idx as usize;
        cap[rack] += c.brokers[b].capacity[r];
        members[rack].push(c.brokers[b].id);
    }
    let racks = members.iter().filter(|m| !m.is_empty()).count();
    // The least load every rack carries: per partition, its replicas every rack must hold,
    // each at the lighter of its leader and follower load.
    let (mut need, mut replicas) = (0.0f64, 0usize);
    for part in &c.partitions {
        let k = replicas_every_rack_holds(usize::from(part.rf), racks);
        let light = part.replica_load(false)[r].min(part.replica_load(true)[r]);
        need += k as f64 * light;
        replicas += k;
    }
    for (rack, ids) in members.iter().enumerate() {
        let limit = g.capacity_threshold[r] * cap[rack];
        if ids.is_empty() || need <= limit * (1.0 + 1e-12) {
            continue;
        }
        let name = Resource::ALL[r].name();
        return Err(BalancerError::infeasible(
            "capacity",
            format!(
                "rack `{}` (brokers {ids:?}) must hold at least {replicas} replicas under rack awareness ({racks} racks), {} of {name}, more than {} × its brokers' capacity ({})",
                c.racks[rack],
                super::hard::fmt_resource(r, need),
                g.capacity_threshold[r],
                super::hard::fmt_resource(r, cap[rack]),
            ),
            format!(
                "add at least {} of {name} capacity to rack `{}` (or move brokers of other racks into it), or turn rack awareness off; or plan with --best-effort to set this limit aside and balance everything else",
                super::hard::fmt_resource(r, need / g.capacity_threshold[r] - cap[rack]),
                c.racks[rack],
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::replicas_every_rack_holds;

    #[test]
    fn replicas_every_rack_holds_follows_rack_awareness() {
        assert_eq!(replicas_every_rack_holds(3, 3), 1);
        assert_eq!(replicas_every_rack_holds(3, 4), 0);
        assert_eq!(replicas_every_rack_holds(3, 2), 1);
        assert_eq!(replicas_every_rack_holds(4, 2), 2);
        assert_eq!(replicas_every_rack_holds(4, 3), 0);
        assert_eq!(replicas_every_rack_holds(6, 3), 2);
        assert_eq!(replicas_every_rack_holds(1, 1), 1);
        assert_eq!(replicas_every_rack_holds(2, 0), 0);
    }
}
