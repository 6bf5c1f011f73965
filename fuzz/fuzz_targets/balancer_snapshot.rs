//! Arbitrary bytes as a `keel.cluster/v1` snapshot; whatever parses must plan or fail cleanly.
#![no_main]

use keel_balancer::{PlanOptions, plan, snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = snapshot::parse_slice(data) {
        if c.replicas.len() <= 2000 {
            if let Ok(p) = plan(&c, &PlanOptions::default(), &mut |_| {}) {
                for r in &p.reassignments {
                    assert_eq!(r.replicas.len(), c.replicas_of(r.partition as usize).len());
                }
            }
        }
    }
});
