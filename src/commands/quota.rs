//! `keel quota`: per-tenant quota tools. `keel quota simulate` runs a
//! `keel.quota-workload/v1` file (see `shared/formats/quota-workload.md`) through keel's real
//! enforcement and distribution code in simulated time and prints what each tenant sees.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel_quotas::sim::{SimResult, Workload, simulate};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: QuotaCommand,
}

#[derive(Debug, clap::Subcommand)]
enum QuotaCommand {
    /// Simulate a workload: tenants with cluster-wide quotas, clients on N brokers, events.
    ///
    /// Clients back off by the throttle they are given (unless `honours_throttle: false`);
    /// the output is, per tenant and kind, the quota, the offered and admitted rates, the worst
    /// second and the longest throttle.
    Simulate(SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Workload file (JSON, `keel.quota-workload/v1`).
    #[arg(long)]
    workload: PathBuf,
    /// Print the JSON output of the format (`tenants.<name>.<kind>.{quota, admitted_bytes_per_sec,
    /// max_1s_bytes, max_throttle_ms}`) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        QuotaCommand::Simulate(a) => run_simulate(a),
    }
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.workload)
        .with_context(|| format!("reading workload {}", args.workload.display()))?;
    let workload = Workload::parse(&text)
        .with_context(|| format!("in workload {}", args.workload.display()))?;
    let result = simulate(&workload).context("simulating")?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &result.to_json())?;
        writeln!(out)?;
    } else {
        write_table(&mut out, &result)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn rate(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} GB/s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} MB/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kB/s", v / 1e3)
    } else {
        format!("{v:.0} B/s")
    }
}

fn write_table(out: &mut impl Write, r: &SimResult) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16} {:<8} {:>13} {:>13} {:>13} {:>13} {:>14}",
        "tenant", "kind", "quota", "offered", "admitted mean", "worst 1 s", "max throttle"
    )?;
    let secs = r.duration_s.max(1) as f64;
    for (tenant, kinds) in &r.tenants {
        for (kind, k) in kinds {
            let admitted: u64 = k.admitted_bytes_per_sec.iter().sum();
            writeln!(
                out,
                "{:<16} {:<8} {:>13} {:>13} {:>13} {:>13} {:>11} ms",
                tenant,
                kind.short_name(),
                k.quota.map_or_else(|| "unlimited".to_string(), rate),
                rate(k.offered_bytes / secs),
                rate(admitted as f64 / secs),
                rate(k.max_1s_bytes as f64),
                k.max_throttle_ms
            )?;
        }
    }
    Ok(())
}
