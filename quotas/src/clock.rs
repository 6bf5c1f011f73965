//! Time for the hot path. The core never reads a clock: every call takes `now` as
//! [`Nanos`] (nanoseconds since an arbitrary origin the caller picks). [`CoarseClock`] is
//! a shared atomic the caller (a broker's event loop or a background ticker) advances, so
//! request handlers read time with one relaxed load instead of a syscall.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Nanoseconds since a caller-chosen origin. Monotonic by contract.
pub type Nanos = u64;

/// Nanoseconds per millisecond.
pub const NANOS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A clock that is read with one atomic load and advanced by its owner.
///
/// `tick()` samples [`Instant`] and stores it; `now()` returns the last stored value.
/// Readers see time advance in steps of however often the owner ticks (e.g. once per
/// event-loop iteration or every millisecond from a ticker thread).
#[derive(Debug)]
pub struct CoarseClock {
    origin: Instant,
    now: AtomicU64,
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

impl CoarseClock {
    /// A clock whose origin is the moment of creation.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            now: AtomicU64::new(0),
        }
    }

    /// The last ticked time.
    #[inline]
    pub fn now(&self) -> Nanos {
        self.now.load(Ordering::Relaxed)
    }

    /// Samples the real clock and publishes it; returns the new time. Never moves backwards.
    pub fn tick(&self) -> Nanos {
        let elapsed = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.now.fetch_max(elapsed, Ordering::Relaxed).max(elapsed)
    }

    /// Sets the time explicitly (simulations and tests). Never moves backwards.
    pub fn advance_to(&self, now: Nanos) {
        self.now.fetch_max(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_never_moves_backwards() {
        let c = CoarseClock::new();
        c.advance_to(500);
        c.advance_to(100);
        assert_eq!(c.now(), 500);
        let t = c.tick();
        assert!(t >= 500 || c.now() == 500);
        assert!(c.now() >= 500);
    }
}
