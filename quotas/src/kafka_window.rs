//! Apache Kafka's windowed quota semantics, for brokers that must behave exactly like Kafka
//! ([KIP-13](https://cwiki.apache.org/confluence/display/KAFKA/KIP-13+-+Quotas)).
//!
//! Kafka measures a quota with a `Rate` over a `WindowedSum`: `samples` windows of
//! `window_ms` each (11 × 1 s by default, `quota.window.num` and `quota.window.size.seconds`),
//! keeping one extra sample so the oldest window can be partially overlapped. A request is
//! recorded first, then the rate is measured; if it exceeds the quota `T` with observed rate
//! `O`, the throttle is `(O − T) / T × W` ms rounded to nearest, where `W` is the *elapsed*
//! window the rate was computed over (`now − start of the oldest live sample`, padded to at
//! least `samples − 1` full windows).
//!
//! This module re-implements those rules from their description. A sample window rolls when
//! `now − start ≥ window_ms`; a sample with no event for `samples × window_ms` is reset to
//! `now` before each measurement (Kafka's `purgeObsoleteSamples`).
//!
//! Kafka synchronises a sensor with a lock; so does this mode (`parking_lot::Mutex`). keel's
//! lock-free hot path is the default `bucket` mode.

use parking_lot::Mutex;

use crate::bucket::BucketCounters;
use crate::error::{Result, invalid};

/// Window configuration; Kafka's defaults are 11 samples of 1000 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KafkaWindowConfig {
    /// Number of samples (`quota.window.num`).
    pub samples: u32,
    /// Length of one sample window in ms (`quota.window.size.seconds` × 1000).
    pub window_ms: u64,
}

impl Default for KafkaWindowConfig {
    fn default() -> Self {
        Self {
            samples: 11,
            window_ms: 1000,
        }
    }
}

impl KafkaWindowConfig {
    /// Validates the configuration; `field` names where it came from.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.samples < 2 {
            return Err(invalid(
                format!("{field}.samples"),
                self.samples,
                "need at least 2 samples",
            ));
        }
        if self.window_ms == 0 {
            return Err(invalid(
                format!("{field}.window_ms"),
                self.window_ms,
                "window must be > 0 ms",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    last_event_ms: i64,
    value: f64,
}

impl Sample {
    fn new(now: i64) -> Self {
        Self {
            start_ms: now,
            last_event_ms: now,
            value: 0.0,
        }
    }

    fn reset(&mut self, now: i64) {
        *self = Sample::new(now);
    }
}

/// Kafka's `Rate` over a windowed sum: the measured quantity per second.
#[derive(Debug, Clone)]
pub struct KafkaRate {
    config: KafkaWindowConfig,
    samples: Vec<Sample>,
    current: usize,
}

impl KafkaRate {
    /// An empty rate.
    pub fn new(config: KafkaWindowConfig) -> Self {
        Self {
            config,
            samples: Vec::with_capacity(config.samples as usize + 1),
            current: 0,
        }
    }

    fn current_sample(&mut self, now: i64) -> &mut Sample {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now));
        }
        let i = self.current.min(self.samples.len() - 1);
        &mut self.samples[i]
    }

    /// Records `value` at `now_ms`, rolling to the next sample when the current one is complete.
    pub fn record(&mut self, value: f64, now_ms: i64) {
        let window = self.window_ms_i64();
        let complete = {
            let s = self.current_sample(now_ms);
            now_ms - s.start_ms >= window
        };
        if complete {
            let max_samples = self.config.samples as usize + 1;
            self.current = (self.current + 1) % max_samples;
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now_ms));
            } else {
                self.samples[self.current].reset(now_ms);
            }
        }
        let s = self.current_sample(now_ms);
        s.value += value;
        s.last_event_ms = now_ms;
    }

    fn window_ms_i64(&self) -> i64 {
        i64::try_from(self.config.window_ms).unwrap_or(i64::MAX)
    }

    fn purge_obsolete(&mut self, now_ms: i64) {
        let expire_age = i64::from(self.config.samples).saturating_mul(self.window_ms_i64());
        for s in &mut self.samples {
            if now_ms - s.last_event_ms >= expire_age {
                s.reset(now_ms);
            }
        }
    }

    /// The elapsed window (ms) the rate is computed over at `now_ms` (Kafka's `windowSize`).
    pub fn window_size_ms(&mut self, now_ms: i64) -> i64 {
        self.purge_obsolete(now_ms);
        if self.samples.is_empty() {
            self.samples.push(Sample::new(now_ms));
        }
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let window = self.window_ms_i64();
        let mut elapsed = now_ms - oldest;
        let full = elapsed / window;
        let min_full = i64::from(self.config.samples) - 1;
        if full < min_full {
            elapsed += (min_full - full) * window;
        }
        elapsed
    }

    /// The measured rate (units per second) at `now_ms` (Kafka's `Rate.measure`).
    pub fn measure(&mut self, now_ms: i64) -> f64 {
        self.purge_obsolete(now_ms);
        let sum: f64 = self.samples.iter().map(|s| s.value).sum();
        let w = self.window_size_ms(now_ms);
        sum / (w as f64 / 1000.0)
    }
}

/// Kafka's throttle for a measured rate `observed` against `quota` over `window_ms`:
/// `round((O − T) / T × W)`, 0 when within quota.
pub fn kafka_throttle_ms(observed: f64, quota: f64, window_ms: i64) -> u64 {
    if observed <= quota || quota <= 0.0 {
        return 0;
    }
    let t = (observed - quota) / quota * window_ms as f64;
    // Float-to-int `as` saturates; t is positive here.
    t.round() as u64
}

#[derive(Debug)]
struct KafkaInner {
    rate: KafkaRate,
    quota: f64,
    max_throttle_ms: u64,
    counters: BucketCounters,
    last_record_ms: i64,
}

/// One entity's Kafka-mode limiter for one kind.
#[derive(Debug)]
pub struct KafkaLimiter {
    inner: Mutex<KafkaInner>,
}

impl KafkaLimiter {
    /// A limiter with `quota` units/s and a throttle cap.
    pub fn new(config: KafkaWindowConfig, quota: f64, max_throttle_ms: u64) -> Self {
        Self {
            inner: Mutex::new(KafkaInner {
                rate: KafkaRate::new(config),
                quota,
                max_throttle_ms,
                counters: BucketCounters::default(),
                last_record_ms: 0,
            }),
        }
    }

    /// Changes the quota of the live limiter.
    pub fn configure(&self, quota: f64, max_throttle_ms: u64) {
        let mut g = self.inner.lock();
        g.quota = quota;
        g.max_throttle_ms = max_throttle_ms;
    }

    /// Records then checks (Kafka's `Sensor.record(value, now, checkQuotas = true)`), returning
    /// the throttle in ms, capped.
    pub fn record(&self, units: u64, now_ms: i64) -> u64 {
        let mut g = self.inner.lock();
        g.rate.record(units as f64, now_ms);
        g.last_record_ms = now_ms;
        g.counters.admitted = g.counters.admitted.wrapping_add(units);
        let observed = g.rate.measure(now_ms);
        let quota = g.quota;
        if observed <= quota {
            return 0;
        }
        let w = g.rate.window_size_ms(now_ms);
        let t = kafka_throttle_ms(observed, quota, w).min(g.max_throttle_ms);
        g.counters.excess = g.counters.excess.wrapping_add(units);
        g.counters.throttled_ns = g
            .counters
            .throttled_ns
            .wrapping_add(t.saturating_mul(1_000_000));
        let until = u64::try_from(now_ms)
            .unwrap_or(0)
            .saturating_add(t)
            .saturating_mul(1_000_000);
        g.counters.throttled_until = g.counters.throttled_until.max(until);
        t
    }

    /// Largest fetch Kafka would allow in one quota window: `quota × (samples − 1) × W`.
    pub fn max_value_in_window(&self) -> u64 {
        let g = self.inner.lock();
        let w_s = g.rate.config.window_ms as f64 / 1000.0;
        (g.quota * f64::from(g.rate.config.samples.saturating_sub(1)) * w_s) as u64
    }

    /// The quota, units per second.
    pub fn quota(&self) -> f64 {
        self.inner.lock().quota
    }

    /// Counter snapshot.
    pub fn counters(&self) -> BucketCounters {
        self.inner.lock().counters
    }

    /// True when nothing was recorded in the last `idle_ms`.
    pub fn is_idle(&self, now_ms: i64, idle_ms: i64) -> bool {
        now_ms - self.inner.lock().last_record_ms > idle_ms
    }
}
