//! The `__keel_state` records: deterministic round trips, clear errors for bad input, and
//! arbitrary bytes never panic the decoders.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_balancer::BalancerError;
use keel_balancer::executor::record::{CONTROL_FORMAT, decode_plan, encode_plan, plan_id};
use keel_balancer::executor::{
    ControlRecord, DesiredState, Limits, MoveProgress, Outcome, PauseReason, Phase, TargetPartition,
};
use proptest::prelude::*;

fn targets() -> impl Strategy<Value = Vec<TargetPartition>> {
    proptest::collection::btree_map(
        ("[a-z._-]{1,8}", 0i32..50),
        (
            proptest::sample::subsequence((0i32..12).collect::<Vec<_>>(), 1..5).prop_shuffle(),
            any::<u64>(),
        ),
        0..30,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(
                |((topic, partition), (replicas, size_bytes))| TargetPartition {
                    topic,
                    partition,
                    replicas,
                    size_bytes,
                },
            )
            .collect()
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        1u64..u64::MAX,
        1u32..100,
        1u32..5000,
        0u32..10,
        any::<bool>(),
        1u64..1_000_000,
        1u32..10,
    )
        .prop_map(|(t, b, c, e, a, l, f)| Limits {
            throttle_bytes_per_sec: t,
            per_broker_concurrency: b,
            cluster_concurrency: c,
            error_budget: e,
            auto_resume: a,
            lease_ms: l,
            action_timeout_ms: l,
            stuck_factor: f,
            stuck_grace_ms: l,
            poll_ms: l,
        })
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Running),
        Just(Phase::Paused {
            reason: PauseReason::Command
        }),
        ".{0,20}".prop_map(|detail| Phase::Paused {
            reason: PauseReason::Unhealthy { detail }
        }),
        (any::<u32>(), ".{0,20}").prop_map(|(alerts, last)| Phase::Paused {
            reason: PauseReason::ErrorBudget { alerts, last }
        }),
        ".{0,20}".prop_map(|detail| Phase::Paused {
            reason: PauseReason::Blocked { detail }
        }),
        any::<bool>().prop_map(|throttles_cleared| Phase::Cancelling { throttles_cleared }),
        any::<bool>().prop_map(|throttles_cleared| Phase::Finishing { throttles_cleared }),
        Just(Phase::Done {
            outcome: Outcome::Converged
        }),
        Just(Phase::Done {
            outcome: Outcome::Cancelled
        }),
    ]
}

fn control() -> impl Strategy<Value = ControlRecord> {
    (
        (
            "[0-9a-f]{16}",
            ".{1,12}",
            any::<u64>(),
            any::<u64>(),
            0u64..1 << 60,
            0u64..1 << 60,
            phase(),
        ),
        proptest::collection::vec((".{0,6}", any::<i32>()), 0..4),
        any::<u32>(),
        ".{0,10}",
        proptest::collection::vec((".{0,6}", any::<i32>(), any::<u64>(), any::<bool>()), 0..4),
        any::<u64>(),
    )
        .prop_map(
            |(
                (plan_id, holder, epoch, seq, a, b, phase),
                baseline_unhealthy,
                alerts,
                last_alert,
                moves,
                next_command,
            )| ControlRecord {
                format: CONTROL_FORMAT.into(),
                plan_id,
                holder,
                epoch,
                seq,
                claimed_at_ms: a.min(b),
                expires_at_ms: a.max(b),
                phase,
                baseline_unhealthy,
                alerts,
                last_alert,
                moves: moves
                    .into_iter()
                    .map(|(topic, partition, since_ms, stuck_alerted)| MoveProgress {
                        topic,
                        partition,
                        since_ms,
                        stuck_alerted,
                    })
                    .collect(),
                next_command,
            },
        )
}

proptest! {
    #[test]
    fn plan_record_round_trips_byte_identically(t in targets(), l in limits()) {
        let d = DesiredState::new(t, l).unwrap();
        let bytes = encode_plan(&d);
        let back = decode_plan(bytes.as_bytes()).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(encode_plan(&back), bytes);
        prop_assert_eq!(plan_id(&back), plan_id(&d));
    }

    #[test]
    fn plan_record_does_not_depend_on_input_order(t in targets(), l in limits()) {
        let mut rev = t.clone();
        rev.reverse();
        let a = DesiredState::new(t, l.clone()).unwrap();
        let b = DesiredState::new(rev, l).unwrap();
        prop_assert_eq!(encode_plan(&a), encode_plan(&b));
    }

    #[test]
    fn control_record_round_trips(c in control()) {
        let bytes = c.encode();
        let back = ControlRecord::decode(bytes.as_bytes()).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn record_decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_plan(&bytes);
        let _ = ControlRecord::decode(&bytes);
    }

    #[test]
    fn any_single_byte_change_to_a_plan_record_is_refused_or_harmless(t in targets(), l in limits(), pos in any::<prop::sample::Index>(), b in any::<u8>()) {
        let d = DesiredState::new(t, l).unwrap();
        let mut bytes = encode_plan(&d).into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = b;
        // Either refused, or it still decodes to exactly the same plan (e.g. whitespace).
        if let Ok(back) = decode_plan(&bytes) {
            prop_assert_eq!(back, d);
        }
    }
}

fn err(bytes: &str) -> String {
    match decode_plan(bytes.as_bytes()) {
        Err(e @ BalancerError::StateRecord { .. }) => e.to_string(),
        other => panic!("expected a StateRecord error, got {other:?}"),
    }
}

#[test]
fn plan_record_errors_name_what_is_wrong() {
    let d = DesiredState::new(
        vec![TargetPartition {
            topic: "t".into(),
            partition: 0,
            replicas: vec![1, 2],
            size_bytes: 5,
        }],
        Limits::default(),
    )
    .unwrap();
    let good = encode_plan(&d);
    assert!(err("").contains("line 1 column 0"), "{}", err(""));
    assert!(err(r#"{"format":"keel.executor-plan/v9"}"#).contains("unsupported format"));
    assert!(err(r#"{"plan_id":"x"}"#).contains("`format`: missing"));
    let e = err(&good.replace("\"cluster_concurrency\":1250,", ""));
    assert!(e.contains("missing field `cluster_concurrency`"), "{e}");
    let e = err(&good.replace("[1,2]", "[1,1]"));
    assert!(
        e.contains("body.partitions[0].replicas[1]") && e.contains("duplicate broker 1"),
        "{e}"
    );
    let e = err(&good.replace("[0,0,5,", "[3,0,5,"));
    assert!(e.contains("topic index 3 out of range"), "{e}");
    let e = err(&good.replace(",5,[1,2]", ",6,[1,2]"));
    assert!(e.contains("digest mismatch"), "{e}");
    let e = err(&good.replace(
        "\"per_broker_concurrency\":5",
        "\"per_broker_concurrency\":0",
    ));
    assert!(
        e.contains("body.limits.per_broker_concurrency") && e.contains("greater than 0"),
        "{e}"
    );
}

#[test]
fn control_record_errors_name_what_is_wrong() {
    let e = ControlRecord::decode(br#"{"format":"keel.executor-control/v1","plan_id":"x"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("control record") && e.contains("missing field"),
        "{e}"
    );
    let e = ControlRecord::decode(br#"{"format":3}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unsupported format 3"), "{e}");
}

#[test]
fn desired_state_rejects_bad_targets_with_paths() {
    let t = |replicas: Vec<i32>| TargetPartition {
        topic: "t".into(),
        partition: 0,
        replicas,
        size_bytes: 1,
    };
    let e = DesiredState::new(vec![t(vec![])], Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("targets[0].replicas") && e.contains("empty"),
        "{e}"
    );
    let e = DesiredState::new(vec![t(vec![1, 2]), t(vec![2, 3])], Limits::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("appears twice"), "{e}");
    let e = DesiredState::new(vec![t(vec![1, -2])], Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("targets[0].replicas[1]") && e.contains("negative"),
        "{e}"
    );
    let e = DesiredState::new(
        vec![t(vec![1])],
        Limits {
            cluster_concurrency: 0,
            ..Limits::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("limits.cluster_concurrency"), "{e}");
}
