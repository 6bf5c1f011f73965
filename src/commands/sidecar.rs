//! `keel sidecar --config keel.toml`: the rebalance, tiering and quota-distribution loops
//! next to a JVM Kafka broker (see `src/sidecar/`). This file parses arguments, loads the
//! config and runs the sidecar on a tokio runtime.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel::sidecar::config::SidecarConfig;
use keel::sidecar::{RunOptions, run as run_sidecar};

/// Arguments of `keel sidecar`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The TOML config (every key: README.md, section "sidecar"; example: examples/keel.toml).
    #[arg(long, env = "KEEL_SIDECAR_CONFIG")]
    config: PathBuf,
    /// Parse and validate the config, print a summary, and exit (no network).
    #[arg(long)]
    check: bool,
    /// Run one pass of every enabled loop, print what each did, and exit (non-zero if any
    /// pass failed). No HTTP server.
    #[arg(long, conflicts_with = "check")]
    once: bool,
}

/// Runs `keel sidecar`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = SidecarConfig::load(&args.config)?;
    if args.check {
        println!(
            "{}: ok (broker {}, rebalance {:?}, tiering {}, quotas {} with {} tenant(s), http {})",
            args.config.display(),
            cfg.cluster.broker_id,
            cfg.rebalance.policy,
            if cfg.tiering.enabled { "on" } else { "off" },
            if cfg.quotas.enabled { "on" } else { "off" },
            cfg.quotas.tenants.len(),
            cfg.http.listen
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_sidecar(cfg, RunOptions { once: args.once }))?;
    Ok(ExitCode::SUCCESS)
}
