//! Arbitrary text as `leader-epoch-checkpoint`, then epoch lookups at every offset it names.
#![no_main]

use keel_wire::segment::LeaderEpochCheckpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = LeaderEpochCheckpoint::parse(data) {
        for e in &cp.entries {
            let _ = cp.epoch_for_offset(e.start_offset);
            let _ = cp.end_offset_for(e.epoch, e.start_offset);
        }
    }
});
