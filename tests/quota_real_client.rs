//! End to end with a real Kafka client: librdkafka (PyPI `confluent-kafka`, installed by
//! `tests/servers/quota-client-start.sh`) produces as fast as it can to
//! `examples/quota_broker.rs`, a minimal Kafka-protocol endpoint embedding keel-quotas.
//! Because the broker answers with `throttle_time_ms` and mutes the channel (KIP-219), the
//! client's acknowledged rate converges to the tenant's quota.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/quota_broker.rs"]
mod quota_broker;

use std::process::Command;

fn client_python() -> String {
    match std::env::var("KEEL_QUOTA_CLIENT_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "KEEL_QUOTA_CLIENT_PYTHON is not set: this test needs the confluent-kafka client; \
             run ./test.sh (or tests/servers/quota-client-start.sh and source $KEEL_TEST_HOME/quota-client.env)"
        ),
    }
}

#[test]
fn librdkafka_producer_rate_converges_to_the_quota() {
    let python = client_python();
    let quota = 2_000_000.0;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let broker = quota_broker::QuotaBroker::new(quota).unwrap();
        tokio::spawn(quota_broker::serve(listener, broker));
        addr
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/quota_client_produce.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(addr.to_string())
        .arg("14")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad client output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let acked: Vec<f64> = v["acked_bytes_per_sec"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let max_throttle = v["max_throttle_ms"].as_f64().unwrap();
    eprintln!(
        "librdkafka acked bytes per second: {acked:?}; largest throttle seen: {max_throttle} ms"
    );
    // Seconds 0-1 include the 1 s burst; from second 3 on the client must sit at the quota.
    let steady = &acked[3..];
    let mean = steady.iter().sum::<f64>() / steady.len() as f64;
    assert!(
        (mean - quota).abs() / quota < 0.10,
        "mean acked rate {mean:.0} B/s vs quota {quota} B/s; per second: {acked:?}"
    );
    assert!(
        max_throttle > 0.0,
        "the client never saw a throttle: {acked:?}"
    );
    for (s, r) in acked.iter().enumerate().skip(3) {
        assert!(
            *r < quota * 1.5,
            "second {s}: {r:.0} B/s is far above the quota: {acked:?}"
        );
    }
}
