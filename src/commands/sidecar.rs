//! `keel sidecar`. Being built: see `src/sidecar/`.

use std::process::ExitCode;

/// Arguments of `keel sidecar`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `keel sidecar`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("keel sidecar is not built yet")
}
