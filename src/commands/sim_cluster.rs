//! `keel sim-cluster`: serves a simulated `keel.cluster/v1` cluster over the Kafka protocol
//! until interrupted (see `keel::sim_cluster`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel::sim_cluster::{ScheduledFault, SimCluster, SimOptions};

/// Arguments of `keel sim-cluster`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster snapshot (`keel.cluster/v1` JSON, e.g. from `keel gen-cluster`).
    #[arg(long)]
    pub cluster: PathBuf,
    /// Address of the first broker; broker `i` (snapshot order) listens on PORT + i.
    /// Port 0 gives every broker a free port (printed at start).
    #[arg(long)]
    pub listen: String,
    /// Simulated seconds per wall-clock second (data moves at throttle × speed).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Fault schedule: a JSON array of `{"at_ms": N, "fault": "broker_down", "broker": 3}`,
    /// `stuck_move` (topic, partition), `fail_requests` (api_key, error_code, count,
    /// probability), `broker_up`, `unstick_move`, `clear_request_failures`.
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Seed for probabilistic request failures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs `keel sim-cluster`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an IP:PORT address", args.listen))?;
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        anyhow::bail!("--speed {} must be a number >= 0", args.speed);
    }
    let faults: Vec<ScheduledFault> = match &args.faults {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read --faults {}", path.display()))?;
            serde_json::from_slice(&text)
                .with_context(|| format!("bad fault schedule {}", path.display()))?
        }
    };
    let bytes = std::fs::read(&args.cluster)
        .with_context(|| format!("cannot read --cluster {}", args.cluster.display()))?;
    let options = SimOptions {
        speed: args.speed,
        seed: args.seed,
        faults,
        ..SimOptions::default()
    };
    let cluster = SimCluster::from_snapshot_json(&bytes, options)
        .with_context(|| format!("bad cluster file {}", args.cluster.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let handle = cluster.start(listen).await?;
        let (brokers, topics, partitions) = {
            let state = handle.state();
            (state.brokers.len(), state.topics.len(), state.partitions.len())
        };
        let addrs = handle.addrs();
        println!(
            "keel sim-cluster: {brokers} brokers, {topics} topics, {partitions} partitions; brokers on {} .. {}",
            addrs[0],
            addrs[addrs.len() - 1]
        );
        println!("bootstrap: {}", addrs[0]);
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        handle.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
