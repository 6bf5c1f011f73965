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
    /// Tiered storage (KIP-405) of Kafka log segments in blob storage: upload, expire, ls,
    /// fetch, gc.
    ///
    /// Example: `keel tier upload --log-dir /var/lib/kafka/data --store s3://bucket/tier --once`.
    Tier(commands::tier::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let result = match cli.command {
        Command::DumpSegment(args) => commands::dump_segment::run(args),
        Command::Quota(args) => commands::quota::run(args),
        Command::Tier(args) => commands::tier::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keel: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
