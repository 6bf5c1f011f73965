//! A `keel execute` process for the executor's CLI tests (sim-cluster faults and real Kafka):
//! stderr collected (and echoed) line by line, exit code with a deadline, SIGKILL. Included
//! with `#[path = "common/keel_execute.rs"] mod keel_execute;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `keel execute`; stderr collected line by line.
pub struct Exec {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Exec {
    pub fn start(args: &[&str]) -> Exec {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("execute")
            .args(args)
            .env("KEEL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[keel] {line}");
                l2.lock().unwrap().push(line);
            }
        });
        Exec {
            child,
            lines,
            reader: Some(reader),
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for the exit code; `None` if still running after `secs`.
    pub async fn wait(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                if let Some(r) = self.reader.take() {
                    r.join().unwrap();
                }
                return Some(st.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn finish(mut self, secs: u64) -> (i32, Vec<String>) {
        match self.wait(secs).await {
            Some(code) => (code, self.lines()),
            None => panic!(
                "keel execute still running after {secs} s:\n{}",
                self.lines().join("\n")
            ),
        }
    }

    pub fn sigkill(mut self) -> Vec<String> {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.lines()
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
