//! Arbitrary bytes as the executor's `__keel_state` plan and control records: decoding never
//! panics, and whatever decodes re-encodes to a record that decodes to the same value.
#![no_main]

use keel_balancer::executor::ControlRecord;
use keel_balancer::executor::record::{decode_plan, encode_plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode_plan(data) {
        let again = decode_plan(encode_plan(&d).as_bytes());
        assert_eq!(again.ok(), Some(d));
    }
    if let Ok(c) = ControlRecord::decode(data) {
        let again = ControlRecord::decode(c.encode().as_bytes());
        assert_eq!(again.ok(), Some(c));
    }
});
