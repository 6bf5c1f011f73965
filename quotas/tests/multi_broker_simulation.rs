//! Multi-broker simulations through the real registry, handles and distributor: ten brokers,
//! skewed and shifting demand, and a broker that stops reporting.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::sim::{SimResult, Workload, simulate};
use keel_quotas::{Mode, QuotaKind};

const MB: f64 = 1_000_000.0;

fn workload(mode: &str) -> String {
    format!(
        r#"{{
  "format": "keel.quota-workload/v1",
  "brokers": 10, "duration_s": 60, "report_interval_ms": 1000, "mode": "{mode}",
  "tenants": [
    {{ "name": "skewed", "produce_bytes_per_sec": 30000000 }},
    {{ "name": "spread", "produce_bytes_per_sec": 10000000 }},
    {{ "name": "shifting", "produce_bytes_per_sec": 20000000 }},
    {{ "name": "silent", "produce_bytes_per_sec": 6000000 }}
  ],
  "clients": [
    {{ "tenant": "skewed", "client_id": "hot", "kind": "produce", "brokers": [0],
      "offered_bytes_per_sec": 40000000, "request_bytes": 65536 }},
    {{ "tenant": "skewed", "client_id": "warm", "kind": "produce", "brokers": [1, 2],
      "offered_bytes_per_sec": 8000000, "request_bytes": 32768 }},
    {{ "tenant": "skewed", "client_id": "cold", "kind": "produce", "brokers": [3],
      "offered_bytes_per_sec": 1000000, "request_bytes": 16384 }},
    {{ "tenant": "spread", "client_id": "all", "kind": "produce", "brokers": [0,1,2,3,4,5,6,7,8,9],
      "offered_bytes_per_sec": 30000000, "request_bytes": 16384 }},
    {{ "tenant": "silent", "client_id": "pinned", "kind": "produce", "brokers": [3, 4],
      "offered_bytes_per_sec": 9000000, "request_bytes": 16384 }},
    {{ "tenant": "shifting", "client_id": "first", "kind": "produce", "brokers": [4, 5],
      "offered_bytes_per_sec": 30000000, "request_bytes": 65536, "start_s": 0, "stop_s": 20 }},
    {{ "tenant": "shifting", "client_id": "second", "kind": "produce", "brokers": [6, 7, 8],
      "offered_bytes_per_sec": 30000000, "request_bytes": 65536, "start_s": 20, "stop_s": 40 }},
    {{ "tenant": "shifting", "client_id": "third", "kind": "produce", "brokers": [8, 9],
      "offered_bytes_per_sec": 30000000, "request_bytes": 65536, "start_s": 40, "stop_s": 60 }}
  ],
  "events": [ {{ "at_s": 25, "broker": 3, "action": "stop_reporting" }} ]
}}"#
    )
}

fn series(r: &SimResult, tenant: &str) -> Vec<u64> {
    r.tenants[tenant][&QuotaKind::Produce]
        .admitted_bytes_per_sec
        .clone()
}

/// Seconds `from..to` of `s` each within `tol` of `quota`.
fn check_within(s: &[u64], quota: f64, tol: f64, from: usize, to: usize, what: &str) {
    for (sec, v) in s.iter().enumerate().take(to).skip(from) {
        let dev = (*v as f64 - quota).abs() / quota;
        assert!(
            dev <= tol,
            "{what}: second {sec} admitted {v} vs quota {quota} ({:.1}% off)\n{s:?}",
            dev * 100.0
        );
    }
}

#[test]
fn each_tenant_stays_within_5_percent_of_quota_from_two_intervals_on() {
    let w = Workload::parse(&workload("bucket")).unwrap();
    assert_eq!(w.mode, Mode::Bucket);
    let r = simulate(&w).unwrap();
    check_within(&series(&r, "skewed"), 30.0 * MB, 0.05, 2, 60, "skewed");
    check_within(&series(&r, "spread"), 10.0 * MB, 0.05, 2, 60, "spread");
    // Half of this tenant's traffic is on broker 3, silent from 25 s: its last share holds.
    check_within(&series(&r, "silent"), 6.0 * MB, 0.05, 2, 60, "silent");
    // The shifting tenant's demand moves to other brokers at 20 s and 40 s: two intervals
    // after each move it is back within 5%.
    let s = series(&r, "shifting");
    check_within(&s, 20.0 * MB, 0.05, 2, 20, "shifting (first)");
    check_within(&s, 20.0 * MB, 0.05, 22, 40, "shifting (second)");
    check_within(&s, 20.0 * MB, 0.05, 42, 60, "shifting (third)");
}

#[test]
fn a_client_that_ignores_throttles_is_held_anyway() {
    let text = r#"{ "format": "keel.quota-workload/v1", "brokers": 2, "duration_s": 30,
      "tenants": [ { "name": "t", "produce_bytes_per_sec": 2000000 } ],
      "clients": [ { "tenant": "t", "client_id": "rogue", "kind": "produce", "brokers": [0, 1],
        "offered_bytes_per_sec": 50000000, "request_bytes": 100000, "honours_throttle": false } ] }"#;
    let r = simulate(&Workload::parse(text).unwrap()).unwrap();
    let s = series(&r, "t");
    let mean = s[2..].iter().sum::<u64>() as f64 / (s.len() - 2) as f64;
    assert!(
        (mean - 2.0 * MB).abs() / (2.0 * MB) < 0.05,
        "mean {mean}: {s:?}"
    );
}

/// Kafka's windowed rate lets a saturating client spend (samples − 1) windows of quota at
/// once, then sit out the throttle until the burst leaves the 11-sample window: per broker the
/// long-run rate runs up to ~13% over the quota in this workload. That is Kafka's behaviour,
/// which `kafka` mode reproduces; `bucket` mode holds 5% (test above).
#[test]
fn kafka_mode_holds_the_cluster_quota_on_average() {
    let w = Workload::parse(&workload("kafka")).unwrap();
    let r = simulate(&w).unwrap();
    for (tenant, q) in [("skewed", 30.0 * MB), ("spread", 10.0 * MB)] {
        let s = series(&r, tenant);
        let mean = s.iter().sum::<u64>() as f64 / s.len() as f64;
        assert!(
            (mean - q).abs() / q < 0.15,
            "{tenant}: mean {mean} vs {q}: {s:?}"
        );
    }
}
