//! Pure pieces of the client: the retry backoff and bootstrap address parsing.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use keel_wire::client::config::parse_host_port;
use keel_wire::client::{ErrorContext, RetryPolicy};
use proptest::prelude::*;

fn policy(jitter: f64) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        jitter,
    }
}

#[test]
fn backoff_doubles_without_jitter_until_the_cap() {
    let p = policy(0.0);
    let delays: Vec<u128> = (0..8).map(|r| p.delay(r, 0.7).as_millis()).collect();
    assert_eq!(delays, vec![100, 200, 400, 800, 1600, 3200, 5000, 5000]);
}

#[test]
fn jitter_spreads_delays_both_ways() {
    let p = policy(0.2);
    assert_eq!(p.delay(1, 0.0).as_millis(), 160);
    assert_eq!(p.delay(1, 0.5).as_millis(), 200);
    assert!(p.delay(1, 0.999_999).as_millis() >= 239);
}

proptest! {
    #[test]
    fn backoff_never_exceeds_the_cap_nor_drops_below_the_jitter_floor(
        retry in 0u32..200, unit in 0.0f64..1.0, jitter in 0.0f64..1.0
    ) {
        let p = policy(jitter);
        let d = p.delay(retry, unit);
        prop_assert!(d <= p.max_backoff);
        let base = (0.1 * 2f64.powi(retry.min(30) as i32)).min(5.0);
        prop_assert!(d.as_secs_f64() >= base * (1.0 - jitter) - 1e-9);
    }

    #[test]
    fn bootstrap_parsing_never_panics(s in ".{0,40}") {
        let _ = parse_host_port(&s);
    }
}

#[test]
fn bootstrap_parsing_accepts_hosts_and_v6_and_names_bad_input() {
    assert_eq!(parse_host_port("k1:9092").unwrap(), ("k1".into(), 9092));
    assert_eq!(parse_host_port("[::1]:9093").unwrap(), ("::1".into(), 9093));
    for bad in ["k1", ":9092", "k1:0", "k1:99999", "k1:x"] {
        let e = parse_host_port(bad).unwrap_err().to_string();
        assert!(e.contains("bootstrap") && e.contains(bad), "{e}");
    }
}

#[test]
fn error_context_prints_only_what_is_known() {
    assert_eq!(ErrorContext::default().to_string(), "");
    let c = ErrorContext::broker(3).topic("t").partition(7);
    assert_eq!(c.to_string(), " (broker 3, topic \"t\", partition 7)");
}
