//! `keel dump-segment`: keel's `kafka-dump-log.sh`. Walks each file's record batches with
//! `keel_wire::batch::BatchIter`, prints one line (or JSON object) per batch, and with
//! `--deep` every record.
//!
//! Exit code 1 when a batch is invalid (CRC mismatch, undefined codec, and with `--deep`
//! a record that does not decode) or a file ends in a truncated batch. Legacy magic 0/1
//! entries are reported, not decoded, and are not invalid.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel_wire::batch::{BatchIter, LegacyMessage, LogEntry, Record, RecordBatch};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log segment files (`<base offset>.log`) to dump.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON Lines: one object per batch with the fields `position, base_offset,
    /// last_offset, count, max_timestamp, compression, transactional, control, crc_valid, size`
    /// (plus `records` with `--deep`).
    #[arg(long)]
    json: bool,
    /// Also decode and print every record of every batch: offset, timestamp, key, value
    /// (text when printable UTF-8, else hex; long ones cut), headers, control record type.
    #[arg(long)]
    deep: bool,
    /// With `--deep`, the most bytes of a key, value or header value to print.
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    max_bytes: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match dump(&args) {
        // `keel dump-segment ... | head`: the reader left; stop quietly.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

fn dump(args: &Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut clean = true;
    for path in &args.files {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if !args.json {
            writeln!(out, "Dumping {}", path.display())?;
        }
        clean &= dump_buffer(&data, args, &mut out)?;
    }
    out.flush()?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Dumps one file's bytes; returns whether everything in it was valid.
fn dump_buffer(data: &[u8], args: &Args, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut clean = true;
    for entry in BatchIter::new(data) {
        match entry {
            Ok(LogEntry::V2(b)) => clean &= dump_batch(&b, args, out)?,
            Ok(LogEntry::Legacy(m)) => dump_legacy(&m, args, out)?,
            Err(e) => {
                clean = false;
                let position = error_position(&e);
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        json!({"error": e.to_string(), "position": position})
                    )?;
                } else {
                    writeln!(out, "error at position {position}: {e}")?;
                }
            }
        }
    }
    Ok(clean)
}

fn dump_batch(b: &RecordBatch<'_>, args: &Args, out: &mut impl Write) -> anyhow::Result<bool> {
    let crc_valid = b.crc_valid();
    let compression = b.compression().map_or("unknown", |c| c.name());
    let mut clean = crc_valid && b.compression().is_some();
    if args.json {
        let mut v = json!({
            "position": b.position(),
            "base_offset": b.base_offset(),
            "last_offset": b.last_offset(),
            "count": b.record_count(),
            "max_timestamp": b.max_timestamp(),
            "compression": compression,
            "transactional": b.is_transactional(),
            "control": b.is_control(),
            "crc_valid": crc_valid,
            "size": b.size(),
        });
        if args.deep {
            let (records, error) = deep_json(b, args.max_bytes);
            v["records"] = Value::Array(records);
            if let Some(e) = error {
                clean = false;
                v["records_error"] = Value::String(e);
            }
        }
        writeln!(out, "{v}")?;
    } else {
        let codec = match b.compression() {
            Some(c) => c.name().to_string(),
            None => format!("unknown({})", b.compression_id()),
        };
        writeln!(
            out,
            "position: {} baseOffset: {} lastOffset: {} count: {} maxTimestamp: {} compression: {} isTransactional: {} isControl: {} crcValid: {} size: {}",
            b.position(),
            b.base_offset(),
            b.last_offset(),
            b.record_count(),
            b.max_timestamp(),
            codec,
            b.is_transactional(),
            b.is_control(),
            crc_valid,
            b.size()
        )?;
        if args.deep {
            clean &= deep_text(b, args.max_bytes, out)?;
        }
    }
    Ok(clean)
}

fn dump_legacy(m: &LegacyMessage<'_>, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    if args.json {
        let v = json!({
            "position": m.position(),
            "legacy_magic": m.magic(),
            "offset": m.offset(),
            "size": m.size(),
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "position: {} legacy magic {} message (not decoded) offset: {} size: {}",
            m.position(),
            m.magic(),
            m.offset(),
            m.size()
        )?;
    }
    Ok(())
}

/// Text: `| offset: .. timestamp: .. key: .. value: .. headers: [..]`, one line per record.
fn deep_text(b: &RecordBatch<'_>, max: usize, out: &mut impl Write) -> anyhow::Result<bool> {
    let records = match b.records() {
        Ok(r) => r,
        Err(e) => {
            writeln!(out, "| error: {e}")?;
            return Ok(false);
        }
    };
    for r in &records {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                writeln!(out, "| error: {e}")?;
                return Ok(false);
            }
        };
        write!(out, "| offset: {} timestamp: {}", r.offset(), r.timestamp())?;
        if let Some(c) = r.control() {
            write!(out, " controlType: {} ({})", c.kind.name(), c.kind.id())?;
            if let Some(m) = r.end_txn_marker() {
                write!(out, " coordinatorEpoch: {}", m.coordinator_epoch)?;
            }
            writeln!(out)?;
            continue;
        }
        write!(
            out,
            " keySize: {} valueSize: {} key: {} value: {}",
            size(r.key()),
            size(r.value()),
            text(r.key(), max),
            text(r.value(), max)
        )?;
        let headers: Vec<String> = r
            .headers()
            .map(|h| format!("{}={}", text(Some(h.key), max), text(h.value, max)))
            .collect();
        writeln!(out, " headers: [{}]", headers.join(", "))?;
    }
    Ok(true)
}

fn deep_json(b: &RecordBatch<'_>, max: usize) -> (Vec<Value>, Option<String>) {
    let records = match b.records() {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut list = Vec::new();
    for r in &records {
        match r {
            Ok(r) => list.push(record_json(&r, max)),
            Err(e) => return (list, Some(e.to_string())),
        }
    }
    (list, None)
}

fn record_json(r: &Record<'_>, max: usize) -> Value {
    let mut v = json!({
        "offset": r.offset(),
        "timestamp": r.timestamp(),
        "key_size": size(r.key()),
        "value_size": size(r.value()),
        "key": json_bytes(r.key(), max),
        "value": json_bytes(r.value(), max),
        "headers": r.headers().map(|h| json!({
            "key": json_bytes(Some(h.key), max),
            "value": json_bytes(h.value, max),
        })).collect::<Vec<_>>(),
    });
    if let Some(c) = r.control() {
        let mut control =
            json!({"type": c.kind.name(), "type_id": c.kind.id(), "version": c.version});
        if let Some(m) = r.end_txn_marker() {
            control["coordinator_epoch"] = json!(m.coordinator_epoch);
        }
        v["control"] = control;
    }
    v
}

fn size(b: Option<&[u8]>) -> i64 {
    b.map_or(-1, |b| b.len() as i64)
}

/// Printable UTF-8 (no control characters but tab/newline) or `None`.
fn printable(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    s.chars()
        .all(|c| !c.is_control() || c == '\t' || c == '\n')
        .then_some(s)
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Text form: `null`, `"text"` (escaped) or `0x0a0b`, with `...` when cut.
fn text(b: Option<&[u8]>, max: usize) -> String {
    let Some(b) = b else {
        return "null".into();
    };
    let more = if b.len() > max { "..." } else { "" };
    match printable(b) {
        Some(s) => format!("\"{}\"{more}", cut(s, max).escape_debug()),
        None => format!("0x{}{more}", hex(&b[..b.len().min(max)])),
    }
}

/// JSON form: `null`, a string (printable UTF-8) or `{"hex": ".."}`, cut to `max` bytes;
/// `key_size`/`value_size` give the full length.
fn json_bytes(b: Option<&[u8]>, max: usize) -> Value {
    let Some(b) = b else { return Value::Null };
    match printable(b) {
        Some(s) => Value::String(cut(s, max).to_string()),
        None => json!({"hex": hex(&b[..b.len().min(max)])}),
    }
}

fn error_position(e: &keel_wire::WireError) -> u64 {
    use keel_wire::WireError as E;
    match e {
        E::Truncated { position, .. }
        | E::CorruptBatch { position, .. }
        | E::UnsupportedMagic { position, .. }
        | E::CrcMismatch { position, .. }
        | E::Record { position, .. }
        | E::Codec { position, .. }
        | E::UnknownCodec { position, .. } => *position,
        _ => 0,
    }
}
