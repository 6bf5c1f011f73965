//! The `keel.quota-workload/v1` parser: field errors name their JSON path, arbitrary bytes
//! never panic, and the example workload's simulation output is pinned by a golden file.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::QuotaError;
use keel_quotas::sim::{Workload, simulate};
use proptest::prelude::*;

fn err(text: &str) -> String {
    match Workload::parse(text) {
        Err(e @ QuotaError::Workload { .. }) => e.to_string(),
        Err(e) => e.to_string(),
        Ok(w) => panic!("accepted: {w:?}"),
    }
}

const BASE: &str = r#""format": "keel.quota-workload/v1", "brokers": 2, "duration_s": 10"#;

#[test]
fn bad_fields_are_named_by_path() {
    assert!(err(r#"{"format": "v0", "brokers": 1, "duration_s": 1}"#).contains("$.format"));
    assert!(
        err(r#"{"format": "keel.quota-workload/v1", "brokers": 0, "duration_s": 1}"#)
            .contains("$.brokers")
    );
    let e = err(&format!(
        r#"{{{BASE}, "tenants": [{{"name": "a", "produce_bytes_per_sec": -3}}]}}"#
    ));
    assert!(e.contains("$.tenants[0].produce_bytes_per_sec"), "{e}");
    let e = err(&format!(
        r#"{{{BASE}, "tenants": [{{"name": "a"}}], "clients": [{{"tenant": "b", "kind": "produce", "offered_bytes_per_sec": 1}}]}}"#
    ));
    assert!(
        e.contains("$.clients[0].tenant") && e.contains("unknown tenant `b`"),
        "{e}"
    );
    let e = err(&format!(
        r#"{{{BASE}, "tenants": [{{"name": "a"}}], "clients": [{{"tenant": "a", "kind": "produce", "brokers": [5], "offered_bytes_per_sec": 1}}]}}"#
    ));
    assert!(e.contains("$.clients[0].brokers[0]"), "{e}");
    let e = err(&format!(
        r#"{{{BASE}, "tenants": [{{"name": "a"}}], "clients": [{{"tenant": "a", "kind": "write", "offered_bytes_per_sec": 1}}]}}"#
    ));
    assert!(e.contains("$.clients[0].kind"), "{e}");
    let e = err(&format!(
        r#"{{{BASE}, "events": [{{"at_s": 1, "action": "explode"}}]}}"#
    ));
    assert!(e.contains("$.events[0].action"), "{e}");
    let e = err(&format!(r#"{{{BASE}, "mode": "fast"}}"#));
    assert!(e.contains("$.mode"), "{e}");
    assert!(err("not json").contains("JSON"));
}

#[test]
fn unknown_fields_are_ignored_and_defaults_apply() {
    let w = Workload::parse(&format!(
        r#"{{{BASE}, "comment": "hi", "tenants": [{{"name": "a", "colour": "red"}}],
            "clients": [{{"tenant": "a", "kind": "fetch", "offered_bytes_per_sec": 5}}]}}"#
    ))
    .unwrap();
    assert_eq!(w.report_interval_ms, 1000);
    assert_eq!(w.clients[0].brokers, vec![0, 1]);
    assert!(w.clients[0].honours_throttle);
    assert_eq!(w.clients[0].stop_s, 10.0);
}

proptest! {
    #[test]
    fn workload_parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Workload::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn workload_parse_never_panics_on_mutated_json(n in 0usize..2000, c in any::<char>()) {
        let text = include_str!("../../examples/workloads/two_tenants.json");
        let mut chars: Vec<char> = text.chars().collect();
        let i = n % chars.len();
        chars[i] = c;
        let _ = Workload::parse(&chars.into_iter().collect::<String>());
    }
}

/// The example workload's JSON output, pinned. Regenerate with `KEEL_UPDATE_GOLDEN=1`.
#[test]
fn example_workload_output_matches_golden() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text =
        std::fs::read_to_string(format!("{root}/../examples/workloads/two_tenants.json")).unwrap();
    let out = simulate(&Workload::parse(&text).unwrap())
        .unwrap()
        .to_json();
    let golden_path = format!("{root}/tests/golden/two_tenants.out.json");
    let rendered = serde_json::to_string_pretty(&out).unwrap() + "\n";
    if std::env::var_os("KEEL_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(format!("{root}/tests/golden")).unwrap();
        std::fs::write(&golden_path, &rendered).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path)
        .unwrap_or_else(|e| panic!("{golden_path}: {e} (regenerate with KEEL_UPDATE_GOLDEN=1)"));
    assert_eq!(
        rendered, golden,
        "simulation output changed; if intended, regenerate with KEEL_UPDATE_GOLDEN=1"
    );
    // The format's shape, checked independently of the golden bytes.
    let acme = &out["tenants"]["acme"]["produce"];
    assert_eq!(
        acme["admitted_bytes_per_sec"].as_array().unwrap().len(),
        120
    );
    assert_eq!(acme["quota"], 10_000_000);
    assert!(
        acme["max_1s_bytes"].as_u64().unwrap()
            >= acme["admitted_bytes_per_sec"][5].as_u64().unwrap()
    );
}
