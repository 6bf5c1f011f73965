//! Per-loop status for `/healthz` and the loop driver every loop runs in: interval with
//! jitter, exponential backoff on errors, a heartbeat, a `tracing` span and metrics.
//!
//! A loop is *alive* while its task runs and its heartbeat (beaten at the start and end of
//! every pass, and while it sleeps) is younger than its allowance (`interval + max_backoff`
//! plus one minute for a slow pass). A loop whose dependency is down is still alive: it keeps
//! its last good state and retries (static stability); `/healthz` shows its failures.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;
use tracing::Instrument;

/// Timing of one loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopTiming {
    /// Time between passes.
    pub interval: Duration,
    /// Spread of the interval, as a fraction (0.1 = ±10%).
    pub jitter: f64,
    /// Longest pause after repeated failures.
    pub max_backoff: Duration,
}

impl LoopTiming {
    /// Pause before the next pass: the interval with jitter after a success; after `failures`
    /// consecutive failures, `min(interval, 1 s) × 2^(failures-1)` capped at `max_backoff`,
    /// with the same jitter. `unit` is uniform in `[0, 1)` (pure: the caller brings the
    /// randomness).
    pub fn next_delay(&self, failures: u32, unit: f64) -> Duration {
        let base = if failures == 0 {
            self.interval
        } else {
            let first = self.interval.min(Duration::from_secs(1));
            let exp = 2f64.powi(failures.saturating_sub(1).min(30) as i32);
            Duration::from_secs_f64((first.as_secs_f64() * exp).min(self.max_backoff.as_secs_f64()))
        };
        let j = self.jitter.clamp(0.0, 0.5);
        let factor = 1.0 - j + 2.0 * j * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(base.as_secs_f64() * factor)
    }

    fn allowance(&self) -> Duration {
        self.interval.max(self.max_backoff) + Duration::from_secs(60)
    }
}

/// One loop's status as `/healthz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LoopStatus {
    /// Task running and heartbeat fresh.
    pub alive: bool,
    /// Passes so far.
    pub passes: u64,
    /// Failed passes in a row.
    pub consecutive_failures: u32,
    /// Unix seconds of the last successful pass.
    pub last_success_unix: Option<u64>,
    /// What the last successful pass did.
    pub last_result: Option<String>,
    /// The last error (cleared by a success).
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Entry {
    timing: LoopTiming,
    beat: Instant,
    finished: bool,
    status: LoopStatus,
}

/// The loops' status, shared by the loops and the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct Health {
    loops: Arc<Mutex<BTreeMap<&'static str, Entry>>>,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Health {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a loop (before its task starts).
    pub fn register(&self, name: &'static str, timing: LoopTiming) {
        self.loops.lock().insert(
            name,
            Entry {
                timing,
                beat: Instant::now(),
                finished: false,
                status: LoopStatus {
                    alive: true,
                    passes: 0,
                    consecutive_failures: 0,
                    last_success_unix: None,
                    last_result: None,
                    last_error: None,
                },
            },
        );
    }

    fn with(&self, name: &str, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.loops.lock().get_mut(name) {
            f(e);
        }
    }

    /// Heartbeat.
    pub fn beat(&self, name: &str) {
        self.with(name, |e| e.beat = Instant::now());
    }

    /// Records a pass outcome.
    pub fn record(&self, name: &str, outcome: Result<String, String>) {
        self.with(name, |e| {
            e.beat = Instant::now();
            e.status.passes += 1;
            match outcome {
                Ok(r) => {
                    e.status.consecutive_failures = 0;
                    e.status.last_success_unix = Some(unix_secs());
                    e.status.last_result = Some(r);
                    e.status.last_error = None;
                }
                Err(err) => {
                    e.status.consecutive_failures += 1;
                    e.status.last_error = Some(err);
                }
            }
        });
    }

    /// Marks a loop's task as ended (it will never beat again).
    pub fn finished(&self, name: &str, why: String) {
        self.with(name, |e| {
            e.finished = true;
            e.status.last_error = Some(why);
        });
    }

    /// Every loop's status now, and whether all are alive (false when none is registered).
    pub fn snapshot(&self) -> (bool, BTreeMap<&'static str, LoopStatus>) {
        let loops = self.loops.lock();
        let mut all = !loops.is_empty();
        let out = loops
            .iter()
            .map(|(name, e)| {
                let mut s = e.status.clone();
                s.alive = !e.finished && e.beat.elapsed() <= e.timing.allowance();
                all &= s.alive;
                (*name, s)
            })
            .collect();
        (all, out)
    }

    /// `/healthz` body and status code (200 when every loop is alive, else 503).
    pub fn healthz(&self) -> (u16, String) {
        let (ok, loops) = self.snapshot();
        let body =
            serde_json::json!({ "status": if ok { "ok" } else { "unavailable" }, "loops": loops });
        (if ok { 200 } else { 503 }, body.to_string())
    }
}

fn unit_random() -> f64 {
    // Jitter only de-synchronises sidecars; the clock's low bits are random enough.
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(n % 1_000_000) / 1_000_000.0
}

/// Runs `pass` forever under `name`: records every outcome in `health` and in metrics, sleeps
/// the interval (with jitter) after a success and backs off after failures. A pass's error
/// never ends the loop. The first pass starts after a jittered fraction of the interval
/// (at most 2 s), so sidecars started together do not fire together.
pub async fn drive<F, Fut>(name: &'static str, timing: LoopTiming, health: Health, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let mut failures = 0u32;
    let first = timing
        .interval
        .min(Duration::from_secs(2))
        .mul_f64(unit_random());
    tokio::time::sleep(first).await;
    loop {
        health.beat(name);
        let span = tracing::info_span!("loop", name);
        let started = Instant::now();
        let outcome = pass().instrument(span.clone()).await;
        let secs = started.elapsed().as_secs_f64();
        metrics::histogram!("keel_sidecar_pass_seconds", "loop" => name).record(secs);
        match outcome {
            Ok(result) => {
                failures = 0;
                span.in_scope(|| tracing::info!(took_s = secs, "{result}"));
                metrics::counter!("keel_sidecar_passes_total", "loop" => name, "outcome" => "ok")
                    .increment(1);
                metrics::gauge!("keel_sidecar_last_success_timestamp_seconds", "loop" => name)
                    .set(unix_secs() as f64);
                health.record(name, Ok(result));
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let msg = format!("{e:#}");
                span.in_scope(|| tracing::warn!(failures, error = %msg, "pass failed; keeping the last good state and retrying"));
                metrics::counter!("keel_sidecar_passes_total", "loop" => name, "outcome" => "error").increment(1);
                health.record(name, Err(msg));
            }
        }
        metrics::gauge!("keel_sidecar_consecutive_failures", "loop" => name)
            .set(f64::from(failures));
        let delay = timing.next_delay(failures, unit_random());
        // Sleep in slices so the heartbeat stays fresh through long intervals.
        let until = Instant::now() + delay;
        while Instant::now() < until {
            tokio::time::sleep((until - Instant::now()).min(Duration::from_secs(10))).await;
            health.beat(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: LoopTiming = LoopTiming {
        interval: Duration::from_secs(60),
        jitter: 0.1,
        max_backoff: Duration::from_secs(300),
    };

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_cap() {
        let nj = LoopTiming { jitter: 0.0, ..T };
        assert_eq!(nj.next_delay(0, 0.5), Duration::from_secs(60));
        assert_eq!(nj.next_delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(nj.next_delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(nj.next_delay(5, 0.5), Duration::from_secs(16));
        assert_eq!(nj.next_delay(50, 0.5), Duration::from_secs(300));
    }

    #[test]
    fn healthz_is_503_when_a_loop_ended_and_200_while_all_live() {
        let h = Health::new();
        assert_eq!(h.healthz().0, 503, "no loop at all is not healthy");
        h.register("a", T);
        h.register("b", T);
        h.record("a", Err("broker down".into()));
        let (code, body) = h.healthz();
        assert_eq!(code, 200, "a failing loop that retries is alive: {body}");
        assert!(body.contains("broker down"));
        h.finished("b", "task ended".into());
        assert_eq!(h.healthz().0, 503);
    }

    proptest! {
        #[test]
        fn delays_stay_within_jitter_of_their_base(failures in 0u32..100, unit in 0.0f64..1.0) {
            let d = T.next_delay(failures, unit).as_secs_f64();
            let base = T.next_delay(failures, 0.5).as_secs_f64();
            prop_assert!(d >= base * 0.9 - 1e-9 && d <= base * 1.1 + 1e-9);
            prop_assert!(d <= 300.0 * 1.1 + 1e-9);
            if failures > 0 { prop_assert!(d >= 0.9 - 1e-9); }
        }
    }
}
