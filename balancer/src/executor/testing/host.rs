//! The simulated host: observe, step, carry out the actions in order (stopping at the first
//! failure), feed results and `__keel_state` back, check invariants, and kill and rebuild the
//! executor from the persisted records when asked.

use std::collections::BTreeMap;

use super::{Rng, SimCluster};
use crate::executor::action::{Action, Step};
use crate::executor::core::Executor;
use crate::executor::desired::{BrokerId, DesiredState};
use crate::executor::record::{self, ControlRecord, Outcome, PauseReason, Phase};

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Holder id of every executor incarnation.
    pub holder: String,
    /// When to kill the executor (drop its state) and rebuild it from `__keel_state`.
    pub kill: Kill,
    /// Seed for kill points.
    pub seed: u64,
    /// Give up after this many steps.
    pub max_steps: usize,
    /// Most simulated time to advance between steps, ms.
    pub max_advance_ms: u64,
    /// A paused executor counts as settled after this much simulated time without resuming.
    pub settle_paused_ms: u64,
    /// Print every step's actions to stderr (debugging).
    pub trace: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            holder: "sidecar-1".into(),
            kill: Kill::Never,
            seed: 1,
            max_steps: 100_000,
            max_advance_ms: 5_000,
            settle_paused_ms: 600_000,
            trace: false,
        }
    }
}

/// When [`run`] kills the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// Never.
    Never,
    /// Every incarnation lives 1 to 3 steps (seeded) and dies part-way through the actions of
    /// its last step (after a seeded number of them were carried out, results unreported).
    Randomly,
    /// Once, in step `step` (1-based), after `cut` of its actions were carried out.
    AtStep {
        /// Step number.
        step: usize,
        /// Actions carried out before dying.
        cut: usize,
    },
}

/// How a [`run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// The executor reported `Done`.
    Done(Outcome),
    /// Paused and stayed paused for the settle time.
    Paused(PauseReason),
    /// Ran out of steps (a bug: neither converged nor paused).
    Stalled,
}

/// What happened in a [`run`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// How it ended.
    pub end: RunEnd,
    /// Steps taken.
    pub steps: usize,
    /// Executor incarnations after the first.
    pub restarts: usize,
    /// Invariant violations seen by the host (and the simulator's).
    pub violations: Vec<String>,
    /// Largest number of moves seen on one broker at once.
    pub max_broker_moves: u32,
}

fn rebuild(sim: &SimCluster, desired: &DesiredState, holder: &str) -> Executor {
    let restored = sim.plan_record.as_ref().and_then(|p| {
        let d = record::decode_plan(p.as_bytes()).ok()?;
        let id = record::plan_id(&d);
        let last = sim
            .control_log
            .iter()
            .rev()
            .filter_map(|c| ControlRecord::decode(c.as_bytes()).ok())
            .find(|c| c.plan_id == id)?;
        Executor::restore(d, last, holder).ok()
    });
    let mut ex = restored.unwrap_or_else(|| Executor::new(desired.clone(), holder));
    // The tail of the log is enough here: every incarnation shares one holder id.
    let tail = sim.control_log.len().saturating_sub(8);
    for c in &sim.control_log[tail..] {
        if let Ok(rec) = ControlRecord::decode(c.as_bytes()) {
            ex.observe_control_record(&rec);
        }
    }
    ex
}

/// Plays host for `desired` on `sim` until the executor is done, has stayed paused for
/// `settle_paused_ms`, or `max_steps` pass. Checks after every step: no broker has more
/// moves in flight than the per-broker cap, the cluster cap holds, every issued target is the
/// desired one, and no replica is lost.
pub fn run(sim: &mut SimCluster, desired: &DesiredState, opts: &RunOptions) -> RunReport {
    let mut rng = Rng::new(opts.seed);
    let mut ex = rebuild(sim, desired, &opts.holder);
    let mut seen_log = sim.control_log.len();
    let rf: Vec<usize> = sim.partitions.iter().map(|p| p.replicas.len()).collect();
    let mut report = RunReport {
        end: RunEnd::Stalled,
        steps: 0,
        restarts: 0,
        violations: Vec::new(),
        max_broker_moves: 0,
    };
    let mut paused_since: Option<u64> = None;
    let cap_b = desired.limits.per_broker_concurrency;
    let cap_c = desired.limits.cluster_concurrency as usize;
    let mut life = 1 + rng.below(3) as usize;
    for _ in 0..opts.max_steps {
        report.steps += 1;
        sim.observe_into(&mut ex);
        let step: Step = ex.step(sim.now_ms);
        if opts.trace {
            eprintln!(
                "step {} at {} ms, phase {:?}: {:?}",
                report.steps,
                sim.now_ms,
                ex.phase(),
                step.actions
            );
        }
        // Carry out the actions in order, stopping at the first failure; with kills, stop
        // part-way at a seeded point without reporting results.
        life = life.saturating_sub(1);
        let kill_now = match opts.kill {
            Kill::Never => false,
            Kill::Randomly => life == 0,
            Kill::AtStep { step, .. } => step == report.steps,
        };
        let cut = match opts.kill {
            _ if !kill_now => usize::MAX,
            Kill::AtStep { cut, .. } => cut,
            _ => rng.below(step.actions.len() as u64 + 1) as usize,
        };
        let mut done = None;
        for (k, a) in step.actions.iter().enumerate() {
            if k >= cut {
                break;
            }
            if let Action::AlterReassignments { moves, .. } = a {
                for mv in moves {
                    match desired.index_of(&mv.topic, mv.partition) {
                        Some(i) if desired.target(i as usize) == mv.replicas.as_slice() => {}
                        _ => report
                            .violations
                            .push(format!("issued a target not in the desired state: {mv:?}")),
                    }
                }
            }
            if let Action::Done { outcome } = a {
                done = Some(*outcome);
            }
            let res = sim.apply(a);
            if let Some(id) = a.id() {
                match res {
                    Ok(()) => ex.action_succeeded(id),
                    Err(e) => {
                        ex.action_failed(id, &e);
                        break;
                    }
                }
            }
        }
        for c in &sim.control_log[seen_log..] {
            if let Ok(rec) = ControlRecord::decode(c.as_bytes()) {
                ex.observe_control_record(&rec);
            } else {
                report
                    .violations
                    .push(format!("control record does not decode: {c}"));
            }
        }
        seen_log = sim.control_log.len();
        // Invariants after the step.
        let mut per_broker: BTreeMap<BrokerId, u32> = BTreeMap::new();
        let mut in_flight = 0;
        for p in &sim.partitions {
            let o = p.observe();
            if o.in_flight() {
                in_flight += 1;
                for b in o.adding.iter().chain(o.removing.iter()) {
                    *per_broker.entry(*b).or_default() += 1;
                }
            }
        }
        for (&b, &n) in &per_broker {
            report.max_broker_moves = report.max_broker_moves.max(n);
            if n > cap_b {
                report
                    .violations
                    .push(format!("broker {b} has {n} moves in flight, cap {cap_b}"));
            }
        }
        if in_flight > cap_c {
            report
                .violations
                .push(format!("{in_flight} moves in flight, cluster cap {cap_c}"));
        }
        sim.check_no_replica_lost(&rf);
        if let Some(o) = done
            && !kill_now
        {
            report.end = RunEnd::Done(o);
            break;
        }
        if let Phase::Paused { reason } = ex.phase() {
            let since = *paused_since.get_or_insert(sim.now_ms);
            if sim.now_ms >= since + opts.settle_paused_ms {
                report.end = RunEnd::Paused(reason.clone());
                break;
            }
        } else {
            paused_since = None;
        }
        sim.advance(step.poll_after_ms.min(opts.max_advance_ms));
        if kill_now {
            ex = rebuild(sim, desired, &opts.holder);
            seen_log = sim.control_log.len();
            report.restarts += 1;
            life = 1 + rng.below(3) as usize;
        }
    }
    report.violations.extend(sim.violations.iter().cloned());
    report
}
