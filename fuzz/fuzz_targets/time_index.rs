//! Arbitrary bytes as a `.timeindex` file, then lookups on whatever parses.
#![no_main]

use keel_wire::segment::TimeIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = data.split_at(data.len().min(16));
    let mut a = [0u8; 16];
    a[..head.len()].copy_from_slice(head);
    let base = i64::from_be_bytes(a[..8].try_into().unwrap_or_default());
    let target = i64::from_be_bytes(a[8..].try_into().unwrap_or_default());
    if let Ok(idx) = TimeIndex::parse(body, base) {
        let e = idx.lookup(target);
        assert!(e.timestamp <= target || e.timestamp == -1);
        assert_eq!(idx.iter().count(), idx.len());
    }
});
