//! `keel execute`: carry a plan out on a live cluster (see `keel::execute`), and the operator
//! commands `pause`, `resume`, `cancel`, `status`.
//!
//! Exit codes: 0 done (converged, or cancelled and rolled back), 3 paused (the reason is
//! printed), 2 error (one line naming what was wrong).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use keel::execute::{
    DEFAULT_STATE_TOPIC, ExecuteOptions, ExecutionEnd, HealthScope, Start, default_holder_id,
    desired_state, parse_plan, read_status, run_execution, send_command,
};
use keel_balancer::executor::{Command, Limits};
use keel_wire::client::{ClientConfig, KafkaClient};

/// Arguments of `keel execute`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT...]`.
    #[arg(long, env = "KEEL_BOOTSTRAP", global = true)]
    bootstrap: Option<String>,
    /// Plan file: Kafka's reassignment JSON or keel's plan JSON. Without it, the execution in
    /// progress in the state topic is continued.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Replication throttle per broker, bytes/s (`leader.` and
    /// `follower.replication.throttled.rate`); suffixes K, M, G (powers of 1000) allowed.
    #[arg(long, default_value = "50M", value_parser = parse_rate)]
    throttle: u64,
    /// Concurrent moves per broker.
    #[arg(long, default_value_t = 5)]
    concurrency: u32,
    /// Concurrent moves in the cluster.
    #[arg(long, default_value_t = 1250)]
    cluster_concurrency: u32,
    /// Transient alerts (failed actions, stuck moves) tolerated before pausing.
    #[arg(long, default_value_t = 3)]
    error_budget: u32,
    /// Do not resume by itself when the cluster is healthy again after a health pause.
    #[arg(long)]
    no_auto_resume: bool,
    /// Lease length in the state topic (single writer).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    lease: Duration,
    /// Poll interval.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// An action without a result after this long counts as failed.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    action_timeout: Duration,
    /// Extra time a move may take over 4 × its throttled copy time before it counts as stuck.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    stuck_grace: Duration,
    /// How long to wait in a health pause for the cluster to heal before exiting with 3.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    max_pause: Duration,
    /// Which partitions count for the health checks.
    #[arg(long, value_enum, default_value = "cluster")]
    health: HealthScope,
    /// The state topic (compacted; created if missing).
    #[arg(long, default_value = DEFAULT_STATE_TOPIC, global = true)]
    state_topic: String,
    /// Lease holder id; defaults to host/pid/start time (unique per process). A restarted
    /// executor with the same id takes its lease back at once; with another id it waits for
    /// the lease to expire.
    #[arg(long)]
    holder_id: Option<String>,
    /// Progress line interval on stderr (0 to disable).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    progress: Duration,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Operator command; without one, executes.
    #[command(subcommand)]
    command: Option<Control>,
}

/// Operator commands.
#[derive(Debug, clap::Subcommand)]
enum Control {
    /// Ask the running execution to stop issuing new moves (in-flight moves continue).
    Pause(CommandArgs),
    /// Resume a paused execution (resets the error budget); a stopped executor picks it up
    /// when started again with `keel execute`.
    Resume(CommandArgs),
    /// Roll in-flight moves back (null targets), clear throttles, stop.
    Cancel(CommandArgs),
    /// Print the state of the latest execution.
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CommandArgs {
    /// Only for this plan id (default: whichever plan is running).
    #[arg(long)]
    plan_id: Option<String>,
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1_000),
        Some((i, 'M' | 'm')) => (&t[..i], 1_000_000),
        Some((i, 'G' | 'g')) => (&t[..i], 1_000_000_000),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate (bytes/s, e.g. 100000, 500K, 50M)"))?;
    match n.checked_mul(mult) {
        Some(0) => Err("the throttle must be greater than 0".into()),
        Some(v) => Ok(v),
        None => Err(format!("{s:?} is too large")),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// Runs `keel execute`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bootstrap = args
        .bootstrap
        .clone()
        .context("--bootstrap HOST:PORT is required (or KEEL_BOOTSTRAP)")?;
    // Read the plan before touching the network, so a bad file fails fast.
    let targets = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading plan {}", path.display()))?;
            Some(parse_plan(&text).map_err(|e| anyhow::anyhow!("plan {}: {e}", path.display()))?)
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut config = ClientConfig::new(&bootstrap);
        config.client_id = "keel-execute".into();
        config.request_timeout = Duration::from_secs(15);
        config.connect_timeout = Duration::from_secs(5);
        let client = KafkaClient::connect(config)
            .await
            .with_context(|| format!("connecting to {bootstrap}"))?;
        if let Some(addr) = args.metrics_listen {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .install()
                .with_context(|| format!("serving metrics on {addr}"))?;
        }
        match args.command {
            Some(Control::Status { json }) => status(&client, &args.state_topic, json).await,
            Some(Control::Pause(c)) => command(&client, &args.state_topic, Command::Pause, c).await,
            Some(Control::Resume(c)) => {
                command(&client, &args.state_topic, Command::Resume, c).await
            }
            Some(Control::Cancel(c)) => {
                command(&client, &args.state_topic, Command::Cancel, c).await
            }
            None => {
                let limits = Limits {
                    throttle_bytes_per_sec: args.throttle,
                    per_broker_concurrency: args.concurrency,
                    cluster_concurrency: args.cluster_concurrency,
                    error_budget: args.error_budget,
                    auto_resume: !args.no_auto_resume,
                    lease_ms: ms(args.lease),
                    action_timeout_ms: ms(args.action_timeout),
                    stuck_factor: 4,
                    stuck_grace_ms: ms(args.stuck_grace),
                    poll_ms: ms(args.poll),
                };
                limits.validate()?;
                let start = match targets {
                    Some(t) => Start::Plan(Box::new(desired_state(&client, t, limits).await?)),
                    None => Start::Continue,
                };
                let opts = ExecuteOptions {
                    state_topic: args.state_topic.clone(),
                    holder: args.holder_id.clone().unwrap_or_else(default_holder_id),
                    max_pause: args.max_pause,
                    health_scope: args.health,
                    progress_every: args.progress,
                    deadline: None,
                };
                match run_execution(&client, start, &opts).await? {
                    ExecutionEnd::Done(_) => Ok(ExitCode::SUCCESS),
                    ExecutionEnd::Paused(_) => Ok(ExitCode::from(3)),
                }
            }
        }
    })
}

async fn command(
    client: &KafkaClient,
    topic: &str,
    cmd: Command,
    args: CommandArgs,
) -> anyhow::Result<ExitCode> {
    let offset = send_command(client, topic, cmd, args.plan_id).await?;
    eprintln!("keel execute: {cmd:?} written to {topic} at offset {offset}");
    if let Some(s) = read_status(client, topic).await?
        && !s.lease_live
        && !s.finished
    {
        eprintln!(
            "keel execute: no executor holds the lease of plan {}: it applies the command when started again with `keel execute`",
            s.plan_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(client: &KafkaClient, topic: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(s) = read_status(client, topic).await? else {
        println!("no execution recorded in {topic}");
        return Ok(ExitCode::SUCCESS);
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("plan:        {}", s.plan_id);
        println!("phase:       {}", s.phase);
        if let Some(n) = s.partitions {
            println!("partitions:  {n}");
        }
        println!(
            "lease:       {} (epoch {}, {})",
            s.holder,
            s.epoch,
            if s.lease_live { "live" } else { "expired" }
        );
        println!("in flight:   {}", s.moves_in_flight.join(", "));
        println!("alerts:      {} {}", s.alerts, s.last_alert);
        if !s.pending_commands.is_empty() {
            println!("pending:     {}", s.pending_commands.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_decimal_suffixes_and_refuse_zero_and_junk() {
        assert_eq!(parse_rate("100000"), Ok(100_000));
        assert_eq!(parse_rate("500K"), Ok(500_000));
        assert_eq!(parse_rate("50M"), Ok(50_000_000));
        assert_eq!(parse_rate("2g"), Ok(2_000_000_000));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").unwrap_err().contains("not a rate"));
        assert!(
            parse_rate("99999999999999G")
                .unwrap_err()
                .contains("too large")
        );
    }
}
