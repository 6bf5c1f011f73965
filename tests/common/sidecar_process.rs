//! Shared helpers of the tests that run `keel sidecar` (as a process or in-process) and read
//! its `/metrics` and `/healthz`, or compare a log dir before and after. Included with
//! `#[path = "common/sidecar_process.rs"] mod sidecar_process;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

/// Kills and reaps the child when dropped, so a failing test leaves no sidecar running.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One plain HTTP/1.1 GET: the status code (0 when unreadable) and the body.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: keel\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// The value of the first sample of `name` (exactly that name, any labels) in a Prometheus
/// text body.
pub fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every file under `dir` with its size, sorted.
pub fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p, e.metadata().unwrap().len()));
        }
    }
    out.sort();
    out
}

/// Asserts that a `/metrics` body reports the tiering loop fully caught up: no lag in bytes
/// or segments.
pub fn assert_no_tiering_lag(body: &str) {
    for name in [
        "keel_sidecar_tiering_lag_bytes",
        "keel_sidecar_tiering_lag_segments",
    ] {
        assert_eq!(metric(body, name), Some(0.0), "{name}\n{body}");
    }
}
