//! The host loop: feeds the [`Executor`] what the cluster and the state topic say, steps it,
//! and carries out its actions with the Kafka client, in order, stopping at the first
//! failure. Decisions stay in the executor; this file only translates and reports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use keel_balancer::executor::record::plan_id;
use keel_balancer::executor::{
    Action, DesiredState, Executor, Outcome, PartitionStatus, PauseReason, Phase,
};
use keel_wire::client::{ConfigResource, KafkaClient, first_error};

use super::progress::Progress;
use super::records::{Replay, StateEvent, persist_records};
use super::state_topic::{StateRecord, StateTopic, now_ms};
use super::translate::{self, Observation};

/// Which partitions count for the health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HealthScope {
    /// Every partition in the cluster (Kafka's own `--verify` sense of a healthy cluster).
    Cluster,
    /// Only the plan's partitions.
    Plan,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// The state topic (`__keel_state`).
    pub state_topic: String,
    /// This process's holder id for the lease.
    pub holder: String,
    /// How long to stay in a pause that may resume by itself (cluster unhealthy) before
    /// giving up with [`ExecutionEnd::Paused`].
    pub max_pause: Duration,
    /// Which partitions count for health.
    pub health_scope: HealthScope,
    /// Progress line interval on stderr (zero: no progress lines).
    pub progress_every: Duration,
    /// Issue no new moves after this instant (a maintenance window's end): the execution
    /// pauses itself ([`PauseReason::Deadline`], persisted) and the run returns
    /// [`ExecutionEnd::Paused`]; in-flight moves finish in the cluster. The next run of the
    /// same plan resumes it by itself, unless an operator paused it meanwhile.
    pub deadline: Option<Instant>,
}

/// What to execute.
#[derive(Debug, Clone)]
pub enum Start {
    /// This plan (continued if it is the one in progress).
    Plan(Box<DesiredState>),
    /// Whatever plan is in progress in the state topic.
    Continue,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionEnd {
    /// Converged (or cancelled and rolled back).
    Done(Outcome),
    /// Paused, and not resuming by itself.
    Paused(PauseReason),
}

/// Operational messages on stderr, prefixed so tests and operators can grep them.
pub(crate) fn say(msg: impl std::fmt::Display) {
    eprintln!("keel execute: {msg}");
}

/// Holder id of this process: host, pid and start time, unique per process.
pub fn default_holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{}/{}", std::process::id(), now_ms())
}

/// Whether two desired states target the same replicas (limits aside).
fn same_targets(a: &DesiredState, b: &DesiredState) -> bool {
    a.topics == b.topics && a.partitions == b.partitions && a.replicas == b.replicas
}

/// Builds the executor from the state topic: continues the plan in progress, or starts
/// `start`'s plan; refuses to start a different plan while another is in progress.
fn executor_for(
    start: Start,
    replay: &Replay,
    holder: &str,
    state: &StateTopic,
) -> anyhow::Result<Executor> {
    let in_progress = replay
        .last_control()
        .filter(|(_, c)| !matches!(c.phase, Phase::Done { .. }))
        .map(|(_, c)| c.clone());
    let restore = |id: &str| -> anyhow::Result<Executor> {
        let d = replay.plan(id).with_context(|| {
            format!(
                "plan {id} has control records but no plan record in {}",
                state.name()
            )
        })?;
        let c = replay
            .last_control_of(id)
            .with_context(|| format!("plan {id} has no control record"))?;
        Ok(Executor::restore(d.clone(), c.clone(), holder)?)
    };
    match (start, in_progress) {
        (Start::Continue, None) => bail!(
            "nothing to continue: no execution in progress in {}; give --plan FILE",
            state.name()
        ),
        (Start::Continue, Some(c)) => {
            say(format!(
                "continuing plan {} ({})",
                c.plan_id,
                phase_text(&c.phase)
            ));
            restore(&c.plan_id)
        }
        (Start::Plan(d), Some(c)) => {
            let id = plan_id(&d);
            let same =
                id == c.plan_id || replay.plan(&c.plan_id).is_some_and(|p| same_targets(p, &d));
            if !same {
                bail!(
                    "plan {} is still in progress ({}, lease holder {}); continue it with `keel execute` without --plan, or cancel it with `keel execute cancel`",
                    c.plan_id,
                    phase_text(&c.phase),
                    c.holder
                );
            }
            if id != c.plan_id {
                say(format!(
                    "the plan in progress ({}) has the same targets with other limits: continuing it with its persisted limits",
                    c.plan_id
                ));
            } else {
                say(format!("continuing plan {id} ({})", phase_text(&c.phase)));
            }
            restore(&c.plan_id)
        }
        (Start::Plan(d), None) => {
            let mut ex = Executor::new(*d, holder);
            // Commands written before this plan started are not meant for it.
            ex.skip_commands_before(state.position().max(0) as u64);
            say(format!(
                "starting plan {} ({} partitions)",
                ex.plan_id(),
                ex.desired().len()
            ));
            Ok(ex)
        }
    }
}

/// A short text for a phase.
pub fn phase_text(p: &Phase) -> String {
    match p {
        Phase::Running => "running".into(),
        Phase::Paused { reason } => format!("paused: {reason}"),
        Phase::Cancelling { .. } => "cancelling".into(),
        Phase::Finishing { .. } => "finishing".into(),
        Phase::Done {
            outcome: Outcome::Converged,
        } => "done: converged".into(),
        Phase::Done {
            outcome: Outcome::Cancelled,
        } => "done: cancelled".into(),
    }
}

/// Feeds state-topic records (control records and commands for this plan) to `ex`.
fn feed_state(ex: &mut Executor, records: &[StateRecord]) {
    let replay = Replay::of(records);
    for bad in &replay.bad {
        tracing::warn!("{bad}");
    }
    for e in &replay.events {
        match e {
            StateEvent::Control { control, .. } => ex.observe_control_record(control),
            StateEvent::Command { offset, command } => {
                if command
                    .plan_id
                    .as_deref()
                    .is_none_or(|id| id == ex.plan_id())
                    && *offset >= 0
                    && ex.apply_command(*offset as u64, command.command)
                {
                    say(format!(
                        "applied {:?} command from {} (offset {offset})",
                        command.command, command.issued_by
                    ));
                    metrics::counter!("keel_execute_commands_total").increment(1);
                }
            }
            StateEvent::Plan { .. } => {}
        }
    }
}

/// `min.insync.replicas` per topic, refreshed every 30 s.
#[derive(Debug, Default)]
struct MinIsrCache {
    values: BTreeMap<String, u16>,
    at: Option<Instant>,
}

impl MinIsrCache {
    async fn refresh(&mut self, client: &KafkaClient, topics: &[String]) {
        if self
            .at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(30))
            && topics.iter().all(|t| self.values.contains_key(t))
        {
            return;
        }
        let keys = ["min.insync.replicas".to_string()];
        let calls = topics.iter().map(|t| {
            let resource = ConfigResource::Topic(t.clone());
            let keys = &keys;
            async move {
                (
                    t.clone(),
                    client.describe_configs(&resource, Some(keys)).await,
                )
            }
        });
        for (t, r) in futures::future::join_all(calls).await {
            match r {
                Ok(entries) => {
                    let v = entries
                        .iter()
                        .find(|e| e.name == "min.insync.replicas")
                        .and_then(|e| e.value.as_deref())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1);
                    self.values.insert(t, v);
                }
                Err(e) => tracing::debug!("DescribeConfigs {t}: {e}"),
            }
        }
        self.at = Some(Instant::now());
    }
}

/// One observation round: ListPartitionReassignments first, then Metadata (see
/// [`translate::observations`]), then `min.insync.replicas`.
async fn observe(
    client: &KafkaClient,
    ex: &mut Executor,
    scope: HealthScope,
    cache: &mut MinIsrCache,
    fed: &mut FedObservations,
) -> anyhow::Result<usize> {
    let ongoing = client
        .list_partition_reassignments(None)
        .await
        .context("ListPartitionReassignments")?;
    let meta = client.refresh_metadata().await.context("Metadata")?;
    let topics: Vec<String> = match scope {
        HealthScope::Cluster => meta.topics.keys().cloned().collect(),
        HealthScope::Plan => ex.desired().topics.clone(),
    };
    cache.refresh(client, &topics).await;
    let d = ex.desired();
    let expected = |t: &str, p: i32| d.index_of(t, p).map(|i| d.target(i as usize).len());
    let mut obs = translate::observations(&meta, &ongoing, &cache.values, 1, &expected);
    if scope == HealthScope::Plan {
        obs.retain(|o| d.index_of(&o.topic, o.partition).is_some());
    }
    let mut brokers: Vec<i32> = d.target_brokers();
    brokers.extend(meta.brokers.keys().copied());
    for o in &obs {
        brokers.extend(o.observed.replicas.iter().copied());
    }
    brokers.sort_unstable();
    brokers.dedup();
    for b in brokers {
        ex.observe_broker(b, meta.brokers.contains_key(&b));
    }
    Ok(fed.feed(ex, obs))
}

/// What each partition was last fed with, so a round feeds only what changed (feeding a
/// 1M-replica cluster in full costs ~200 ms; see BENCHMARKS.md). Plan partitions whose
/// status waits for "the next observation" (unobserved, issued, unconfirmed) are fed every
/// round whether or not they changed.
#[derive(Debug, Default)]
pub struct FedObservations {
    last: std::collections::HashMap<(String, i32), keel_balancer::executor::ObservedPartition>,
}

impl FedObservations {
    /// Feeds the observations `ex` needs; returns how many were fed.
    pub fn feed(&mut self, ex: &mut Executor, obs: Vec<Observation>) -> usize {
        let mut n = 0;
        for o in obs {
            let waiting = ex
                .desired()
                .index_of(&o.topic, o.partition)
                .and_then(|i| ex.partition_status(i))
                .is_some_and(|s| {
                    matches!(
                        s,
                        PartitionStatus::Unobserved
                            | PartitionStatus::Issued
                            | PartitionStatus::Unconfirmed
                    )
                });
            let key = (o.topic, o.partition);
            if !waiting && self.last.get(&key) == Some(&o.observed) {
                continue;
            }
            ex.observe_partition(&key.0, key.1, &o.observed);
            self.last.insert(key, o.observed);
            n += 1;
        }
        n
    }
}

/// Carries out one cluster action; `Err` is the failure message for the executor.
async fn perform(client: &KafkaClient, a: &Action) -> Result<(), String> {
    let err = |e: keel_wire::WireError| e.to_string();
    match a {
        Action::SetThrottles { throttles, .. } => {
            for (b, rate) in &throttles.rates {
                say(format!("throttle broker {b} at {rate} B/s"));
            }
            for (resource, changes) in translate::set_throttle_calls(throttles) {
                client
                    .incremental_alter_configs(&resource, &changes, false)
                    .await
                    .map_err(err)?;
            }
            Ok(())
        }
        Action::AlterReassignments { moves, .. } => {
            for m in moves {
                say(format!(
                    "issue reassignment {}-{} -> {:?}",
                    m.topic, m.partition, m.replicas
                ));
            }
            let outcomes = client
                .alter_partition_reassignments(&translate::alter_entries(moves))
                .await
                .map_err(err)?;
            first_error(outcomes).map_err(err)
        }
        Action::CancelReassignments { partitions, .. } => {
            for (t, p) in partitions {
                say(format!("cancel reassignment {t}-{p}"));
            }
            let outcomes = client
                .alter_partition_reassignments(&translate::cancel_entries(partitions))
                .await
                .map_err(err)?;
            first_error(outcomes).map_err(err)
        }
        Action::ClearThrottles {
            brokers, topics, ..
        } => {
            say(format!(
                "clear throttles on {} broker(s), {} topic(s)",
                brokers.len(),
                topics.len()
            ));
            for (resource, changes) in translate::clear_throttle_calls(brokers, topics) {
                match client
                    .incremental_alter_configs(&resource, &changes, false)
                    .await
                {
                    Ok(()) => {}
                    // A broker that is gone from the cluster has no throttle to clear.
                    Err(e) if matches!(resource, ConfigResource::Broker(_)) && is_gone(&e) => {
                        tracing::debug!("skipping {resource:?}: {e}");
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Ok(())
        }
        Action::ElectPreferredLeaders { partitions, .. } => {
            say(format!(
                "preferred-leader election for {} partition(s)",
                partitions.len()
            ));
            let outcomes = client
                .elect_preferred_leaders(Some(&translate::group_partitions(partitions)))
                .await
                .map_err(err)?;
            first_error(outcomes).map_err(err)
        }
        Action::PersistDesiredState { .. } | Action::Pause { .. } | Action::Done { .. } => Ok(()),
    }
}

/// A broker id the cluster does not know (decommissioned): its configs cannot be reached.
fn is_gone(e: &keel_wire::WireError) -> bool {
    matches!(e, keel_wire::WireError::Protocol { .. })
        || e.to_string().contains("not in cluster metadata")
        || e.to_string().contains("unknown broker")
}

fn action_kind(a: &Action) -> &'static str {
    match a {
        Action::PersistDesiredState { .. } => "persist",
        Action::SetThrottles { .. } => "set_throttles",
        Action::AlterReassignments { .. } => "alter_reassignments",
        Action::CancelReassignments { .. } => "cancel_reassignments",
        Action::ClearThrottles { .. } => "clear_throttles",
        Action::ElectPreferredLeaders { .. } => "elect_leaders",
        Action::Pause { .. } => "pause",
        Action::Done { .. } => "done",
    }
}

/// Runs an execution to its end (done, or a pause that will not resume by itself).
pub async fn run_execution(
    client: &KafkaClient,
    start: Start,
    opts: &ExecuteOptions,
) -> anyhow::Result<ExecutionEnd> {
    let mut state = StateTopic::open(client, &opts.state_topic).await?;
    let records = state.read_all().await?;
    let replay = Replay::of(&records);
    for bad in &replay.bad {
        say(format!("ignoring {bad}"));
    }
    let mut ex = executor_for(start, &replay, &opts.holder, &state)?;
    feed_state(&mut ex, &records);
    if ex.resume_after_deadline() {
        say("resuming: the execution was paused only because an earlier run's deadline passed");
    }
    let mut cache = MinIsrCache::default();
    let mut fed = FedObservations::default();
    let mut progress = Progress::new(ex.desired(), opts.progress_every);
    let mut paused_since: Option<Instant> = None;
    let mut fenced_said = false;
    let mut observe_failures = 0u32;
    let mut last_end: Option<ExecutionEnd> = None;
    let mut actions_done = 0u64;
    loop {
        match observe(client, &mut ex, opts.health_scope, &mut cache, &mut fed).await {
            Ok(_) => {
                if observe_failures > 0 {
                    say("cluster reachable again");
                }
                observe_failures = 0;
            }
            Err(e) => {
                observe_failures += 1;
                if observe_failures == 1 || observe_failures.is_multiple_of(10) {
                    say(format!("observing the cluster failed: {e:#}"));
                }
            }
        }
        match state.poll().await {
            Ok(recs) => feed_state(&mut ex, &recs),
            Err(e) => say(format!("reading {} failed: {e:#}", state.name())),
        }
        if opts.deadline.is_some_and(|d| Instant::now() >= d) && ex.pause_at_deadline() {
            say("deadline reached: pausing (no new moves)");
        }
        let step = ex.step(now_ms());
        for a in &step.actions {
            let kind = action_kind(a);
            if !matches!(a, Action::Pause { .. } | Action::Done { .. }) {
                actions_done += 1;
                // One line per action before it is carried out (crash tests key on it).
                say(format!("action {actions_done}: {kind}"));
            }
            match a {
                Action::PersistDesiredState { plan, control } => {
                    let recs = persist_records(plan.as_deref(), control);
                    let refs: Vec<(&str, Option<&[u8]>)> = recs
                        .iter()
                        .map(|(k, v)| (k.as_str(), Some(v.as_slice())))
                        .collect();
                    match state.append(&refs).await {
                        Ok(offset) => {
                            tracing::debug!(offset, seq = control.seq, "persisted control record");
                            match state.poll().await {
                                Ok(recs) => feed_state(&mut ex, &recs),
                                Err(e) => say(format!("reading {} failed: {e:#}", state.name())),
                            }
                        }
                        Err(e) => {
                            say(format!("persisting to {} failed: {e:#}", state.name()));
                            metrics::counter!("keel_execute_actions_total", "kind" => kind, "result" => "failed").increment(1);
                            break;
                        }
                    }
                }
                Action::Pause { reason } => {
                    say(format!("paused: {reason}"));
                    metrics::counter!("keel_execute_pauses_total").increment(1);
                }
                Action::Done { outcome } => {
                    last_end = Some(ExecutionEnd::Done(*outcome));
                }
                _ => {
                    let Some(id) = a.id() else { continue };
                    match perform(client, a).await {
                        Ok(()) => {
                            ex.action_succeeded(id);
                            metrics::counter!("keel_execute_actions_total", "kind" => kind, "result" => "ok").increment(1);
                        }
                        Err(msg) => {
                            say(format!("{kind} failed: {msg}"));
                            ex.action_failed(id, &msg);
                            metrics::counter!("keel_execute_actions_total", "kind" => kind, "result" => "failed").increment(1);
                            break;
                        }
                    }
                }
            }
        }
        progress.update(&ex);
        if let Some(end) = last_end.take() {
            progress.finish(&ex, &end);
            return Ok(end);
        }
        let status = ex.status();
        if !status.holds_lease && !ex.persist_pending() {
            if !fenced_said {
                say(
                    "waiting for the lease (held by another executor, or an earlier lease of this plan has not expired)",
                );
                fenced_said = true;
            }
        } else if status.holds_lease {
            fenced_said = false;
        }
        if let Phase::Paused { reason } = ex.phase() {
            metrics::gauge!("keel_execute_paused").set(1.0);
            let since = *paused_since.get_or_insert_with(Instant::now);
            let may_resume =
                matches!(reason, PauseReason::Unhealthy { .. }) && ex.desired().limits.auto_resume;
            if !ex.persist_pending() && (!may_resume || since.elapsed() >= opts.max_pause) {
                let end = ExecutionEnd::Paused(reason.clone());
                progress.finish(&ex, &end);
                return Ok(end);
            }
        } else {
            if paused_since.take().is_some() {
                say("resumed");
            }
            metrics::gauge!("keel_execute_paused").set(0.0);
        }
        let wait = step.poll_after_ms.clamp(50, ex.desired().limits.poll_ms);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Counts of partition statuses (for progress lines and tests).
pub fn status_counts(ex: &Executor) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for i in 0..ex.desired().len() as u32 {
        let k = match ex.partition_status(i) {
            Some(PartitionStatus::Done) => "done",
            Some(PartitionStatus::InFlight) => "moving",
            Some(PartitionStatus::Issued) | Some(PartitionStatus::Unconfirmed) => "issued",
            Some(PartitionStatus::Pending) => "pending",
            _ => "unobserved",
        };
        *out.entry(k).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_balancer::executor::{Limits, ObservedPartition, TargetPartition};

    fn obs(topic: &str, p: i32, replicas: Vec<i32>) -> Observation {
        Observation {
            topic: topic.into(),
            partition: p,
            observed: ObservedPartition {
                leader: replicas.first().copied(),
                isr: replicas.clone(),
                replicas,
                min_isr: 1,
                adding: vec![],
                removing: vec![],
            },
        }
    }

    #[test]
    fn only_changed_or_waiting_partitions_are_fed_again() {
        let d = DesiredState::new(
            vec![
                TargetPartition {
                    topic: "t".into(),
                    partition: 0,
                    replicas: vec![1, 2],
                    size_bytes: 1,
                },
                TargetPartition {
                    topic: "t".into(),
                    partition: 1,
                    replicas: vec![2, 3],
                    size_bytes: 1,
                },
            ],
            Limits::default(),
        )
        .unwrap();
        let mut ex = Executor::new(d, "h");
        let mut fed = FedObservations::default();
        let round = || {
            vec![
                obs("t", 0, vec![1, 2]),
                obs("t", 1, vec![1, 3]),
                obs("u", 0, vec![1]),
            ]
        };
        assert_eq!(
            fed.feed(&mut ex, round()),
            3,
            "first round feeds everything"
        );
        assert_eq!(ex.partition_status(0), Some(PartitionStatus::Done));
        assert_eq!(ex.partition_status(1), Some(PartitionStatus::Pending));
        assert_eq!(
            fed.feed(&mut ex, round()),
            0,
            "nothing changed, nothing waits"
        );
        let mut changed = round();
        changed[2].observed.isr = vec![];
        assert_eq!(fed.feed(&mut ex, changed), 1, "a change is fed");
    }
}
