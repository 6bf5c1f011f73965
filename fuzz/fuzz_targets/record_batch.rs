//! Fuzzes the record-batch decoders: the batch walk, CRC check, record decoding with every
//! codec (the codec id comes from the input), headers and control records. Run from
//! `fuzz/`: `cargo +nightly fuzz run record_batch`.
#![no_main]

use keel_wire::batch::{BatchContext, BatchIter, LogEntry, RecordIter, TimestampType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    for entry in BatchIter::new(data) {
        let Ok(entry) = entry else { break };
        match entry {
            LogEntry::V2(b) => {
                let _ = b.crc_valid();
                let _ = (b.last_offset(), b.delete_horizon_ms(), b.timestamp_type());
                if let Ok(records) = b.records() {
                    for r in &records {
                        let Ok(r) = r else { break };
                        let _ = r.headers().count();
                        let _ = r.end_txn_marker();
                    }
                }
                if let Ok(it) = b.records_with(&mut scratch) {
                    for r in it {
                        if r.is_err() {
                            break;
                        }
                    }
                }
            }
            LogEntry::Legacy(m) => {
                let _ = (m.offset(), m.crc(), m.timestamp(), m.compression_id());
            }
        }
    }
    // The record decoder on its own, without a batch header in front.
    let ctx = BatchContext {
        position: 0,
        base_offset: 0,
        base_timestamp: 0,
        max_timestamp: 0,
        timestamp_type: TimestampType::CreateTime,
        is_control: data.first().is_some_and(|b| b & 1 == 1),
        record_count: 64,
    };
    for r in RecordIter::new(data, ctx) {
        if r.is_err() {
            break;
        }
    }
});
