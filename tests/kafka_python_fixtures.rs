//! Decodes the batches kafka-python wrote (tests/fixtures/kafka-python/, see its README) and
//! compares every header field and record with what kafka-python read back
//! (`expected.json`). Also re-encodes each batch's records with keel's builder and checks
//! the uncompressed records are byte-identical to kafka-python's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use keel_wire::batch::{
    BatchIter, ControlRecordType, Header, LogEntry, RecordBatch, RecordBatchBuilder,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kafka-python");

fn load() -> (Vec<u8>, Value) {
    let log = std::fs::read(format!("{DIR}/all-codecs.log")).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap())
            .unwrap();
    (log, expected)
}

fn hex(b: Option<&[u8]>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

fn batches(log: &[u8]) -> Vec<RecordBatch<'_>> {
    BatchIter::new(log)
        .map(|e| match e.unwrap() {
            LogEntry::V2(b) => b,
            LogEntry::Legacy(m) => panic!("unexpected legacy entry {m:?}"),
        })
        .collect()
}

#[test]
fn every_kafka_python_batch_header_matches() {
    let (log, expected) = load();
    let want = expected["batches"].as_array().unwrap();
    let got = batches(&log);
    assert_eq!(got.len(), want.len());
    assert_eq!(got.len(), 11);
    for (b, w) in got.iter().zip(want) {
        let label = w["label"].as_str().unwrap();
        assert!(b.crc_valid(), "{label}");
        assert_eq!(b.crc() as u64, w["crc"].as_u64().unwrap(), "{label}");
        assert_eq!(b.position(), w["position"].as_u64().unwrap(), "{label}");
        assert_eq!(b.size() as u64, w["size"].as_u64().unwrap(), "{label}");
        assert_eq!(
            b.base_offset(),
            w["base_offset"].as_i64().unwrap(),
            "{label}"
        );
        assert_eq!(
            b.last_offset(),
            w["last_offset"].as_i64().unwrap(),
            "{label}"
        );
        assert_eq!(
            i64::from(b.record_count()),
            w["count"].as_i64().unwrap(),
            "{label}"
        );
        assert_eq!(
            i64::from(b.partition_leader_epoch()),
            w["partition_leader_epoch"].as_i64().unwrap()
        );
        assert_eq!(
            b.compression().unwrap().name(),
            w["compression"].as_str().unwrap()
        );
        assert_eq!(b.is_transactional(), w["transactional"].as_bool().unwrap());
        assert_eq!(b.is_control(), w["control"].as_bool().unwrap());
        assert_eq!(b.base_timestamp(), w["base_timestamp"].as_i64().unwrap());
        assert_eq!(b.max_timestamp(), w["max_timestamp"].as_i64().unwrap());
        assert_eq!(b.producer_id(), w["producer_id"].as_i64().unwrap());
        assert_eq!(
            i64::from(b.producer_epoch()),
            w["producer_epoch"].as_i64().unwrap()
        );
        assert_eq!(
            i64::from(b.base_sequence()),
            w["base_sequence"].as_i64().unwrap()
        );
    }
    // Every codec appears, and the raw-snappy batch is really unframed.
    let codecs: std::collections::BTreeSet<_> =
        got.iter().map(|b| b.compression().unwrap()).collect();
    assert_eq!(codecs.len(), 5);
    let raw_snappy = &got[5];
    assert!(!raw_snappy.records_bytes().starts_with(b"\x82SNAPPY\0"));
    assert!(got[2].records_bytes().starts_with(b"\x82SNAPPY\0"));
}

#[test]
fn every_kafka_python_record_matches() {
    let (log, expected) = load();
    let want = expected["batches"].as_array().unwrap();
    let mut total = 0;
    for (b, w) in batches(&log).iter().zip(want) {
        let label = w["label"].as_str().unwrap();
        let records = b.records().unwrap();
        assert_eq!(
            records.is_borrowed(),
            b.compression() == Some(keel_wire::batch::Compression::None),
            "{label}: uncompressed records must borrow from the batch"
        );
        let got: Vec<_> = records.iter().collect::<Result<_, _>>().unwrap();
        let want_records = w["records"].as_array().unwrap();
        assert_eq!(got.len(), want_records.len(), "{label}");
        for (r, wr) in got.iter().zip(want_records) {
            assert_eq!(r.offset(), wr["offset"].as_i64().unwrap(), "{label}");
            assert_eq!(r.timestamp(), wr["timestamp"].as_i64().unwrap(), "{label}");
            assert_eq!(hex(r.key()), wr["key_hex"], "{label} offset {}", r.offset());
            assert_eq!(
                hex(r.value()),
                wr["value_hex"],
                "{label} offset {}",
                r.offset()
            );
            let headers: Vec<Value> = r
                .headers()
                .map(|h| {
                    serde_json::json!({
                        "key": std::str::from_utf8(h.key).unwrap(),
                        "value_hex": hex(h.value),
                    })
                })
                .collect();
            assert_eq!(Value::Array(headers), wr["headers"], "{label}");
            match wr.get("control_type") {
                Some(t) => {
                    let c = r.control().unwrap();
                    assert_eq!(i64::from(c.kind.id()), t.as_i64().unwrap());
                    assert_eq!(c.kind, ControlRecordType::Commit);
                    assert_eq!(
                        i64::from(c.version),
                        wr["control_version"].as_i64().unwrap()
                    );
                    assert_eq!(r.end_txn_marker().unwrap().coordinator_epoch, 17);
                }
                None => assert!(r.control().is_none()),
            }
            total += 1;
        }
    }
    assert_eq!(total, 5 * 5 + 4 + 20 + 20 + 3 + 1 + 1);
    // Null keys and tombstones were kept as nulls, not empty byte strings.
    let first = batches(&log)[0].to_owned_records().unwrap();
    assert!(first[1].key.is_none() && first[1].value.is_some());
    assert!(first[2].value.is_none() && first[2].key.is_some());
}

/// keel's encoder writes records byte for byte as kafka-python does: the uncompressed
/// record sections are identical, and for uncompressed batches the whole batch (CRC too).
#[test]
fn keel_encoder_reproduces_kafka_python_records() {
    let (log, _) = load();
    for b in batches(&log) {
        let records = b.records().unwrap();
        let mut builder = RecordBatchBuilder::new(b.base_offset())
            .partition_leader_epoch(b.partition_leader_epoch())
            .transactional(b.is_transactional())
            .control(b.is_control())
            .producer(b.producer_id(), b.producer_epoch(), b.base_sequence());
        for r in &records {
            let r = r.unwrap();
            let headers: Vec<Header<'_>> = r.headers().collect();
            builder
                .append_at(
                    r.offset_delta(),
                    r.timestamp(),
                    r.key(),
                    r.value(),
                    &headers,
                )
                .unwrap();
        }
        let rebuilt = builder.build().unwrap();
        let rebuilt = RecordBatch::new(&rebuilt, 0).unwrap();
        assert_eq!(
            rebuilt.records_bytes(),
            records.raw(),
            "batch at {}",
            b.position()
        );
        if b.compression() == Some(keel_wire::batch::Compression::None) {
            assert_eq!(rebuilt.bytes(), b.bytes(), "batch at {}", b.position());
        }
    }
}
