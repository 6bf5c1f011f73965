//! Multi-broker simulations through the real registry, handles and distributor: ten brokers,
//! skewed and shifting demand, and a broker that stops reporting.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::sim::{SimResult, Workload, simulate};
use keel_quotas::{Mode, QuotaKind};

const MB: f64 = 1_000_000.0;

fn workload(mode: &str) -> String {
    workload_for(mode, 60)
}

fn workload_for(mode: &str, duration_s: u64) -> String {
    format!(
        r#"{{
  "format": "keel.quota-workload/v1",
  "brokers": 10, "duration_s": {duration_s}, "report_interval_ms": 1000, "mode": "{mode}",
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
    // The shifting tenant's traffic moves to brokers that had none of it at 20 s and 40 s.
    // Its first requests there are throttled against those brokers' floor shares, and its
    // client sits that throttle out (at most `max_throttle`, one report interval here) before
    // the distributor, at the next report, moves the quota. The bound for that transition:
    // in the interval of a move the tenant may get less than its quota but never more than
    // 5% over it, and from the next interval on it is within 5% again.
    let s = series(&r, "shifting");
    let q = 20.0 * MB;
    check_within(&s, q, 0.05, 2, 20, "shifting (first)");
    for (sec, phase) in [(20, "second"), (40, "third")] {
        assert!(
            s[sec] as f64 <= q * 1.05,
            "shifting: the interval of the move to the {phase} brokers admitted {} > quota + 5%\n{s:?}",
            s[sec]
        );
        check_within(&s, q, 0.05, sec + 1, sec + 20, phase);
    }
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

/// Kafka's windowed rate pads a young window to `samples − 1` windows, so a fresh limiter lets
/// a saturating client through with up to 10 s of its quota at once before the throttles
/// catch up (the bursts and 4-7 s throttles in the series). Per broker that is Apache Kafka's
/// behaviour, which `kafka` mode reproduces; it is also why a 60 s run measured from second 0
/// came out ~10% over (the previous form of this test allowed 15%). Measured from the end of
/// the first full window (11 s) over a long run, the cluster-wide rate of every tenant whose
/// traffic stays on its brokers is within 5% of its quota.
#[test]
fn kafka_mode_holds_the_cluster_quota_within_5_percent_after_the_first_window() {
    let w = Workload::parse(&workload_for("kafka", 180)).unwrap();
    let r = simulate(&w).unwrap();
    for (tenant, q) in [
        ("skewed", 30.0 * MB),
        ("spread", 10.0 * MB),
        ("silent", 6.0 * MB),
    ] {
        let s = series(&r, tenant);
        let tail = &s[11..];
        let mean = tail.iter().sum::<u64>() as f64 / tail.len() as f64;
        assert!(
            (mean - q).abs() / q <= 0.05,
            "{tenant}: mean {mean} vs {q} ({:+.1}%): {s:?}",
            (mean - q) / q * 100.0
        );
    }
    // The shifting tenant's traffic moves twice to brokers whose windows are empty; each of
    // them would grant Kafka's padded-window allowance (~10 s of its share) at once while the
    // brokers it left still hold, in their windows, what they admitted just before. The
    // distributor keeps each broker's share from outrunning what its window still holds
    // (`limiter_window`), so the quota moves as fast as the old windows drain.
    let s = series(&r, "shifting");
    let active = &s[11..60];
    let mean = active.iter().sum::<u64>() as f64 / active.len() as f64;
    assert!(
        (20.0 * MB * 0.95..=20.0 * MB * 1.05).contains(&mean),
        "shifting: mean {mean}: {s:?}"
    );
}
