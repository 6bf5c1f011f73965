//! Arbitrary and corrupted bytes thrown at every segment-file reader: each returns a value
//! or an error naming the file kind and a position inside the input, and never panics.
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` do the same for longer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_wire::WireError;
use keel_wire::segment::{
    AbortedTxn, EpochEntry, LeaderEpochCheckpoint, OffsetCheckpoint, OffsetCheckpointEntry,
    OffsetIndex, PartitionDirName, ProducerSnapshot, ProducerSnapshotEntry, SegmentFileName,
    SegmentIndexBuilder, SegmentView, TimeIndex, TxnIndex,
};
use proptest::prelude::*;

/// Binary-file errors must point inside the input.
fn position_within(err: &WireError, len: usize) -> bool {
    match err {
        WireError::FileFormat { position, .. } => *position <= len as u64,
        WireError::Truncated { position, .. }
        | WireError::CorruptBatch { position, .. }
        | WireError::UnsupportedMagic { position, .. }
        | WireError::CrcMismatch { position, .. } => *position <= len as u64,
        _ => false,
    }
}

/// Text-file errors must name a line that exists (or the line after the last).
fn line_within(err: &WireError, text: &[u8]) -> bool {
    let lines = 1 + text.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    matches!(err, WireError::Checkpoint { line, .. } if *line >= 1 && *line <= lines)
}

/// Bytes that look like index entries often: multiples of the entry size, many zeros.
fn index_like(entry: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 0..50).prop_map(
            move |v| {
                let mut v = v;
                v.truncate(v.len() / entry * entry);
                v
            }
        ),
    ]
}

fn checkpoint_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[0-9 a-z\\-\\n\\r\\t]{0,80}".prop_map(String::into_bytes),
        (
            "[0-2]",
            "[0-4]",
            prop::collection::vec("[a-z0-9 \\-]{0,20}", 0..5)
        )
            .prop_map(|(v, n, lines)| format!("{v}\n{n}\n{}", lines.join("\n")).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn offset_index_decoding_arbitrary_bytes_never_panics(bytes in index_like(8), base in any::<i64>(), target in any::<i64>()) {
        match OffsetIndex::parse(&bytes, base) {
            Ok(idx) => {
                let e = idx.lookup(target);
                prop_assert!(e.offset <= target.max(base));
                prop_assert_eq!(idx.iter().count(), idx.len());
            }
            Err(e) => prop_assert!(position_within(&e, bytes.len()), "{e}"),
        }
    }

    #[test]
    fn time_index_decoding_arbitrary_bytes_never_panics(bytes in index_like(12), base in any::<i64>(), target in any::<i64>()) {
        match TimeIndex::parse(&bytes, base) {
            Ok(idx) => {
                let e = idx.lookup(target);
                prop_assert!(e.timestamp <= target || e.timestamp == -1);
                prop_assert_eq!(idx.iter().count(), idx.len());
            }
            Err(e) => prop_assert!(position_within(&e, bytes.len()), "{e}"),
        }
    }

    #[test]
    fn txn_index_decoding_arbitrary_bytes_never_panics(bytes in index_like(34), a in any::<i64>(), b in any::<i64>()) {
        match TxnIndex::parse(&bytes) {
            Ok(idx) => {
                let _ = idx.collect_aborted(a, b);
                prop_assert_eq!(idx.encode(), bytes);
            }
            Err(e) => prop_assert!(position_within(&e, bytes.len()), "{e}"),
        }
    }

    #[test]
    fn producer_snapshot_decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = ProducerSnapshot::parse(&bytes) {
            prop_assert!(position_within(&e, bytes.len()), "{e}");
        }
    }

    #[test]
    fn leader_epoch_checkpoint_decoding_arbitrary_bytes_never_panics(bytes in checkpoint_like(), offset in any::<i64>()) {
        match LeaderEpochCheckpoint::parse(&bytes) {
            Ok(cp) => {
                let _ = cp.epoch_for_offset(offset);
                let _ = cp.end_offset_for(3, offset);
            }
            Err(e) => prop_assert!(line_within(&e, &bytes), "{e}"),
        }
    }

    #[test]
    fn offset_checkpoint_decoding_arbitrary_bytes_never_panics(bytes in checkpoint_like()) {
        match OffsetCheckpoint::parse(&bytes) {
            Ok(cp) => { let _ = cp.offset("t", 0); }
            Err(e) => prop_assert!(line_within(&e, &bytes), "{e}"),
        }
    }

    #[test]
    fn segment_file_name_parsing_arbitrary_strings_never_panics(name in "\\PC{0,40}|[0-9]{1,22}\\.[a-z]{0,10}(\\.[a-z]{0,8})?") {
        if let Ok(n) = SegmentFileName::parse(&name) {
            prop_assert_eq!(SegmentFileName::parse(&n.to_string()).unwrap(), n);
        }
        let _ = PartitionDirName::parse(&name);
    }

    #[test]
    fn index_builder_arbitrary_log_bytes_never_panics(log in prop::collection::vec(any::<u8>(), 0..600), base in any::<i64>(), interval in any::<u32>()) {
        for b in [
            SegmentIndexBuilder::new(base).index_interval_bytes(interval),
            SegmentIndexBuilder::new(base).index_interval_bytes(interval).verify_crc(true).stop_at_invalid_tail(true),
        ] {
            if let Err(e) = b.build(&log) {
                prop_assert!(position_within(&e, log.len()), "{e}");
            }
        }
    }

    #[test]
    fn segment_lookups_on_arbitrary_bytes_never_panic(
        log in prop::collection::vec(any::<u8>(), 0..400),
        index in index_like(8),
        time in index_like(12),
        base in -5i64..5,
        target in any::<i64>(),
    ) {
        let (Ok(index), Ok(time)) = (OffsetIndex::parse(&index, base), TimeIndex::parse(&time, base)) else {
            return Ok(());
        };
        let view = SegmentView::new(base, &log, index, Some(time));
        if let Err(e) = view.find_batch_for_offset(target) {
            prop_assert!(position_within(&e, log.len().max(u32::MAX as usize)), "{e}");
        }
        let _ = view.find_batch_for_timestamp(target, base);
    }

    // Round trips and corruption of well-formed files.

    #[test]
    fn producer_snapshot_round_trips_and_any_byte_flip_is_an_error(
        entries in prop::collection::vec(any::<(i64, i16, i32, i64, i32, i64, i32, i64)>(), 0..6),
        flip_at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let entries: Vec<ProducerSnapshotEntry> = entries.into_iter().map(|t| ProducerSnapshotEntry {
            producer_id: t.0, producer_epoch: t.1, last_sequence: t.2, last_offset: t.3,
            offset_delta: t.4, timestamp: t.5, coordinator_epoch: t.6, current_txn_first_offset: t.7,
        }).collect();
        let bytes = ProducerSnapshot::encode(&entries);
        prop_assert_eq!(ProducerSnapshot::parse(&bytes).unwrap().entries, entries);
        let mut bad = bytes.clone();
        let i = flip_at.index(bad.len());
        bad[i] ^= flip;
        let err = ProducerSnapshot::parse(&bad).unwrap_err();
        prop_assert!(position_within(&err, bad.len()), "{err}");
        let cut = flip_at.index(bytes.len());
        prop_assert!(ProducerSnapshot::parse(&bytes[..cut]).is_err());
    }

    #[test]
    fn txn_index_round_trips(entries in prop::collection::vec((any::<i64>(), any::<i64>(), 0i64..1_000_000, any::<i64>()), 0..8)) {
        let idx = TxnIndex {
            entries: entries.into_iter().map(|(pid, first, len, lso)| AbortedTxn {
                version: 0, producer_id: pid, first_offset: first, last_offset: first.saturating_add(len), last_stable_offset: lso,
            }).collect(),
        };
        prop_assert_eq!(TxnIndex::parse(&idx.encode()).unwrap(), idx);
    }

    #[test]
    fn offset_checkpoint_round_trips(entries in prop::collection::vec(("[a-zA-Z0-9._\\-]{1,30}", any::<i32>(), any::<i64>()), 0..10), crlf in any::<bool>()) {
        let cp = OffsetCheckpoint {
            entries: entries.into_iter().map(|(topic, partition, offset)| OffsetCheckpointEntry { topic, partition, offset }).collect(),
        };
        let mut text = cp.encode();
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        prop_assert_eq!(OffsetCheckpoint::parse(text.as_bytes()).unwrap(), cp);
    }

    #[test]
    fn leader_epoch_checkpoint_round_trips(entries in prop::collection::vec(any::<(i32, i64)>(), 0..10), drop_line in any::<prop::sample::Index>()) {
        let cp = LeaderEpochCheckpoint {
            entries: entries.into_iter().map(|(epoch, start_offset)| EpochEntry { epoch, start_offset }).collect(),
        };
        let text = cp.encode();
        prop_assert_eq!(LeaderEpochCheckpoint::parse(text.as_bytes()).unwrap(), cp.clone());
        // Dropping an entry line breaks the count and is reported.
        if !cp.entries.is_empty() {
            let lines: Vec<&str> = text.lines().collect();
            let victim = 2 + drop_line.index(cp.entries.len());
            let kept: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, l)| *l).collect();
            let broken = kept.join("\n");
            prop_assert!(LeaderEpochCheckpoint::parse(broken.as_bytes()).is_err());
        }
    }
}
