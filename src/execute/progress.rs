//! Progress reporting: bytes to move (per partition, replica size × replicas added, fixed at
//! the first observation), bytes moved (partitions that reached their target), rate, ETA;
//! progress lines on stderr and `metrics` gauges and counters for the sidecar's exporter.

use std::time::{Duration, Instant};

use keel_balancer::executor::{Executor, PartitionStatus};

use super::host::{ExecutionEnd, say};

/// Progress of one execution.
#[derive(Debug)]
pub struct Progress {
    /// Bytes partition `i` copies (`None` until observed; 0 when at target from the start).
    planned: Vec<Option<u64>>,
    counted: Vec<bool>,
    total: u64,
    moved: u64,
    started: Instant,
    every: Duration,
    last_line: Option<Instant>,
    last_done: usize,
}

/// `12.3 MiB` style.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Progress {
    /// Nothing observed yet.
    pub fn new(d: &keel_balancer::executor::DesiredState, every: Duration) -> Progress {
        Progress {
            planned: vec![None; d.len()],
            counted: vec![false; d.len()],
            total: 0,
            moved: 0,
            started: Instant::now(),
            every,
            last_line: None,
            last_done: 0,
        }
    }

    /// Bytes moved so far (partitions that reached their target in this run).
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Takes the executor's view after a step; prints a line when due.
    pub fn update(&mut self, ex: &Executor) {
        let d = ex.desired();
        for i in 0..d.len() {
            let st = ex.partition_status(i as u32);
            if self.planned[i].is_none() && st.is_some_and(|s| s != PartitionStatus::Unobserved) {
                // The move's size: a replica per broker added. Unknown current replicas
                // count every target replica (an upper bound).
                let bytes = if st == Some(PartitionStatus::Done) {
                    0
                } else {
                    d.partitions[i].size_bytes
                };
                self.planned[i] = Some(bytes);
                self.total += bytes;
                if bytes == 0 {
                    self.counted[i] = true;
                }
            }
            if !self.counted[i] && st == Some(PartitionStatus::Done) {
                self.counted[i] = true;
                let b = self.planned[i].unwrap_or(0);
                self.moved += b;
                metrics::counter!("keel_execute_bytes_moved_total").increment(b);
            }
        }
        let s = ex.status();
        metrics::gauge!("keel_execute_moves_in_flight").set(s.active_moves as f64);
        metrics::gauge!("keel_execute_partitions_done").set(s.done as f64);
        metrics::gauge!("keel_execute_partitions_total").set(s.partitions as f64);
        metrics::gauge!("keel_execute_alerts").set(f64::from(s.alerts));
        if self.every.is_zero() {
            return;
        }
        let due = self.last_line.is_none_or(|t| t.elapsed() >= self.every);
        if due || s.done != self.last_done {
            self.last_line = Some(Instant::now());
            self.last_done = s.done;
            say(self.line(ex));
        }
    }

    fn line(&self, ex: &Executor) -> String {
        let s = ex.status();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.moved as f64 / secs
        } else {
            0.0
        };
        let left = self.total.saturating_sub(self.moved);
        let eta = if left == 0 {
            "0s".to_string()
        } else if rate > 0.0 {
            humantime::format_duration(Duration::from_secs((left as f64 / rate) as u64)).to_string()
        } else {
            "unknown".to_string()
        };
        format!(
            "progress: {}/{} partitions at target, {} moving, {} of {} moved ({}/s), ETA {eta}",
            s.done,
            s.partitions,
            s.active_moves,
            human_bytes(self.moved),
            human_bytes(self.total),
            human_bytes(rate as u64),
        )
    }

    /// Prints the final summary.
    pub fn finish(&mut self, ex: &Executor, end: &ExecutionEnd) {
        let s = ex.status();
        let took =
            humantime::format_duration(Duration::from_secs(self.started.elapsed().as_secs()));
        match end {
            ExecutionEnd::Done(o) => say(format!(
                "finished ({o:?}): {}/{} partitions at target, {} moved in {took}, plan {}",
                s.done,
                s.partitions,
                human_bytes(self.moved),
                ex.plan_id()
            )),
            ExecutionEnd::Paused(r) => say(format!(
                "stopped while paused ({r}): {}/{} partitions at target, {} moving in the cluster, {} moved in {took}; {}",
                s.done,
                s.partitions,
                s.active_moves,
                human_bytes(self.moved),
                if matches!(r, keel_balancer::executor::PauseReason::Deadline) {
                    "the next run (`keel execute`, or the sidecar's next window) continues it"
                } else {
                    "resume with `keel execute resume`, then run `keel execute` again"
                }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
