//! Byte-rate limiting for uploads and fetches: a pacing token bucket shared by every task
//! of a process. `acquire(n)` waits until `n` more bytes fit in the configured bytes/s.
//! The pacing math ([`Pacer`]) is pure and takes `now`.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Pure pacing state: when the next byte may go.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    bytes_per_sec: u64,
    /// Instant at which all bytes granted so far have "drained".
    drained_at: Option<Instant>,
    /// Burst allowance: how far ahead of real time grants may run.
    burst: Duration,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64, burst: Duration) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            drained_at: None,
            burst,
        }
    }

    /// Grants `n` bytes at `now`; returns how long the caller must wait before sending.
    pub fn grant(&mut self, n: u64, now: Instant) -> Duration {
        let start = self.drained_at.map_or(now, |d| d.max(now));
        let cost = Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        self.drained_at = Some(start + cost);
        start
            .saturating_duration_since(now)
            .saturating_sub(self.burst)
    }
}

/// Shared limiter (async).
#[derive(Debug)]
pub struct RateLimiter {
    pacer: Mutex<Pacer>,
}

impl RateLimiter {
    /// A limiter of `bytes_per_sec` with a 100 ms burst.
    pub fn new(bytes_per_sec: u64) -> Self {
        RateLimiter {
            pacer: Mutex::new(Pacer::new(bytes_per_sec, Duration::from_millis(100))),
        }
    }

    /// Waits until `n` bytes may be sent.
    pub async fn acquire(&self, n: u64) {
        let wait = self.pacer.lock().grant(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_holds_the_average_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000, Duration::ZERO);
        let mut now = t0;
        for _ in 0..10 {
            now += p.grant(500, now);
        }
        // 5000 bytes at 1000 B/s: the last grant waits until ~4.5 s after the first.
        let elapsed = now - t0;
        assert!(
            elapsed >= Duration::from_millis(4400) && elapsed <= Duration::from_millis(5100),
            "{elapsed:?}"
        );
    }
}
