//! Arbitrary bytes as a `keel.quota-workload/v1` file: parsing must never panic, and a
//! workload that parses must describe a runnable simulation (checked on tiny ones).
#![no_main]

use keel_quotas::sim::{Workload, simulate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(w) = Workload::parse(&text) {
        if w.duration_s <= 2 && w.clients.len() <= 4 && w.brokers <= 4 {
            let _ = simulate(&w);
        }
    }
});
