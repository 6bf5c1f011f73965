//! Arbitrary bytes as the tail of a zstd-chunked tiering object: parsing the chunk table
//! never panics, a parsed table re-encodes to the bytes it was read from, and decoding
//! frames through it never panics.
#![no_main]

use keel_tiering::chunks::{ChunkTable, decompress_frames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ChunkTable::count_from_tail(data, "fuzz");
    if let Ok(t) = ChunkTable::parse_tail(data, "fuzz") {
        let enc = t.encode();
        assert!(data.ends_with(&enc));
        let n = t.offsets.len().saturating_sub(1);
        if n > 0 && n < 64 {
            let (first, last, _) = t.frames_for(0, t.raw_size);
            let _ = decompress_frames(data, &t, first, last, "fuzz");
        }
    }
});
