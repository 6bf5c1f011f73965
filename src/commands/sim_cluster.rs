//! `keel sim-cluster`. Being built: see `src/sim_cluster/`.

use std::process::ExitCode;

/// Arguments of `keel sim-cluster`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `keel sim-cluster`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("keel sim-cluster is not built yet")
}
