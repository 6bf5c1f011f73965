//! Hard goals: feasibility checks with actionable errors, and the fixes that run before any
//! soft goal (drain dead/removing brokers, rack awareness, capacity, replica limit, demotion).

// Index loops over parallel per-broker / per-resource arrays read better than zips here.
#![allow(clippy::needless_range_loop)]

use super::{PlanOptions, Scope, goal_id};
use crate::error::{BalancerError, Result};
use crate::goals::{GoalKind, Goals, M_LEADERS, M_REPLICAS};
use crate::model::{Cluster, Resource};
use crate::planner::Balancer;
use crate::planner::rack_load::rack_loads_fit;
use crate::state::{Band, State};

/// What would make a hard goal feasible, in general terms.
pub(crate) fn remedy(kind: GoalKind) -> &'static str {
    match kind {
        GoalKind::RackAwareness => {
            "add brokers in racks that hold no replica of the named partitions, or lower their replication factor"
        }
        GoalKind::Capacity => {
            "add brokers, raise the capacity threshold, or move topics off the cluster"
        }
        GoalKind::ReplicaLimit => "add brokers or raise --max-replicas-per-broker",
        GoalKind::BrokerStates => {
            "add alive brokers that can take the replicas or leadership of the named brokers"
        }
        _ => "relax the goal",
    }
}

fn fmt_bytes(v: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

pub(crate) fn fmt_resource(r: usize, v: f64) -> String {
    match r {
        0 => fmt_bytes(v),
        1 | 2 => format!("{}/s", fmt_bytes(v)),
        _ => format!("{v:.1} cores"),
    }
}

pub(crate) fn check_feasible(c: &Cluster, opts: &PlanOptions, scope: &Scope) -> Result<()> {
    let g = &opts.goals;
    let hosts: Vec<usize> = (0..c.brokers.len())
        .filter(|&b| scope.balanced[b])
        .collect();
    if hosts.is_empty() {
        return Err(BalancerError::infeasible(
            "broker-states",
            "no broker in scope can hold replicas (all are dead or removing)",
            "add alive brokers or widen --brokers",
        ));
    }
    // Invariants: every partition keeps its replication factor on distinct brokers.
    for (p, part) in c.partitions.iter().enumerate() {
        if usize::from(part.rf) > hosts.len() {
            return Err(BalancerError::infeasible(
                "invariants",
                format!(
                    "partition {} has replication factor {} but only {} brokers can hold replicas",
                    c.partition_name(p),
                    part.rf,
                    hosts.len()
                ),
                format!(
                    "add at least {} broker(s) or lower the replication factor",
                    usize::from(part.rf) - hosts.len()
                ),
            ));
        }
    }
    if g.enabled(GoalKind::Capacity) {
        for r in 0..4 {
            single_replicas_fit(c, g, &hosts, r)?;
        }
    }
    if g.enabled(GoalKind::ReplicaLimit) {
        replica_limit_fits(c, g, &hosts)?;
    }
    if g.enabled(GoalKind::Capacity) {
        let loads = c.broker_loads();
        for r in 0..4 {
            total_load_fits(c, g, scope, &hosts, &loads, r)?;
        }
        for r in 0..4 {
            rack_loads_fit(c, g, scope, &hosts, r)?;
        }
    }
    if g.enabled(GoalKind::BrokerStates) && !hosts.iter().any(|&b| c.brokers[b].state.can_lead()) {
        return Err(BalancerError::infeasible(
            "broker-states",
            "every broker that can hold replicas is demoting, so no broker may lead",
            "stop demoting at least one broker or add alive brokers",
        ));
    }
    Ok(())
}

/// Best effort: sets aside the part of hard goal `goal` that [`check_feasible`] found
/// infeasible (the replica limit, or the capacity limit of one resource). `false` when the
/// goal cannot be relaxed that way (rack awareness, broker states, invariants).
pub(crate) fn relax(c: &Cluster, scope: &Scope, goals: &mut Goals, goal: &str) -> bool {
    let hosts: Vec<usize> = (0..c.brokers.len())
        .filter(|&b| scope.balanced[b])
        .collect();
    match GoalKind::parse(goal) {
        Some(GoalKind::ReplicaLimit) => {
            goals.max_replicas_per_broker = u32::MAX;
            true
        }
        Some(GoalKind::Capacity) => {
            let loads = c.broker_loads();
            for r in 0..4 {
                if single_replicas_fit(c, goals, &hosts, r).is_err()
                    || total_load_fits(c, goals, scope, &hosts, &loads, r).is_err()
                    || rack_loads_fit(c, goals, scope, &hosts, r).is_err()
                {
                    goals.capacity_threshold[r] = f64::INFINITY;
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// A single replica larger than every broker's limit of resource `r` fits nowhere.
fn single_replicas_fit(c: &Cluster, g: &Goals, hosts: &[usize], r: usize) -> Result<()> {
    let best = hosts
        .iter()
        .map(|&b| g.capacity_threshold[r] * c.brokers[b].capacity[r])
        .fold(0.0f64, f64::max);
    for (p, part) in c.partitions.iter().enumerate() {
        let load = part.replica_load(false);
        if load[r] > best * (1.0 + 1e-12) {
            return Err(BalancerError::infeasible(
                "capacity",
                format!(
                    "one replica of partition {} needs {} of {}, more than {} × the largest broker's capacity ({})",
                    c.partition_name(p),
                    fmt_resource(r, load[r]),
                    Resource::ALL[r].name(),
                    g.capacity_threshold[r],
                    fmt_resource(r, best / g.capacity_threshold[r])
                ),
                "add larger brokers or split the partition's topic into more partitions",
            ));
        }
    }
    Ok(())
}

/// More replicas than `limit × brokers` fit under the replica limit on no assignment.
fn replica_limit_fits(c: &Cluster, g: &Goals, hosts: &[usize]) -> Result<()> {
    let total = c.replica_count() as u64;
    let limit = u64::from(g.max_replicas_per_broker);
    let n = hosts.len() as u64;
    if total <= limit * n {
        return Ok(());
    }
    let brokers_needed = total.div_ceil(limit.max(1));
    Err(BalancerError::infeasible(
        "replica-limit",
        format!(
            "{total} replicas over the {n} brokers that can hold them average {:.0} per broker, above the limit of {limit} per broker",
            total as f64 / n as f64
        ),
        format!(
            "add at least {} broker(s) ({brokers_needed} in all), or raise --max-replicas-per-broker to at least {}; or plan with --best-effort to set the limit aside and balance everything else",
            brokers_needed - n,
            total.div_ceil(n)
        ),
    ))
}

/// Total load of resource `r` above `threshold × total capacity` fits on no assignment.
fn total_load_fits(
    c: &Cluster,
    g: &Goals,
    scope: &Scope,
    hosts: &[usize],
    loads: &[[f64; 4]],
    r: usize,
) -> Result<()> {
    let total: f64 = (0..c.brokers.len())
        .filter(|&b| scope.in_scope[b])
        .map(|b| loads[b][r])
        .sum();
    let cap: f64 = hosts.iter().map(|&b| c.brokers[b].capacity[r]).sum();
    let limit = g.capacity_threshold[r] * cap;
    if total <= limit * (1.0 + 1e-12) {
        return Ok(());
    }
    let avg_cap = cap / hosts.len() as f64;
    let need = ((total / g.capacity_threshold[r] - cap) / avg_cap)
        .ceil()
        .max(1.0);
    Err(BalancerError::infeasible(
        "capacity",
        format!(
            "total {} load {} exceeds {} × total capacity {} of {} brokers",
            Resource::ALL[r].name(),
            fmt_resource(r, total),
            g.capacity_threshold[r],
            fmt_resource(r, cap),
            hosts.len()
        ),
        format!(
            "add at least {need} broker(s) of average size ({} each); or plan with --best-effort to set this limit aside and balance everything else",
            fmt_resource(r, avg_cap)
        ),
    ))
}

pub(crate) fn fix_hard_goals(st: &mut State<'_>, opts: &PlanOptions, scope: &Scope) -> Result<()> {
    let g = &opts.goals;
    if g.enabled(GoalKind::BrokerStates) {
        drain(st, scope)?;
    }
    if g.enabled(GoalKind::RackAwareness) {
        fix_racks(st)?;
    }
    if g.enabled(GoalKind::Capacity) {
        for r in 0..4 {
            let k = r + 1;
            let band = Band {
                lo: vec![0.0; st.nb()],
                hi: st.hard_hi.iter().map(|h| h[k]).collect(),
                participates: scope.balanced.clone(),
                avg_ratio: 0.0,
            };
            let lead = matches!(r, 2 | 3);
            let mut bal = Balancer::new(st, k, band, goal_id(GoalKind::Capacity), lead, true);
            bal.run(3);
        }
    }
    if g.enabled(GoalKind::ReplicaLimit) {
        let band = Band {
            lo: vec![0.0; st.nb()],
            hi: st.hard_hi.iter().map(|h| h[M_REPLICAS]).collect(),
            participates: scope.balanced.clone(),
            avg_ratio: 0.0,
        };
        let mut bal = Balancer::new(
            st,
            M_REPLICAS,
            band,
            goal_id(GoalKind::ReplicaLimit),
            false,
            false,
        );
        bal.run(3);
    }
    if g.enabled(GoalKind::BrokerStates) {
        demote(st)?;
    }
    Ok(())
}

/// Destinations ordered by replica count, then disk utilisation, then index.
fn dests_by_load(st: &State<'_>) -> Vec<usize> {
    let mut v: Vec<usize> = (0..st.nb()).filter(|&b| st.dest_ok[b]).collect();
    v.sort_by(|&x, &y| {
        let (cx, dx) = st.load_key(x);
        let (cy, dy) = st.load_key(y);
        cx.total_cmp(&cy).then(dx.total_cmp(&dy)).then(x.cmp(&y))
    });
    v
}

fn drain(st: &mut State<'_>, scope: &Scope) -> Result<()> {
    let goal = goal_id(GoalKind::BrokerStates);
    let nb = st.nb();
    let mut slots: Vec<u32> = Vec::new();
    for b in 0..nb {
        if scope.in_scope[b] && !st.c.brokers[b].state.can_host() {
            slots.extend_from_slice(&st.slots_on[b]);
        }
    }
    slots.sort_unstable();
    let mut dests = dests_by_load(st);
    for (i, &slot) in slots.iter().enumerate() {
        let slot = slot as usize;
        let p = st.slot_part[slot] as usize;
        if !st.movable[p] {
            return Err(BalancerError::infeasible(
                "broker-states",
                format!(
                    "partition {} has a replica on {} broker {} but its topic is outside --topics",
                    st.c.partition_name(p),
                    st.c.brokers[st.assign[slot] as usize].state.name(),
                    st.c.brokers[st.assign[slot] as usize].id
                ),
                "include the topic in --topics",
            ));
        }
        if i % 64 == 0 {
            dests = dests_by_load(st);
        }
        // A drained broker should not lead: hand leadership to a live follower first, so the
        // leader's load lands where leadership checks allow rather than on the copy's target.
        let mut slot = slot;
        if st.is_leader_slot(slot) {
            let rf = usize::from(st.c.partitions[p].rf);
            let best = (1..rf)
                .filter(|&pos| {
                    let b = st.assign[slot + pos] as usize;
                    st.c.brokers[b].state.can_lead() && st.leadership_ok(p, pos)
                })
                .min_by(|&x, &y| {
                    let (bx, by) = (st.assign[slot + x] as usize, st.assign[slot + y] as usize);
                    st.leaders_on(bx)
                        .total_cmp(&st.leaders_on(by))
                        .then(x.cmp(&y))
                });
            if let Some(pos) = best {
                st.move_leadership(p, pos, goal);
                slot += pos;
            }
        }
        let from = st.assign[slot];
        // Prefer destinations that leave no rack violation.
        let mut chosen = None;
        for pass in 0..2 {
            for &b in &dests {
                if pass == 0 && st.rack_viol(p, from, b as u32) > 0 {
                    continue;
                }
                if st.replica_move_ok(slot, b as u32) {
                    chosen = Some(b);
                    break;
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        let Some(b) = chosen else {
            return Err(BalancerError::infeasible(
                "broker-states",
                format!(
                    "the replica of partition {} on {} broker {} fits on no other broker (rack awareness, capacity or replica limit)",
                    st.c.partition_name(p),
                    st.c.brokers[from as usize].state.name(),
                    st.c.brokers[from as usize].id
                ),
                "add brokers (in a rack without a replica of this partition) with free capacity",
            ));
        };
        st.move_replica(slot, b as u32, goal);
        // Keep the least-loaded broker first without a full re-sort on every move.
        if let Some(pos) = dests.iter().position(|&x| x == b) {
            let mut i = pos;
            while i + 1 < dests.len() && st.load_key(dests[i + 1]) < st.load_key(dests[i]) {
                dests.swap(i, i + 1);
                i += 1;
            }
        }
    }
    Ok(())
}

fn fix_racks(st: &mut State<'_>) -> Result<()> {
    let goal = goal_id(GoalKind::RackAwareness);
    let dests = dests_by_load(st);
    for p in 0..st.c.partitions.len() {
        let mut guard = 0;
        while st.rack_viol(p, u32::MAX, u32::MAX) > 0 {
            guard += 1;
            let start = st.c.partitions[p].start as usize;
            let rf = usize::from(st.c.partitions[p].rf);
            let current = st.rack_viol(p, u32::MAX, u32::MAX);
            let mut done = false;
            'slots: for pos in (0..rf).rev() {
                let slot = start + pos;
                let from = st.assign[slot];
                for &b in &dests {
                    if st.rack_viol(p, from, b as u32) < current
                        && st.replica_move_ok(slot, b as u32)
                    {
                        st.move_replica(slot, b as u32, goal);
                        done = true;
                        break 'slots;
                    }
                }
            }
            if !done || guard > rf {
                let racks: Vec<&str> = st
                    .part_slots(p)
                    .iter()
                    .map(|&b| st.c.racks[st.c.brokers[b as usize].rack_idx as usize].as_str())
                    .collect();
                return Err(BalancerError::infeasible(
                    "rack-awareness",
                    format!(
                        "partition {} (replication factor {}, replicas in racks {}) cannot be spread over {} racks: no broker in a free rack can take a replica within capacity and replica limits",
                        st.c.partition_name(p),
                        rf,
                        racks.join(", "),
                        st.rack_limit_racks
                    ),
                    remedy(GoalKind::RackAwareness),
                ));
            }
        }
    }
    Ok(())
}

fn demote(st: &mut State<'_>) -> Result<()> {
    let goal = goal_id(GoalKind::BrokerStates);
    for p in 0..st.c.partitions.len() {
        let leader = st.leader_of(p) as usize;
        if st.c.brokers[leader].state.can_lead() {
            continue;
        }
        let start = st.c.partitions[p].start as usize;
        let rf = usize::from(st.c.partitions[p].rf);
        let mut best: Option<(f64, usize)> = None;
        for pos in 1..rf {
            let b = st.assign[start + pos] as usize;
            if st.c.brokers[b].state.can_lead() && st.leadership_ok(p, pos) {
                let l = st.leaders_on(b);
                if best.is_none_or(|(bl, _)| l < bl) {
                    best = Some((l, pos));
                }
            }
        }
        if let Some((_, pos)) = best {
            st.move_leadership(p, pos, goal);
            continue;
        }
        // No follower may lead: move the leader replica to a broker that can lead.
        let mut dests = dests_by_load(st);
        dests.retain(|&b| st.c.brokers[b].state.can_lead());
        dests.sort_by(|&x, &y| {
            st.metric[x][M_LEADERS]
                .total_cmp(&st.metric[y][M_LEADERS])
                .then(x.cmp(&y))
        });
        let mut moved = false;
        for b in dests {
            if st.replica_move_ok(start, b as u32) {
                st.move_replica(start, b as u32, goal);
                moved = true;
                break;
            }
        }
        if !moved {
            return Err(BalancerError::infeasible(
                "broker-states",
                format!(
                    "partition {} is led by demoting broker {} and no broker that may lead can take its leadership or its replica",
                    st.c.partition_name(p),
                    st.c.brokers[leader].id
                ),
                remedy(GoalKind::BrokerStates),
            ));
        }
    }
    Ok(())
}
