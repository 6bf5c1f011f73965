//! Encode → decode → equal, over every codec, header flag combination and batch size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use bytes::Bytes;
use keel_wire::batch::{
    BatchIter, Compression, ControlRecord, ControlRecordType, EndTxnMarker, Header, LogEntry,
    OwnedHeader, OwnedRecord, RecordBatch, RecordBatchBuilder, TimestampType,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    base_offset: i64,
    leader_epoch: i32,
    codec: Compression,
    log_append_time: bool,
    transactional: bool,
    control: bool,
    delete_horizon: Option<i64>,
    producer: (i64, i16, i32),
    base_ts: i64,
    records: Vec<RecSpec>,
}

#[derive(Debug, Clone)]
struct RecSpec {
    gap: i32,
    ts_offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    control_type: i16,
}

fn bytes_opt(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.85, prop::collection::vec(any::<u8>(), 0..max))
}

fn rec_spec() -> impl Strategy<Value = RecSpec> {
    (
        1..4i32,
        -5_000i64..5_000,
        bytes_opt(40),
        // Repetitive values so the codecs really compress something.
        prop::option::weighted(
            0.85,
            (prop::collection::vec(any::<u8>(), 0..24), 0..20usize).prop_map(|(v, n)| v.repeat(n)),
        ),
        prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..12), bytes_opt(12)),
            0..4,
        ),
        prop_oneof![Just(0i16), Just(1i16), 2..7i16],
    )
        .prop_map(
            |(gap, ts_offset, key, value, headers, control_type)| RecSpec {
                gap,
                ts_offset,
                key,
                value,
                headers,
                control_type,
            },
        )
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..(i64::MAX / 4),
        prop_oneof![Just(-1), 0..1000i32],
        prop::sample::select(Compression::ALL.to_vec()),
        any::<[bool; 3]>(),
        prop::option::of(0..4_000_000_000_000i64),
        prop_oneof![
            Just((-1i64, -1i16, -1i32)),
            (0..i64::MAX, 0..i16::MAX, 0..i32::MAX)
        ],
        1_000_000i64..4_000_000_000_000,
        prop::collection::vec(rec_spec(), 0..24),
    )
        .prop_map(
            |(
                base_offset,
                leader_epoch,
                codec,
                [lat, txn, ctl],
                dh,
                producer,
                base_ts,
                records,
            )| {
                Spec {
                    base_offset,
                    leader_epoch,
                    codec,
                    log_append_time: lat,
                    transactional: txn,
                    control: ctl,
                    delete_horizon: dh,
                    producer,
                    base_ts,
                    records,
                }
            },
        )
}

/// Builds the batch and the records a decoder must return for it.
fn build(spec: &Spec) -> (Vec<u8>, Vec<OwnedRecord>) {
    let mut b = RecordBatchBuilder::new(spec.base_offset)
        .partition_leader_epoch(spec.leader_epoch)
        .compression(spec.codec)
        .timestamp_type(if spec.log_append_time {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        })
        .transactional(spec.transactional)
        .control(spec.control)
        .delete_horizon(spec.delete_horizon)
        .producer(spec.producer.0, spec.producer.1, spec.producer.2);
    let mut expected = Vec::new();
    let mut delta = -1i32;
    for r in &spec.records {
        delta += r.gap;
        let ts = spec.base_ts + r.ts_offset;
        let (key, value, headers): (Option<Vec<u8>>, Option<Vec<u8>>, Vec<_>) = if spec.control {
            let c = ControlRecord {
                version: 0,
                kind: ControlRecordType::from_id(r.control_type),
            };
            let marker = EndTxnMarker {
                version: 0,
                coordinator_epoch: r.gap * 7,
            };
            (
                Some(c.key_bytes().to_vec()),
                Some(marker.to_bytes().to_vec()),
                vec![],
            )
        } else {
            (r.key.clone(), r.value.clone(), r.headers.clone())
        };
        let hs: Vec<Header<'_>> = headers
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        b.append_at(delta, ts, key.as_deref(), value.as_deref(), &hs)
            .unwrap();
        expected.push(OwnedRecord {
            offset: spec.base_offset + i64::from(delta),
            timestamp: ts,
            key: key.map(Bytes::from),
            value: value.map(Bytes::from),
            headers: headers
                .into_iter()
                .map(|(k, v)| OwnedHeader::new(k, v))
                .collect(),
        });
    }
    let max_ts = expected.iter().map(|r| r.timestamp).max();
    if spec.log_append_time {
        for r in &mut expected {
            r.timestamp = max_ts.unwrap();
        }
    }
    (b.build().unwrap(), expected)
}

fn check_header(batch: &RecordBatch<'_>, spec: &Spec, expected: &[OwnedRecord]) {
    assert!(batch.crc_valid());
    batch.validate_crc().unwrap();
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.base_offset(), spec.base_offset);
    assert_eq!(batch.partition_leader_epoch(), spec.leader_epoch);
    assert_eq!(batch.compression(), Some(spec.codec));
    assert_eq!(
        batch.timestamp_type() == TimestampType::LogAppendTime,
        spec.log_append_time
    );
    assert_eq!(batch.is_transactional(), spec.transactional);
    assert_eq!(batch.is_control(), spec.control);
    assert_eq!(batch.has_delete_horizon(), spec.delete_horizon.is_some());
    assert_eq!(batch.delete_horizon_ms(), spec.delete_horizon);
    assert_eq!(batch.producer_id(), spec.producer.0);
    assert_eq!(batch.producer_epoch(), spec.producer.1);
    assert_eq!(batch.base_sequence(), spec.producer.2);
    assert_eq!(batch.record_count() as usize, expected.len());
    let first_ts = spec.records.first().map(|r| spec.base_ts + r.ts_offset);
    let want_base_ts = spec.delete_horizon.or(first_ts).unwrap_or(-1);
    assert_eq!(batch.base_timestamp(), want_base_ts);
    let max_ts = spec
        .records
        .iter()
        .map(|r| spec.base_ts + r.ts_offset)
        .max()
        .unwrap_or(-1);
    assert_eq!(batch.max_timestamp(), max_ts);
    match expected.last() {
        Some(last) => assert_eq!(batch.last_offset(), last.offset),
        None => assert_eq!(batch.last_offset_delta(), 0),
    }
    assert_eq!(batch.size(), batch.bytes().len());
    assert_eq!(batch.batch_length() as usize + 12, batch.size());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encoded_batches_decode_to_the_same_records(spec in spec()) {
        let (bytes, expected) = build(&spec);
        let mut it = BatchIter::new(&bytes);
        let entry = it.next().unwrap().unwrap();
        prop_assert!(it.next().is_none());
        let LogEntry::V2(batch) = entry else { panic!("not v2") };
        check_header(&batch, &spec, &expected);

        let records = batch.records().unwrap();
        prop_assert_eq!(records.is_borrowed(), spec.codec == Compression::None || expected.is_empty());
        prop_assert_eq!(&records.to_owned_records().unwrap(), &expected);

        // The scratch-buffer path decodes the same.
        let mut scratch = Vec::new();
        let again: Vec<OwnedRecord> = batch
            .records_with(&mut scratch)
            .unwrap()
            .map(|r| r.unwrap().to_owned_record())
            .collect();
        prop_assert_eq!(&again, &expected);

        for r in &records {
            let r = r.unwrap();
            prop_assert_eq!(r.is_tombstone(), r.value().is_none());
            prop_assert_eq!(r.control().is_some(), spec.control);
            if spec.control {
                let c = r.control().unwrap();
                if matches!(c.kind, ControlRecordType::Abort | ControlRecordType::Commit) {
                    prop_assert!(r.end_txn_marker().is_some());
                } else {
                    prop_assert!(r.end_txn_marker().is_none());
                }
            }
        }

        // Re-encoding the decoded records gives back the same bytes: the encoder and
        // decoder agree on every field, and every codec here is deterministic.
        let mut again = RecordBatchBuilder::new(spec.base_offset)
            .partition_leader_epoch(spec.leader_epoch)
            .compression(spec.codec)
            .timestamp_type(batch.timestamp_type())
            .transactional(spec.transactional)
            .control(spec.control)
            .delete_horizon(spec.delete_horizon)
            .producer(spec.producer.0, spec.producer.1, spec.producer.2);
        if let Some(dh) = spec.delete_horizon {
            again = again.base_timestamp(dh);
        }
        for r in &records {
            let r = r.unwrap();
            let hs: Vec<Header<'_>> = r.headers().collect();
            let ts = batch.base_timestamp() + r.timestamp_delta();
            again.append_at(r.offset_delta(), ts, r.key(), r.value(), &hs).unwrap();
        }
        prop_assert_eq!(again.build().unwrap(), bytes);
    }

    #[test]
    fn concatenated_batches_walk_in_order(specs in prop::collection::vec(spec(), 1..6)) {
        let mut log = Vec::new();
        let mut positions = Vec::new();
        for s in &specs {
            positions.push(log.len() as u64);
            log.extend(build(s).0);
        }
        let got: Vec<_> = BatchIter::with_base_position(&log, 1000).map(|e| e.unwrap()).collect();
        prop_assert_eq!(got.len(), specs.len());
        for ((e, s), p) in got.iter().zip(&specs).zip(&positions) {
            prop_assert_eq!(e.position(), p + 1000);
            let b = e.as_v2().unwrap();
            prop_assert!(b.crc_valid());
            prop_assert_eq!(b.base_offset(), s.base_offset);
            prop_assert_eq!(b.records().unwrap().iter().count(), s.records.len());
        }
    }
}

/// Large records cross snappy's 32 KiB xerial blocks and LZ4's 64 KiB frame blocks.
#[test]
fn large_batches_round_trip_with_every_codec() {
    let value: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    for codec in Compression::ALL {
        let mut b = RecordBatchBuilder::new(5).compression(codec);
        for i in 0..4 {
            b.append(1_000 + i, Some(b"key"), Some(&value[i as usize..]), &[])
                .unwrap();
        }
        let bytes = b.build().unwrap();
        let batch = RecordBatch::new(&bytes, 0).unwrap();
        assert!(batch.crc_valid());
        if codec != Compression::None {
            assert!(bytes.len() < value.len(), "{codec:?} did not compress");
        }
        let recs = batch.to_owned_records().unwrap();
        assert_eq!(recs.len(), 4);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.offset, 5 + i as i64);
            assert_eq!(r.timestamp, 1_000 + i as i64);
            assert_eq!(r.value.as_deref(), Some(&value[i..]));
        }
    }
}

/// Compaction can leave a batch with no records; it must decode as empty, whatever its
/// codec, and keep the last offset delta it was given.
#[test]
fn empty_batches_decode_as_no_records() {
    for codec in Compression::ALL {
        let bytes = RecordBatchBuilder::new(40)
            .compression(codec)
            .last_offset_delta(9)
            .build()
            .unwrap();
        assert_eq!(bytes.len(), 61);
        let batch = RecordBatch::new(&bytes, 0).unwrap();
        assert!(batch.crc_valid());
        assert_eq!(batch.record_count(), 0);
        assert_eq!(batch.last_offset(), 49);
        assert_eq!(batch.base_timestamp(), -1);
        assert_eq!(batch.max_timestamp(), -1);
        assert_eq!(batch.records().unwrap().iter().count(), 0);
    }
}

/// The exact bytes of a small uncompressed batch, worked out by hand from the format
/// (Kafka's DefaultRecordBatch / DefaultRecord), so the encoder is checked against the
/// spec and not only against its own decoder.
#[test]
fn small_batch_matches_hand_encoded_bytes() {
    let mut b = RecordBatchBuilder::new(7).partition_leader_epoch(2);
    b.append(
        1000,
        Some(b"k"),
        Some(b"vv"),
        &[Header {
            key: b"h",
            value: None,
        }],
    )
    .unwrap();
    b.append(1003, None, None, &[]).unwrap();
    let bytes = b.build().unwrap();
    #[rustfmt::skip]
    let records: &[u8] = &[
        // record 0: length 12, attrs 0, ts delta 0, offset delta 0, key len 1 'k',
        // value len 2 "vv", 1 header: key len 1 'h', value null (-1)
        0x18, 0x00, 0x00, 0x00, 0x02, b'k', 0x04, b'v', b'v', 0x02, 0x02, b'h', 0x01,
        // record 1: length 6, attrs 0, ts delta 3, offset delta 1, key null, value null, 0 headers
        0x0c, 0x00, 0x06, 0x02, 0x01, 0x01, 0x00,
    ];
    assert_eq!(&bytes[61..], records);
    let mut header = Vec::new();
    header.extend(7i64.to_be_bytes());
    header.extend(((61 - 12 + records.len()) as i32).to_be_bytes());
    header.extend(2i32.to_be_bytes());
    header.push(2);
    header.extend([0; 4]); // crc
    header.extend(0i16.to_be_bytes()); // attributes
    header.extend(1i32.to_be_bytes()); // last offset delta
    header.extend(1000i64.to_be_bytes());
    header.extend(1003i64.to_be_bytes());
    header.extend((-1i64).to_be_bytes());
    header.extend((-1i16).to_be_bytes());
    header.extend((-1i32).to_be_bytes());
    header.extend(2i32.to_be_bytes());
    assert_eq!(&bytes[..17], &header[..17]);
    assert_eq!(&bytes[21..61], &header[21..]);
    let crc = crc32c::crc32c(&bytes[21..]);
    assert_eq!(&bytes[17..21], &crc.to_be_bytes());
}

#[test]
fn builder_rejects_offsets_that_do_not_increase() {
    let mut b = RecordBatchBuilder::new(0);
    b.append_at(3, 0, None, None, &[]).unwrap();
    assert!(b.append_at(3, 0, None, None, &[]).is_err());
    assert!(b.append_at(1, 0, None, None, &[]).is_err());
    assert_eq!(b.append(0, None, None, &[]).unwrap(), 4);
}

/// Owned records of an uncompressed batch held in `Bytes` share its memory; those of a
/// compressed batch are copies. Both equal the copied form.
#[test]
fn owned_records_share_the_source_bytes_when_uncompressed() {
    for codec in [Compression::None, Compression::Lz4] {
        let mut b = RecordBatchBuilder::new(0).compression(codec);
        for i in 0..10u8 {
            b.append(
                i64::from(i),
                Some(&[i; 8]),
                Some(&[i; 100]),
                &[Header {
                    key: b"h",
                    value: Some(&[i]),
                }],
            )
            .unwrap();
        }
        let source = Bytes::from(b.build().unwrap());
        let batch = RecordBatch::new(&source, 0).unwrap();
        let records = batch.records().unwrap();
        let range = source.as_ptr() as usize..source.as_ptr() as usize + source.len();
        for r in &records {
            let r = r.unwrap();
            let shared = r.to_owned_record_in(&source);
            assert_eq!(shared, r.to_owned_record());
            let v = shared.value.as_ref().unwrap();
            assert_eq!(
                range.contains(&(v.as_ptr() as usize)),
                codec == Compression::None,
                "{codec:?}"
            );
        }
    }
}
