//! `keel simulate`: run a plan in simulated time and write an HTML report.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel_balancer::plan::{apply, parse_kafka_plan};
use keel_balancer::report::{BrokerFigures, html_report};
use keel_balancer::{ExecutionOptions, simulate, snapshot};

use super::plan::{
    PlanFlags, prepare, print_cost, print_goal_table, print_infeasible, read_cluster, run_planner,
    spinner,
};

/// The bundled example: a skewed 48-broker cluster (see examples/clusters/README.md).
const BUNDLED: &str = include_str!("../../examples/clusters/skewed-48.json");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster snapshot. Default: the bundled skewed 48-broker example.
    #[arg(long, value_name = "FILE")]
    cluster: Option<PathBuf>,
    /// Kafka reassignment JSON to simulate. Default: plan one now with the flags below.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    #[command(flatten)]
    flags: PlanFlags,
    /// Write the HTML report here.
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    report: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cluster = match &args.cluster {
        Some(path) => read_cluster(path)?,
        None => snapshot::parse_str(BUNDLED).context("parsing the bundled example cluster")?,
    };
    let source = args.cluster.as_ref().map_or_else(
        || "bundled skewed 48-broker example".to_string(),
        |p| p.display().to_string(),
    );
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let exec = ExecutionOptions {
        throttle_bytes_per_sec: args.flags.throttle,
        concurrency_per_broker: args.flags.concurrency,
        ..ExecutionOptions::default()
    };
    let opts = prepare(&mut cluster, &args.flags)?;
    let (reassignments, lower_bound) = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            (
                parse_kafka_plan(&cluster, &text)
                    .with_context(|| format!("in {}", path.display()))?,
                None,
            )
        }
        None => {
            let plan = run_planner(&cluster, &opts)?;
            writeln!(
                out,
                "planned {} on {source}:",
                if opts.rebalance {
                    "a rebalance"
                } else {
                    "hard-goal fixes"
                }
            )?;
            print_goal_table(&mut out, &plan.before, &plan.after)?;
            writeln!(out)?;
            print_cost(&mut out, &plan)?;
            print_infeasible(&mut out, &plan)?;
            (plan.reassignments, Some(plan.lower_bound))
        }
    };
    let pb = spinner("simulating");
    let sim = simulate(&cluster, &reassignments, &exec);
    let after = apply(&cluster, &reassignments);
    let html = html_report(
        &format!("keel simulate: {source}"),
        &BrokerFigures::of(&cluster),
        &BrokerFigures::of(&after),
        &opts.goals,
        &sim.cost,
        &sim,
        lower_bound,
    );
    pb.finish_and_clear();
    std::fs::write(&args.report, html)
        .with_context(|| format!("writing {}", args.report.display()))?;
    writeln!(
        out,
        "\nsimulated {} replica moves, up to {} copies at once (a move starts as soon as a slot frees): {:.0} s ({:.2} h); {} leadership moves, then a preferred-leader election",
        sim.cost.replica_moves,
        sim.peak_running,
        sim.cost.estimated_seconds,
        sim.cost.estimated_seconds / 3600.0,
        sim.cost.leadership_moves
    )?;
    writeln!(out, "wrote report to {}", args.report.display())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
