//! Golden tests against segments written by a real Apache Kafka 3.9.1 broker
//! (`tests/fixtures/kafka-broker/`, see its README for how they were made and the topic
//! settings). The broker's own `.index` and `.timeindex` files must come out of keel's
//! builder byte for byte, and every reader must agree with what the `.log` files say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};

use keel_wire::batch::{BatchIter, LogEntry};
use keel_wire::segment::{
    LeaderEpochCheckpoint, OffsetCheckpoint, OffsetIndex, PartitionDir, ProducerSnapshot,
    RECOVERY_POINT_OFFSET_CHECKPOINT_FILE, REPLICATION_OFFSET_CHECKPOINT_FILE, SegmentIndexBuilder,
    SegmentView, TimeIndex, TxnIndex,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kafka-broker")
}

/// The topics and their `index.interval.bytes`, as the fixture README states.
const TOPICS: [(&str, u32); 2] = [("keel-fixture-sparse", 4096), ("keel-fixture-dense", 512)];

fn partition_dir(topic: &str) -> PartitionDir {
    let path = fixtures().join(format!("{topic}-0"));
    PartitionDir::scan(&path).unwrap_or_else(|e| {
        panic!(
            "cannot list {} ({e}); the Kafka broker fixtures are committed under \
             tests/fixtures/kafka-broker (regenerate with tests/kafka/make-segment-fixtures.sh)",
            path.display()
        )
    })
}

fn read(p: &Option<PathBuf>) -> Vec<u8> {
    let p = p.as_ref().expect("file present");
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (position, base offset, last offset, max timestamp, entry) of every batch in a log.
fn batches(log: &[u8]) -> Vec<(u64, i64, i64, i64)> {
    BatchIter::new(log)
        .map(|e| match e.unwrap() {
            LogEntry::V2(b) => (
                b.position(),
                b.base_offset(),
                b.last_offset(),
                b.max_timestamp(),
            ),
            LogEntry::Legacy(m) => panic!("legacy message at {}", m.position()),
        })
        .collect()
}

#[test]
fn rebuilt_indexes_match_the_brokers_byte_for_byte() {
    let mut segments_checked = 0;
    for (topic, interval) in TOPICS {
        let dir = partition_dir(topic);
        assert!(dir.segments.len() >= 3, "{topic}: {:?}", dir.segments);
        for seg in &dir.segments {
            let log = read(&seg.log);
            let kafka_index = read(&seg.offset_index);
            let kafka_time_index = read(&seg.time_index);
            let built = SegmentIndexBuilder::new(seg.base_offset)
                .index_interval_bytes(interval)
                .verify_crc(true)
                .build(&log)
                .unwrap();
            assert_eq!(built.indexed_bytes, log.len() as u64);
            assert!(
                !kafka_index.is_empty(),
                "{topic} {}: empty .index",
                seg.base_offset
            );
            assert_eq!(
                built.offset_index, kafka_index,
                "{topic} segment {}: .index differs",
                seg.base_offset
            );
            assert_eq!(
                built.time_index, kafka_time_index,
                "{topic} segment {}: .timeindex differs",
                seg.base_offset
            );
            segments_checked += 1;
        }
    }
    assert_eq!(segments_checked, 7);
}

#[test]
fn a_different_interval_gives_a_different_index() {
    // Guards the golden test above against passing for the wrong reason.
    let dir = partition_dir("keel-fixture-sparse");
    let seg = &dir.segments[0];
    let log = read(&seg.log);
    let built = SegmentIndexBuilder::new(seg.base_offset)
        .index_interval_bytes(2048)
        .build(&log)
        .unwrap();
    assert_ne!(built.offset_index, read(&seg.offset_index));
}

#[test]
fn broker_indexes_parse_and_lookups_find_every_offset_and_timestamp() {
    for (topic, _) in TOPICS {
        let dir = partition_dir(topic);
        for seg in &dir.segments {
            let log = read(&seg.log);
            let index_bytes = read(&seg.offset_index);
            let time_bytes = read(&seg.time_index);
            let index = OffsetIndex::parse(&index_bytes, seg.base_offset).unwrap();
            let time_index = TimeIndex::parse(&time_bytes, seg.base_offset).unwrap();
            assert_eq!(index.len(), index_bytes.len() / 8);
            assert_eq!(time_index.len(), time_bytes.len() / 12);
            let all = batches(&log);
            // Every index entry points at a batch start and names that batch's last offset.
            for e in index.iter() {
                assert!(
                    all.iter()
                        .any(|b| b.0 == u64::from(e.position) && b.2 == e.offset),
                    "{topic} {}: entry {e:?} is not a batch start",
                    seg.base_offset
                );
            }
            // A closed segment's last time index entry is its largest timestamp.
            let max_ts = all.iter().map(|b| b.3).max().unwrap();
            assert_eq!(time_index.last_entry().timestamp, max_ts);

            let view = SegmentView::new(seg.base_offset, &log, index, Some(time_index));
            for &(pos, base, last, _) in &all {
                for o in base..=last {
                    let found = view.find_batch_for_offset(o).unwrap().unwrap();
                    assert_eq!(found.position, pos, "{topic}: offset {o}");
                }
            }
            let past_end = all.last().unwrap().2 + 1;
            assert!(view.find_batch_for_offset(past_end).unwrap().is_none());

            for &(_, _, _, ts) in &all {
                for target in [ts - 1, ts, ts + 1] {
                    let linear = all.iter().find(|b| b.3 >= target).map(|b| b.0);
                    let found = view
                        .find_batch_for_timestamp(target, seg.base_offset)
                        .unwrap()
                        .map(|b| b.position);
                    assert_eq!(
                        found, linear,
                        "{topic} {}: timestamp {target}",
                        seg.base_offset
                    );
                }
            }
        }
    }
}

/// The last offset + 1 of the partition's last segment.
fn log_end_offset(dir: &PartitionDir) -> i64 {
    let last = dir.segments.last().unwrap();
    batches(&read(&last.log)).last().unwrap().2 + 1
}

#[test]
fn log_dir_checkpoints_agree_with_the_logs() {
    let log_dir = fixtures().join("log-dir");
    let hw =
        OffsetCheckpoint::read_file(&log_dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE)).unwrap();
    let rp =
        OffsetCheckpoint::read_file(&log_dir.join(RECOVERY_POINT_OFFSET_CHECKPOINT_FILE)).unwrap();
    let ls = OffsetCheckpoint::read_file(&log_dir.join("log-start-offset-checkpoint")).unwrap();
    assert!(ls.entries.is_empty());
    for (topic, _) in TOPICS {
        let leo = log_end_offset(&partition_dir(topic));
        // After a clean shutdown the high watermark and recovery point are the log end.
        assert_eq!(hw.offset(topic, 0), Some(leo), "{topic}");
        assert_eq!(rp.offset(topic, 0), Some(leo), "{topic}");
    }
    // Re-encoding gives Kafka's text back (same order, same format).
    let text = std::fs::read_to_string(log_dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE)).unwrap();
    assert_eq!(hw.encode(), text);
}

#[test]
fn leader_epoch_checkpoint_matches_batch_epochs() {
    for (topic, _) in TOPICS {
        let dir = partition_dir(topic);
        let cp = LeaderEpochCheckpoint::read_file(dir.leader_epoch_checkpoint.as_ref().unwrap())
            .unwrap();
        assert!(!cp.entries.is_empty());
        for e in &cp.entries {
            // The first batch written in each epoch starts at the checkpointed offset.
            let first = dir
                .segments
                .iter()
                .flat_map(|s| {
                    let log = read(&s.log);
                    BatchIter::new(&log)
                        .map(|b| {
                            let b = *b.unwrap().as_v2().unwrap();
                            (b.partition_leader_epoch(), b.base_offset())
                        })
                        .collect::<Vec<_>>()
                })
                .find(|(epoch, _)| *epoch == e.epoch);
            assert_eq!(
                first.map(|f| f.1),
                Some(e.start_offset),
                "{topic} epoch {}",
                e.epoch
            );
        }
    }
}

#[test]
fn producer_snapshots_agree_with_the_batches_they_describe() {
    for (topic, _) in TOPICS {
        let dir = partition_dir(topic);
        let logs: Vec<Vec<u8>> = dir.segments.iter().map(|s| read(&s.log)).collect();
        let mut all_batches = Vec::new();
        for log in &logs {
            for b in BatchIter::new(log) {
                all_batches.push(*b.unwrap().as_v2().unwrap());
            }
        }
        assert!(dir.producer_snapshots.len() >= 2);
        let mut entries_checked = 0;
        for (&at, path) in &dir.producer_snapshots {
            let snap = ProducerSnapshot::parse(&std::fs::read(path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(snap.version, 1);
            for e in &snap.entries {
                assert!(e.last_offset < at, "{topic} snapshot {at}: {e:?}");
                if e.last_offset < 0 {
                    continue;
                }
                let b = all_batches
                    .iter()
                    .find(|b| b.last_offset() == e.last_offset && !b.is_control())
                    .unwrap_or_else(|| panic!("{topic}: no data batch ends at {}", e.last_offset));
                assert_eq!(b.producer_id(), e.producer_id);
                assert!(e.producer_epoch >= b.producer_epoch());
                assert_eq!(b.base_sequence() + b.last_offset_delta(), e.last_sequence);
                assert_eq!(b.last_offset_delta(), e.offset_delta);
                entries_checked += 1;
            }
        }
        assert!(entries_checked > 0, "{topic}");
    }
}

#[test]
fn txn_index_names_the_abort_marker_in_the_log() {
    let dir = partition_dir("keel-fixture-sparse");
    let with_txn: Vec<_> = dir
        .segments
        .iter()
        .filter(|s| s.txn_index.is_some())
        .collect();
    assert_eq!(with_txn.len(), 1);
    let seg = with_txn[0];
    let idx = TxnIndex::parse(&read(&seg.txn_index)).unwrap();
    assert_eq!(idx.entries.len(), 1);
    let txn = idx.entries[0];
    let log = read(&seg.log);
    let marker = BatchIter::new(&log)
        .map(|b| *b.unwrap().as_v2().unwrap())
        .find(|b| b.base_offset() == txn.last_offset)
        .expect("a batch at the aborted txn's last offset");
    assert!(marker.is_control() && marker.is_transactional());
    assert_eq!(marker.producer_id(), txn.producer_id);
    // The transaction's first data batch is in the log under the same producer id.
    let first = dir
        .segments
        .iter()
        .flat_map(|s| {
            let log = read(&s.log);
            BatchIter::new(&log)
                .map(|b| *b.unwrap().as_v2().unwrap())
                .map(|b| (b.base_offset(), b.producer_id(), b.is_transactional()))
                .collect::<Vec<_>>()
        })
        .find(|b| b.0 == txn.first_offset);
    assert_eq!(first, Some((txn.first_offset, txn.producer_id, true)));
    assert!(txn.last_stable_offset > txn.first_offset);
    assert_eq!(idx.encode(), read(&seg.txn_index));
}

#[test]
fn record_level_timestamp_lookup_matches_a_scan_of_every_record() {
    for (topic, _) in TOPICS {
        let dir = partition_dir(topic);
        for seg in &dir.segments {
            let log = read(&seg.log);
            let index_bytes = read(&seg.offset_index);
            let time_bytes = read(&seg.time_index);
            let index = OffsetIndex::parse(&index_bytes, seg.base_offset).unwrap();
            let time_index = TimeIndex::parse(&time_bytes, seg.base_offset).unwrap();
            let view = SegmentView::new(seg.base_offset, &log, index, Some(time_index));
            // (timestamp, offset) of every record, in log order (all codecs decoded).
            let mut records = Vec::new();
            for b in BatchIter::new(&log) {
                let b = *b.unwrap().as_v2().unwrap();
                for r in &b.records().unwrap() {
                    let r = r.unwrap();
                    records.push((r.timestamp(), r.offset()));
                }
            }
            assert!(records.len() > 700, "{topic} {}", seg.base_offset);
            let starts = [seg.base_offset, records[records.len() / 2].1];
            for (i, &(ts, _)) in records.iter().enumerate().step_by(13) {
                for target in [ts - 1, ts, ts + 1] {
                    let start = starts[i % 2];
                    let want = records
                        .iter()
                        .find(|r| r.0 >= target && r.1 >= start)
                        .copied();
                    let got = view
                        .find_offset_by_timestamp(target, start)
                        .unwrap()
                        .map(|t| (t.timestamp, t.offset));
                    assert_eq!(
                        got, want,
                        "{topic} {}: ts {target} from {start}",
                        seg.base_offset
                    );
                }
            }
        }
    }
}

#[test]
fn log_dir_helpers_read_checkpoints_and_list_partition_dirs() {
    let cps = keel_wire::segment::LogDirCheckpoints::read(&fixtures().join("log-dir")).unwrap();
    for (topic, _) in TOPICS {
        let leo = log_end_offset(&partition_dir(topic));
        assert_eq!(cps.high_watermark(topic, 0), Some(leo));
        assert_eq!(cps.recovery_points.offset(topic, 0), Some(leo));
    }
    // A directory without checkpoints reads as empty, as Kafka treats missing files.
    let empty =
        keel_wire::segment::LogDirCheckpoints::read(&fixtures().join("keel-fixture-dense-0"))
            .unwrap();
    assert!(empty.high_watermarks.entries.is_empty());
    // The fixture root holds the two partition dirs and `log-dir`, which is not one.
    let listing = keel_wire::segment::list_partition_dirs(&fixtures()).unwrap();
    let names: Vec<(String, i32)> = listing
        .partitions
        .iter()
        .map(|(n, _)| (n.topic.clone(), n.partition))
        .collect();
    assert_eq!(
        names,
        vec![
            ("keel-fixture-dense".to_owned(), 0),
            ("keel-fixture-sparse".to_owned(), 0)
        ]
    );
    assert_eq!(listing.other, vec![fixtures().join("log-dir")]);
}

#[test]
fn a_malformed_checkpoint_names_the_kafka_file_and_line() {
    let dir = std::env::temp_dir().join(format!("keel-segment-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE);
    std::fs::write(&path, "0\n2\norders 0 10\norders one 11\n").unwrap();
    let err = OffsetCheckpoint::read_file(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err.contains("replication-offset-checkpoint"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}
