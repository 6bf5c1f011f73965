//! Conservation over a limiter's memory, for brokers whose limiter remembers what it admitted
//! (Kafka mode: a rate over `samples` windows, 11 s by default).
//!
//! Σ shares ≤ Q holds the cluster to its quota only while shares stay where they are. Kafka's
//! windowed rate lets a broker admit up to `share × (samples − 1) × window` *minus what it
//! already admitted in its window*: a broker that just started seeing a tenant has an empty
//! window, so when the tenant's share moves to it, it may admit ~10 s of that share at once,
//! while the brokers the traffic left still hold, in their windows, the quota they admitted
//! just before. Every move of a tenant's traffic then grants its quota twice over one window.
//!
//! The distributor knows what each broker admitted (its reports), so it applies the
//! conservation rule to what each limiter will actually allow over its window:
//! `Σ_b max(share_b, recent_b) ≤ Q`, where `recent_b` is broker b's admitted units over the
//! last `limiter_window` per second. A broker the traffic left keeps counting its recent
//! admissions until they leave its window; the quota it frees moves to the new brokers as
//! fast as that happens, so the cluster stays at its quota through the move. Shares are
//! lowered only, and never below what the broker already admitted or its floor, so
//! `Σ shares ≤ Q` still holds and a steady tenant (share ≈ recent) is untouched.

use crate::clock::{NANOS_PER_SEC, Nanos};

/// Each broker's admitted units in its last `slots` reports, per row: a ring per broker.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentAdmissions {
    slots: usize,
    brokers: usize,
    /// Per broker × slot: the report's time (0 = empty).
    at: Vec<Nanos>,
    /// Per broker: the slot of its latest report.
    pos: Vec<usize>,
    /// Per row × broker × slot: units admitted in that report's interval.
    units: Vec<f64>,
}

impl RecentAdmissions {
    /// Keeps `slots` reports per broker (0 = off: nothing is kept).
    pub(crate) fn new(brokers: usize, slots: usize) -> Self {
        Self {
            slots,
            brokers,
            at: vec![0; brokers * slots],
            pos: vec![0; brokers],
            units: Vec::new(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.slots > 0
    }

    fn row_len(&self) -> usize {
        self.brokers * self.slots
    }

    /// Sets the number of rows (new rows start empty).
    pub(crate) fn resize_rows(&mut self, rows: usize) {
        let len = rows * self.row_len();
        self.units.resize(len, 0.0);
    }

    /// Copies row `from` over row `to`.
    pub(crate) fn move_row(&mut self, from: usize, to: usize) {
        let l = self.row_len();
        self.units.copy_within(from * l..(from + 1) * l, to * l);
    }

    /// Opens the slot for broker `b`'s report at `at` (clearing what it held for every row)
    /// and returns it.
    pub(crate) fn begin_report(&mut self, b: usize, at: Nanos) -> usize {
        if !self.enabled() {
            return 0;
        }
        let slot = (self.pos[b] + 1) % self.slots;
        self.pos[b] = slot;
        self.at[b * self.slots + slot] = at;
        let l = self.row_len();
        let i = b * self.slots + slot;
        for row in self.units.chunks_exact_mut(l) {
            row[i] = 0.0;
        }
        slot
    }

    /// Sets the units broker `b` admitted for `row` in the report of `slot`.
    pub(crate) fn set(&mut self, row: usize, b: usize, slot: usize, units: f64) {
        if self.enabled() {
            let i = row * self.row_len() + b * self.slots + slot;
            self.units[i] = units;
        }
    }

    /// Per broker: units admitted for `row` in reports newer than `now − window`, per second
    /// of `window`.
    pub(crate) fn rates(&self, row: usize, now: Nanos, window: u64, out: &mut [f64]) {
        let since = now.saturating_sub(window);
        let secs = window as f64 / NANOS_PER_SEC as f64;
        let base = row * self.row_len();
        for (b, o) in out.iter_mut().enumerate().take(self.brokers) {
            let mut sum = 0.0;
            for s in 0..self.slots {
                let at = self.at[b * self.slots + s];
                if at > since {
                    sum += self.units[base + b * self.slots + s];
                }
            }
            *o = sum / secs;
        }
    }
}

/// How much more than its share a busy broker's limiter may show over its window without any
/// move: Kafka's rate spans up to `samples + 1` sample windows and records a request before it
/// checks it, so a steady, throttled broker's window holds up to ~10% over its share. Only
/// what a broker's window holds beyond this is counted as quota still in use there.
pub const WINDOW_SLACK: f64 = 0.1;

/// Lowers fresh brokers' shares so that the quota still held in other brokers' windows is not
/// granted again (see the module docs): `held_b = max(0, recent_b − share_b × (1 + slack))` is
/// what broker b's window holds beyond its share; what Σ held exceeds the unassigned quota
/// (`quota − Σ shares`) is taken from the brokers whose share exceeds both their recent rate
/// and `floor`, in proportion to that room. Stale brokers (`stale[b]` is `Some`) are not
/// changed. Never raises a share; Σ shares ≤ quota is kept.
pub fn limit_to_window(
    quota: f64,
    recent: &[f64],
    stale: &[Option<u64>],
    floor: f64,
    shares: &mut [f64],
) {
    let mut assigned = 0.0;
    let mut held = 0.0;
    let mut room = 0.0;
    for (b, s) in shares.iter().enumerate() {
        assigned += s;
        if stale[b].is_none() {
            held += (recent[b] - s * (1.0 + WINDOW_SLACK)).max(0.0);
            room += (s - recent[b].max(floor)).max(0.0);
        }
    }
    let over = held - (quota - assigned).max(0.0);
    if over <= 0.0 || room <= 0.0 {
        return;
    }
    let k = (over / room).min(1.0);
    for (b, s) in shares.iter_mut().enumerate() {
        if stale[b].is_none() {
            let r = (*s - recent[b].max(floor)).max(0.0);
            *s -= k * r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_waits_for_the_old_brokers_window_to_drain() {
        // Q = 100 moved from broker 0 (90/s still in its window) to broker 1 (throttled, given
        // 98 by water-filling); broker 2 idle at its floor.
        let mut s = [1.0, 98.0, 1.0];
        limit_to_window(100.0, &[90.0, 0.0, 0.0], &[None; 3], 1.0, &mut s);
        // Broker 0's window holds 90 − 1.1 beyond its share: broker 1 gets the rest.
        assert!((s[1] - (98.0 - (90.0 - 1.1))).abs() < 1e-9, "{s:?}");
        assert_eq!((s[0], s[2]), (1.0, 1.0));
    }

    #[test]
    fn steady_shares_are_untouched() {
        // Broker 0 shows 8% over its share in its window (Kafka's window noise): no move.
        let mut s = [60.0, 30.0, 10.0];
        limit_to_window(100.0, &[64.8, 30.0, 2.0], &[None; 3], 1.0, &mut s);
        assert_eq!(s, [60.0, 30.0, 10.0]);
    }

    #[test]
    fn ring_keeps_only_reports_inside_the_window() {
        let mut r = RecentAdmissions::new(2, 3);
        r.resize_rows(1);
        for t in 1..=4u64 {
            let slot = r.begin_report(0, t * NANOS_PER_SEC);
            r.set(0, 0, slot, 10.0 * t as f64);
        }
        let mut out = [0.0; 2];
        // Slots hold the reports at 2, 3 and 4 s; a 2 s window at 4 s keeps 3 and 4.
        r.rates(0, 4 * NANOS_PER_SEC, 2 * NANOS_PER_SEC, &mut out);
        assert_eq!(out, [35.0, 0.0]);
    }
}
