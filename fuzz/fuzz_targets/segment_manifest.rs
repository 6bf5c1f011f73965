//! Arbitrary bytes as a tiering segment manifest: decoding never panics, and whatever
//! decodes re-encodes to the same bytes and satisfies the manifest invariants.
#![no_main]

use keel_tiering::manifest::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode(data, "fuzz") {
        assert!(m.validate("fuzz").is_ok());
        assert_eq!(encode(&m), data);
    }
});
