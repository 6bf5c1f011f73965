//! Corrupt, truncated and random input: every decoder returns an error naming where, and
//! none panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_wire::WireError;
use keel_wire::batch::compression::decompress_into;
use keel_wire::batch::{
    BatchContext, BatchIter, Compression, Header, LogEntry, RecordBatch, RecordBatchBuilder,
    RecordIter, TimestampType,
};
use proptest::prelude::*;

/// Walks everything a dump --deep would: every entry, CRC, every record and header.
fn walk_everything(buf: &[u8]) -> usize {
    let mut seen = 0;
    let mut scratch = Vec::new();
    for entry in BatchIter::new(buf) {
        let Ok(entry) = entry else { break };
        seen += 1;
        if let LogEntry::V2(b) = entry {
            let _ = b.crc_valid();
            let _ = b.last_offset();
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
        } else if let LogEntry::Legacy(m) = entry {
            let _ = (m.offset(), m.magic(), m.crc(), m.timestamp());
        }
    }
    seen
}

fn ctx(record_count: u32, is_control: bool) -> BatchContext {
    BatchContext {
        position: 0,
        base_offset: 0,
        base_timestamp: 0,
        max_timestamp: 0,
        timestamp_type: TimestampType::CreateTime,
        is_control,
        record_count,
    }
}

fn sample_batch(codec: Compression, base_offset: i64) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(base_offset).compression(codec);
    for i in 0..6 {
        let v = format!("value {i} ").repeat(i + 1);
        b.append(
            1_700_000_000_000 + i as i64,
            Some(format!("k{i}").as_bytes()),
            Some(v.as_bytes()),
            &[Header {
                key: b"h",
                value: Some(b"x"),
            }],
        )
        .unwrap();
    }
    b.build().unwrap()
}

/// A v2 header claiming `count` records of any codec, around an arbitrary record section,
/// with a correct length and CRC, so the record decoders are what gets exercised.
fn framed(codec_id: u8, count: i32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 61];
    v[8..12].copy_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    v[16] = 2;
    v[21..23].copy_from_slice(&i16::from(codec_id).to_be_bytes());
    v[57..61].copy_from_slice(&count.to_be_bytes());
    v.extend_from_slice(body);
    let crc = crc32c::crc32c(&v[21..]);
    v[17..21].copy_from_slice(&crc.to_be_bytes());
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(buf in prop::collection::vec(any::<u8>(), 0..2048)) {
        walk_everything(&buf);
        for r in RecordIter::new(&buf, ctx(1000, false)) {
            if r.is_err() { break; }
        }
        for r in RecordIter::new(&buf, ctx(3, true)) {
            if r.is_err() { break; }
        }
        let mut out = Vec::new();
        for codec in Compression::ALL {
            let _ = decompress_into(codec, &buf, &mut out, 0);
        }
    }

    #[test]
    fn arbitrary_record_sections_never_panic(
        codec_id in 0u8..8,
        count in prop_oneof![Just(-1i32), 0..50, Just(i32::MAX)],
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let v = framed(codec_id, count, &body);
        prop_assert_eq!(walk_everything(&v), 1);
        let b = RecordBatch::new(&v, 0).unwrap();
        prop_assert!(b.crc_valid());
        match b.records() {
            Ok(records) => {
                // Whatever the bytes, the iterator ends, with at most count records.
                let n = records.iter().take_while(|r| r.is_ok()).count();
                prop_assert!(n as i64 <= i64::from(count));
            }
            Err(e) => assert!(matches!(
                e,
                WireError::Codec { .. } | WireError::UnknownCodec { .. } | WireError::CorruptBatch { .. }
            ), "{e}"),
        }
    }

    #[test]
    fn flipping_any_byte_after_the_magic_is_caught_by_the_crc(
        codec in prop::sample::select(Compression::ALL.to_vec()),
        index in any::<prop::sample::Index>(),
        mask in 1u8..,
    ) {
        let mut v = sample_batch(codec, 10);
        let i = 17 + index.index(v.len() - 17);
        v[i] ^= mask;
        let entries: Vec<_> = BatchIter::new(&v).collect();
        prop_assert_eq!(entries.len(), 1);
        let b = *entries[0].as_ref().unwrap().as_v2().unwrap();
        prop_assert!(!b.crc_valid(), "flip at {} undetected", i);
        let e = b.validate_crc().unwrap_err();
        assert!(matches!(e, WireError::CrcMismatch { position: 0, .. }));
        walk_everything(&v);
    }

    #[test]
    fn flipping_any_byte_never_panics(
        codec in prop::sample::select(Compression::ALL.to_vec()),
        index in any::<prop::sample::Index>(),
        mask in 1u8..,
    ) {
        let mut v = sample_batch(codec, 10);
        v.extend(sample_batch(codec, 16));
        let i = index.index(v.len());
        v[i] ^= mask;
        walk_everything(&v);
    }

    #[test]
    fn every_truncation_stops_at_the_cut_batch(cut in 0usize..2000) {
        let a = sample_batch(Compression::None, 0);
        let b = sample_batch(Compression::Zstd, 6);
        let mut log = a.clone();
        log.extend(&b);
        let cut = cut % log.len();
        let got: Vec<_> = BatchIter::new(&log[..cut]).collect();
        if cut == 0 {
            prop_assert!(got.is_empty());
        } else if cut < a.len() {
            prop_assert_eq!(got.len(), 1);
            assert!(matches!(got[0], Err(WireError::Truncated { position: 0, .. })));
        } else if cut == a.len() {
            prop_assert_eq!(got.len(), 1);
            prop_assert!(got[0].is_ok());
        } else {
            prop_assert_eq!(got.len(), 2);
            prop_assert!(got[0].is_ok());
            let p = a.len() as u64;
            assert!(
                matches!(got[1], Err(WireError::Truncated { position, .. }) if position == p),
                "{:?}", got[1]
            );
        }
    }
}

#[test]
fn record_count_above_the_records_is_an_error() {
    let good = sample_batch(Compression::None, 0);
    let mut v = good.clone();
    v[57..61].copy_from_slice(&7i32.to_be_bytes());
    let b = RecordBatch::new(&v, 0).unwrap();
    let records = b.records().unwrap();
    let got: Vec<_> = records.iter().collect();
    assert_eq!(got.len(), 7);
    assert!(got[..6].iter().all(|r| r.is_ok()));
    assert!(
        matches!(&got[6], Err(WireError::Record { record: 6, .. })),
        "{:?}",
        got[6]
    );
}

#[test]
fn bytes_left_after_the_records_are_an_error() {
    let good = sample_batch(Compression::None, 0);
    let mut v = good.clone();
    v[57..61].copy_from_slice(&5i32.to_be_bytes());
    let b = RecordBatch::new(&v, 0).unwrap();
    let records = b.records().unwrap();
    let got: Vec<_> = records.iter().collect();
    assert_eq!(got.len(), 6);
    let Err(WireError::Record {
        record: 5, reason, ..
    }) = &got[5]
    else {
        panic!("{:?}", got[5])
    };
    assert!(reason.contains("left after"), "{reason}");
}

#[test]
fn negative_record_count_is_a_corrupt_batch() {
    let v = framed(0, -3, &[]);
    let b = RecordBatch::new(&v, 0).unwrap();
    assert!(matches!(
        b.records(),
        Err(WireError::CorruptBatch { position: 0, .. })
    ));
}

#[test]
fn undefined_codec_ids_are_reported() {
    for id in 5..8 {
        let v = framed(id, 1, &[1, 2, 3]);
        let b = RecordBatch::new(&v, 0).unwrap();
        assert_eq!(b.compression(), None);
        assert!(matches!(
            b.records(),
            Err(WireError::UnknownCodec { codec, .. }) if codec == id
        ));
    }
}

#[test]
fn garbage_in_a_compressed_batch_is_a_codec_error() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let v = framed(codec.id(), 1, b"definitely not compressed data");
        let b = RecordBatch::new(&v, 4096).unwrap();
        let err = b.records().unwrap_err();
        assert!(
            matches!(err, WireError::Codec { position: 4096, codec: c, .. } if c == codec),
            "{codec:?}: {err}"
        );
    }
}

#[test]
fn control_record_with_a_short_key_is_an_error() {
    let mut b = RecordBatchBuilder::new(0).control(true);
    b.append(0, Some(&[0, 0, 1]), None, &[]).unwrap();
    let v = b.build().unwrap();
    let batch = RecordBatch::new(&v, 0).unwrap();
    let records = batch.records().unwrap();
    let got: Vec<_> = records.iter().collect();
    assert!(matches!(&got[0], Err(WireError::Record { record: 0, .. })));
}

#[test]
fn record_length_disagreeing_with_its_fields_is_an_error() {
    // One record: length 6 but fields that take 7 bytes (a 1-byte key).
    let body = [0x0c, 0x00, 0x00, 0x00, 0x02, b'k', 0x01, 0x00];
    let v = framed(0, 1, &body);
    let records = RecordBatch::new(&v, 0).unwrap().records().unwrap();
    let got: Vec<_> = records.iter().collect();
    assert!(
        matches!(&got[0], Err(WireError::Record { record: 0, .. })),
        "{got:?}"
    );
}
