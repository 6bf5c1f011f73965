//! # The sidecar
//!
//! `keel sidecar --config keel.toml` runs next to each broker of a JVM Kafka cluster and
//! drives keel's controls through Kafka's own admin protocol (no broker plugin), in three
//! loops, each a tokio task with its own interval, jitter, backoff and `tracing` span
//! ([`health::drive`]):
//!
//! - **rebalance** ([`rebalance`]): snapshot → imbalance → plan → `off | propose | auto`
//!   with maintenance windows ([`window`]);
//! - **tiering** ([`tiering`]): upload and expire over the broker's log dir;
//! - **quotas** ([`quotas`]): per-tenant demand reports over a Kafka topic, one elected
//!   distributor, uniform per-broker values through AlterClientQuotas
//!   ([KIP-546](https://cwiki.apache.org/confluence/display/KAFKA/KIP-546%3A+Add+Client+Quota+APIs+to+the+Admin+Client)).
//!
//! **Static stability**: when a dependency (a broker, the store, the report topic) is down, a
//! loop keeps the last good state, logs, counts the failure and retries with backoff; it
//! never tears down what it applied (no quota is removed, no reassignment cancelled, no
//! local segment deleted that is not committed remotely).
//!
//! Observability: Prometheus `/metrics` and `/healthz` ([`http`]) on 127.0.0.1:9464 by
//! default; structured logs through `tracing` (`keel --log-format json sidecar ...`).
//! Configuration: [`config`] (every key in README.md, section `sidecar`).

pub mod config;
pub mod health;
pub mod http;
pub mod quotas;
pub mod rebalance;
pub mod tiering;
pub mod window;

use std::time::Duration;

use anyhow::Context;
use keel_balancer::{Cluster, Goals, Plan, PlanOptions};
use keel_wire::client::KafkaClient;
use tokio::sync::Mutex;

use self::config::{DemandSourceKind, SidecarConfig};
use self::health::{Health, LoopTiming};
use self::quotas::QuotaLoop;
use self::quotas::demand::{FileDemand, LogDirGrowth, TenantTraffic};
use self::rebalance::{ClusterSource, PlanRunner, RebalanceSettings};
use self::window::Policy;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// One pass of every enabled loop, then return (error if any pass failed).
    pub once: bool,
}

/// The live cluster through the admin protocol: [`crate::snapshot::capture`] (sizes from
/// DescribeLogDirs, rates from log-end-offset growth over `sample`, capacities from a file).
#[derive(Debug, Clone)]
pub struct LiveCluster {
    client: KafkaClient,
    sample: Duration,
    capacity_file: Option<std::path::PathBuf>,
}

impl LiveCluster {
    /// A source over `client`.
    pub fn new(
        client: KafkaClient,
        sample: Duration,
        capacity_file: Option<std::path::PathBuf>,
    ) -> Self {
        LiveCluster {
            client,
            sample,
            capacity_file,
        }
    }
}

impl ClusterSource for LiveCluster {
    async fn capture(&self) -> anyhow::Result<Cluster> {
        let capacity = match &self.capacity_file {
            Some(p) => crate::snapshot::CapacityFile::load(p)?,
            None => crate::snapshot::CapacityFile::default(),
        };
        let opts = crate::snapshot::SnapshotOptions {
            sample: self.sample,
            capacity,
            ..crate::snapshot::SnapshotOptions::default()
        };
        let captured = crate::snapshot::capture(&self.client, &opts).await?;
        for w in &captured.warnings {
            tracing::warn!(warning = %w, "snapshot");
        }
        Ok(captured.cluster)
    }
}

/// Plan execution on the live cluster: [`crate::execute::run_execution`] (throttled batches,
/// pause on harm, crash-safe state in `__keel_state`, a lease so only one sidecar executes).
/// An execution left in progress (paused at a window's end) is continued before any new plan.
#[derive(Debug, Clone)]
pub struct LiveExecutor {
    client: KafkaClient,
    state_topic: String,
    limits: keel_balancer::executor::Limits,
    /// One lease holder id for the whole process: a later pass of this sidecar takes its
    /// own lease over at once instead of waiting for it to expire (passes never overlap).
    holder: String,
}

impl LiveExecutor {
    /// An executor over `client`.
    pub fn new(
        client: KafkaClient,
        state_topic: String,
        limits: keel_balancer::executor::Limits,
    ) -> Self {
        LiveExecutor {
            client,
            state_topic,
            limits,
            holder: crate::execute::default_holder_id(),
        }
    }
}

impl LiveExecutor {
    /// The execution in progress in the state topic (not finished), as `continued plan <id>
    /// (<phase>)`.
    async fn in_progress(&self) -> anyhow::Result<Option<String>> {
        Ok(crate::execute::read_status(&self.client, &self.state_topic)
            .await?
            .filter(|s| !s.finished)
            .map(|s| format!("continued plan {} ({})", s.plan_id, s.phase)))
    }

    async fn run(
        &self,
        start: crate::execute::Start,
        what: String,
        deadline: Duration,
    ) -> anyhow::Result<String> {
        use crate::execute::{ExecuteOptions, ExecutionEnd, HealthScope};
        let opts = ExecuteOptions {
            state_topic: self.state_topic.clone(),
            holder: self.holder.clone(),
            max_pause: Duration::from_secs(600),
            health_scope: HealthScope::Cluster,
            progress_every: Duration::ZERO,
            deadline: Some(std::time::Instant::now() + deadline),
        };
        Ok(
            match crate::execute::run_execution(&self.client, start, &opts).await? {
                ExecutionEnd::Done(o) => format!("{what}: done ({o:?})"),
                ExecutionEnd::Paused(r) => format!("{what}: paused ({r})"),
            },
        )
    }
}

impl PlanRunner for LiveExecutor {
    async fn execute(
        &self,
        cluster: &Cluster,
        plan: &Plan,
        deadline: Duration,
    ) -> anyhow::Result<String> {
        use crate::execute::Start;
        if let Some(what) = self.in_progress().await? {
            return self.run(Start::Continue, what, deadline).await;
        }
        let targets = crate::execute::parse_plan(&plan.to_kafka_json(cluster))
            .map_err(|e| anyhow::anyhow!("the planner's reassignment JSON: {e}"))?;
        let d = crate::execute::desired_state(&self.client, targets, self.limits.clone()).await?;
        self.run(Start::Plan(Box::new(d)), "new plan".to_owned(), deadline)
            .await
    }

    async fn continue_in_progress(&self, deadline: Duration) -> anyhow::Result<Option<String>> {
        match self.in_progress().await? {
            Some(what) => Ok(Some(
                self.run(crate::execute::Start::Continue, what, deadline)
                    .await?,
            )),
            None => Ok(None),
        }
    }
}

fn tenants_traffic(cfg: &SidecarConfig) -> Vec<TenantTraffic> {
    cfg.quotas
        .tenants
        .iter()
        .map(|t| TenantTraffic {
            name: t.name.clone(),
            topic_prefixes: t.topic_prefixes.clone(),
        })
        .collect()
}

/// Connects (one clear error when the bootstrap is unreachable) and checks that
/// `cluster.broker_id` is a broker of the cluster.
pub async fn connect(cfg: &SidecarConfig) -> anyhow::Result<KafkaClient> {
    let client_cfg = cfg.client_config()?;
    let bootstrap = cfg.cluster.bootstrap.join(",");
    let client = KafkaClient::connect(client_cfg).await.map_err(|e| {
        anyhow::anyhow!("cannot reach the cluster at cluster.bootstrap = {bootstrap}: {e}")
    })?;
    // The routing cache `connect` filled: no second Metadata fetch, no full model.
    let routing = client.routing().await?;
    if !routing.brokers.contains_key(&cfg.cluster.broker_id) {
        let ids: Vec<String> = routing.brokers.keys().map(|b| b.to_string()).collect();
        anyhow::bail!(
            "cluster.broker_id = {} is not a broker of the cluster at {bootstrap} (brokers: {})",
            cfg.cluster.broker_id,
            ids.join(", ")
        );
    }
    Ok(client)
}

/// Everything the loops need, built once.
#[derive(Debug)]
struct Loops {
    rebalance: Option<(LiveCluster, LiveExecutor, RebalanceSettings, LoopTiming)>,
    tiering: Option<(tiering::TieringLoop, LoopTiming)>,
    quotas_log_dir: Option<(QuotaLoop<LogDirGrowth>, LoopTiming)>,
    quotas_file: Option<(QuotaLoop<FileDemand>, LoopTiming)>,
}

fn build(cfg: &SidecarConfig, client: &KafkaClient) -> anyhow::Result<Loops> {
    let r = &cfg.rebalance;
    let rebalance = if r.policy == Policy::Off {
        None
    } else {
        let goals = match &r.goals {
            Some(spec) => Goals::from_spec(spec).context("rebalance.goals")?,
            None => Goals::default(),
        };
        Some((
            LiveCluster::new(client.clone(), r.sample, r.capacity_file.clone()),
            LiveExecutor::new(
                client.clone(),
                r.state_topic.clone(),
                keel_balancer::executor::Limits {
                    throttle_bytes_per_sec: r.throttle,
                    per_broker_concurrency: r.per_broker_concurrency,
                    ..keel_balancer::executor::Limits::default()
                },
            ),
            RebalanceSettings {
                policy: r.policy,
                windows: r.windows.clone(),
                plan: PlanOptions {
                    goals,
                    ..PlanOptions::default()
                },
                plan_dir: r.plan_dir.clone(),
            },
            LoopTiming {
                interval: r.interval,
                jitter: r.jitter,
                max_backoff: r.max_backoff,
            },
        ))
    };
    let t = &cfg.tiering;
    let tiering = match (t.enabled, &t.log_dir, &t.store) {
        (true, Some(log_dir), Some(url)) => {
            let tier_cfg = cfg
                .tier_config()
                .map_err(|(k, e)| anyhow::anyhow!("tiering.topic_config.\"{k}\": {e}"))?;
            let store = keel_tiering::TierStore::open(url)
                .with_context(|| format!("tiering.store = {url}"))?;
            let knobs = tiering::UploadKnobs {
                part_size: t.part_size,
                concurrency: t.concurrency,
                partitions: t.partitions,
                rate: t.rate,
                zstd_level: t.zstd_level,
                delete_local: t.delete_local,
            };
            Some((
                tiering::TieringLoop::new(
                    log_dir.clone(),
                    store,
                    tiering::sync_settings(tier_cfg, knobs),
                    t.expire,
                ),
                LoopTiming {
                    interval: t.interval,
                    jitter: t.jitter,
                    max_backoff: t.max_backoff,
                },
            ))
        }
        _ => None,
    };
    let q = &cfg.quotas;
    let qt = LoopTiming {
        interval: q.interval,
        jitter: q.jitter,
        max_backoff: q.max_backoff,
    };
    let broker = cfg.cluster.broker_id;
    let (mut quotas_log_dir, mut quotas_file) = (None, None);
    if q.enabled {
        match q.demand.source {
            DemandSourceKind::LogDirGrowth => {
                let d = LogDirGrowth::new(client.clone(), broker, tenants_traffic(cfg));
                quotas_log_dir = Some((QuotaLoop::new(client.clone(), broker, q.clone(), d), qt));
            }
            DemandSourceKind::File => {
                let path = q.demand.path.clone().context("quotas.demand.path")?;
                let d = FileDemand::new(path, q.report_timeout);
                quotas_file = Some((QuotaLoop::new(client.clone(), broker, q.clone(), d), qt));
            }
        }
    }
    Ok(Loops {
        rebalance,
        tiering,
        quotas_log_dir,
        quotas_file,
    })
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn once(loops: Loops) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    if let Some((src, run, settings, _)) = &loops.rebalance {
        match rebalance::pass(src, run, settings, unix_secs()).await {
            Ok(o) => println!("rebalance: {o}"),
            Err(e) => failed.push(format!("rebalance: {e:#}")),
        }
    }
    if let Some((mut t, _)) = loops.tiering {
        match t.pass().await {
            Ok(o) => println!("tiering: {o}"),
            Err(e) => failed.push(format!("tiering: {e:#}")),
        }
    }
    if let Some((mut q, _)) = loops.quotas_log_dir {
        match q.pass().await {
            Ok(o) => println!("quotas: {o:?}"),
            Err(e) => failed.push(format!("quotas: {e:#}")),
        }
    }
    if let Some((mut q, _)) = loops.quotas_file {
        match q.pass().await {
            Ok(o) => println!("quotas: {o:?}"),
            Err(e) => failed.push(format!("quotas: {e:#}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", failed.join("; "))
    }
}

type Tasks = (
    tokio::task::JoinSet<&'static str>,
    std::collections::HashMap<tokio::task::Id, &'static str>,
);

fn spawn_quota<D: quotas::demand::DemandSource + 'static>(
    tasks: &mut Tasks,
    health: &Health,
    q: QuotaLoop<D>,
    timing: LoopTiming,
) {
    let h = health.clone();
    health.register("quotas", timing);
    let q = std::sync::Arc::new(Mutex::new(q));
    let id = tasks.0.spawn(async move {
        health::drive("quotas", timing, h, move || {
            let q = q.clone();
            async move {
                let p = q.lock().await.pass().await?;
                Ok(format!(
                    "read {} report(s); distributor {}; {}",
                    p.reports_read,
                    p.distributor
                        .map_or("none".to_owned(), |b| format!("broker {b}")),
                    if !p.distributed {
                        "not this sidecar".to_owned()
                    } else if p.held_back {
                        "no fresh reports: quotas in force kept".to_owned()
                    } else {
                        format!("wrote {} value(s)", p.written.len())
                    }
                ))
            }
        })
        .await;
        "quotas"
    });
    tasks.1.insert(id.id(), "quotas");
}

/// Runs the sidecar until SIGINT/SIGTERM (or one pass of every loop with `once`).
pub async fn run(cfg: SidecarConfig, opts: RunOptions) -> anyhow::Result<()> {
    let client = connect(&cfg).await?;
    let loops = build(&cfg, &client)?;
    if opts.once {
        return once(loops).await;
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus recorder")?;
    let listener = http::bind(cfg.http.listen).await?;
    let addr = listener.local_addr()?;
    let health = Health::new();
    let mut tasks: Tasks = Default::default();
    let server = tokio::spawn(http::serve(
        listener,
        http::Endpoints {
            health: health.clone(),
            metrics: Some(recorder),
        },
    ));
    if let Some((src, run, settings, timing)) = loops.rebalance {
        health.register("rebalance", timing);
        let h = health.clone();
        let shared = std::sync::Arc::new((src, run, settings));
        let id = tasks.0.spawn(async move {
            health::drive("rebalance", timing, h, move || {
                let s = shared.clone();
                async move {
                    Ok(rebalance::pass(&s.0, &s.1, &s.2, unix_secs())
                        .await?
                        .to_string())
                }
            })
            .await;
            "rebalance"
        });
        tasks.1.insert(id.id(), "rebalance");
    }
    if let Some((t, timing)) = loops.tiering {
        health.register("tiering", timing);
        let h = health.clone();
        let t = std::sync::Arc::new(Mutex::new(t));
        let id = tasks.0.spawn(async move {
            health::drive("tiering", timing, h, move || {
                let t = t.clone();
                async move { t.lock().await.pass().await }
            })
            .await;
            "tiering"
        });
        tasks.1.insert(id.id(), "tiering");
    }
    if let Some((q, timing)) = loops.quotas_log_dir {
        spawn_quota(&mut tasks, &health, q, timing);
    }
    if let Some((q, timing)) = loops.quotas_file {
        spawn_quota(&mut tasks, &health, q, timing);
    }
    println!(
        "keel sidecar: broker {}, serving /metrics and /healthz on http://{addr}",
        cfg.cluster.broker_id
    );
    tracing::info!(%addr, broker = cfg.cluster.broker_id, "sidecar started");
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            ended = tasks.0.join_next(), if !tasks.0.is_empty() => {
                // A loop task only ends by panicking: /healthz turns 503, the rest go on.
                let name = match ended {
                    Some(Ok(name)) => name,
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "a loop task died");
                        tasks.1.get(&e.id()).copied().unwrap_or("unknown")
                    }
                    None => continue,
                };
                health.finished(name, "the loop task ended".into());
            }
        }
    }
    tracing::info!("stopping: loops end; nothing applied is undone");
    tasks.0.abort_all();
    server.abort();
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
