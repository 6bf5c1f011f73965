//! Shared setup for the tests that run against the real servers `./test.sh` starts
//! (`tests/servers/<name>-start.sh` writes `$KEEL_TEST_HOME/<name>.env`): the 3-broker Apache
//! Kafka cluster (`KEEL_KAFKA_*`) and tansu (`KEEL_TANSU_BOOTSTRAP`). A missing server is a
//! failure that says how to start it, never a skip. Included with
//! `#[path = "common/real_servers.rs"] mod real_servers;`; each test uses what it needs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use keel_wire::client::{ClientConfig, KafkaClient};

/// The value of a variable a start script exports, or a failure naming the script to run.
pub fn server_env(name: &str) -> String {
    let script = if name.starts_with("KEEL_TANSU") {
        "tansu"
    } else if name.starts_with("KEEL_S3") || name.starts_with("AWS_") {
        "s3"
    } else {
        "kafka"
    };
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs a real server; run ./test.sh \
             (or tests/servers/{script}-start.sh and source $KEEL_TEST_HOME/{script}.env)"
        ),
    }
}

/// `KEEL_KAFKA_BOOTSTRAP`: the real Kafka cluster's bootstrap list, comma-separated.
pub fn kafka_bootstrap() -> String {
    server_env("KEEL_KAFKA_BOOTSTRAP")
}

/// `KEEL_TANSU_BOOTSTRAP`: the tansu broker.
pub fn tansu_bootstrap() -> String {
    server_env("KEEL_TANSU_BOOTSTRAP")
}

/// keel's client connected to the real Kafka cluster as `client_id`.
pub async fn kafka_client(client_id: &str) -> KafkaClient {
    connect(
        &kafka_bootstrap(),
        client_id,
        None,
        "the Kafka cluster",
        "kafka",
    )
    .await
}

/// keel's client connected to tansu as `client_id`, with a 10 s request timeout.
pub async fn tansu_client(client_id: &str) -> KafkaClient {
    let timeout = Some(Duration::from_secs(10));
    connect(&tansu_bootstrap(), client_id, timeout, "tansu", "tansu").await
}

async fn connect(
    bootstrap: &str,
    client_id: &str,
    request_timeout: Option<Duration>,
    what: &str,
    script: &str,
) -> KafkaClient {
    let mut cfg = ClientConfig::new(bootstrap);
    cfg.client_id = client_id.into();
    if let Some(t) = request_timeout {
        cfg.request_timeout = t;
    }
    match KafkaClient::connect(cfg).await {
        Ok(client) => client,
        Err(e) => panic!(
            "cannot reach {what} at {bootstrap}: {e}; is it running? run ./test.sh \
             (or tests/servers/{script}-start.sh)"
        ),
    }
}

/// A name no other test run uses: `prefix` plus the wall clock in nanoseconds. The servers are
/// shared by every test binary, so topics are never reused.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!("{prefix}-{nanos}")
}
