//! Simulated execution of a plan: replica moves run in batches under a per-broker
//! concurrency limit and a per-broker replication throttle (shared by a broker's concurrent
//! inbound and outbound copies), then leadership moves, then a preferred-leader election
//! ([KIP-460]). Pure: simulated time only.
//!
//! A new replica copies from the partition's current leader (or, if that broker is dead, the
//! first live old replica). It is counted on the destination's disk when its copy starts; the
//! old replicas are deleted when every new replica of the partition is in sync. That gives the
//! peak extra disk per broker.
//!
//! [KIP-460]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC

use serde::Serialize;

use crate::model::Cluster;
use crate::plan::{Cost, ExecutionOptions, Reassignment};

/// One batch of concurrent replica moves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    /// Simulated start, seconds.
    pub start: f64,
    /// Simulated end, seconds.
    pub end: f64,
    /// Replica moves in the batch.
    pub moves: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Result of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Cost (bytes, cross-rack bytes, peak extra disk, time).
    pub cost: Cost,
    /// Replica-move batches in order.
    pub batches: Vec<Batch>,
    /// (seconds, cumulative bytes copied), at most ~500 points.
    pub progress: Vec<(f64, u64)>,
    /// When leadership moves and the preferred-leader election ran (seconds).
    pub leadership_at: f64,
}

struct Task {
    reassignment: usize,
    dest: u32,
    src: Option<u32>,
    size: u64,
    remaining: f64,
}

/// Simulates executing `reassignments` on `c`.
pub fn simulate(
    c: &Cluster,
    reassignments: &[Reassignment],
    exec: &ExecutionOptions,
) -> Simulation {
    let nb = c.brokers.len();
    let throttle = exec.throttle_bytes_per_sec.max(1.0);
    let conc = exec.concurrency_per_broker.max(1) as usize;
    let mut tasks: Vec<Task> = Vec::new();
    // Per reassignment: new replicas still copying, and the replicas it removes.
    let mut outstanding: Vec<usize> = vec![0; reassignments.len()];
    let mut removed_of: Vec<Vec<u32>> = vec![Vec::new(); reassignments.len()];
    let mut leadership_moves = 0u64;
    for (ri, r) in reassignments.iter().enumerate() {
        let p = r.partition as usize;
        let part = &c.partitions[p];
        let old = c.replicas_of(p);
        let src = if c.brokers[part.leader as usize].state.can_host() {
            Some(part.leader)
        } else {
            old.iter()
                .copied()
                .find(|&b| c.brokers[b as usize].state.can_host())
        };
        let added: Vec<u32> = r
            .replicas
            .iter()
            .copied()
            .filter(|b| !old.contains(b))
            .collect();
        if added.is_empty() {
            if r.replicas[0] != part.leader {
                leadership_moves += 1;
            }
            continue;
        }
        if old.contains(&r.replicas[0]) && r.replicas[0] != part.leader {
            leadership_moves += 1;
        }
        outstanding[ri] = added.len();
        removed_of[ri] = old
            .iter()
            .copied()
            .filter(|b| !r.replicas.contains(b))
            .collect();
        for dest in added {
            tasks.push(Task {
                reassignment: ri,
                dest,
                src,
                size: part.size_bytes,
                remaining: part.size_bytes as f64,
            });
        }
    }
    // Partitions the plan leaves alone but whose leader is not `replicas[0]`: the final
    // preferred-leader election moves their leadership.
    let mut listed = reassignments
        .iter()
        .map(|r| r.partition as usize)
        .peekable();
    for (p, part) in c.partitions.iter().enumerate() {
        while listed.next_if(|&q| q < p).is_some() {}
        if listed.peek() == Some(&p) {
            continue;
        }
        if part.leader != c.replicas[part.start as usize] {
            leadership_moves += 1;
        }
    }
    let disk0: Vec<f64> = c.broker_loads().iter().map(|l| l[0]).collect();
    let mut disk = disk0.clone();
    let mut peak = vec![0.0f64; nb];
    let mut cost = Cost {
        execution: Some(*exec),
        ..Cost::default()
    };
    for t in &tasks {
        cost.replica_moves += 1;
        cost.bytes_moved += t.size;
        if let Some(s) = t.src
            && c.brokers[s as usize].rack_idx != c.brokers[t.dest as usize].rack_idx
        {
            cost.cross_rack_bytes += t.size;
        }
    }
    let total_bytes = cost.bytes_moved;
    let mut now = 0.0;
    let mut done_bytes = 0u64;
    let mut progress = vec![(0.0, 0u64)];
    let mut batches = Vec::new();
    let mut pending: Vec<usize> = (0..tasks.len()).collect();
    let sample_every = (tasks.len() / 400).max(1);
    let mut completed = 0usize;
    while !pending.is_empty() {
        let mut busy = vec![0usize; nb];
        let mut batch = Vec::new();
        let mut rest = Vec::new();
        let max_batch = nb * conc;
        let mut scanned_since_add = 0usize;
        for (n, &i) in pending.iter().enumerate() {
            if batch.len() >= max_batch || scanned_since_add > 4 * max_batch {
                rest.extend_from_slice(&pending[n..]);
                break;
            }
            scanned_since_add += 1;
            let t = &tasks[i];
            let d = t.dest as usize;
            let ok = busy[d] < conc && t.src.is_none_or(|s| busy[s as usize] < conc);
            if ok {
                busy[d] += 1;
                if let Some(s) = t.src {
                    busy[s as usize] += 1;
                }
                batch.push(i);
                scanned_since_add = 0;
            } else {
                rest.push(i);
            }
        }
        pending = rest;
        let start = now;
        let mut batch_bytes = 0;
        for &i in &batch {
            let t = &tasks[i];
            disk[t.dest as usize] += t.size as f64;
            let d = t.dest as usize;
            peak[d] = peak[d].max(disk[d] - disk0[d]);
            batch_bytes += t.size;
        }
        // Every broker's inbound and outbound copies share its throttle; copies run at full
        // share until done, so a batch lasts as long as its busiest broker needs.
        let mut bytes_in = vec![0.0f64; nb];
        let mut bytes_out = vec![0.0f64; nb];
        for &i in &batch {
            let t = &tasks[i];
            bytes_in[t.dest as usize] += t.size as f64;
            if let Some(s) = t.src {
                bytes_out[s as usize] += t.size as f64;
            }
        }
        let busiest = bytes_in
            .iter()
            .chain(&bytes_out)
            .fold(0.0f64, |a, &b| a.max(b));
        let duration = busiest / throttle;
        let mut finishing: Vec<(f64, usize)> = batch
            .iter()
            .map(|&i| {
                let t = &tasks[i];
                let load =
                    bytes_in[t.dest as usize].max(t.src.map_or(0.0, |s| bytes_out[s as usize]));
                (load / throttle, i)
            })
            .collect();
        finishing.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        for (at, i) in finishing {
            let t = &mut tasks[i];
            t.remaining = 0.0;
            done_bytes += t.size;
            completed += 1;
            let ri = t.reassignment;
            outstanding[ri] -= 1;
            if outstanding[ri] == 0 {
                for &b in &removed_of[ri] {
                    disk[b as usize] -= t.size as f64;
                }
            }
            if completed.is_multiple_of(sample_every) {
                progress.push((start + at, done_bytes));
            }
        }
        now = start + duration;
        batches.push(Batch {
            start,
            end: now,
            moves: batch.len() as u64,
            bytes: batch_bytes,
        });
    }
    if progress
        .last()
        .is_none_or(|x| x.1 != total_bytes || x.0 != now)
    {
        progress.push((now, done_bytes));
    }
    let leadership_at = now;
    if leadership_moves > 0 {
        now += exec.leadership_batch_secs;
    }
    // Final preferred-leader election.
    now += exec.leadership_batch_secs;
    cost.leadership_moves = leadership_moves;
    for (b, &pk) in peak.iter().enumerate() {
        if pk > 0.0 {
            cost.peak_extra_disk.insert(c.brokers[b].id, pk as u64);
        }
    }
    cost.max_peak_extra_disk = peak.iter().fold(0.0f64, |a, &b| a.max(b)) as u64;
    cost.estimated_seconds = now;
    Simulation {
        cost,
        batches,
        progress,
        leadership_at,
    }
}
