//! `keel snapshot`: prints a `keel.cluster/v1` snapshot of a live cluster (library side in
//! `keel::snapshot`). Warnings go to stderr as `keel: warning: ...` lines and into the
//! snapshot's `warnings` array; bad input (unreachable bootstrap, bad capacity file) is one
//! error line and exit code 2.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use keel::snapshot::{CapacityFile, SnapshotOptions, capture, write_snapshot};
use keel_wire::client::{ClientConfig, KafkaClient};

/// Arguments of `keel snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bootstrap servers, `HOST:PORT[,HOST:PORT...]`.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: String,
    /// Window over which produce rates are measured from log-end-offset growth (e.g. `10s`,
    /// `500ms`; `0s` skips rates).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    sample: Duration,
    /// Broker capacities: TOML (or JSON for `*.json`) with `[default]` and `[brokers.<id>]`
    /// tables of `disk_bytes`, `network_in_bytes_per_sec`, `network_out_bytes_per_sec`,
    /// `cpu_cores` (see the README).
    #[arg(long, value_name = "FILE")]
    capacity: Option<PathBuf>,
    /// Consumer fan-out: each partition's bytes out = bytes in × this.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    fan_out: f64,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    concurrency: usize,
    /// Per-request timeout.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Write the snapshot here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `keel snapshot`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.fan_out.is_finite() && args.fan_out >= 0.0) {
        anyhow::bail!("--fan-out must be a number >= 0, found {}", args.fan_out);
    }
    let capacity = match &args.capacity {
        Some(path) => CapacityFile::load(path)?,
        None => CapacityFile::default(),
    };
    let opts = SnapshotOptions {
        sample: args.sample,
        capacity,
        fan_out: args.fan_out,
        concurrency: args.concurrency.max(1),
        ..SnapshotOptions::default()
    };
    let mut config = ClientConfig::new(&args.bootstrap);
    config.request_timeout = args.timeout;
    config.client_id = "keel-snapshot".to_owned();
    // One thread: the capture waits on the network, and one thread's heap is reused across
    // the capture's rounds instead of being spread over per-thread malloc arenas.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let captured = rt.block_on(async {
        // No `connect`: the capture's own Metadata read is the first request, so an
        // unreachable bootstrap fails there, and metadata is fetched once.
        let client = KafkaClient::new(config)
            .with_context(|| format!("connecting to {}", args.bootstrap))?;
        let captured = capture(&client, &opts)
            .await
            .with_context(|| format!("capturing a snapshot of {}", args.bootstrap));
        client.close();
        captured
    })?;
    for w in &captured.warnings {
        eprintln!("keel: warning: {w}");
    }
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, file);
            write_snapshot(&captured.cluster, &captured.warnings, &mut sink)?;
            sink.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write_snapshot(&captured.cluster, &captured.warnings, &mut sink)?;
        }
    }
    tracing::info!(
        partitions = captured.cluster.partitions.len(),
        brokers = captured.cluster.brokers.len(),
        elapsed_ms = captured.elapsed.as_millis() as u64,
        "snapshot captured"
    );
    Ok(ExitCode::SUCCESS)
}
