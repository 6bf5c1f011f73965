//! The `keel` command-line tool. Each subcommand lives in its own file under `commands/`
//! and exposes an `Args` struct (clap derive) and a `run` function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// keel: broker-side control extensions for Kafka-protocol brokers.
///
/// Rebalance planning, tiered storage, per-tenant quotas and a sidecar for JVM brokers.
/// Every subcommand has its own `--help`.
#[derive(Debug, Parser)]
#[command(name = "keel", version, propagate_version = true)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `keel=debug`. Logs go to stderr.
    #[arg(long, global = true, env = "KEEL_LOG", default_value = "warn")]
    log: String,

    /// Log format on stderr: `text` or `json` (one JSON object per line, for log shippers).
    #[arg(long, global = true, env = "KEEL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the record batches of Kafka log segment files (keel's `kafka-dump-log.sh`).
    ///
    /// One line per batch: position, base/last offset, record count, max timestamp,
    /// compression, transactional/control flags and whether the CRC-32C is valid.
    /// Exits non-zero if any batch is invalid or a file ends in a truncated batch.
    DumpSegment(commands::dump_segment::Args),
    /// Per-tenant quotas: `keel quota simulate --workload FILE [--json]` runs a quota workload
    /// through keel's enforcement and distribution code in simulated time.
    Quota(commands::quota::Args),
    /// Compute a rebalance plan from a cluster snapshot (`keel.cluster/v1`).
    ///
    /// Runs the hard goals (rack awareness, capacity, replica limit, broker states) and the
    /// soft balance goals (replica count, disk, network in/out, CPU, leader count, leader
    /// bytes-in, topic replica distribution) with Cruise Control's defaults. Prints a
    /// before/after table per goal, the cost (bytes moved, cross-rack bytes, peak extra disk,
    /// estimated time) and replica moves against their lower bound. Writes Kafka's
    /// reassignment JSON (`--out-kafka`) and keel's plan JSON (`--out`). Operations:
    /// `--add-broker`, `--remove-broker`, `--demote`, `--fix-offline`, `--topics`/`--brokers`
    /// (restricted), what-if (`--what-if-broker`, `--scale-load`, `--lose-rack`).
    /// An infeasible input is an error naming the goal, what blocks it and what would help.
    Plan(commands::plan::Args),
    /// Run a plan in simulated time and write an HTML report.
    ///
    /// Replica moves run in batches under the per-broker concurrency and replication throttle,
    /// then leadership moves, then a preferred-leader election. The report has per-broker
    /// utilisation before/after for every resource and the movement timeline. Without
    /// `--cluster` it uses the bundled skewed 48-broker example; without `--plan` it plans first.
    Simulate(commands::simulate::Args),
    /// Write a deterministic synthetic cluster snapshot (for tests, benches and demos).
    ///
    /// Example: `keel gen-cluster --brokers 215 --racks 10 --replicas 2800000 --skew 1 --out big.json`.
    GenCluster(commands::gen_cluster::Args),
    /// Tiered storage (KIP-405) of Kafka log segments in blob storage: upload, expire, ls,
    /// fetch, gc.
    ///
    /// Example: `keel tier upload --log-dir /var/lib/kafka/data --store s3://bucket/tier --once`.
    Tier(commands::tier::Args),
    /// Print a `keel.cluster/v1` snapshot of a live cluster, read over Kafka's admin protocol.
    Snapshot(commands::snapshot::Args),
    /// Serve a simulated cluster over the real Kafka protocol, one address per broker.
    SimCluster(commands::sim_cluster::Args),
    /// Carry a plan out on a live cluster: batches under throttles, pause on harm, crash-safe.
    Execute(commands::execute::Args),
    /// Run the sidecar loops (rebalance, tiering, quota distribution) from one TOML config.
    Sidecar(commands::sidecar::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }

    let result = match cli.command {
        Command::DumpSegment(args) => commands::dump_segment::run(args),
        Command::Quota(args) => commands::quota::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::GenCluster(args) => commands::gen_cluster::run(args),
        Command::Tier(args) => commands::tier::run(args),
        Command::Snapshot(args) => commands::snapshot::run(args),
        Command::SimCluster(args) => commands::sim_cluster::run(args),
        Command::Execute(args) => commands::execute::run(args),
        Command::Sidecar(args) => commands::sidecar::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keel: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
