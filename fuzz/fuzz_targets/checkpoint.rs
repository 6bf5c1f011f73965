//! Arbitrary bytes as `leader-epoch-checkpoint` and as a log-dir offset checkpoint.
#![no_main]

use keel_wire::segment::{LeaderEpochCheckpoint, OffsetCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = LeaderEpochCheckpoint::parse(data) {
        let again = LeaderEpochCheckpoint::parse(cp.encode().as_bytes());
        assert_eq!(again.ok(), Some(cp.clone()));
        let _ = cp.epoch_for_offset(0);
        let _ = cp.end_offset_for(0, 0);
    }
    if let Ok(cp) = OffsetCheckpoint::parse(data) {
        let again = OffsetCheckpoint::parse(cp.encode().as_bytes());
        assert_eq!(again.ok(), Some(cp));
    }
});
