//! Arbitrary bytes as a `.txnindex` file; what parses must re-encode to the same bytes.
#![no_main]

use keel_wire::segment::TxnIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = TxnIndex::parse(data) {
        assert_eq!(idx.encode(), data);
        let _ = idx.collect_aborted(0, i64::MAX);
    }
});
