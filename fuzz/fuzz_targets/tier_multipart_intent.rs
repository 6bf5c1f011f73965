//! Arbitrary bytes as a tiering multipart intent (`<base>-<attempt>.mpu`): decoding never
//! panics, and whatever decodes re-encodes to an intent that decodes to the same value.
#![no_main]

use keel_tiering::multipart::Intent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(i) = Intent::decode(data, "fuzz") {
        let again = Intent::decode(&i.encode(), "fuzz");
        assert_eq!(again.ok(), Some(i));
    }
});
