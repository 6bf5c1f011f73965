//! HTML report of a simulated plan: per-broker utilisation before and after for every
//! resource (inline SVG bar charts with the balance band and the capacity limit) and the
//! movement timeline. Pure string building; the CLI writes the file.

use std::fmt::Write as _;

use crate::goals::Goals;
use crate::model::{Cluster, Resource};
use crate::plan::Cost;
use crate::simulate::Simulation;

/// Per-broker figures of one cluster state.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerFigures {
    /// Broker ids.
    pub ids: Vec<i32>,
    /// Whether the broker can hold replicas at the end (not dead/removing).
    pub hosts: Vec<bool>,
    /// Utilisation per resource, fraction of capacity.
    pub util: Vec<[f64; 4]>,
    /// Replica count.
    pub replicas: Vec<f64>,
    /// Leader count.
    pub leaders: Vec<f64>,
}

impl BrokerFigures {
    /// Figures of `c` with its current leaders.
    pub fn of(c: &Cluster) -> Self {
        let loads = c.broker_loads();
        let mut replicas = vec![0.0; c.brokers.len()];
        let mut leaders = vec![0.0; c.brokers.len()];
        for (p, part) in c.partitions.iter().enumerate() {
            for &b in c.replicas_of(p) {
                replicas[b as usize] += 1.0;
            }
            leaders[part.leader as usize] += 1.0;
        }
        BrokerFigures {
            ids: c.brokers.iter().map(|b| b.id).collect(),
            hosts: c.brokers.iter().map(|b| b.state.can_host()).collect(),
            util: loads
                .iter()
                .zip(&c.brokers)
                .map(|(l, b)| {
                    [
                        l[0] / b.capacity[0],
                        l[1] / b.capacity[1],
                        l[2] / b.capacity[2],
                        l[3] / b.capacity[3],
                    ]
                })
                .collect(),
            replicas,
            leaders,
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bar chart of before/after values per broker, with an optional limit line.
fn bar_chart(
    out: &mut String,
    title: &str,
    ids: &[i32],
    before: &[f64],
    after: &[f64],
    limit: Option<f64>,
    percent: bool,
) {
    let n = ids.len().max(1);
    let (w, h, left, bottom) = (960.0, 220.0, 50.0, 30.0);
    let max = before
        .iter()
        .chain(after)
        .copied()
        .chain(limit)
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.05;
    let slot = (w - left) / n as f64;
    let bar = (slot * 0.4).max(0.5);
    let y = |v: f64| h - bottom - (v / max) * (h - bottom - 10.0);
    let _ = write!(
        out,
        "<h3>{}</h3><svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">",
        esc(title)
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let label = if percent {
            format!("{:.0}%", v * 100.0)
        } else {
            format!("{v:.0}")
        };
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#eee\"/><text x=\"2\" y=\"{1:.1}\" font-size=\"10\">{label}</text>",
            y(v),
            y(v) + 3.0
        );
    }
    for i in 0..ids.len() {
        let x = left + slot * i as f64;
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#bbb\"><title>broker {} before: {}</title></rect>",
            x,
            y(before[i]),
            (h - bottom - y(before[i])).max(0.0),
            ids[i],
            fmt_v(before[i], percent)
        );
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"#2b6cb0\"><title>broker {} after: {}</title></rect>",
            x + bar,
            y(after[i]),
            (h - bottom - y(after[i])).max(0.0),
            ids[i],
            fmt_v(after[i], percent)
        );
        if n <= 64 || i % (n / 32).max(1) == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"8\">{}</text>",
                x,
                h - bottom + 12.0,
                ids[i]
            );
        }
    }
    if let Some(l) = limit {
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#c53030\" stroke-dasharray=\"4 3\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" fill=\"#c53030\">limit</text>",
            y(l),
            w - 30.0,
            y(l) - 3.0
        );
    }
    out.push_str("</svg>\n");
}

fn fmt_v(v: f64, percent: bool) -> String {
    if percent {
        format!("{:.1}%", v * 100.0)
    } else {
        format!("{v:.0}")
    }
}

fn spread(v: &[f64], hosts: &[bool]) -> (f64, f64) {
    let xs: Vec<f64> = v
        .iter()
        .zip(hosts)
        .filter(|(_, h)| **h)
        .map(|(x, _)| *x)
        .collect();
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min.is_finite() {
        (min, max)
    } else {
        (0.0, 0.0)
    }
}

/// Builds the HTML report.
pub fn html_report(
    title: &str,
    before: &BrokerFigures,
    after: &BrokerFigures,
    goals: &Goals,
    cost: &Cost,
    sim: &Simulation,
    lower_bound: Option<u64>,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{0}</title><style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head><body><h1>{0}</h1>",
        esc(title)
    );
    out.push_str("<p>Grey: before. Blue: after the plan and a preferred-leader election. Dashed red: capacity limit.</p>");
    out.push_str("<h2>Summary</h2><table><tr><th>measure</th><th>value</th></tr>");
    let mut row = |k: &str, v: String| {
        let _ = write!(
            out,
            "<tr><td style=\"text-align:left\">{}</td><td>{}</td></tr>",
            esc(k),
            esc(&v)
        );
    };
    row("replica moves", cost.replica_moves.to_string());
    if let Some(lb) = lower_bound {
        row("lower bound on replica moves", lb.to_string());
    }
    row("leadership moves", cost.leadership_moves.to_string());
    row(
        "bytes moved",
        format!("{:.3} GB", cost.bytes_moved as f64 / 1e9),
    );
    row(
        "bytes moved across racks",
        format!("{:.3} GB", cost.cross_rack_bytes as f64 / 1e9),
    );
    row(
        "max peak extra disk on one broker",
        format!("{:.3} GB", cost.max_peak_extra_disk as f64 / 1e9),
    );
    row(
        "estimated execution time",
        format!(
            "{:.0} s ({:.2} h)",
            cost.estimated_seconds,
            cost.estimated_seconds / 3600.0
        ),
    );
    row(
        "most replica copies running at once",
        sim.peak_running.to_string(),
    );
    for (r, res) in Resource::ALL.iter().enumerate() {
        let b: Vec<f64> = before.util.iter().map(|u| u[r]).collect();
        let a: Vec<f64> = after.util.iter().map(|u| u[r]).collect();
        let (b0, b1) = spread(&b, &after.hosts);
        let (a0, a1) = spread(&a, &after.hosts);
        row(
            &format!("{} utilisation range", res.name()),
            format!(
                "{:.1}–{:.1}% → {:.1}–{:.1}%",
                b0 * 100.0,
                b1 * 100.0,
                a0 * 100.0,
                a1 * 100.0
            ),
        );
    }
    out.push_str("</table><h2>Per-broker utilisation</h2>");
    for (r, res) in Resource::ALL.iter().enumerate() {
        let b: Vec<f64> = before.util.iter().map(|u| u[r]).collect();
        let a: Vec<f64> = after.util.iter().map(|u| u[r]).collect();
        bar_chart(
            &mut out,
            &format!("{} (% of capacity)", res.name()),
            &before.ids,
            &b,
            &a,
            Some(goals.capacity_threshold[r]),
            true,
        );
    }
    bar_chart(
        &mut out,
        "replica count",
        &before.ids,
        &before.replicas,
        &after.replicas,
        Some(f64::from(goals.max_replicas_per_broker))
            .filter(|l| *l < 1e6 && before.replicas.iter().any(|r| r * 2.0 > *l)),
        false,
    );
    bar_chart(
        &mut out,
        "leader count",
        &before.ids,
        &before.leaders,
        &after.leaders,
        None,
        false,
    );
    timeline(&mut out, sim);
    out.push_str("</body></html>\n");
    out
}

fn timeline(out: &mut String, sim: &Simulation) {
    let (w, h, left, bottom) = (960.0, 240.0, 60.0, 30.0);
    let end = sim.cost.estimated_seconds.max(1e-9);
    let total = sim.progress.last().map_or(0, |p| p.1).max(1) as f64;
    let x = |t: f64| left + (t / end) * (w - left - 10.0);
    let y = |b: f64| h - bottom - (b / total) * (h - bottom - 10.0);
    out.push_str("<h2>Movement timeline</h2><p>Blue line: bytes copied over simulated time. Grey area: replica copies running (a move starts as soon as its brokers have a free slot). Green line: leadership moves and the preferred-leader election.</p>");
    let _ = write!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    let peak = f64::from(sim.peak_running.max(1));
    let area_h = (h - bottom - 10.0) * 0.3;
    let mut area = format!("{:.1},{:.1}", x(0.0), h - bottom);
    let mut level = h - bottom;
    for &(t, n) in &sim.running {
        let _ = write!(area, " {:.1},{level:.1}", x(t));
        level = h - bottom - f64::from(n) / peak * area_h;
        let _ = write!(area, " {:.1},{level:.1}", x(t));
    }
    let _ = write!(area, " {:.1},{:.1}", x(end), h - bottom);
    let _ = write!(
        out,
        "<polygon fill=\"#cbd5e0\" points=\"{area}\"><title>replica copies running, at most {}</title></polygon>",
        sim.peak_running
    );
    let pts: Vec<String> = sim
        .progress
        .iter()
        .map(|(t, b)| format!("{:.1},{:.1}", x(*t), y(*b as f64)))
        .collect();
    let _ = write!(
        out,
        "<polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"{}\"/>",
        pts.join(" ")
    );
    let _ = write!(
        out,
        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"10\" y2=\"{1}\" stroke=\"#38a169\"/><text x=\"2\" y=\"20\" font-size=\"10\">{2:.1} GB</text><text x=\"{3}\" y=\"{4}\" font-size=\"10\">0 s</text><text x=\"{5}\" y=\"{4}\" font-size=\"10\">{6:.0} s</text>",
        x(sim.leadership_at),
        h - bottom,
        total / 1e9,
        left,
        h - 10.0,
        w - 60.0,
        end
    );
    out.push_str("</svg>\n");
}
