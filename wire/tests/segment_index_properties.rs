//! Properties of the index builder and the lookups over synthetic segments: logs of random
//! v2 batches (sizes, record counts, offset gaps, timestamps going up and down) built with
//! keel's `RecordBatchBuilder`. The rule checked is Kafka's, stated declaratively (see
//! `keel_wire::segment` docs); the golden test against real broker files is
//! `segment_kafka_broker.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_wire::batch::{BatchIter, RecordBatchBuilder};
use keel_wire::segment::{
    OffsetIndex, SegmentIndexBuilder, SegmentIndexer, SegmentView, TimeIndex,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct BatchSpec {
    gap: i64,
    records: usize,
    value_len: usize,
    timestamp: i64,
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    (
        0i64..3,
        1usize..8,
        0usize..700,
        prop_oneof![Just(-1i64), 0i64..5_000],
    )
        .prop_map(|(gap, records, value_len, timestamp)| BatchSpec {
            gap,
            records,
            value_len,
            timestamp,
        })
}

/// (position, size, base offset, last offset, max timestamp) per batch.
type Layout = Vec<(u64, u64, i64, i64, i64)>;

fn build_log(base_offset: i64, specs: &[BatchSpec]) -> (Vec<u8>, Layout) {
    let mut log = Vec::new();
    let mut next = base_offset;
    for s in specs {
        next += s.gap;
        let mut b = RecordBatchBuilder::new(next);
        let value = vec![b'x'; s.value_len];
        for r in 0..s.records {
            // Timestamps inside a batch wander a little around the batch's.
            let ts = if s.timestamp < 0 {
                -1
            } else {
                s.timestamp + (r as i64 % 3)
            };
            b.append(ts, None, Some(&value), &[]).unwrap();
        }
        b.write_to(&mut log).unwrap();
        next += s.records as i64;
    }
    let layout = BatchIter::new(&log)
        .map(|e| {
            let b = *e.unwrap().as_v2().unwrap();
            (
                b.position(),
                b.size() as u64,
                b.base_offset(),
                b.last_offset(),
                b.max_timestamp(),
            )
        })
        .collect();
    (log, layout)
}

fn segment() -> impl Strategy<Value = (i64, Vec<BatchSpec>, u32)> {
    (
        prop_oneof![Just(0i64), 0i64..1_000_000],
        prop::collection::vec(batch_spec(), 0..60),
        prop_oneof![Just(0u32), Just(1), 1u32..3_000, Just(4096)],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Entry k sits on the first batch that starts more than `interval` bytes after the
    /// previous entry's batch (or after position 0), and names that batch's last offset.
    #[test]
    fn built_offset_index_follows_the_interval_rule((base, specs, interval) in segment()) {
        let (log, layout) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let index = OffsetIndex::parse(&built.offset_index, base).unwrap();
        let mut expected = Vec::new();
        let mut last_entry_pos = 0u64;
        for &(pos, _, _, last, _) in &layout {
            if pos - last_entry_pos > u64::from(interval) {
                expected.push((last, pos as u32));
                last_entry_pos = pos;
            }
        }
        let got: Vec<(i64, u32)> = index.iter().map(|e| (e.offset, e.position)).collect();
        prop_assert_eq!(got, expected);
        prop_assert_eq!(built.indexed_bytes, log.len() as u64);
        prop_assert_eq!(built.batches, layout.len() as u64);
    }

    /// Time index entries are (running max timestamp, last offset of the first batch that
    /// reached it), strictly increasing, and a closed segment ends with its overall max.
    #[test]
    fn built_time_index_tracks_the_running_max_timestamp((base, specs, interval) in segment()) {
        let (log, layout) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let time_index = TimeIndex::parse(&built.time_index, base).unwrap();
        for e in time_index.iter() {
            let upto: Vec<_> = layout.iter().take_while(|b| b.3 <= e.offset).collect();
            let running_max = upto.iter().map(|b| b.4).max().unwrap();
            prop_assert_eq!(e.timestamp, running_max);
            let first_reaching = upto.iter().find(|b| b.4 == running_max).unwrap();
            prop_assert_eq!(e.offset, first_reaching.3);
        }
        let overall = layout.iter().map(|b| b.4).max().unwrap_or(-1);
        if overall >= 0 {
            prop_assert_eq!(time_index.last_entry().timestamp, overall);
        } else {
            prop_assert!(time_index.is_empty());
        }
        // The active segment's file lacks at most that final entry.
        let active = SegmentIndexBuilder::new(base).index_interval_bytes(interval).active(true).build(&log).unwrap();
        prop_assert!(built.time_index.starts_with(&active.time_index));
        prop_assert!(built.time_index.len() - active.time_index.len() <= 12);
        prop_assert_eq!(active.offset_index, built.offset_index);
    }

    /// Feeding the batches one by one to `SegmentIndexer` gives the one-shot builder's bytes.
    #[test]
    fn incremental_indexer_matches_the_one_shot_builder((base, specs, interval) in segment()) {
        let (log, layout) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let mut ix = SegmentIndexer::new(base, interval);
        for &(_, size, _, last, ts) in &layout {
            ix.append(size, last, ts, last).unwrap();
        }
        prop_assert_eq!(ix.finish().unwrap(), built);
    }

    #[test]
    fn offset_lookup_finds_the_batch_holding_every_offset((base, specs, interval) in segment()) {
        let (log, layout) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let index = OffsetIndex::parse(&built.offset_index, base).unwrap();
        let view = SegmentView::new(base, &log, index, None);
        let end = layout.last().map_or(base, |b| b.3 + 1);
        for o in base..end {
            // The batch holding o, or the next batch if o fell in a gap.
            let want = layout.iter().find(|b| b.3 >= o).map(|b| b.0);
            prop_assert_eq!(view.position_of_offset(o).unwrap(), want, "offset {}", o);
        }
        prop_assert_eq!(view.position_of_offset(end).unwrap(), None);
    }

    #[test]
    fn timestamp_lookup_matches_a_linear_scan((base, specs, interval) in segment(), extra in -10i64..6_000) {
        let (log, layout) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let index = OffsetIndex::parse(&built.offset_index, base).unwrap();
        let time_index = TimeIndex::parse(&built.time_index, base).unwrap();
        let view = SegmentView::new(base, &log, index, Some(time_index));
        let without_time_index = SegmentView::new(base, &log, index, None);
        let mut targets: Vec<i64> = layout.iter().flat_map(|b| [b.4 - 1, b.4, b.4 + 1]).collect();
        targets.push(extra);
        for t in targets {
            let want = layout.iter().find(|b| b.4 >= t).map(|b| b.0);
            let got = view.find_batch_for_timestamp(t, base).unwrap().map(|b| b.position);
            prop_assert_eq!(got, want, "timestamp {}", t);
            let slow = without_time_index.find_batch_for_timestamp(t, base).unwrap().map(|b| b.position);
            prop_assert_eq!(slow, want);
        }
    }

    /// `upper_bound_by_position` and `lookup` agree with linear searches over the entries.
    #[test]
    fn index_searches_match_linear_searches((base, specs, interval) in segment(), probe in any::<u32>()) {
        let (log, _) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let index = OffsetIndex::parse(&built.offset_index, base).unwrap();
        let entries: Vec<_> = index.iter().collect();
        let position = u64::from(probe) % (log.len() as u64 + 2);
        prop_assert_eq!(
            index.upper_bound_by_position(position),
            entries.iter().copied().find(|e| u64::from(e.position) >= position)
        );
        let target = base + i64::from(probe % 1_000);
        let floor = entries.iter().copied().rev().find(|e| e.offset <= target);
        prop_assert_eq!(index.lookup(target).position, floor.map_or(0, |e| e.position));
    }

    /// An active segment's index is preallocated and zero-filled; reading it gives the same
    /// entries as the trimmed file.
    #[test]
    fn preallocated_index_reads_like_the_trimmed_one((base, specs, interval) in segment(), spare in 0usize..50) {
        let (log, _) = build_log(base, &specs);
        let built = SegmentIndexBuilder::new(base).index_interval_bytes(interval).build(&log).unwrap();
        let mut padded = built.offset_index.clone();
        padded.resize(padded.len() + spare * 8, 0);
        let a: Vec<_> = OffsetIndex::parse(&built.offset_index, base).unwrap().iter().collect();
        let b: Vec<_> = OffsetIndex::parse(&padded, base).unwrap().iter().collect();
        prop_assert_eq!(a, b);
        let mut padded = built.time_index.clone();
        padded.resize(padded.len() + spare * 12, 0);
        let a: Vec<_> = TimeIndex::parse(&built.time_index, base).unwrap().iter().collect();
        let b: Vec<_> = TimeIndex::parse(&padded, base).unwrap().iter().collect();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn truncated_tail_is_an_error_or_cut_off_on_request() {
    let specs: Vec<BatchSpec> = (0..20)
        .map(|i| BatchSpec {
            gap: 0,
            records: 3,
            value_len: 300,
            timestamp: 1_000 + i,
        })
        .collect();
    let (log, layout) = build_log(0, &specs);
    let cut = &log[..log.len() - 5];
    let err = SegmentIndexBuilder::new(0)
        .index_interval_bytes(500)
        .build(cut)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&layout.last().unwrap().0.to_string()),
        "{err}"
    );
    let recovered = SegmentIndexBuilder::new(0)
        .index_interval_bytes(500)
        .stop_at_invalid_tail(true)
        .build(cut)
        .unwrap();
    assert_eq!(recovered.indexed_bytes, layout.last().unwrap().0);
    let whole_minus_last = SegmentIndexBuilder::new(0)
        .index_interval_bytes(500)
        .build(&log[..layout.last().unwrap().0 as usize])
        .unwrap();
    assert_eq!(recovered, whole_minus_last);
}

#[test]
fn crc_check_finds_a_flipped_byte() {
    let specs: Vec<BatchSpec> = (0..5)
        .map(|i| BatchSpec {
            gap: 0,
            records: 2,
            value_len: 100,
            timestamp: 10 + i,
        })
        .collect();
    let (mut log, layout) = build_log(0, &specs);
    let victim = layout[3].0 as usize + 70;
    log[victim] ^= 0x40;
    assert!(SegmentIndexBuilder::new(0).build(&log).is_ok());
    let err = SegmentIndexBuilder::new(0)
        .verify_crc(true)
        .build(&log)
        .unwrap_err();
    assert!(err.to_string().contains(&layout[3].0.to_string()), "{err}");
}
