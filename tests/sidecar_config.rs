//! `keel sidecar` configuration: the shipped example parses, every bad key or value is an
//! error naming its key path, secrets never print, and the binary turns a bad config or an
//! unreachable bootstrap into one error line and a non-zero exit.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use keel::sidecar::config::{ConfigError, SidecarConfig};
use keel::sidecar::window::Policy;

const EXAMPLE: &str = include_str!("../examples/keel.toml");

const MINIMAL: &str = r#"
[cluster]
bootstrap = "127.0.0.1:19092"
broker_id = 1
"#;

fn err(text: &str) -> ConfigError {
    SidecarConfig::parse(text, "t.toml").expect_err("config should be rejected")
}

fn key_of(e: &ConfigError) -> String {
    match e {
        ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => key.clone(),
        ConfigError::Read { .. } => String::new(),
    }
}

#[test]
fn the_example_parses_with_the_values_it_shows() {
    let c = SidecarConfig::parse(EXAMPLE, "examples/keel.toml").unwrap();
    assert_eq!(c.cluster.bootstrap.len(), 3);
    assert_eq!(c.cluster.broker_id, 0);
    assert_eq!(c.rebalance.policy, Policy::Propose);
    assert_eq!(c.rebalance.windows.len(), 2);
    assert_eq!(c.rebalance.interval, Duration::from_secs(600));
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:9464");
    assert!(c.quotas.enabled);
    assert_eq!(c.quotas.tenants.len(), 2);
    assert_eq!(c.quotas.tenants[0].producer_byte_rate, Some(10_485_760.0));
    let tier = c.tier_config().unwrap();
    assert_eq!(tier.local_retention_ms, 86_400_000);
}

#[test]
fn defaults_fill_a_minimal_file() {
    let c = SidecarConfig::parse(MINIMAL, "m.toml").unwrap();
    assert_eq!(
        c.http.listen.ip().to_string(),
        "127.0.0.1",
        "bound to loopback by default"
    );
    assert_eq!(c.rebalance.policy, Policy::Propose);
    assert!(!c.tiering.enabled && !c.quotas.enabled);
    assert_eq!(c.quotas.topic, "__keel_quota_reports");
}

#[test]
fn unknown_keys_name_their_full_path() {
    let cases = [
        (
            "[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\nbrokerid = 2\n",
            "cluster.brokerid",
        ),
        (
            &format!("{MINIMAL}[rebalance]\npolicy = \"auto\"\nwindow = []\n"),
            "rebalance.window",
        ),
        (&format!("{MINIMAL}[bogus]\nx = 1\n"), "bogus"),
        (
            &format!(
                "{MINIMAL}[quotas]\n[[quotas.tenants]]\nname = \"a\"\nuser = \"a\"\nproducer_byte_rat = 1\n"
            ),
            "quotas.tenants[0].producer_byte_rat",
        ),
    ];
    for (text, key) in cases {
        let e = err(text);
        assert_eq!(key_of(&e), key, "{e}");
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
}

#[test]
fn bad_values_name_their_key() {
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{MINIMAL}[rebalance]\npolicy = \"sometimes\"\n"), "rebalance.policy", "sometimes"),
        (format!("{MINIMAL}[rebalance]\ninterval = \"soon\"\n"), "rebalance.interval", "soon"),
        (format!("{MINIMAL}[rebalance]\ninterval = \"0s\"\n"), "rebalance.interval", "above zero"),
        (format!("{MINIMAL}[rebalance]\nwindows = [\"Sat 01:00-05:00\", \"Caturday 01:00-02:00\"]\n"), "rebalance.windows[1]", "Caturday"),
        (format!("{MINIMAL}[rebalance]\npolicy = \"auto\"\n"), "rebalance.windows", "maintenance window"),
        (format!("{MINIMAL}[rebalance]\njitter = 2.0\n"), "rebalance.jitter", "0..=0.5"),
        (format!("{MINIMAL}[rebalance]\nthrottle = 0\n"), "rebalance.throttle", "above 0"),
        (format!("{MINIMAL}[rebalance]\nper_broker_concurrency = -1\n"), "rebalance.per_broker_concurrency", "invalid value"),
        (format!("{MINIMAL}[rebalance]\ngoals = \"no-such-goal\"\n"), "rebalance.goals", "no-such-goal"),
        (format!("{MINIMAL}[http]\nlisten = \"localhost\"\n"), "http.listen", "socket address"),
        ("[cluster]\nbootstrap = \"nohost\"\nbroker_id = 1\n".into(), "cluster.bootstrap[0]", "HOST:PORT"),
        ("[cluster]\nbootstrap = \"a:1\"\nbroker_id = -3\n".into(), "cluster.broker_id", "negative"),
        ("[cluster]\nbootstrap = \"a:1\"\nbroker_id = \"one\"\n".into(), "cluster.broker_id", "invalid type"),
        ("[cluster]\nbootstrap = \"a:1\"\n".into(), "cluster.broker_id", "missing field"),
        ("[http]\n".into(), "cluster", "missing field"),
        ("[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\n[cluster.sasl]\nmechanism = \"MD5\"\nusername = \"u\"\npassword_env = \"X\"\n".into(), "cluster.sasl.mechanism", "MD5"),
        ("[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\n[cluster.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\n".into(), "cluster.sasl.password_env", "password source"),
        ("[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\n[cluster.tls]\n".into(), "cluster.tls.ca_file", "insecure"),
        (format!("{MINIMAL}[tiering]\nenabled = true\nstore = \"memory://\"\n"), "tiering.log_dir", "required"),
        (format!("{MINIMAL}[tiering]\nconcurrency = 0\n"), "tiering.concurrency", "at least 1"),
        (format!("{MINIMAL}[tiering.topic_config]\n\"retention.ms\" = -5\n"), "tiering.topic_config.\"retention.ms\"", ">= 0"),
        (format!("{MINIMAL}[tiering.topic_config]\n\"retention.msec\" = 5\n"), "tiering.topic_config.\"retention.msec\"", "unknown key"),
        (format!("{MINIMAL}[quotas]\nenabled = true\n"), "quotas.tenants", "at least one tenant"),
        (format!("{MINIMAL}[quotas]\nreport_timeout = \"5s\"\ninterval = \"10s\"\n"), "quotas.report_timeout", "longer than quotas.interval"),
        (format!("{MINIMAL}[quotas]\nfloor_fraction = 1.5\n"), "quotas.floor_fraction", "0..=1"),
        (format!("{MINIMAL}[quotas.demand]\nsource = \"jmx\"\n"), "quotas.demand.source", "jmx"),
        (format!("{MINIMAL}[quotas.demand]\nsource = \"file\"\n"), "quotas.demand.path", "required"),
        (format!("{MINIMAL}[[quotas.tenants]]\nname = \"a\"\nuser = \"a\"\ntopic_prefixes = [\"a.\"]\nproducer_byte_rate = 0\n"), "quotas.tenants[0].producer_byte_rate", "above 0"),
        (format!("{MINIMAL}[[quotas.tenants]]\nname = \"a\"\ntopic_prefixes = [\"a.\"]\nproducer_byte_rate = 5\n"), "quotas.tenants[0].user", "client_id"),
        (format!("{MINIMAL}[[quotas.tenants]]\nname = \"a\"\nuser = \"a\"\nproducer_byte_rate = 5\n"), "quotas.tenants[0].topic_prefixes", "prefix"),
        (format!("{MINIMAL}[[quotas.tenants]]\nname = \"a\"\nuser = \"a\"\ntopic_prefixes = [\"a.\"]\nproducer_byte_rate = 5\n[[quotas.tenants]]\nname = \"a\"\nuser = \"b\"\ntopic_prefixes = [\"b.\"]\nproducer_byte_rate = 5\n"), "quotas.tenants[1].name", "twice"),
    ];
    for (text, key, says) in cases {
        let e = err(&text);
        assert_eq!(key_of(&e), key, "for {text:?}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(says), "{msg:?} should say {says:?}");
        assert!(msg.contains(&format!("`{key}`")), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

#[test]
fn the_sasl_password_comes_from_env_or_file_and_never_prints() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2-from-file\n").unwrap();
    let text = format!(
        "[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\n[cluster.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"keel\"\npassword_file = {:?}\n",
        pw.display().to_string()
    );
    let c = SidecarConfig::parse(&text, "t").unwrap();
    let client = c.client_config().unwrap();
    let sasl = client.sasl.as_ref().unwrap();
    assert_eq!(sasl.password.expose(), "hunter2-from-file");
    assert!(!format!("{client:?} {c:?}").contains("hunter2"));

    let text = "[cluster]\nbootstrap = \"a:1\"\nbroker_id = 1\n[cluster.sasl]\nmechanism = \"PLAIN\"\nusername = \"keel\"\npassword_env = \"KEEL_TEST_SIDECAR_PW_UNSET_VAR\"\n";
    let e = SidecarConfig::parse(text, "t")
        .unwrap()
        .client_config()
        .unwrap_err();
    assert_eq!(key_of(&e), "cluster.sasl.password_env");
    assert!(e.to_string().contains("KEEL_TEST_SIDECAR_PW_UNSET_VAR"));
}

fn keel(args: &[&str]) -> (i32, String, String, Duration) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn the_binary_gives_one_line_for_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}[rebalance]\npolicy = \"sometimes\"\n"),
    )
    .unwrap();
    let (code, _, stderr, _) = keel(&["sidecar", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("rebalance.policy") && stderr.contains("sometimes"),
        "{stderr}"
    );

    let (code, _, stderr, _) = keel(&[
        "sidecar",
        "--config",
        dir.path().join("missing.toml").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("missing.toml"), "{stderr}");
}

#[test]
fn the_binary_checks_the_example() {
    let (code, stdout, stderr, _) = keel(&[
        "sidecar",
        "--config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/keel.toml"),
        "--check",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("ok (broker 0"), "{stdout}");
}

#[test]
fn an_unreachable_bootstrap_is_one_line_and_a_non_zero_exit() {
    // Port 1 on loopback: nothing listens there, connections are refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.toml");
    std::fs::write(
        &path,
        "[cluster]\nbootstrap = \"127.0.0.1:1\"\nbroker_id = 0\nconnect_timeout = \"1s\"\nrequest_timeout = \"2s\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let (code, stdout, stderr, took) = keel(&["sidecar", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "{stdout}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cluster.bootstrap") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(60), "gave up after {took:?}");
}
