//! `keel snapshot` bad input: one clear error line and a non-zero exit, no server needed.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn snapshot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("snapshot")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("keel: error:"), "{stderr}");
    lines[0]
}

#[test]
fn unreachable_bootstrap_is_one_error_line_and_non_zero_exit() {
    // Port 1 on localhost: nothing listens there.
    let (code, stdout, stderr) = snapshot(&["--bootstrap", "127.0.0.1:1", "--timeout", "2s"]);
    assert_ne!(code, 0);
    assert!(stdout.is_empty(), "no snapshot on failure: {stdout}");
    let line = one_error_line(&stderr);
    assert!(line.contains("127.0.0.1:1"), "{line}");
}

#[test]
fn bad_bootstrap_address_is_one_error_line() {
    let (code, _, stderr) = snapshot(&["--bootstrap", "no-port-here"]);
    assert_ne!(code, 0);
    one_error_line(&stderr);
}

#[test]
fn bad_capacity_file_names_the_file_and_field_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.toml");
    std::fs::write(&path, "[brokers.4]\ncpu_cores = -2\n").unwrap();
    // The bootstrap is unreachable too: the capacity file is checked first.
    let (code, _, stderr) = snapshot(&[
        "--bootstrap",
        "127.0.0.1:1",
        "--capacity",
        path.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    let line = one_error_line(&stderr);
    assert!(
        line.contains("cap.toml") && line.contains("brokers.4.cpu_cores"),
        "{line}"
    );

    let missing = dir.path().join("missing.toml");
    let (code, _, stderr) = snapshot(&[
        "--bootstrap",
        "127.0.0.1:1",
        "--capacity",
        missing.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(one_error_line(&stderr).contains("missing.toml"), "{stderr}");
}
