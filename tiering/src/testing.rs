//! Test and bench support: synthetic Kafka log dirs written with keel-wire's batch encoder
//! and index builder, laid out as a JVM broker does (`<topic>-<partition>/` folders with
//! `.log`, `.index`, `.timeindex`, `leader-epoch-checkpoint`, and the log dir's
//! `replication-offset-checkpoint`). Not for production use.

use std::path::{Path, PathBuf};

use keel_wire::batch::RecordBatchBuilder;
use keel_wire::segment::{
    EpochEntry, LeaderEpochCheckpoint, OffsetCheckpoint, OffsetCheckpointEntry, SegmentIndexBuilder,
};

use crate::error::{Result, TieringError};
use crate::keys::TopicPartition;

/// What synthetic record values hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A short repeating pattern (compresses to almost nothing).
    Pattern,
    /// Pseudo-random bytes, different per record (zstd cannot shrink them).
    Noise,
}

/// Encodes one batch of `records` records of `value_len` bytes starting at `base_offset`,
/// with timestamps `ts, ts+1, ...`.
pub fn batch(
    base_offset: i64,
    records: u32,
    value_len: usize,
    ts: i64,
    epoch: i32,
) -> Result<Vec<u8>> {
    batch_with(base_offset, records, value_len, ts, epoch, Fill::Pattern)
}

/// [`batch`] with the values filled as `fill` says.
pub fn batch_with(
    base_offset: i64,
    records: u32,
    value_len: usize,
    ts: i64,
    epoch: i32,
    fill: Fill,
) -> Result<Vec<u8>> {
    let mut value: Vec<u8> = (0..value_len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(base_offset as u8))
        .collect();
    let mut b = RecordBatchBuilder::new(base_offset).partition_leader_epoch(epoch);
    for i in 0..records {
        if fill == Fill::Noise {
            // xorshift64*, seeded by the record's offset.
            let mut x = (base_offset as u64 + u64::from(i)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for chunk in value.chunks_mut(8) {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
        }
        b.append(
            ts + i64::from(i),
            Some(format!("k{i}").as_bytes()),
            Some(&value),
            &[],
        )
        .map_err(|e| wire_err("synthetic batch", e))?;
    }
    b.build().map_err(|e| wire_err("synthetic batch", e))
}

fn wire_err(what: &str, e: keel_wire::WireError) -> TieringError {
    TieringError::Wire {
        path: PathBuf::from(what),
        source: Box::new(e),
    }
}

/// Shape of a synthetic segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSpec {
    pub batches: u32,
    pub records_per_batch: u32,
    pub value_len: usize,
}

/// Bytes of a segment's `.log` starting at `base`; returns the bytes and the next offset.
pub fn segment_bytes(base: i64, spec: SegmentSpec, ts0: i64, epoch: i32) -> Result<(Vec<u8>, i64)> {
    segment_bytes_with(base, spec, ts0, epoch, Fill::Pattern)
}

/// [`segment_bytes`] with the values filled as `fill` says.
pub fn segment_bytes_with(
    base: i64,
    spec: SegmentSpec,
    ts0: i64,
    epoch: i32,
    fill: Fill,
) -> Result<(Vec<u8>, i64)> {
    let mut out = Vec::new();
    let mut next = base;
    for i in 0..spec.batches {
        out.extend(batch_with(
            next,
            spec.records_per_batch,
            spec.value_len,
            ts0 + i64::from(i) * 1000,
            epoch,
            fill,
        )?);
        next += i64::from(spec.records_per_batch);
    }
    Ok((out, next))
}

/// Writes a partition folder with `specs.len()` segments (the last one is the active
/// segment) and returns the log end offset. Timestamps start at `ts0`.
pub fn write_partition(
    log_dir: &Path,
    tp: &TopicPartition,
    specs: &[SegmentSpec],
    ts0: i64,
    epoch: i32,
) -> Result<i64> {
    write_partition_with(log_dir, tp, specs, ts0, epoch, Fill::Pattern)
}

/// [`write_partition`] with the values filled as `fill` says.
pub fn write_partition_with(
    log_dir: &Path,
    tp: &TopicPartition,
    specs: &[SegmentSpec],
    ts0: i64,
    epoch: i32,
    fill: Fill,
) -> Result<i64> {
    let dir = log_dir.join(tp.to_string());
    std::fs::create_dir_all(&dir).map_err(|e| TieringError::io("create", &dir, e))?;
    let mut base = 0i64;
    let mut ts = ts0;
    for spec in specs {
        let (log, next) = segment_bytes_with(base, *spec, ts, epoch, fill)?;
        ts += i64::from(spec.batches) * 1000;
        write_segment(&dir, base, &log)?;
        base = next;
    }
    let lec = LeaderEpochCheckpoint {
        entries: vec![EpochEntry {
            epoch,
            start_offset: 0,
        }],
    };
    let p = dir.join("leader-epoch-checkpoint");
    std::fs::write(&p, lec.encode()).map_err(|e| TieringError::io("write", &p, e))?;
    Ok(base)
}

/// One segment made of runs of batches with different shapes (offsets continue across runs;
/// run `i` starts at timestamp `i × ts_step`).
pub fn mixed_segment_bytes(specs: &[SegmentSpec], ts_step: i64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut next = 0;
    for (i, spec) in specs.iter().enumerate() {
        let (bytes, n) = segment_bytes(next, *spec, i as i64 * ts_step, 1)?;
        out.extend(bytes);
        next = n;
    }
    Ok(out)
}

/// Every file under `dir`, recursively, as paths relative to `dir`, sorted. Includes what
/// listing a store hides, such as the local filesystem's staging files (`<object>#<n>`).
/// A missing `dir` has no files.
pub fn files_under(dir: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(TieringError::io("read dir", dir, e)),
        };
        for e in entries {
            let p = e.map_err(|e| TieringError::io("read dir", dir, e))?.path();
            if p.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                out.push(rel.display().to_string());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Writes `<base>.log`, `.index` and `.timeindex` into `dir`.
pub fn write_segment(dir: &Path, base: i64, log: &[u8]) -> Result<()> {
    let name = format!("{base:020}");
    let ix = SegmentIndexBuilder::new(base)
        .build(log)
        .map_err(|e| wire_err("index builder", e))?;
    for (ext, bytes) in [
        ("log", log),
        ("index", &ix.offset_index[..]),
        ("timeindex", &ix.time_index[..]),
    ] {
        let p = dir.join(format!("{name}.{ext}"));
        std::fs::write(&p, bytes).map_err(|e| TieringError::io("write", &p, e))?;
    }
    Ok(())
}

/// The ~64 MiB segment the upload measurements use (128 batches of 8 records of 64 KiB,
/// base offset 0), written to `dir` with its indexes: its files and its bytes.
pub fn upload_bench_segment(dir: &Path) -> Result<(crate::upload::SegmentSource, Vec<u8>)> {
    let spec = SegmentSpec {
        batches: 128,
        records_per_batch: 8,
        value_len: 64 * 1024,
    };
    segment_source(dir, spec)
}

/// A segment of `spec` (base offset 0) written to `dir` with its offset and time indexes:
/// its files and its bytes.
pub fn segment_source(
    dir: &Path,
    spec: SegmentSpec,
) -> Result<(crate::upload::SegmentSource, Vec<u8>)> {
    let (log, next) = segment_bytes(0, spec, 0, 1)?;
    write_segment(dir, 0, &log)?;
    let file = |ext: &str| dir.join(format!("{:020}.{ext}", 0));
    let src = crate::upload::SegmentSource {
        base_offset: 0,
        next_base_offset: next,
        log: file("log"),
        offset_index: Some(file("index")),
        time_index: Some(file("timeindex")),
        txn_index: None,
        producer_snapshot: None,
        leader_epoch_checkpoint: None,
    };
    Ok((src, log))
}

/// Deletes every object under the store's prefix (between measured runs).
pub async fn clear_store(store: &crate::TierStore) -> Result<()> {
    let keys = store.list_all(&store.prefix).await?;
    store
        .delete_all(keys.into_iter().map(|m| m.location).collect())
        .await
        .map(|_| ())
}

/// Writes the log dir's `replication-offset-checkpoint` (high watermarks).
pub fn write_high_watermarks(log_dir: &Path, hws: &[(TopicPartition, i64)]) -> Result<()> {
    let cp = OffsetCheckpoint {
        entries: hws
            .iter()
            .map(|(tp, o)| OffsetCheckpointEntry {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: *o,
            })
            .collect(),
    };
    let p = log_dir.join("replication-offset-checkpoint");
    std::fs::write(&p, cp.encode()).map_err(|e| TieringError::io("write", &p, e))
}
