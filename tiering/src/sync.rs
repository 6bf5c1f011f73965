//! The sidecar's loop over a JVM broker's log dir: for each `<topic>-<partition>/` folder,
//! upload the eligible segments oldest first ([`crate::eligibility`]), then apply local
//! retention ([`crate::retention::plan_local_retention`]) when asked to delete local files.
//!
//! Sidecar mode reads the high watermark from the log dir's `replication-offset-checkpoint`
//! as the stable offset (the broker's LSO is not on disk; see [`crate::eligibility`]), and
//! the writer's leader epoch from the partition's `leader-epoch-checkpoint`.
//!
//! Static stability: a partition whose store requests fail keeps every local file, reports
//! how far behind it is (metric `keel_tier_lag_bytes` / `keel_tier_lag_segments` and a
//! warning), and is retried on the next pass; other partitions carry on. Local files are
//! only deleted after the manifest that covers them is committed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_wire::segment::{
    LeaderEpochCheckpoint, OffsetCheckpoint, PartitionDir, PartitionDirState,
};

use crate::config::TierConfig;
use crate::eligibility::{LocalSegmentInfo, UploadDecision, next_upload, upload_lag};
use crate::error::{Result, TieringError};
use crate::keys::TopicPartition;
use crate::manifest::SegmentManifest;
use crate::manifest_store;
use crate::retention::plan_local_retention;
use crate::store::TierStore;
use crate::upload::{SegmentSource, UploadOptions, upload_segment};

/// The partitions of a log dir and its high watermarks.
#[derive(Debug)]
pub struct LogDir {
    pub path: PathBuf,
    pub partitions: Vec<(TopicPartition, PartitionDir)>,
    /// From `replication-offset-checkpoint`; empty when the file is missing.
    pub high_watermarks: HashMap<TopicPartition, i64>,
}

/// Lists a log dir's live partition folders and reads its high watermarks.
pub fn scan_log_dir(path: &Path) -> Result<LogDir> {
    let mut partitions = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| TieringError::io("read dir", path, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TieringError::io("read dir", path, e))?;
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let dir = entry.path();
        let Some(tp) = entry
            .file_name()
            .to_str()
            .and_then(TopicPartition::parse_dir_name)
        else {
            continue;
        };
        let pd = PartitionDir::scan(&dir).map_err(|e| TieringError::Wire {
            path: dir.clone(),
            source: Box::new(e),
        })?;
        if pd
            .name()
            .map(|n| n.state == PartitionDirState::Live)
            .unwrap_or(false)
        {
            partitions.push((tp, pd));
        }
    }
    partitions.sort_by(|a, b| a.0.cmp(&b.0));
    let cp_path = path.join("replication-offset-checkpoint");
    let high_watermarks = if cp_path.exists() {
        OffsetCheckpoint::read_file(&cp_path)
            .map_err(|e| TieringError::Wire {
                path: cp_path.clone(),
                source: Box::new(e),
            })?
            .entries
            .into_iter()
            .map(|e| (TopicPartition::new(e.topic, e.partition), e.offset))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(LogDir {
        path: path.to_path_buf(),
        partitions,
        high_watermarks,
    })
}

/// Local segment facts for the pure cores. A segment whose log file is gone since `pd` was
/// scanned is left out: brokers delete segments (retention, topic deletion) at any time.
pub fn local_infos(pd: &PartitionDir) -> Result<Vec<LocalSegmentInfo>> {
    pd.segments
        .iter()
        .filter_map(|s| s.log.as_ref().map(|log| (s, log)))
        .filter_map(|(s, log)| match std::fs::metadata(log) {
            Ok(m) => Some(Ok(LocalSegmentInfo {
                base_offset: s.base_offset,
                size_bytes: m.len(),
                max_timestamp: local_max_timestamp(s),
            })),
            // Deleted since the scan (the broker's retention, or the topic being deleted):
            // the segment is no longer local.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(TieringError::io("stat", log, e))),
        })
        .collect()
}

/// A closed segment's largest timestamp: the last `.timeindex` entry (Kafka appends one on
/// roll). `None` when the file is missing, empty or unreadable.
fn local_max_timestamp(s: &keel_wire::segment::SegmentFiles) -> Option<i64> {
    let bytes = std::fs::read(s.time_index.as_ref()?).ok()?;
    let ix = keel_wire::segment::TimeIndex::parse(&bytes, s.base_offset).ok()?;
    (!ix.is_empty())
        .then(|| ix.last_entry().timestamp)
        .filter(|t| *t >= 0)
}

/// Leader epoch of the partition's writer: the latest entry of `leader-epoch-checkpoint`.
pub fn leader_epoch(pd: &PartitionDir) -> Result<i32> {
    match &pd.leader_epoch_checkpoint {
        Some(p) => Ok(LeaderEpochCheckpoint::read_file(p)
            .map_err(|e| TieringError::Wire {
                path: p.clone(),
                source: Box::new(e),
            })?
            .latest()
            .map_or(0, |e| e.epoch)),
        None => Ok(0),
    }
}

/// What one pass over a partition did.
#[derive(Debug, Default)]
pub struct PartitionReport {
    pub uploaded: Vec<i64>,
    pub deleted_local: Vec<i64>,
    pub lag_segments: usize,
    pub lag_bytes: u64,
    pub waiting: Option<UploadDecision>,
    pub committed_end: i64,
}

/// Settings of a pass over a log dir.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub cfg: TierConfig,
    pub opts: UploadOptions,
    /// Wall clock (ms since the epoch) for local retention by time.
    pub now_ms: i64,
    /// Delete local segments that local retention allows (only committed ones).
    pub delete_local: bool,
    /// Partitions synced at once.
    pub partition_concurrency: usize,
}

/// Uploads every eligible segment of one partition, then (if `delete_local`) deletes the
/// local segments local retention allows. `now_ms` drives local retention by time.
pub async fn sync_partition(
    store: &TierStore,
    tp: &TopicPartition,
    pd: &PartitionDir,
    high_watermark: Option<i64>,
    settings: &SyncSettings,
) -> Result<PartitionReport> {
    let SyncSettings {
        cfg,
        opts,
        now_ms,
        delete_local,
        ..
    } = settings;
    let (now_ms, delete_local) = (*now_ms, *delete_local);
    let mut report = PartitionReport::default();
    if !cfg.remote_storage_enable {
        return Ok(report);
    }
    let epoch = leader_epoch(pd)?;
    let mut manifest = manifest_store::load(store, tp)
        .await?
        .unwrap_or_else(SegmentManifest::new);
    manifest.check_fence(&tp.to_string(), epoch)?;
    let local = local_infos(pd)?;
    let stable = high_watermark.unwrap_or(-1);
    let result: Result<()> = async {
        loop {
            let has_remote = manifest.readable().next().is_some();
            let decision = next_upload(&local, stable, manifest.committed_end_offset(), has_remote);
            let UploadDecision::Upload { index, gap_from } = decision else {
                if decision != UploadDecision::UpToDate {
                    report.waiting = Some(decision);
                }
                if let UploadDecision::Misaligned { .. } = decision {
                    tracing::error!(partition = %tp, ?decision, "remote log ends inside a local segment; not uploading");
                }
                return Ok(());
            };
            if let Some(from) = gap_from {
                tracing::warn!(partition = %tp, from, to = local[index].base_offset, "gap in the remote log: local data is already gone");
            }
            let files = &pd.segments[index];
            let next_base = local[index + 1].base_offset;
            let src = SegmentSource {
                base_offset: files.base_offset,
                next_base_offset: next_base,
                log: files.log.clone().unwrap_or_default(),
                offset_index: files.offset_index.clone(),
                time_index: files.time_index.clone(),
                txn_index: files.txn_index.clone(),
                producer_snapshot: pd.producer_snapshots.get(&next_base).cloned(),
                leader_epoch_checkpoint: pd.leader_epoch_checkpoint.clone(),
            };
            upload_segment(store, tp, &src, epoch, &mut manifest, opts).await?;
            report.uploaded.push(files.base_offset);
        }
    }
    .await;
    report.committed_end = manifest.committed_end_offset();
    let (lag_segments, lag_bytes) = upload_lag(&local, report.committed_end);
    report.lag_segments = lag_segments;
    report.lag_bytes = lag_bytes;
    let labels = [("partition", tp.to_string())];
    metrics::gauge!("keel_tier_lag_segments", &labels).set(lag_segments as f64);
    metrics::gauge!("keel_tier_lag_bytes", &labels).set(lag_bytes as f64);
    if let Err(e) = result {
        if lag_segments > 0 {
            tracing::warn!(partition = %tp, lag_segments, lag_bytes, committed_end = report.committed_end, error = %e,
                "tiering is behind; local segments are kept until they are committed remotely");
        }
        return Err(e);
    }
    if delete_local {
        let plan = plan_local_retention(&local, &manifest, cfg, now_ms);
        for base in &plan.deletable {
            delete_local_segment(pd, *base)?;
            report.deleted_local.push(*base);
        }
    }
    Ok(report)
}

/// Deletes a local segment's `.log` and index files (the `.log` last).
fn delete_local_segment(pd: &PartitionDir, base: i64) -> Result<()> {
    let Some(files) = pd.segments.iter().find(|s| s.base_offset == base) else {
        return Ok(());
    };
    for p in [
        &files.offset_index,
        &files.time_index,
        &files.txn_index,
        &files.log,
    ]
    .into_iter()
    .flatten()
    {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(TieringError::io("delete local segment file", p, e)),
        }
    }
    Ok(())
}

/// The result of one pass over a log dir: per partition, a report or the error that
/// stopped it (other partitions carry on).
#[derive(Debug, Default)]
pub struct LogDirReport {
    pub partitions: Vec<(TopicPartition, Result<PartitionReport>)>,
}

/// One pass over every partition of `log_dir`, `partition_concurrency` at a time.
pub async fn sync_log_dir(
    store: &TierStore,
    log_dir: &Path,
    settings: &SyncSettings,
) -> Result<LogDirReport> {
    sync_log_dir_where(store, log_dir, settings, |_| true).await
}

/// [`sync_log_dir`] over the partitions `keep` accepts only (`keel tier upload --topic`).
pub async fn sync_log_dir_where(
    store: &TierStore,
    log_dir: &Path,
    settings: &SyncSettings,
    keep: impl Fn(&TopicPartition) -> bool,
) -> Result<LogDirReport> {
    let mut dir = scan_log_dir(log_dir)?;
    dir.partitions.retain(|(tp, _)| keep(tp));
    let sem = Arc::new(tokio::sync::Semaphore::new(
        settings.partition_concurrency.max(1),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for (tp, pd) in dir.partitions {
        let hw = dir.high_watermarks.get(&tp).copied();
        let (store, settings, sem) = (store.clone(), settings.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = sync_partition(&store, &tp, &pd, hw, &settings).await;
            // Deleted since the scan (topic deletion, partition moved away): nothing left
            // to tier, and not a failure of the pass.
            let gone = r.is_err() && !pd.path.exists();
            (tp, r, gone)
        });
    }
    let mut report = LogDirReport::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((tp, r, false)) = joined {
            report.partitions.push((tp, r));
        }
    }
    report.partitions.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(report)
}
