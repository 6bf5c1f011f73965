//! `keel snapshot`. Being built: see `src/snapshot/`.

use std::process::ExitCode;

/// Arguments of `keel snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `keel snapshot`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("keel snapshot is not built yet")
}
