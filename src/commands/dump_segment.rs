//! `keel dump-segment`: keel's `kafka-dump-log.sh`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use keel_wire::batch::{BatchIter, LogEntry};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log segment files (`<base offset>.log`) to dump.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON Lines: one object per batch with the fields `position, base_offset,
    /// last_offset, count, max_timestamp, compression, transactional, control, crc_valid, size`.
    #[arg(long)]
    json: bool,
    /// Also decode and print every record of every batch.
    #[arg(long)]
    deep: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut clean = true;
    for path in &args.files {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if !args.json {
            writeln!(out, "Dumping {}", path.display())?;
        }
        for entry in BatchIter::new(&data) {
            match entry {
                Ok(LogEntry::V2(b)) => {
                    let crc_valid = b.crc_valid();
                    clean &= crc_valid;
                    let compression = b.compression().map_or("unknown", |c| c.name());
                    if args.json {
                        let v = serde_json::json!({
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
                        writeln!(out, "{v}")?;
                    } else {
                        writeln!(
                            out,
                            "position: {} baseOffset: {} lastOffset: {} count: {} maxTimestamp: {} compression: {} isTransactional: {} isControl: {} crcValid: {} size: {}",
                            b.position(),
                            b.base_offset(),
                            b.last_offset(),
                            b.record_count(),
                            b.max_timestamp(),
                            compression,
                            b.is_transactional(),
                            b.is_control(),
                            crc_valid,
                            b.size()
                        )?;
                    }
                }
                Ok(LogEntry::Legacy(m)) => {
                    clean = false;
                    let msg = format!(
                        "legacy magic {} message set (not decoded): offset {} size {}",
                        m.magic(),
                        m.offset(),
                        m.size()
                    );
                    if args.json {
                        let v = serde_json::json!({"error": msg, "position": m.position()});
                        writeln!(out, "{v}")?;
                    } else {
                        writeln!(out, "position: {} {msg}", m.position())?;
                    }
                }
                Err(e) => {
                    clean = false;
                    let position = error_position(&e);
                    if args.json {
                        let v = serde_json::json!({"error": e.to_string(), "position": position});
                        writeln!(out, "{v}")?;
                    } else {
                        writeln!(out, "error at position {position}: {e}")?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
