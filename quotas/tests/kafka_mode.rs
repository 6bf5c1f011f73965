//! `kafka` mode against Kafka's formula, on request sequences worked out by hand from Kafka's
//! documented rules: 11 samples of 1 s (one extra kept), record first then check, rate = sum of
//! live samples / elapsed window (padded to 10 full windows), throttle = (O − T)/T × W ms.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::kafka_window::{KafkaLimiter, KafkaRate, KafkaWindowConfig, kafka_throttle_ms};

fn limiter(quota: f64) -> KafkaLimiter {
    KafkaLimiter::new(KafkaWindowConfig::default(), quota, u64::MAX)
}

#[test]
fn kafka_mode_matches_kafkas_formula_within_the_first_window() {
    let l = limiter(1000.0);
    // 5000 B at t=0: W = 0 + 10 padded windows = 10 000 ms, O = 500 B/s: within quota.
    assert_eq!(l.record(5000, 0), 0);
    // 8000 B at t=500: same sample, sum 13 000, W = 500 + 10 000, O = 1238.1;
    // (O − T)/T × W = 13 000 − 10 500 = 2500 ms.
    assert_eq!(l.record(8000, 500), 2500);
    // 1000 B at t=3000: new sample; W = 3000 + 7000 = 10 000; O = 1400; throttle 4000 ms.
    assert_eq!(l.record(1000, 3000), 4000);
    // 100 B at t=12 000: the first sample's last event (500) is 11.5 s old ≥ 11 windows: purged.
    // Oldest live sample starts at 3000: W = 9000 + 1000 pad; sum 1100; O = 110: no throttle.
    assert_eq!(l.record(100, 12_000), 0);
}

#[test]
fn kafka_mode_matches_kafkas_formula_after_the_sample_ring_wraps() {
    let l = limiter(1000.0);
    let mut got = Vec::new();
    for k in 0..15i64 {
        got.push(l.record(2000, k * 1000));
    }
    // t=0: 2000 / 10 s = 200 B/s.
    assert_eq!(got[0], 0);
    // t=5000: six samples, sum 12 000, W = 5000 + 5000 pad → O = 1200 → 2000 ms.
    assert_eq!(got[5], 2000);
    // t=10 000: eleven samples, sum 22 000, W = 10 000 (10 full windows) → O = 2200 → 12 000 ms.
    assert_eq!(got[10], 12_000);
    // t=14 000: the ring of 12 has wrapped; the sample started at 3000 has its last event
    // 11 s old and is purged: eleven samples of 2000 remain (4000..14 000), W = 10 000.
    assert_eq!(got[14], 12_000);
}

#[test]
fn kafka_throttle_formula_rounds_to_nearest_ms() {
    assert_eq!(kafka_throttle_ms(1500.0, 1000.0, 10_000), 5000);
    assert_eq!(kafka_throttle_ms(1000.04, 1000.0, 10_000), 0);
    assert_eq!(kafka_throttle_ms(1000.06, 1000.0, 10_000), 1);
    assert_eq!(kafka_throttle_ms(900.0, 1000.0, 10_000), 0);
}

#[test]
fn kafka_rate_pads_the_window_to_samples_minus_one() {
    let mut r = KafkaRate::new(KafkaWindowConfig::default());
    r.record(1000.0, 0);
    assert_eq!(r.window_size_ms(0), 10_000);
    assert_eq!(r.window_size_ms(2500), 10_000 + 500);
    assert!((r.measure(2500) - 1000.0 / 10.5).abs() < 1e-9);
}

#[test]
fn kafka_mode_caps_throttle_when_asked() {
    let l = KafkaLimiter::new(KafkaWindowConfig::default(), 1000.0, 300);
    assert_eq!(l.record(1_000_000, 0), 300);
}

#[test]
fn window_config_is_validated() {
    let bad = KafkaWindowConfig {
        samples: 1,
        window_ms: 1000,
    };
    assert!(
        bad.validate("quota")
            .unwrap_err()
            .to_string()
            .contains("quota.samples")
    );
    let bad = KafkaWindowConfig {
        samples: 11,
        window_ms: 0,
    };
    assert!(
        bad.validate("quota")
            .unwrap_err()
            .to_string()
            .contains("quota.window_ms")
    );
}
