//! The periodic rebalance loop: snapshot → detect imbalance → plan → act as the policy
//! allows ([`super::window::decide`]).
//!
//! Built against two small traits so the decision logic is testable without a cluster:
//! [`ClusterSource`] (the live snapshot; the real one is `crate::snapshot`) and
//! [`PlanRunner`] (carries a plan out; the real one is `crate::execute`). `propose` writes the
//! plan as keel plan JSON and Kafka reassignment JSON to `plan_dir` (`plan-<unix>.json`,
//! `plan-<unix>.kafka.json`, and `latest.json` / `latest.kafka.json`) and logs a summary.
//!
//! Imbalance ([`imbalance`]): a hard goal with violations, or a soft goal with brokers
//! outside its band, *and* the planner found moves (a cluster that cannot be improved is not
//! re-planned into a no-op execution). Nothing is torn down on failure: a failed snapshot or
//! plan leaves the cluster as it is, and the next pass starts over.
//!
//! In `auto` inside a window, an execution left in progress (paused when an earlier window
//! ended) is continued before anything else ([`PlanRunner::continue_in_progress`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use keel_balancer::status::GoalStatus;
use keel_balancer::{Cluster, Plan, PlanOptions};

use super::window::{Decision, Idle, MaintenanceWindow, Policy, decide};

/// Where the loop gets the cluster from.
pub trait ClusterSource: Send + Sync {
    /// A fresh snapshot of the live cluster.
    fn capture(&self) -> impl Future<Output = anyhow::Result<Cluster>> + Send;
}

/// What carries a plan out.
pub trait PlanRunner: Send + Sync {
    /// Executes `plan` against the live cluster; starts no new batch after `deadline` (the
    /// window's end). Returns a one-line summary.
    fn execute(
        &self,
        cluster: &Cluster,
        plan: &Plan,
        deadline: Duration,
    ) -> impl Future<Output = anyhow::Result<String>> + Send;

    /// Continues the execution in progress (one paused at an earlier window's end), if any,
    /// starting no new batch after `deadline`; `Ok(None)` when nothing is in progress.
    fn continue_in_progress(
        &self,
        deadline: Duration,
    ) -> impl Future<Output = anyhow::Result<Option<String>>> + Send {
        let _ = deadline;
        async { Ok(None) }
    }
}

/// The goals that are out of balance before the plan, or `None` when the cluster is balanced
/// (or the planner found nothing to move). Pure.
pub fn imbalance(plan: &Plan) -> Option<Vec<String>> {
    if plan.reassignments.is_empty() {
        return None;
    }
    let bad: Vec<String> = plan
        .before
        .iter()
        .filter(|g: &&GoalStatus| g.violations > 0 || g.out_of_band > 0)
        .map(|g| {
            if g.violations > 0 {
                format!("{} ({} violation(s))", g.goal, g.violations)
            } else {
                format!("{} ({} broker(s) out of band)", g.goal, g.out_of_band)
            }
        })
        .collect();
    (!bad.is_empty()).then_some(bad)
}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct RebalanceSettings {
    /// The policy.
    pub policy: Policy,
    /// Maintenance windows.
    pub windows: Vec<MaintenanceWindow>,
    /// Planner options.
    pub plan: PlanOptions,
    /// Where proposals go.
    pub plan_dir: PathBuf,
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq)]
pub enum RebalanceOutcome {
    /// Nothing to do.
    Idle(Idle),
    /// A plan was written (`outside_window`: auto held back by the windows).
    Proposed {
        /// The plan file.
        path: PathBuf,
        /// Replica moves in the plan.
        moves: u64,
        /// Auto held back by the windows.
        outside_window: bool,
    },
    /// Inside a window, the execution left in progress by an earlier one was continued
    /// (before any new snapshot or plan).
    Continued {
        /// Runner summary.
        summary: String,
    },
    /// A plan was executed.
    Executed {
        /// Runner summary.
        summary: String,
        /// Replica moves in the plan.
        moves: u64,
    },
}

impl std::fmt::Display for RebalanceOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebalanceOutcome::Idle(Idle::Balanced) => f.write_str("balanced: nothing to do"),
            RebalanceOutcome::Idle(Idle::PolicyOff) => f.write_str("policy off"),
            RebalanceOutcome::Proposed {
                path,
                moves,
                outside_window,
            } => write!(
                f,
                "proposed {moves} replica move(s) in {}{}",
                path.display(),
                if *outside_window {
                    " (auto: outside every maintenance window)"
                } else {
                    ""
                }
            ),
            RebalanceOutcome::Continued { summary } => {
                write!(f, "continued the execution in progress: {summary}")
            }
            RebalanceOutcome::Executed { summary, moves } => {
                write!(f, "executed {moves} replica move(s): {summary}")
            }
        }
    }
}

/// Writes a proposal; returns the plan file.
pub fn write_proposal(
    dir: &Path,
    cluster: &Cluster,
    plan: &Plan,
    unix_secs: i64,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating plan dir {}", dir.display()))?;
    let keel = plan.to_keel_json(cluster);
    let kafka = plan.to_kafka_json(cluster);
    let path = dir.join(format!("plan-{unix_secs}.json"));
    let write = |p: PathBuf, text: &str| -> anyhow::Result<()> {
        // Write then rename, so a reader never sees half a plan.
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &p).with_context(|| format!("renaming to {}", p.display()))
    };
    write(path.clone(), &keel)?;
    write(dir.join(format!("plan-{unix_secs}.kafka.json")), &kafka)?;
    write(dir.join("latest.json"), &keel)?;
    write(dir.join("latest.kafka.json"), &kafka)?;
    Ok(path)
}

/// One pass at `unix_secs`. Planning runs on a blocking thread (it is CPU-bound).
pub async fn pass<S: ClusterSource, R: PlanRunner>(
    source: &S,
    runner: &R,
    settings: &RebalanceSettings,
    unix_secs: i64,
) -> anyhow::Result<RebalanceOutcome> {
    if settings.policy == Policy::Off {
        return Ok(RebalanceOutcome::Idle(Idle::PolicyOff));
    }
    // An execution paused at the end of an earlier window goes on first, whatever the
    // cluster looks like now: its moves are half done and its plan is persisted.
    if let Decision::Execute { window_left_secs } =
        decide(settings.policy, &settings.windows, unix_secs, true)
    {
        let deadline = Duration::from_secs(u64::try_from(window_left_secs).unwrap_or(0));
        if let Some(summary) = runner
            .continue_in_progress(deadline)
            .await
            .context("continuing the execution in progress")?
        {
            metrics::counter!("keel_sidecar_rebalance_executions_total").increment(1);
            return Ok(RebalanceOutcome::Continued { summary });
        }
    }
    let cluster = source
        .capture()
        .await
        .context("taking the cluster snapshot")?;
    let (cluster, plan) = {
        let opts = settings.plan.clone();
        tokio::task::spawn_blocking(move || {
            let plan = keel_balancer::plan(&cluster, &opts, &mut |_| {});
            (cluster, plan)
        })
        .await
        .context("the planner task failed")?
    };
    let plan = plan.context("planning")?;
    let out_of_balance = imbalance(&plan);
    metrics::gauge!("keel_sidecar_rebalance_imbalanced").set(if out_of_balance.is_some() {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("keel_sidecar_rebalance_planned_moves").set(plan.replica_moves() as f64);
    if let Some(goals) = &out_of_balance {
        tracing::info!(goals = %goals.join(", "), moves = plan.replica_moves(), "cluster out of balance");
    }
    match decide(
        settings.policy,
        &settings.windows,
        unix_secs,
        out_of_balance.is_some(),
    ) {
        Decision::Idle(why) => Ok(RebalanceOutcome::Idle(why)),
        Decision::Propose { outside_window } => {
            let path = write_proposal(&settings.plan_dir, &cluster, &plan, unix_secs)?;
            metrics::counter!("keel_sidecar_rebalance_proposals_total").increment(1);
            Ok(RebalanceOutcome::Proposed {
                path,
                moves: plan.replica_moves(),
                outside_window,
            })
        }
        Decision::Execute { window_left_secs } => {
            let deadline = Duration::from_secs(u64::try_from(window_left_secs).unwrap_or(0));
            let summary = runner
                .execute(&cluster, &plan, deadline)
                .await
                .context("executing the plan")?;
            metrics::counter!("keel_sidecar_rebalance_executions_total").increment(1);
            Ok(RebalanceOutcome::Executed {
                summary,
                moves: plan.replica_moves(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_balancer::generate::{GenOptions, generate_string};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fixed(String);
    impl ClusterSource for Fixed {
        async fn capture(&self) -> anyhow::Result<Cluster> {
            Ok(keel_balancer::snapshot::parse_str(&self.0)?)
        }
    }
    struct Down;
    impl ClusterSource for Down {
        async fn capture(&self) -> anyhow::Result<Cluster> {
            anyhow::bail!("bootstrap unreachable")
        }
    }
    #[derive(Default)]
    struct Counting(AtomicUsize);
    impl PlanRunner for Counting {
        async fn execute(&self, _: &Cluster, plan: &Plan, _: Duration) -> anyhow::Result<String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(format!("{} reassignments", plan.reassignments.len()))
        }
    }

    fn skewed() -> Fixed {
        Fixed(
            generate_string(&GenOptions {
                brokers: 6,
                racks: 3,
                replicas: 600,
                skew: 1.5,
                seed: 7,
                ..Default::default()
            })
            .unwrap(),
        )
    }

    const SAT_0200: i64 = 1_795_219_200 + 2 * 3600;

    fn settings(policy: Policy, dir: &Path) -> RebalanceSettings {
        RebalanceSettings {
            policy,
            windows: vec!["Sat 01:00-05:00".parse().unwrap()],
            plan: PlanOptions::default(),
            plan_dir: dir.to_path_buf(),
        }
    }

    #[tokio::test]
    async fn propose_writes_a_plan_and_never_executes() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Counting::default();
        let out = pass(
            &skewed(),
            &runner,
            &settings(Policy::Propose, dir.path()),
            SAT_0200,
        )
        .await
        .unwrap();
        let RebalanceOutcome::Proposed {
            path,
            moves,
            outside_window: false,
        } = out
        else {
            panic!("{out:?}")
        };
        assert!(moves > 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("reassignments") || text.contains("partitions"),
            "{text:.200}"
        );
        assert!(dir.path().join("latest.kafka.json").exists());
        assert_eq!(runner.0.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn auto_executes_inside_a_window_and_proposes_outside() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Counting::default();
        let s = settings(Policy::Auto, dir.path());
        let out = pass(&skewed(), &runner, &s, SAT_0200 - 2 * 3600)
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                RebalanceOutcome::Proposed {
                    outside_window: true,
                    ..
                }
            ),
            "{out:?}"
        );
        assert_eq!(runner.0.load(Ordering::SeqCst), 0);
        let out = pass(&skewed(), &runner, &s, SAT_0200).await.unwrap();
        assert!(matches!(out, RebalanceOutcome::Executed { .. }), "{out:?}");
        assert_eq!(runner.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_balanced_cluster_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Counting::default();
        // Plan the skewed cluster, apply the plan: the result is balanced.
        let c = keel_balancer::snapshot::parse_str(&skewed().0).unwrap();
        let p = keel_balancer::plan(&c, &PlanOptions::default(), &mut |_| {}).unwrap();
        let balanced = keel_balancer::plan::apply(&c, &p.reassignments);
        let src = Fixed(keel_balancer::snapshot::to_json(&balanced));
        let out = pass(&src, &runner, &settings(Policy::Auto, dir.path()), SAT_0200)
            .await
            .unwrap();
        assert_eq!(out, RebalanceOutcome::Idle(Idle::Balanced));
        assert_eq!(runner.0.load(Ordering::SeqCst), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_failed_snapshot_is_an_error_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Counting::default();
        let e = pass(
            &Down,
            &runner,
            &settings(Policy::Auto, dir.path()),
            SAT_0200,
        )
        .await
        .unwrap_err();
        assert!(format!("{e:#}").contains("bootstrap unreachable"));
        assert_eq!(runner.0.load(Ordering::SeqCst), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn policy_off_does_not_even_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let out = pass(
            &Down,
            &Counting::default(),
            &settings(Policy::Off, dir.path()),
            SAT_0200,
        )
        .await
        .unwrap();
        assert_eq!(out, RebalanceOutcome::Idle(Idle::PolicyOff));
    }
}
