//! `keel dump-segment` end to end: runs the built binary on the kafka-python fixture and on
//! corrupted, truncated and legacy copies of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Command;

use keel_wire::batch::{Compression, RecordBatchBuilder};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kafka-python/all-codecs.log"
);
const EXPECTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kafka-python/expected.json"
);
const BATCH_FIELDS: [&str; 10] = [
    "position",
    "base_offset",
    "last_offset",
    "count",
    "max_timestamp",
    "compression",
    "transactional",
    "control",
    "crc_valid",
    "size",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn keel(args: &[&str], files: &[&Path]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("dump-segment")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn expected_batches() -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(EXPECTED).unwrap()).unwrap();
    v["batches"].as_array().unwrap().clone()
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn json_has_exactly_the_batch_fields_and_matches_the_fixture() {
    let run = keel(&["--json"], &[Path::new(FIXTURE)]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let lines = json_lines(&run.stdout);
    let want = expected_batches();
    assert_eq!(lines.len(), want.len());
    for (got, w) in lines.iter().zip(&want) {
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut sorted_want = BATCH_FIELDS.to_vec();
        sorted_want.sort();
        let mut sorted_got = keys.clone();
        sorted_got.sort();
        assert_eq!(sorted_got, sorted_want);
        for f in [
            "position",
            "base_offset",
            "last_offset",
            "count",
            "max_timestamp",
            "compression",
            "transactional",
            "control",
            "size",
        ] {
            assert_eq!(got[f], w[f], "field {f} of {}", w["label"]);
        }
        assert_eq!(got["crc_valid"], Value::Bool(true));
    }
}

#[test]
fn text_mode_prints_one_line_per_batch() {
    let run = keel(&[], &[Path::new(FIXTURE)]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("Dumping "));
    let batches: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("position: "))
        .collect();
    assert_eq!(batches.len(), 11);
    assert!(batches[0].starts_with("position: 0 baseOffset: 0 lastOffset: 4 count: 5 "));
    assert!(batches[9].contains("isTransactional: true isControl: true crcValid: true"));
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            batches
                .iter()
                .any(|l| l.contains(&format!("compression: {codec} "))),
            "{codec}"
        );
    }
}

#[test]
fn deep_json_prints_every_record() {
    let run = keel(
        &["--json", "--deep", "--max-bytes", "100000"],
        &[Path::new(FIXTURE)],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let lines = json_lines(&run.stdout);
    for (got, w) in lines.iter().zip(expected_batches()) {
        let records = got["records"].as_array().unwrap();
        let want = w["records"].as_array().unwrap();
        assert_eq!(records.len(), want.len());
        for (r, wr) in records.iter().zip(want) {
            assert_eq!(r["offset"], wr["offset"]);
            assert_eq!(r["timestamp"], wr["timestamp"]);
            for (field, hex_field, size_field) in [
                ("key", "key_hex", "key_size"),
                ("value", "value_hex", "value_size"),
            ] {
                match wr[hex_field].as_str() {
                    None => {
                        assert!(r[field].is_null());
                        assert_eq!(r[size_field], -1);
                    }
                    Some(h) => {
                        assert_eq!(r[size_field].as_u64().unwrap() as usize, h.len() / 2);
                        // Text values print as text, binary ones as hex.
                        let shown = match &r[field] {
                            Value::String(s) => {
                                s.bytes().map(|b| format!("{b:02x}")).collect::<String>()
                            }
                            other => other["hex"].as_str().unwrap().to_string(),
                        };
                        assert_eq!(shown, h);
                    }
                }
            }
            assert_eq!(
                r["headers"].as_array().unwrap().len(),
                wr["headers"].as_array().unwrap().len()
            );
            if wr.get("control_type").is_some() {
                assert_eq!(r["control"]["type"], "COMMIT");
                assert_eq!(r["control"]["coordinator_epoch"], 17);
            }
        }
    }
    // The binary batch really was shown as hex.
    let last = &lines[10]["records"][0];
    assert_eq!(
        last["key"]["hex"].as_str().unwrap()[..8].to_string(),
        "00010203"
    );
}

#[test]
fn deep_text_cuts_long_values_and_names_control_records() {
    let run = keel(&["--deep"], &[Path::new(FIXTURE)]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let out = &run.stdout;
    assert!(out.contains("| offset: 0 timestamp: 1700000000000 keySize: 10 valueSize: 260 key: \"none-key-0\" value: \"none value 0 "));
    assert!(out.contains("key: null"), "null key");
    assert!(out.contains("value: null"), "tombstone");
    assert!(out.contains("\"trace-id\"=\"none-0000\", \"empty\"=\"\", \"null\"=null"));
    assert!(out.contains("controlType: COMMIT (1) coordinatorEpoch: 17"));
    assert!(out.contains("key: 0x000102"));
    // Values longer than the default 64 bytes are cut and marked.
    let long = out.lines().find(|l| l.contains("valueSize: 260")).unwrap();
    assert!(long.contains("...\" ") || long.contains("\"... "), "{long}");
    assert!(long.len() < 260, "{long}");
    let records = out.lines().filter(|l| l.starts_with("| offset: ")).count();
    assert_eq!(records, 74);
}

#[test]
fn crc_mismatch_is_reported_and_the_dump_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(FIXTURE).unwrap();
    let want = expected_batches();
    // Flip a byte inside the third batch's records (position + 100).
    let third = want[2]["position"].as_u64().unwrap() as usize;
    bytes[third + 100] ^= 0x40;
    let p = write_temp(&dir, "00000000000000000000.log", &bytes);
    let run = keel(&["--json"], &[&p]);
    assert_eq!(run.code, 1);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 11, "the dump goes on after the bad batch");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["crc_valid"], Value::Bool(i != 2), "batch {i}");
    }
    let text = keel(&[], &[&p]);
    assert_eq!(text.code, 1);
    assert_eq!(text.stdout.matches("crcValid: false").count(), 1);
}

#[test]
fn truncated_tail_ends_with_an_error_object() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(FIXTURE).unwrap();
    let want = expected_batches();
    let last = want[10]["position"].as_u64().unwrap();
    let p = write_temp(&dir, "cut.log", &bytes[..bytes.len() - 5]);
    let run = keel(&["--json"], &[&p]);
    assert_eq!(run.code, 1);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 11);
    let tail = lines.last().unwrap();
    let mut keys: Vec<&String> = tail.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["error", "position"]);
    assert_eq!(tail["position"], last);
    assert!(tail["error"].as_str().unwrap().contains("truncated"));
    assert!(
        lines[..10]
            .iter()
            .all(|l| l["crc_valid"] == Value::Bool(true))
    );
}

#[test]
fn clean_file_of_keel_batches_exits_zero_and_empty_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        let mut b = RecordBatchBuilder::new(i as i64 * 10).compression(codec);
        for j in 0..10 {
            b.append(j, Some(b"k"), Some(b"v"), &[]).unwrap();
        }
        b.write_to(&mut log).unwrap();
    }
    let p = write_temp(&dir, "keel.log", &log);
    let run = keel(&["--json", "--deep"], &[&p]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["compression"], "zstd");
    assert_eq!(lines[4]["records"][9]["offset"], 49);
    let empty = write_temp(&dir, "empty.log", &[]);
    let run = keel(&["--json"], &[&empty]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, "");
}

/// A magic 1 message (offset, size, crc, magic, attributes, timestamp, key, value).
fn legacy_v1(offset: i64, value: &[u8]) -> Vec<u8> {
    let mut body = vec![1u8, 0];
    body.extend(1_600_000_000_000i64.to_be_bytes());
    body.extend((-1i32).to_be_bytes());
    body.extend((value.len() as i32).to_be_bytes());
    body.extend(value);
    let mut v = offset.to_be_bytes().to_vec();
    v.extend(((body.len() + 4) as i32).to_be_bytes());
    v.extend(0u32.to_be_bytes()); // CRC is not checked for legacy entries
    v.extend(body);
    v
}

#[test]
fn legacy_entries_are_reported_but_not_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = legacy_v1(0, b"old");
    log.extend(legacy_v1(1, b"older"));
    let mut b = RecordBatchBuilder::new(2);
    b.append(5, None, Some(b"new"), &[]).unwrap();
    b.write_to(&mut log).unwrap();
    let p = write_temp(&dir, "mixed.log", &log);
    let run = keel(&["--json"], &[&p]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["legacy_magic"], 1);
    assert_eq!(lines[1]["offset"], 1);
    assert_eq!(lines[1]["position"], 37);
    assert!(lines[0].get("error").is_none());
    assert_eq!(lines[2]["base_offset"], 2);
    let text = keel(&[], &[&p]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout
            .contains("legacy magic 1 message (not decoded) offset: 0")
    );
}

#[test]
fn undecodable_records_fail_a_deep_dump_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RecordBatchBuilder::new(0);
    b.append(5, None, Some(b"value"), &[]).unwrap();
    let mut v = b.build().unwrap();
    // Claim two records where there is one, and fix the CRC so only --deep can tell.
    v[57..61].copy_from_slice(&2i32.to_be_bytes());
    let crc = crc32c_of(&v[21..]);
    v[17..21].copy_from_slice(&crc.to_be_bytes());
    let p = write_temp(&dir, "short.log", &v);
    assert_eq!(keel(&["--json"], &[&p]).code, 0);
    let run = keel(&["--json", "--deep"], &[&p]);
    assert_eq!(run.code, 1);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines[0]["records"].as_array().unwrap().len(), 1);
    assert!(
        lines[0]["records_error"]
            .as_str()
            .unwrap()
            .contains("record 1")
    );
}

fn crc32c_of(b: &[u8]) -> u32 {
    // Re-read through keel's own view so the test needs no extra crate.
    let mut batch = vec![0u8; 21];
    batch.extend_from_slice(b);
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    batch[16] = 2;
    keel_wire::batch::RecordBatch::new(&batch, 0)
        .unwrap()
        .compute_crc()
}

#[test]
fn missing_file_is_a_usage_error() {
    let run = keel(&[], &[Path::new("/nonexistent/00000000000000000000.log")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/00000000000000000000.log"));
}
