//! The planner: turns a [`Cluster`] and [`PlanOptions`] into a [`Plan`].
//!
//! Order of work, like Cruise Control's goal optimiser: first the hard goals (drain dead and
//! removing brokers, rack awareness, capacity, replica limit, demotion), then each soft goal
//! in priority order. Once a goal is optimised its band is locked: a move made for a later
//! goal must not make it worse on any broker. A final sweep re-runs every soft goal under
//! all locks, so re-planning the result finds nothing left to do (idempotence).
//!
//! The planner starts from each partition's actual leader (the snapshot's `leader`, which
//! need not be `replicas[0]`) and plans the state after the execution's final
//! preferred-leader election: the planned leader is written as `replicas[0]`, and a
//! leadership move only reorders replicas.

// Index loops over parallel per-broker / per-resource arrays read better than zips here.
#![allow(clippy::needless_range_loop)]

mod balance;
mod hard;
mod joint;
mod rack_load;
mod topic;
mod undo;
#[cfg(test)]
mod work_tests;

use crate::error::{BalancerError, Result};
use crate::goals::{
    GoalKind, Goals, M_LEADER_BYTES_IN, M_LEADERS, M_NW_OUT, M_REPLICAS, METRICS, band_margin,
    count_band, topic_band,
};
use crate::model::{BrokerState, Cluster};
use crate::plan::{ExecutionOptions, Plan};
use crate::state::{Band, State};
use crate::status::{goal_status, hard_violations};

/// What the planner may do.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Goals and their settings.
    pub goals: Goals,
    /// Run the soft goals (full rebalance). `false`: only fix hard goals (remove brokers,
    /// demote, fix offline replicas) with the least movement.
    pub rebalance: bool,
    /// Move replicas only onto `new` brokers (add-broker operation).
    pub only_new_destinations: bool,
    /// Only move replicas of these topics (restricted rebalance).
    pub topics: Option<Vec<String>>,
    /// Only move replicas between these brokers, and balance them among themselves.
    pub brokers: Option<Vec<i32>>,
    /// Execution settings for the cost model.
    pub execution: ExecutionOptions,
    /// Best effort: a hard goal that no plan can meet on this input (the replica limit or a
    /// capacity limit below the cluster's total load, or violations left after planning) is
    /// reported in [`Plan::infeasible`] and set aside, and the plan is the best one for every
    /// other goal. Off (the default): such inputs give [`BalancerError::Infeasible`].
    pub best_effort: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            goals: Goals::default(),
            rebalance: true,
            only_new_destinations: false,
            topics: None,
            brokers: None,
            execution: ExecutionOptions::default(),
            best_effort: false,
        }
    }
}

/// Progress report for long steps (the CLI draws a progress bar from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Step name.
    pub stage: &'static str,
    /// Steps done.
    pub done: u64,
    /// Total steps.
    pub total: u64,
}

/// Upper bound on soft-goal sweeps (they converge long before on every input we tried).
const MAX_SWEEPS: usize = 40;

/// Rounds of sweeps and undoing unneeded moves (the last round only sweeps).
const UNDO_ROUNDS: usize = 3;

pub(crate) fn goal_id(kind: GoalKind) -> u8 {
    GoalKind::ALL.iter().position(|g| *g == kind).unwrap_or(0) as u8
}

/// Computes a plan. Infeasible inputs give [`BalancerError::Infeasible`], never a partial plan.
pub fn plan(
    cluster: &Cluster,
    opts: &PlanOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Plan> {
    plan_within(cluster, opts, progress, None).map(|x| x.0)
}

/// Search work of one plan's soft goals (see `State::charge`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Work {
    /// Units charged.
    pub spent: u64,
    /// Charges refused once the budget was spent.
    pub refused: u64,
}

/// [`plan`] with the soft goals' search budget `budget` (default: [`soft_work_budget`]);
/// also returns the work done.
pub(crate) fn plan_within(
    cluster: &Cluster,
    opts: &PlanOptions,
    progress: &mut dyn FnMut(Progress),
    budget: Option<u64>,
) -> Result<(Plan, Work)> {
    let mut work = Work::default();
    let soft = opts.goals.soft_in_order();
    let total = 4 + soft.len() as u64 * 2;
    let mut step = 0;
    let mut tick = |stage: &'static str, progress: &mut dyn FnMut(Progress)| {
        step += 1;
        progress(Progress {
            stage,
            done: step,
            total,
        });
    };
    let scope = scope_of(cluster, opts)?;
    // Feasibility first; in best-effort mode each hard goal the input rules out is recorded
    // and relaxed (one resource or the replica limit at a time) until the rest is feasible.
    let mut infeasible = Vec::new();
    let mut relaxed = opts.clone();
    loop {
        match hard::check_feasible(cluster, &relaxed, &scope) {
            Ok(()) => break,
            Err(BalancerError::Infeasible {
                goal,
                blocking,
                remedy,
            }) if opts.best_effort && hard::relax(cluster, &scope, &mut relaxed.goals, &goal) => {
                // The plan is best effort already: keep only the remedies for the input.
                let remedy = remedy
                    .split("; or plan with --best-effort")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                infeasible.push(Infeasibility {
                    goal,
                    blocking,
                    remedy,
                });
            }
            Err(e) => return Err(e),
        }
    }
    // Goal status uses the goals as asked, so a relaxed hard goal shows its violations.
    let asked = &opts.goals;
    let opts = &relaxed;
    let mut st = State::new(cluster);
    setup(&mut st, cluster, opts, &scope);
    let before = goal_status(&st, asked);
    let lower_bound = lower_bound(&st, &scope);
    tick("checking feasibility", progress);
    tick("fixing hard goals", progress);
    hard::fix_hard_goals(&mut st, opts, &scope)?;
    if opts.rebalance {
        // Sweep all soft goals, locking each once optimised, until a sweep finds nothing.
        // Every move strictly lowers its goal's violation without raising a higher-priority
        // one, so sweeps converge. Then moves no goal needs any more are undone, and the
        // sweeps run again; the last sweep finds nothing and is exactly what re-planning the
        // result would run, which makes planning idempotent.
        let mut first = true;
        st.work_left
            .set(budget.unwrap_or_else(|| soft_work_budget(&st)));
        for round in 0..UNDO_ROUNDS {
            sweep_soft_goals(&mut st, &soft, opts, &mut |g| {
                if first {
                    tick(g, progress);
                }
            });
            first = false;
            if round + 1 == UNDO_ROUNDS || undo::undo_unneeded(&mut st) == 0 {
                break;
            }
        }
        work.spent = st.work_spent.get();
        work.refused = st.work_refused.get();
        st.work_left.set(u64::MAX);
    }
    tick("verifying", progress);
    for g in &opts.goals.goals {
        if g.enabled && g.kind.is_hard() {
            let (n, detail) = hard_violations(&st, &opts.goals, g.kind);
            if n > 0 {
                let err = Infeasibility {
                    goal: g.kind.name().to_string(),
                    blocking: format!(
                        "{n} violation(s) remain after planning: {}",
                        detail.join("; ")
                    ),
                    remedy: hard::remedy(g.kind).to_string(),
                };
                if !opts.best_effort {
                    return Err(BalancerError::Infeasible {
                        goal: err.goal,
                        blocking: err.blocking,
                        remedy: err.remedy,
                    });
                }
                infeasible.push(err);
            }
        }
    }
    let after = goal_status(&st, asked);
    let mut plan = Plan::from_state(&st, before, after, lower_bound, &opts.execution);
    plan.infeasible = infeasible;
    tick("done", progress);
    Ok((plan, work))
}

/// A hard goal the input rules out, reported by a best-effort plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Infeasibility {
    /// The goal that cannot be met.
    pub goal: String,
    /// The brokers and partitions that block it.
    pub blocking: String,
    /// What would make the input feasible.
    pub remedy: String,
}

/// Which brokers take part in the plan.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// Brokers in the plan's scope (hosting-capable or being drained).
    pub in_scope: Vec<bool>,
    /// Brokers that take part in balance goals (in scope and able to host).
    pub balanced: Vec<bool>,
}

/// Brokers in scope (`--brokers`, or all) and those that take part in balance goals.
fn scope_of(c: &Cluster, opts: &PlanOptions) -> Result<Scope> {
    let nb = c.brokers.len();
    let mut in_scope = vec![true; nb];
    if let Some(ids) = &opts.brokers {
        in_scope = vec![false; nb];
        for id in ids {
            let b = c.broker_index(*id).ok_or_else(|| {
                BalancerError::option("brokers", format!("broker {id} is not in the cluster"))
            })?;
            in_scope[b as usize] = true;
        }
    }
    let balanced: Vec<bool> = (0..nb)
        .map(|b| in_scope[b] && c.brokers[b].state.can_host())
        .collect();
    if let Some(topics) = &opts.topics {
        for t in topics {
            if !c.topics.iter().any(|x| x == t) {
                return Err(BalancerError::option(
                    "topics",
                    format!("topic `{t}` is not in the cluster"),
                ));
            }
        }
    }
    Ok(Scope { in_scope, balanced })
}

/// Sets the planner's limits, bands and movable partitions from the options.
fn setup(st: &mut State<'_>, c: &Cluster, opts: &PlanOptions, scope: &Scope) {
    let nb = c.brokers.len();
    let (in_scope, balanced) = (&scope.in_scope, &scope.balanced);
    if let Some(topics) = &opts.topics {
        let mut allowed = vec![false; c.topics.len()];
        for t in topics {
            if let Some(i) = c.topics.iter().position(|x| x == t) {
                allowed[i] = true;
            }
        }
        for (p, part) in c.partitions.iter().enumerate() {
            st.movable[p] = allowed[part.topic as usize];
        }
    }
    for b in 0..nb {
        st.dest_ok[b] =
            balanced[b] && (!opts.only_new_destinations || c.brokers[b].state == BrokerState::New);
    }
    let racks: std::collections::BTreeSet<u32> = c
        .brokers
        .iter()
        .filter(|b| b.state.can_host())
        .map(|b| b.rack_idx)
        .collect();
    st.rack_limit_racks = racks.len().max(1);
    if !opts.goals.enabled(GoalKind::RackAwareness) {
        st.rack_limit_racks = 1;
    }
    let g = &opts.goals;
    for (b, broker) in c.brokers.iter().enumerate() {
        if !broker.state.can_host() {
            continue;
        }
        if g.enabled(GoalKind::ReplicaLimit) {
            st.hard_hi[b][M_REPLICAS] = f64::from(g.max_replicas_per_broker);
        }
        if g.enabled(GoalKind::Capacity) {
            for r in 0..4 {
                st.hard_hi[b][r + 1] = g.capacity_threshold[r] * broker.capacity[r];
            }
        }
        if g.enabled(GoalKind::BrokerStates) && !broker.state.can_lead() {
            st.hard_hi[b][M_LEADERS] = 0.0;
        }
    }
    // Totals for the bands: everything on brokers in scope ends up on balanced brokers.
    let mut total = [0.0; METRICS];
    for b in 0..nb {
        if in_scope[b] {
            for k in 0..METRICS {
                total[k] += st.metric[b][k];
            }
        }
    }
    for cfg in &g.goals {
        if !cfg.enabled {
            continue;
        }
        let Some(k) = cfg.kind.metric() else { continue };
        let m = band_margin(cfg.threshold);
        let leads = matches!(k, M_NW_OUT | M_LEADERS | M_LEADER_BYTES_IN);
        let participates: Vec<bool> = (0..nb)
            .map(|b| balanced[b] && (!leads || c.brokers[b].state.can_lead()))
            .collect();
        let unit = |b: usize| match k {
            1..=4 => c.brokers[b].capacity[k - 1],
            6 => c.brokers[b].capacity[1],
            _ => 1.0,
        };
        let denom: f64 = (0..nb).filter(|&b| participates[b]).map(unit).sum();
        let avg = if denom > 0.0 { total[k] / denom } else { 0.0 };
        let (mut lo, mut hi) = (vec![0.0; nb], vec![0.0; nb]);
        for b in 0..nb {
            let u = unit(b);
            if k == M_REPLICAS || k == M_LEADERS {
                let (l, h) = count_band(avg, avg * m);
                lo[b] = l;
                hi[b] = h;
            } else {
                lo[b] = avg * (1.0 - m) * u;
                hi[b] = avg * (1.0 + m) * u;
            }
        }
        st.bands[k] = Some(Band {
            lo,
            hi,
            participates,
            avg_ratio: avg,
        });
    }
    if g.enabled(GoalKind::TopicReplicaDistribution) {
        let threshold = g
            .get(GoalKind::TopicReplicaDistribution)
            .map_or(3.0, |x| x.threshold);
        let n = balanced.iter().filter(|x| **x).count().max(1) as f64;
        let mut per_topic = vec![0u64; c.topics.len()];
        for part in &c.partitions {
            per_topic[part.topic as usize] += u64::from(part.rf);
        }
        st.topic_band = per_topic
            .iter()
            .map(|&r| topic_band(r as f64 / n, threshold))
            .collect();
        st.topic_participates = balanced.clone();
    }
}

/// Search work (acceptance checks, score evaluations, replicas ranked or listed: one unit
/// each, see `State::charge`) all soft-goal sweeps of one plan may spend, on clusters of up
/// to [`SOFT_WORK_FULL_REPLICAS`] replicas. The 6,000-replica mixed clusters of the quality
/// sweep need up to 150M (about 3 s); homogeneous clusters need far less (5M for 2.8M
/// replicas).
const SOFT_WORK_BASE: u64 = 160_000_000;

/// Above this many replicas the budget shrinks in proportion: a unit costs more there (the
/// per-partition arrays no longer fit in cache, and each broker's lists are longer), and the
/// searches on a 2.8M-replica mixed cluster must end within seconds.
const SOFT_WORK_FULL_REPLICAS: u64 = 1_000_000;

/// The soft goals' search budget for a plan: at most [`SOFT_WORK_BASE`] units whatever the
/// input, so a plan's search work is bounded. Where it runs out, soft goals may be left out
/// of band (and the plan is then not idempotent: re-planning gets a fresh budget).
fn soft_work_budget(st: &State<'_>) -> u64 {
    let n = (st.assign.len() as u64).max(SOFT_WORK_FULL_REPLICAS);
    (u128::from(SOFT_WORK_BASE) * u128::from(SOFT_WORK_FULL_REPLICAS) / u128::from(n)) as u64
}

/// Replicas on brokers being drained plus replicas above the replica-count band.
fn lower_bound(st: &State<'_>, scope: &Scope) -> u64 {
    let mut lb = 0.0;
    let band = st.bands[M_REPLICAS].clone();
    for b in 0..st.nb() {
        if !scope.in_scope[b] {
            continue;
        }
        let n = st.metric[b][M_REPLICAS];
        if !st.c.brokers[b].state.can_host() {
            lb += n;
        } else if let Some(band) = &band {
            lb += (n - band.hi[b]).max(0.0);
        }
    }
    lb as u64
}

/// Runs every soft goal in priority order, locking each once optimised, until a sweep makes
/// no move (or [`MAX_SWEEPS`]).
fn sweep_soft_goals(
    st: &mut State<'_>,
    soft: &[crate::goals::GoalConfig],
    opts: &PlanOptions,
    started: &mut dyn FnMut(&'static str),
) {
    // Mixed capacities: the resource goals run as one joint phase (see `joint`), at the
    // place of the first of them; their own passes are skipped. Not while a hard limit is
    // broken (the plan fails anyway, or is best effort): the per-goal passes are cheaper.
    let joint = if joint::mixed_capacities(st) && !joint::hard_limits_broken(st) {
        joint::JointGoals::of(st)
    } else {
        None
    };
    for sweep in 0..MAX_SWEEPS {
        st.locked = [false; METRICS];
        st.topic_locked = false;
        let mut moves = 0;
        let mut joint_done = false;
        for g in soft {
            if sweep == 0 {
                started(g.kind.name());
            }
            if let Some(jg) = &joint
                && let Some(k) = g.kind.metric()
                && jg.resources.contains(&k)
            {
                if !joint_done {
                    moves += joint::balance_jointly(st, jg);
                    joint_done = true;
                    for &m in &jg.resources {
                        st.locked[m] = true;
                    }
                }
                continue;
            }
            moves += run_soft_goal(st, g.kind, opts);
            if let Some(k) = g.kind.metric() {
                st.locked[k] = true;
            } else {
                st.topic_locked = true;
            }
        }
        if moves == 0 {
            break;
        }
    }
}

fn run_soft_goal(st: &mut State<'_>, kind: GoalKind, _opts: &PlanOptions) -> u64 {
    let id = goal_id(kind);
    if kind == GoalKind::TopicReplicaDistribution {
        return topic::balance_topics(st, id);
    }
    let Some(k) = kind.metric() else { return 0 };
    let Some(band) = st.bands[k].clone() else {
        return 0;
    };
    let lead_first = kind.leadership_sensitive();
    let allow_swaps = k != M_REPLICAS;
    let mut bal = balance::Balancer::new(st, k, band, id, lead_first, allow_swaps);
    bal.run(4);
    bal.moves
}

pub(crate) use balance::Balancer;
