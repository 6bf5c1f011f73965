//! keel's token bucket, as a GCRA ("generic cell rate algorithm"): the whole state of a
//! bucket is one "theoretical arrival time" (TAT), advanced by a compare-and-swap.
//!
//! A unit costs `1/rate` seconds. Recording `n` units at `now` moves the TAT to
//! `max(TAT, now) + n/rate`. The bucket is within its burst while `TAT − now ≤ τ`, where
//! `τ = burst / rate` (the burst tolerance, 1 s of quota by default). Like Kafka, the
//! request is recorded first and checked after: a produce request has already arrived, so
//! the bucket reports how far over (`TAT − now − τ`, in nanoseconds) it now is, and the
//! caller turns that into a throttle.
//!
//! Everything here is atomics on one 64-byte cache line; config lives in the same line and
//! is re-read on every call, so `configure` applies at once to a live bucket.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::error::{Result, invalid};

/// Fractional bits of the fixed-point nanoseconds-per-unit cost.
const FP_SHIFT: u32 = 24;

/// Validated limiter parameters for one entity and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketParams {
    /// Units per second (> 0, finite).
    pub rate: f64,
    /// Burst as seconds of quota (> 0). Kafka-style default: 1 s.
    pub burst_secs: f64,
    /// Largest throttle ever returned, in nanoseconds.
    pub max_throttle_ns: u64,
}

impl BucketParams {
    /// Validates `rate` (units/s), `burst_secs` and `max_throttle_ms`; `field` names the config
    /// entry for errors.
    pub fn new(rate: f64, burst_secs: f64, max_throttle_ms: u64, field: &str) -> Result<Self> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(invalid(
                field,
                rate,
                "a quota rate must be a finite number > 0",
            ));
        }
        // The cost of one unit must fit the 40.24 fixed point (rate ≥ ~0.001/s).
        if NANOS_PER_SEC as f64 / rate >= (1u64 << (64 - FP_SHIFT)) as f64 {
            return Err(invalid(
                field,
                rate,
                "rate too small (minimum 0.001 units/s)",
            ));
        }
        if !burst_secs.is_finite() || burst_secs <= 0.0 || burst_secs > 3600.0 {
            return Err(invalid(
                format!("{field}.burst_secs"),
                burst_secs,
                "burst must be > 0 and at most 3600 seconds of quota",
            ));
        }
        if max_throttle_ms == 0 {
            return Err(invalid(
                format!("{field}.max_throttle_ms"),
                max_throttle_ms,
                "the throttle cap must be > 0",
            ));
        }
        Ok(Self {
            rate,
            burst_secs,
            max_throttle_ns: max_throttle_ms.saturating_mul(1_000_000),
        })
    }

    fn cost_fp(&self) -> u64 {
        let ns_per_unit = NANOS_PER_SEC as f64 / self.rate;
        // In range: checked in `new`. `as` saturates for floats.
        (ns_per_unit * (1u64 << FP_SHIFT) as f64).round().max(1.0) as u64
    }

    fn tolerance_ns(&self) -> u64 {
        (self.burst_secs * NANOS_PER_SEC as f64).round() as u64
    }
}

/// One entity's bucket for one quota kind: exactly one cache line.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct BucketState {
    /// Theoretical arrival time (ns): when the bucket would be full again.
    tat: AtomicU64,
    /// Cost of one unit, ns in 40.24 fixed point.
    cost_fp: AtomicU64,
    /// Burst tolerance τ in ns.
    tolerance_ns: AtomicU64,
    /// Throttle cap in ns.
    max_throttle_ns: AtomicU64,
    /// Units recorded since creation (wrapping).
    admitted: AtomicU64,
    /// Units recorded while over the burst tolerance (the throttled excess), since creation.
    excess: AtomicU64,
    /// Nanoseconds of throttle handed out (sum), since creation.
    throttled_ns: AtomicU64,
    /// Live handles (connections) sharing this bucket; used for fairness within a tenant.
    active_clients: AtomicU32,
    _pad: u32,
}

/// A snapshot of a bucket's counters (for reports and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BucketCounters {
    /// Units recorded, since creation.
    pub admitted: u64,
    /// Units recorded while over the burst, since creation.
    pub excess: u64,
    /// Throttle handed out, ns, since creation.
    pub throttled_ns: u64,
    /// Until when clients may still be muted by a throttle (0 if never throttled).
    pub throttled_until: Nanos,
}

impl BucketState {
    /// A full bucket (a burst is available at once).
    pub fn new(params: &BucketParams) -> Self {
        Self {
            tat: AtomicU64::new(0),
            cost_fp: AtomicU64::new(params.cost_fp()),
            tolerance_ns: AtomicU64::new(params.tolerance_ns()),
            max_throttle_ns: AtomicU64::new(params.max_throttle_ns),
            admitted: AtomicU64::new(0),
            excess: AtomicU64::new(0),
            throttled_ns: AtomicU64::new(0),
            active_clients: AtomicU32::new(0),
            _pad: 0,
        }
    }

    /// Applies new parameters to the live bucket at `now`. A rate change keeps, in units, what
    /// matters to the tenant: the burst still available (so a share that grows does not hand
    /// out a fresh burst cluster-wide, and one that shrinks keeps what was left, up to the new
    /// burst), or the debt beyond the burst (so a share that grows 10× pays it off 10× faster).
    pub fn configure(&self, params: &BucketParams, now: Nanos) {
        let new_fp = params.cost_fp();
        let new_tol = params.tolerance_ns();
        let old_fp = self.cost_fp.swap(new_fp, Ordering::Relaxed).max(1);
        let old_tol = self.tolerance_ns.swap(new_tol, Ordering::Relaxed);
        if old_fp != new_fp || old_tol != new_tol {
            let scale = |ns: u64| -> u64 {
                let v = u128::from(ns) * u128::from(new_fp) / u128::from(old_fp);
                u64::try_from(v).unwrap_or(u64::MAX)
            };
            let _ = self
                .tat
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                    let used = tat.checked_sub(now).filter(|u| *u > 0)?;
                    let new_used = if used > old_tol {
                        new_tol.saturating_add(scale(used - old_tol))
                    } else {
                        new_tol.saturating_sub(scale(old_tol - used))
                    };
                    Some(now.saturating_add(new_used))
                });
        }
        self.tolerance_ns
            .store(params.tolerance_ns(), Ordering::Relaxed);
        self.max_throttle_ns
            .store(params.max_throttle_ns, Ordering::Relaxed);
    }

    /// Cost of `units` in ns at the current rate.
    #[inline]
    pub fn cost_ns(&self, units: u64) -> u64 {
        let fp = self.cost_fp.load(Ordering::Relaxed);
        let c = (u128::from(units) * u128::from(fp)) >> FP_SHIFT;
        u64::try_from(c).unwrap_or(u64::MAX)
    }

    /// The current rate, units per second.
    pub fn rate(&self) -> f64 {
        let fp = self.cost_fp.load(Ordering::Relaxed).max(1) as f64;
        NANOS_PER_SEC as f64 * (1u64 << FP_SHIFT) as f64 / fp
    }

    /// Burst tolerance τ, ns.
    #[inline]
    pub fn tolerance_ns(&self) -> u64 {
        self.tolerance_ns.load(Ordering::Relaxed)
    }

    /// Throttle cap, ns.
    #[inline]
    pub fn max_throttle_ns(&self) -> u64 {
        self.max_throttle_ns.load(Ordering::Relaxed)
    }

    /// Records `units` at `now` (record first, then check) and returns how far over the burst
    /// tolerance the bucket now is, in ns (0 = within quota). Lock-free: one CAS loop and one
    /// `fetch_add`.
    #[inline]
    pub fn record(&self, units: u64, now: Nanos) -> u64 {
        let (over, _) = self.advance(units, now);
        self.add_admitted(units);
        over
    }

    /// Adds `units` to the admitted counter (for callers that batch it, see
    /// [`Self::advance`]).
    #[inline]
    pub fn add_admitted(&self, units: u64) {
        if units > 0 {
            self.admitted.fetch_add(units, Ordering::Relaxed);
        }
    }

    /// Like [`Self::record`] but leaves the admitted counter to the caller (one CAS only);
    /// returns how far over the burst the bucket now is and the cost of `units`, both in ns.
    #[inline]
    pub fn advance(&self, units: u64, now: Nanos) -> (u64, u64) {
        let cost = self.cost_ns(units);
        let tol = self.tolerance_ns();
        let mut cur = self.tat.load(Ordering::Relaxed);
        let new = loop {
            let new = cur.max(now).saturating_add(cost);
            match self
                .tat
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break new,
                Err(actual) => cur = actual,
            }
        };
        let over = new.saturating_sub(now).saturating_sub(tol);
        if over > 0 {
            self.note_excess(units.min(self.units_for_ns(over)));
        }
        (over, cost)
    }

    #[cold]
    fn note_excess(&self, units: u64) {
        self.excess.fetch_add(units, Ordering::Relaxed);
    }

    /// Adds handed-out throttle time to the counters.
    #[inline]
    pub fn note_throttle(&self, ns: u64) {
        if ns > 0 {
            self.throttled_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }

    /// How far over the burst tolerance the bucket is at `now`, without recording (ns).
    pub fn over_ns(&self, now: Nanos) -> u64 {
        self.tat
            .load(Ordering::Relaxed)
            .saturating_sub(now)
            .saturating_sub(self.tolerance_ns())
    }

    /// Units that can be recorded at `now` without going over the burst.
    pub fn available_units(&self, now: Nanos) -> u64 {
        let used = self.tat.load(Ordering::Relaxed).saturating_sub(now);
        self.units_for_ns(self.tolerance_ns().saturating_sub(used))
    }

    /// Units whose cost is `ns` at the current rate (rounded down).
    pub fn units_for_ns(&self, ns: u64) -> u64 {
        let fp = self.cost_fp.load(Ordering::Relaxed).max(1);
        u64::try_from((u128::from(ns) << FP_SHIFT) / u128::from(fp)).unwrap_or(u64::MAX)
    }

    /// True when nothing was recorded since `now − idle` and no debt is outstanding.
    pub fn is_idle(&self, now: Nanos, idle: u64) -> bool {
        self.tat.load(Ordering::Relaxed).saturating_add(idle) < now
    }

    /// Counter snapshot.
    pub fn counters(&self) -> BucketCounters {
        BucketCounters {
            admitted: self.admitted.load(Ordering::Relaxed),
            excess: self.excess.load(Ordering::Relaxed),
            throttled_ns: self.throttled_ns.load(Ordering::Relaxed),
            throttled_until: self
                .tat
                .load(Ordering::Relaxed)
                .saturating_sub(self.tolerance_ns()),
        }
    }

    /// Live handles sharing this bucket (at least 1 for fairness arithmetic).
    #[inline]
    pub fn active_clients(&self) -> u64 {
        u64::from(self.active_clients.load(Ordering::Relaxed).max(1))
    }

    /// Live handles attached (without the floor of 1 of [`Self::active_clients`]).
    #[cfg(test)]
    pub(crate) fn attached_clients(&self) -> u32 {
        self.active_clients.load(Ordering::Relaxed)
    }

    pub(crate) fn attach_client(&self) {
        self.active_clients.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn detach_client(&self) {
        // Never below zero even if a caller double-detaches.
        let _ = self
            .active_clients
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rate: f64) -> BucketParams {
        BucketParams::new(rate, 1.0, 30_000, "t").unwrap()
    }

    #[test]
    fn bucket_state_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<BucketState>(), 64);
        assert_eq!(std::mem::align_of::<BucketState>(), 64);
    }

    #[test]
    fn a_full_bucket_admits_exactly_one_burst_then_goes_over() {
        let b = BucketState::new(&params(1000.0));
        let now = 10 * NANOS_PER_SEC;
        assert_eq!(b.record(1000, now), 0);
        let over = b.record(100, now);
        assert_eq!(over, 100_000_000, "100 units over at 1000/s is 100 ms");
    }

    #[test]
    fn reconfiguring_applies_to_the_next_record() {
        let b = BucketState::new(&params(1000.0));
        let now = 10 * NANOS_PER_SEC;
        b.record(1000, now);
        b.configure(&params(2000.0), now);
        // The burst was used up; it stays used up (no windfall), and refills at the new rate.
        assert_eq!(b.record(200, now), 100_000_000);
        assert_eq!(b.available_units(now + NANOS_PER_SEC / 2), 800);
    }

    #[test]
    fn bad_params_name_the_field() {
        let e = BucketParams::new(0.0, 1.0, 1, "tenants[2].produce_bytes_per_sec").unwrap_err();
        assert!(
            e.to_string().contains("tenants[2].produce_bytes_per_sec"),
            "{e}"
        );
        assert!(BucketParams::new(-5.0, 1.0, 1, "x").is_err());
        assert!(BucketParams::new(f64::NAN, 1.0, 1, "x").is_err());
        let e = BucketParams::new(5.0, 0.0, 1, "x").unwrap_err();
        assert!(e.to_string().contains("x.burst_secs"), "{e}");
        assert!(BucketParams::new(5.0, 1.0, 0, "x").is_err());
    }

    #[test]
    fn available_units_counts_down_and_refills() {
        let b = BucketState::new(&params(1000.0));
        let now = 5 * NANOS_PER_SEC;
        assert_eq!(b.available_units(now), 1000);
        b.record(600, now);
        assert_eq!(b.available_units(now), 400);
        assert_eq!(b.available_units(now + NANOS_PER_SEC / 2), 900);
    }
}
