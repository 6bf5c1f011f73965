//! Arbitrary bytes as a producer-state `.snapshot`; what parses must re-encode identically.
#![no_main]

use keel_wire::segment::ProducerSnapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ProducerSnapshot::parse(data) {
        assert_eq!(ProducerSnapshot::encode(&s.entries), data);
    }
});
