//! `keel plan`: compute a rebalance plan from a `keel.cluster/v1` snapshot.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use keel_balancer::goals::GoalKind;
use keel_balancer::status::GoalStatus;
use keel_balancer::{
    BrokerState, Cluster, ExecutionOptions, Goals, Plan, PlanOptions, snapshot, whatif,
};

/// Options shared by `keel plan` and `keel simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Goals to run, comma-separated, in priority order (soft goals not named are off;
    /// `-name` switches a goal off, hard goals included). Names: rack-awareness, capacity,
    /// replica-limit, broker-states, replica-count, disk, network-in, network-out, cpu,
    /// leader-count, leader-bytes-in, topic-replica-distribution. Default: all, in that order.
    #[arg(long, value_name = "LIST")]
    pub goals: Option<String>,
    /// Balance threshold of one goal, e.g. `disk=1.05` (repeatable). Defaults: 1.10, and 3.0
    /// for topic-replica-distribution.
    #[arg(long = "threshold", value_name = "GOAL=X")]
    pub thresholds: Vec<String>,
    /// Hard replica limit per broker.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_replicas_per_broker: u32,
    /// Add-broker operation: mark this broker `new` and move replicas only onto new brokers
    /// (repeatable).
    #[arg(long = "add-broker", value_name = "ID")]
    pub add_brokers: Vec<i32>,
    /// Remove-broker operation: mark this broker `removing` and drain it (repeatable). Only
    /// hard goals run unless `--rebalance` is given.
    #[arg(long = "remove-broker", value_name = "ID")]
    pub remove_brokers: Vec<i32>,
    /// Demote operation: this broker keeps its replicas but leads nothing (repeatable).
    #[arg(long = "demote", value_name = "ID")]
    pub demote: Vec<i32>,
    /// Fix offline replicas only: move replicas off dead brokers, no rebalancing.
    #[arg(long)]
    pub fix_offline: bool,
    /// Also run the soft goals with --remove-broker / --demote.
    #[arg(long)]
    pub rebalance: bool,
    /// Restricted rebalance: only move replicas of these topics (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub topics: Option<Vec<String>>,
    /// Restricted rebalance: only these brokers take part (comma-separated ids).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub brokers: Option<Vec<i32>>,
    /// What-if: add a hypothetical broker `ID:RACK:DISK_BYTES:NW_IN_BPS:NW_OUT_BPS:CPU_CORES`
    /// (repeatable; an empty RACK means a rack of its own).
    #[arg(long = "what-if-broker", value_name = "SPEC")]
    pub what_if_brokers: Vec<String>,
    /// What-if: multiply every partition's size, rates and CPU by K.
    #[arg(long, value_name = "K")]
    pub scale_load: Option<f64>,
    /// What-if: every broker of this rack is lost (dead).
    #[arg(long, value_name = "RACK")]
    pub lose_rack: Option<String>,
    /// Replication throttle per broker for the cost model, bytes/s.
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = 50e6)]
    pub throttle: f64,
    /// Concurrent replica moves per broker for the cost model.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub concurrency: u32,
    /// Best effort: when a hard goal cannot be met on this input (e.g. more replicas than
    /// brokers × --max-replicas-per-broker, or total load above the capacity limit), report it
    /// (goal, what blocks it, what would help), set it aside, and still write the best plan
    /// for every other goal. Exit code 3 then. Without it such inputs are an error.
    #[arg(long)]
    pub best_effort: bool,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster snapshot (`keel.cluster/v1` JSON, see shared/formats/cluster-snapshot.md).
    #[arg(long, value_name = "FILE")]
    cluster: PathBuf,
    #[command(flatten)]
    flags: PlanFlags,
    /// Write Kafka's reassignment JSON (for `kafka-reassign-partitions.sh --execute`).
    #[arg(long, value_name = "FILE")]
    out_kafka: Option<PathBuf>,
    /// Write keel's plan JSON (every action with its goal, goal status, cost).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// A spinner on stderr when it is a terminal; hidden otherwise.
pub fn spinner(msg: &'static str) -> indicatif::ProgressBar {
    let pb = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Reads and parses a snapshot, with a spinner.
pub fn read_cluster(path: &Path) -> anyhow::Result<Cluster> {
    let pb = spinner("reading snapshot");
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    pb.set_message("parsing snapshot");
    let c = snapshot::parse_slice(&bytes).with_context(|| format!("in {}", path.display()))?;
    pb.finish_and_clear();
    Ok(c)
}

/// Applies what-if edits and operations to the cluster and builds planner options.
pub fn prepare(cluster: &mut Cluster, f: &PlanFlags) -> anyhow::Result<PlanOptions> {
    let mut goals = match &f.goals {
        Some(spec) => Goals::from_spec(spec)?,
        None => Goals::default(),
    };
    goals.max_replicas_per_broker = f.max_replicas_per_broker;
    for t in &f.thresholds {
        let (name, value) = t
            .split_once('=')
            .with_context(|| format!("--threshold `{t}`: expected GOAL=X"))?;
        let kind = GoalKind::parse(name)
            .with_context(|| format!("--threshold `{t}`: unknown goal `{name}`"))?;
        let x: f64 = value
            .parse()
            .with_context(|| format!("--threshold `{t}`: `{value}` is not a number"))?;
        goals.set_threshold(kind, x)?;
    }
    for spec in &f.what_if_brokers {
        let parts: Vec<&str> = spec.split(':').collect();
        anyhow::ensure!(
            parts.len() == 6,
            "--what-if-broker `{spec}`: expected ID:RACK:DISK:NW_IN:NW_OUT:CPU"
        );
        let id: i32 = parts[0]
            .parse()
            .with_context(|| format!("--what-if-broker `{spec}`: bad id"))?;
        let mut cap = [0.0; 4];
        for (i, v) in parts[2..].iter().enumerate() {
            cap[i] = v
                .parse()
                .with_context(|| format!("--what-if-broker `{spec}`: `{v}` is not a number"))?;
        }
        let rack = Some(parts[1]).filter(|r| !r.is_empty());
        whatif::add_broker(cluster, id, rack, cap)?;
    }
    if let Some(k) = f.scale_load {
        whatif::scale_load(cluster, k)?;
    }
    if let Some(rack) = &f.lose_rack {
        whatif::lose_rack(cluster, rack)?;
    }
    for id in &f.add_brokers {
        whatif::set_state(cluster, *id, BrokerState::New, "add-broker")?;
    }
    for id in &f.remove_brokers {
        whatif::set_state(cluster, *id, BrokerState::Removing, "remove-broker")?;
    }
    for id in &f.demote {
        whatif::set_state(cluster, *id, BrokerState::Demoting, "demote")?;
    }
    let hard_only =
        f.fix_offline || ((!f.remove_brokers.is_empty() || !f.demote.is_empty()) && !f.rebalance);
    Ok(PlanOptions {
        goals,
        rebalance: !hard_only,
        only_new_destinations: !f.add_brokers.is_empty(),
        topics: f.topics.clone(),
        brokers: f.brokers.clone(),
        execution: ExecutionOptions {
            throttle_bytes_per_sec: f.throttle,
            concurrency_per_broker: f.concurrency,
            ..ExecutionOptions::default()
        },
        best_effort: f.best_effort,
    })
}

/// Exit code of a best-effort plan that had to set a hard goal aside.
pub const EXIT_INFEASIBLE_GOALS: u8 = 3;

/// Prints the hard goals a best-effort plan set aside.
pub fn print_infeasible(out: &mut impl std::io::Write, plan: &Plan) -> std::io::Result<()> {
    for i in &plan.infeasible {
        writeln!(
            out,
            "INFEASIBLE goal `{}` (set aside by --best-effort): {}\n  would help: {}",
            i.goal, i.blocking, i.remedy
        )?;
    }
    Ok(())
}

/// Runs the planner with a progress bar.
pub fn run_planner(cluster: &Cluster, opts: &PlanOptions) -> anyhow::Result<Plan> {
    let pb = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(1)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} planning [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(120));
    let plan = keel_balancer::plan(cluster, opts, &mut |p| {
        pb.set_length(p.total);
        pb.set_position(p.done);
        pb.set_message(p.stage);
    });
    pb.finish_and_clear();
    Ok(plan?)
}

fn fmt_val(goal: &str, v: f64) -> String {
    match goal {
        "replica-count" | "leader-count" => format!("{v:.0}"),
        _ => format!("{:.1}%", v * 100.0),
    }
}

/// Prints the before/after goal table.
pub fn print_goal_table(
    out: &mut impl std::io::Write,
    before: &[GoalStatus],
    after: &[GoalStatus],
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<28} {:>24} {:>24} {:>20} {:>14} {:>14}",
        "goal", "before (min..max)", "after (min..max)", "band", "outside band", "hard viol."
    )?;
    for (b, a) in before.iter().zip(after) {
        if a.hard {
            writeln!(
                out,
                "{:<28} {:>24} {:>24} {:>20} {:>14} {:>14}",
                a.goal,
                "-",
                "-",
                "-",
                "-",
                format!("{} -> {}", b.violations, a.violations)
            )?;
        } else if a.goal == "topic-replica-distribution" {
            writeln!(
                out,
                "{:<28} {:>24} {:>24} {:>20} {:>14} {:>14}",
                a.goal,
                format!("worst excess {:.0}", b.max),
                format!("worst excess {:.0}", a.max),
                "avg ± [2, 40]",
                format!("{} -> {}", b.out_of_band, a.out_of_band),
                "-"
            )?;
        } else {
            let band = match (a.band_lo, a.band_hi) {
                (Some(l), Some(h)) => format!("{}..{}", fmt_val(a.goal, l), fmt_val(a.goal, h)),
                _ => "-".into(),
            };
            writeln!(
                out,
                "{:<28} {:>24} {:>24} {:>20} {:>14} {:>14}",
                a.goal,
                format!("{}..{}", fmt_val(b.goal, b.min), fmt_val(b.goal, b.max)),
                format!("{}..{}", fmt_val(a.goal, a.min), fmt_val(a.goal, a.max)),
                band,
                format!("{} -> {}", b.out_of_band, a.out_of_band),
                "-"
            )?;
        }
    }
    Ok(())
}

/// Prints the cost and movement summary.
pub fn print_cost(out: &mut impl std::io::Write, plan: &Plan) -> std::io::Result<()> {
    let c = &plan.cost;
    let ratio = if plan.lower_bound > 0 {
        c.replica_moves as f64 / plan.lower_bound as f64
    } else {
        0.0
    };
    writeln!(
        out,
        "replica moves:          {} (lower bound {}, ratio {:.3})",
        c.replica_moves, plan.lower_bound, ratio
    )?;
    writeln!(out, "leadership moves:       {}", c.leadership_moves)?;
    let per_goal: Vec<String> = plan
        .moves_by_goal
        .iter()
        .map(|g| format!("{} {}/{}", g.goal, g.replica_moves, g.leadership_moves))
        .collect();
    if !per_goal.is_empty() {
        writeln!(
            out,
            "moves while planning:   {} (replica/leadership, per goal, before undoing unneeded ones)",
            per_goal.join(", ")
        )?;
    }
    writeln!(out, "partitions changed:     {}", plan.reassignments.len())?;
    writeln!(
        out,
        "bytes moved:            {:.3} GB ({:.3} GB across racks)",
        c.bytes_moved as f64 / 1e9,
        c.cross_rack_bytes as f64 / 1e9
    )?;
    writeln!(
        out,
        "peak extra disk:        {:.3} GB on the busiest broker",
        c.max_peak_extra_disk as f64 / 1e9
    )?;
    if let Some(e) = &c.execution {
        writeln!(
            out,
            "estimated time:         {:.0} s ({:.2} h) at {:.0} MB/s per broker, {} concurrent moves per broker",
            c.estimated_seconds,
            c.estimated_seconds / 3600.0,
            e.throttle_bytes_per_sec / 1e6,
            e.concurrency_per_broker
        )?;
    }
    Ok(())
}

/// Prints the provable bound on the moves replica count, disk and network in need together.
fn print_move_bound(
    out: &mut impl std::io::Write,
    cluster: &Cluster,
    plan: &Plan,
) -> std::io::Result<()> {
    let b = keel_balancer::bound::move_bound(cluster, &plan.before);
    writeln!(
        out,
        "moves the goals need:   at least {} for replica count, disk and network in together ({} below the replica-count band){}",
        b.soft_goals,
        b.count_deficit,
        if b.unreachable.is_empty() {
            String::new()
        } else {
            format!(
                "; no plan brings them all into band on broker(s) {:?}",
                b.unreachable
            )
        }
    )
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cluster = read_cluster(&args.cluster)?;
    let opts = prepare(&mut cluster, &args.flags)?;
    let plan = run_planner(&cluster, &opts)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(
        out,
        "cluster: {} brokers, {} partitions, {} replicas",
        cluster.brokers.len(),
        cluster.partitions.len(),
        cluster.replica_count()
    )?;
    print_goal_table(&mut out, &plan.before, &plan.after)?;
    writeln!(out)?;
    print_cost(&mut out, &plan)?;
    let full = opts.rebalance
        && opts.topics.is_none()
        && opts.brokers.is_none()
        && !opts.only_new_destinations;
    if full {
        print_move_bound(&mut out, &cluster, &plan)?;
    }
    print_infeasible(&mut out, &plan)?;
    if let Some(path) = &args.out_kafka {
        std::fs::write(path, plan.to_kafka_json(&cluster))
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote Kafka reassignment JSON to {}", path.display())?;
    }
    if let Some(path) = &args.out {
        std::fs::write(path, plan.to_keel_json(&cluster))
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote keel plan JSON to {}", path.display())?;
    }
    out.flush()?;
    if plan.infeasible.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_INFEASIBLE_GOALS))
    }
}
