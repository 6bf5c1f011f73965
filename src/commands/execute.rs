//! `keel execute`. Being built: see `src/execute/`.

use std::process::ExitCode;

/// Arguments of `keel execute`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `keel execute`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("keel execute is not built yet")
}
