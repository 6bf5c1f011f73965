//! `keel gen-cluster`: write a deterministic synthetic cluster snapshot.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel_balancer::generate::{GenOptions, generate};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of brokers (including new and dead ones).
    #[arg(long, value_name = "N")]
    brokers: u32,
    /// Number of racks (brokers are assigned round-robin).
    #[arg(long, value_name = "R")]
    racks: u32,
    /// Approximate number of replicas (partitions = replicas / replication factor).
    #[arg(long, value_name = "M")]
    replicas: u64,
    /// Replication factor.
    #[arg(long, value_name = "RF", default_value_t = 3)]
    replication_factor: u8,
    /// Placement skew: the first quarter of the brokers gets (1 + X) times its share.
    #[arg(long, value_name = "X", default_value_t = 0.0)]
    skew: f64,
    /// Brokers in state `new` (empty), the last ones.
    #[arg(long, value_name = "K", default_value_t = 0)]
    new_brokers: u32,
    /// Brokers in state `dead` (still listed as replicas), the first ones.
    #[arg(long, value_name = "K", default_value_t = 0)]
    dead_brokers: u32,
    /// Mixed broker sizes (0.5x, 1x and 2x capacity).
    #[arg(long)]
    hetero: bool,
    /// Seed: the same options and seed give the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Output file (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = GenOptions {
        brokers: args.brokers,
        racks: args.racks,
        replicas: args.replicas,
        replication_factor: args.replication_factor,
        skew: args.skew,
        new_brokers: args.new_brokers,
        dead_brokers: args.dead_brokers,
        hetero: args.hetero,
        seed: args.seed,
    };
    let mut sink: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let pb = crate::commands::plan::spinner("generating cluster");
    let mut written = 0u64;
    let mut io_error = None;
    let result = generate(&opts, &mut |chunk| {
        written += chunk.len() as u64;
        pb.set_message(format!("generating cluster: {} MB", written / 1_000_000));
        if let Err(e) = sink.write_all(chunk.as_bytes()) {
            io_error = Some(e);
            return Err(keel_balancer::BalancerError::Option {
                option: "out".into(),
                message: "write failed".into(),
            });
        }
        Ok(())
    });
    pb.finish_and_clear();
    if let Some(e) = io_error {
        return Err(e).context("writing the snapshot");
    }
    result?;
    sink.flush().context("writing the snapshot")?;
    Ok(ExitCode::SUCCESS)
}
