//! Malformed snapshots give errors naming the field path; infeasible inputs give an
//! `Infeasible` error naming the goal, what blocks it and what would make it feasible.

// Test helpers outside #[test] functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_balancer::{BalancerError, PlanOptions, plan, snapshot};

fn broker(id: i32, rack: &str) -> String {
    format!(
        r#"{{"id":{id},"rack":"{rack}","capacity":{{"disk_bytes":1000,"network_in_bytes_per_sec":1000,"network_out_bytes_per_sec":1000,"cpu_cores":4}}}}"#
    )
}

fn snap(brokers: &[String], partitions: &[&str]) -> String {
    format!(
        r#"{{"format":"keel.cluster/v1","brokers":[{}],"partitions":[{}]}}"#,
        brokers.join(","),
        partitions.join(",")
    )
}

fn field_error(text: &str) -> (String, String) {
    match snapshot::parse_str(text) {
        Err(BalancerError::Field { path, message }) => (path, message),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn three_brokers() -> Vec<String> {
    vec![broker(1, "a"), broker(2, "b"), broker(3, "c")]
}

#[test]
fn unknown_broker_in_replicas_names_the_replica_path() {
    let text = snap(
        &three_brokers(),
        &[
            r#"{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":1}"#,
            r#"{"topic":"t","partition":1,"replicas":[1,9],"size_bytes":1}"#,
        ],
    );
    let (path, message) = field_error(&text);
    assert_eq!(path, "partitions[1].replicas[1]");
    assert!(message.contains("unknown broker id 9"), "{message}");
}

#[test]
fn wrong_type_names_the_field_path() {
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[1,"2"],"size_bytes":1}"#],
    );
    let (path, message) = field_error(&text);
    assert_eq!(path, "partitions[0].replicas[1]");
    assert!(message.contains("found a string"), "{message}");
}

#[test]
fn missing_required_field_names_the_field() {
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[1]}"#],
    );
    assert_eq!(field_error(&text).0, "partitions[0].size_bytes");
    let text = r#"{"format":"keel.cluster/v1","brokers":[{"id":1,"capacity":{"disk_bytes":1,"network_in_bytes_per_sec":1,"network_out_bytes_per_sec":1}}],"partitions":[]}"#;
    assert_eq!(field_error(text).0, "brokers[0].capacity.cpu_cores");
}

#[test]
fn semantic_errors_name_their_paths() {
    let cases: Vec<(String, &str, &str)> = vec![
        (snap(&three_brokers(), &[r#"{"topic":"t","partition":0,"replicas":[1,1],"size_bytes":1}"#]), "partitions[0].replicas[1]", "duplicate"),
        (snap(&three_brokers(), &[r#"{"topic":"t","partition":0,"replicas":[1,2],"leader":3,"size_bytes":1}"#]), "partitions[0].leader", "not one of the replicas"),
        (
            snap(&three_brokers(), &[r#"{"topic":"t","partition":0,"replicas":[1],"size_bytes":1}"#, r#"{"topic":"t","partition":0,"replicas":[2],"size_bytes":1}"#]),
            "partitions[1]",
            "duplicate partition t-0",
        ),
        (snap(&[broker(1, "a"), broker(1, "b")], &[]), "brokers[1].id", "duplicate broker id 1"),
        (snap(&three_brokers(), &[r#"{"topic":"t","partition":0,"replicas":[],"size_bytes":1}"#]), "partitions[0].replicas", "at least one"),
        (snap(&three_brokers(), &[r#"{"topic":"t","partition":0,"replicas":[1],"size_bytes":1,"bytes_in_per_sec":-5}"#]), "partitions[0].bytes_in_per_sec", ">= 0"),
        (
            r#"{"format":"keel.cluster/v1","brokers":[{"id":1,"state":"sleepy","capacity":{"disk_bytes":1,"network_in_bytes_per_sec":1,"network_out_bytes_per_sec":1,"cpu_cores":1}}],"partitions":[]}"#.to_string(),
            "brokers[0].state",
            "unknown state",
        ),
        (
            r#"{"format":"keel.cluster/v1","brokers":[{"id":1,"capacity":{"disk_bytes":0,"network_in_bytes_per_sec":1,"network_out_bytes_per_sec":1,"cpu_cores":1}}],"partitions":[]}"#.to_string(),
            "brokers[0].capacity.disk_bytes",
            "must be > 0",
        ),
        (r#"{"format":"keel.cluster/v2","brokers":[],"partitions":[]}"#.to_string(), "format", "keel.cluster/v1"),
    ];
    for (text, want_path, want_msg) in cases {
        let (path, message) = field_error(&text);
        assert_eq!(path, want_path, "for {text}");
        assert!(
            message.contains(want_msg),
            "{path}: {message} (wanted `{want_msg}`)"
        );
    }
}

#[test]
fn syntax_error_gives_line_and_column() {
    match snapshot::parse_str("{\"format\": \"keel.cluster/v1\",\n \"brokers\": [,]}") {
        Err(BalancerError::Json { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_ignored_and_defaults_apply() {
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[2,1],"size_bytes":7,"extra":{"x":[1]}}"#],
    );
    let c = snapshot::parse_str(&text).expect("valid");
    assert_eq!(
        c.partitions[0].leader, 1,
        "leader defaults to replicas[0] (broker 2 = index 1)"
    );
    assert_eq!(c.partitions[0].bytes_in, 0.0);
    assert_eq!(c.brokers[0].state, keel_balancer::BrokerState::Alive);
    // Round trip through the writer.
    assert_eq!(
        snapshot::parse_str(&snapshot::to_json(&c)).expect("round trip"),
        c
    );
}

fn infeasible(text: &str, opts: &PlanOptions) -> (String, String, String) {
    let c = snapshot::parse_str(text).expect("valid snapshot");
    match plan(&c, opts, &mut |_| {}) {
        Err(BalancerError::Infeasible {
            goal,
            blocking,
            remedy,
        }) => (goal, blocking, remedy),
        other => panic!(
            "expected infeasible, got {:?}",
            other.map(|p| p.reassignments.len())
        ),
    }
}

#[test]
fn replication_factor_above_broker_count_is_infeasible() {
    let text = snap(
        &[broker(1, "a"), broker(2, "b")],
        &[r#"{"topic":"orders","partition":3,"replicas":[1,2],"size_bytes":1}"#],
    )
    .replace(
        r#""id":2,"rack":"b""#,
        r#""id":2,"rack":"b","state":"dead""#,
    );
    let (goal, blocking, remedy) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "invariants");
    assert!(
        blocking.contains("orders-3") && blocking.contains("replication factor 2"),
        "{blocking}"
    );
    assert!(remedy.contains("add at least 1 broker(s)"), "{remedy}");
}

#[test]
fn total_load_above_capacity_is_infeasible() {
    // Nine 300 B replicas (2.7 KB) on three 1 KB brokers whose limit is 0.8 KB each.
    let parts: Vec<String> = (0..9)
        .map(|i| {
            format!(
                r#"{{"topic":"t","partition":{i},"replicas":[{}],"size_bytes":300}}"#,
                1 + i % 3
            )
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let text = snap(&three_brokers(), &refs);
    let (goal, blocking, remedy) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "capacity");
    assert!(
        blocking.contains("disk") && blocking.contains("2.7 KB"),
        "{blocking}"
    );
    // 2.7 KB / 0.8 = 3.375 KB of capacity needed, 3 KB present: one more 1 KB broker.
    assert!(remedy.contains("add at least 1 broker(s)"), "{remedy}");
}

#[test]
fn rack_load_above_its_capacity_is_infeasible() {
    // Three racks and replication factor 3: rack `a` (one 1 KB broker, limit 0.8 KB) must
    // hold one 300 B replica of each of the three partitions, 900 B, although the cluster's
    // total (2.7 KB of 3.2 KB allowed) and every single replica fit.
    let brokers = vec![
        broker(1, "a"),
        broker(2, "b"),
        broker(3, "c"),
        broker(4, "c"),
    ];
    let parts: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"topic":"t","partition":{i},"replicas":[2,3,4],"size_bytes":300}}"#))
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let text = snap(&brokers, &refs);
    let (goal, blocking, remedy) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "capacity");
    assert!(
        blocking.contains("rack `a`") && blocking.contains("[1]") && blocking.contains("900.0 B"),
        "{blocking}"
    );
    // 900 B / 0.8 = 1.125 KB needed, 1 KB present.
    assert!(remedy.contains("add at least 125.0 B of disk"), "{remedy}");
}

#[test]
fn replica_larger_than_any_broker_is_infeasible() {
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"big","partition":4,"replicas":[1],"size_bytes":900}"#],
    );
    let (goal, blocking, remedy) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "capacity");
    assert!(
        blocking.contains("big-4") && blocking.contains("900.0 B"),
        "{blocking}"
    );
    assert!(remedy.contains("larger brokers"), "{remedy}");
}

#[test]
fn replica_limit_over_all_brokers_is_infeasible() {
    let text = snap(
        &three_brokers(),
        &[
            r#"{"topic":"t","partition":0,"replicas":[1,2,3],"size_bytes":1}"#,
            r#"{"topic":"t","partition":1,"replicas":[1,2,3],"size_bytes":1}"#,
        ],
    );
    let mut opts = PlanOptions::default();
    opts.goals.max_replicas_per_broker = 1;
    let (goal, blocking, remedy) = infeasible(&text, &opts);
    assert_eq!(goal, "replica-limit");
    assert!(blocking.contains("6 replicas"), "{blocking}");
    assert!(remedy.contains("add at least 3 broker(s)"), "{remedy}");
}

#[test]
fn all_brokers_demoting_is_infeasible() {
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":1}"#],
    )
    .replace("\"rack\"", "\"state\":\"demoting\",\"rack\"");
    let (goal, _, remedy) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "broker-states");
    assert!(remedy.contains("stop demoting"), "{remedy}");
}

#[test]
fn dead_replica_with_no_room_elsewhere_is_infeasible() {
    // Broker 3 is dead; its replica of t-0 can only go to brokers 1 or 2, which already hold t-0.
    let text = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[1,2,3],"size_bytes":1}"#],
    )
    .replace(
        r#""id":3,"rack":"c""#,
        r#""id":3,"rack":"c","state":"dead""#,
    );
    let (goal, blocking, _) = infeasible(&text, &PlanOptions::default());
    assert_eq!(goal, "invariants");
    assert!(blocking.contains("t-0"), "{blocking}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..512))| {
        let _ = snapshot::parse_slice(&bytes);
    });
    let valid = snap(
        &three_brokers(),
        &[r#"{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":1}"#],
    );
    proptest!(|(cut in 0..valid.len(), flip in any::<u8>(), at in 0..valid.len())| {
        let mut b = valid.as_bytes()[..cut].to_vec();
        if at < b.len() { b[at] ^= flip; }
        let _ = snapshot::parse_slice(&b);
    });
}
