//! The tiering loop: every interval, upload the closed segments of the broker's log dir
//! (`keel_tiering::sync::sync_log_dir`, as `keel tier upload` does) and, if enabled, apply
//! remote retention to the partitions of this log dir (as `keel tier expire --log-dir` does).
//!
//! The setup both share lives here ([`sync_settings`], [`expire_all`]) and
//! `src/commands/tier.rs` calls it, so the CLI and the sidecar cannot drift apart.
//! A store outage fails the pass (retried with backoff); nothing local is deleted unless it
//! is committed remotely (the tiering crate's rule), so an outage never loses data.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_tiering::expire::ExpireReport;
use keel_tiering::ratelimit::RateLimiter;
use keel_tiering::retention::LocalRetentionReport;
use keel_tiering::sync::{SyncSettings, scan_log_dir, sync_log_dir};
use keel_tiering::upload::{UploadOptions, new_attempt_id};
use keel_tiering::{TierConfig, TierStore, TopicPartition, expire, manifest_store};

/// Upload knobs shared by `keel tier upload` and the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadKnobs {
    /// Multipart part size, bytes.
    pub part_size: usize,
    /// Parts in flight per segment.
    pub concurrency: usize,
    /// Partitions at once.
    pub partitions: usize,
    /// Rate limit, bytes/s.
    pub rate: Option<u64>,
    /// zstd level.
    pub zstd_level: Option<i32>,
    /// Delete local segments local retention allows.
    pub delete_local: bool,
}

/// The [`SyncSettings`] for `cfg` and `knobs` (a fresh writer id; `now_ms` is set per pass).
pub fn sync_settings(cfg: TierConfig, knobs: UploadKnobs) -> SyncSettings {
    SyncSettings {
        cfg,
        opts: UploadOptions {
            part_size: knobs.part_size,
            concurrency: knobs.concurrency,
            rate: knobs.rate.map(|r| Arc::new(RateLimiter::new(r))),
            writer_id: new_attempt_id(),
            zstd_level: knobs.zstd_level,
            chunk_size: keel_tiering::chunks::DEFAULT_CHUNK_SIZE,
        },
        now_ms: now_ms(),
        delete_local: knobs.delete_local,
        partition_concurrency: knobs.partitions,
    }
}

/// Wall clock, ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One partition's retention outcome.
#[derive(Debug)]
pub struct PartitionExpiry {
    /// The partition.
    pub tp: TopicPartition,
    /// Remote retention.
    pub result: keel_tiering::Result<ExpireReport>,
    /// Local retention (when a log dir was given and holds the partition).
    pub local: Option<LocalRetentionReport>,
}

/// Applies remote retention to the store's partitions, sorted; with `log_dir`, local-only
/// bytes count towards `retention.bytes` and the local retention report is computed. With
/// `only_local`, only partitions present in `log_dir` are expired (one sidecar per broker
/// then expires only what its broker holds). A per-partition failure is in its result; a
/// failure to list or scan is the error.
pub async fn expire_all(
    store: &TierStore,
    cfg: &TierConfig,
    log_dir: Option<&Path>,
    only_local: bool,
    now: i64,
) -> anyhow::Result<Vec<PartitionExpiry>> {
    let mut local_only = HashMap::new();
    let local_dir = match log_dir {
        Some(d) => Some(scan_log_dir(d)?),
        None => None,
    };
    let mut tps = expire::list_partitions(store).await?;
    if let Some(dir) = &local_dir {
        for (tp, pd) in &dir.partitions {
            let local = keel_tiering::sync::local_infos(pd)
                .and_then(|infos| Ok((infos, keel_tiering::sync::leader_epoch(pd)?)));
            let (infos, epoch) = match local {
                Ok(x) => x,
                // Deleted since the scan (the topic was deleted or the partition moved away).
                Err(_) if !pd.path.exists() => continue,
                Err(e) => return Err(e.into()),
            };
            let m = manifest_store::load(store, tp).await?.unwrap_or_default();
            let end = m.committed_end_offset();
            let bytes: u64 = infos
                .iter()
                .filter(|s| s.base_offset >= end)
                .map(|s| s.size_bytes)
                .sum();
            local_only.insert(tp.clone(), (bytes, infos, epoch));
        }
        if only_local {
            let here: BTreeSet<&TopicPartition> = dir.partitions.iter().map(|(tp, _)| tp).collect();
            tps.retain(|tp| here.contains(tp));
        }
    }
    tps.sort();
    let mut out = Vec::with_capacity(tps.len());
    for tp in tps {
        // With a log dir, manifest writes are fenced by the partition's leader epoch from its
        // `leader-epoch-checkpoint` (a sidecar next to a former leader changes nothing);
        // without, by the manifest's own epoch.
        let (bytes, epoch) = local_only
            .get(&tp)
            .map_or((0, None), |(b, _, e)| (*b, Some(*e)));
        let writer = expire::ExpireWriter {
            epoch,
            id: new_attempt_id(),
        };
        let result = expire::expire_partition(store, &tp, cfg, bytes, now, writer).await;
        let local = match local_only.get(&tp) {
            Some((_, infos, _)) => {
                let m = manifest_store::load(store, &tp).await?.unwrap_or_default();
                Some(keel_tiering::retention::plan_local_retention(
                    infos, &m, cfg, now,
                ))
            }
            None => None,
        };
        out.push(PartitionExpiry { tp, result, local });
    }
    Ok(out)
}

/// How far behind tiering is: closed local segments (and their bytes) not yet committed
/// remotely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TieringLag {
    /// Closed segments not yet uploaded.
    pub segments: usize,
    /// Their `.log` bytes.
    pub bytes: u64,
}

impl std::ops::AddAssign for TieringLag {
    fn add_assign(&mut self, o: TieringLag) {
        self.segments += o.segments;
        self.bytes += o.bytes;
    }
}

/// The lag of one partition whose pass failed before it could read its manifest (the store
/// is down): its closed local segments past `committed_end` (the last committed end this
/// loop saw, or the start of the log when it never reached the store). Pure.
pub fn lag_past(
    local: &[keel_tiering::eligibility::LocalSegmentInfo],
    committed_end: Option<i64>,
) -> TieringLag {
    let end = committed_end
        .unwrap_or_else(|| keel_tiering::SegmentManifest::new().committed_end_offset());
    let (segments, bytes) = keel_tiering::eligibility::upload_lag(local, end);
    TieringLag { segments, bytes }
}

/// The tiering loop: its settings and what it remembers between passes.
#[derive(Debug, Clone)]
pub struct TieringLoop {
    /// The broker's log dir.
    pub log_dir: PathBuf,
    /// The store.
    pub store: TierStore,
    /// Upload settings (`now_ms` refreshed per pass).
    pub settings: SyncSettings,
    /// Run remote retention after uploading.
    pub expire: bool,
    /// The committed end offset each partition had at its last successful pass (the last
    /// good state, kept through a store outage to say how far behind tiering is).
    committed: HashMap<TopicPartition, i64>,
}

impl TieringLoop {
    /// A loop over `log_dir` uploading to `store`.
    pub fn new(log_dir: PathBuf, store: TierStore, settings: SyncSettings, expire: bool) -> Self {
        TieringLoop {
            log_dir,
            store,
            settings,
            expire,
            committed: HashMap::new(),
        }
    }

    /// The lag of the partitions in `failed` from the local log dir alone (no store call).
    fn local_lag(&self, failed: &[&TopicPartition]) -> anyhow::Result<TieringLag> {
        let mut lag = TieringLag::default();
        if failed.is_empty() {
            return Ok(lag);
        }
        let dir = scan_log_dir(&self.log_dir)?;
        for (tp, pd) in &dir.partitions {
            if !failed.contains(&tp) {
                continue;
            }
            let l = lag_past(
                &keel_tiering::sync::local_infos(pd)?,
                self.committed.get(tp).copied(),
            );
            let labels = [("partition", tp.to_string())];
            metrics::gauge!("keel_tier_lag_segments", &labels).set(l.segments as f64);
            metrics::gauge!("keel_tier_lag_bytes", &labels).set(l.bytes as f64);
            lag += l;
        }
        Ok(lag)
    }

    /// One pass: upload, then expire. Fails (to be retried) when any partition failed.
    ///
    /// Static stability: a partition whose store calls fail keeps every local file (the
    /// tiering crate deletes only what a committed manifest covers); its lag is then counted
    /// from the local log dir against the last committed end this loop saw, so
    /// `keel_sidecar_tiering_lag_bytes` / `_lag_segments` and the pass's log line say how far
    /// behind tiering is while the store is down.
    pub async fn pass(&mut self) -> anyhow::Result<String> {
        self.settings.now_ms = now_ms();
        let report = sync_log_dir(&self.store, &self.log_dir, &self.settings).await?;
        let (mut uploaded, mut deleted) = (0usize, 0usize);
        let mut lag = TieringLag::default();
        let mut failed = Vec::new();
        let mut failed_tps = Vec::new();
        for (tp, r) in &report.partitions {
            match r {
                Ok(p) => {
                    uploaded += p.uploaded.len();
                    deleted += p.deleted_local.len();
                    lag += TieringLag {
                        segments: p.lag_segments,
                        bytes: p.lag_bytes,
                    };
                    self.committed.insert(tp.clone(), p.committed_end);
                }
                Err(e) => {
                    failed.push(format!("{tp}: {e}"));
                    failed_tps.push(tp);
                }
            }
        }
        let upload_failures = failed.len();
        match self.local_lag(&failed_tps) {
            Ok(l) => lag += l,
            Err(e) => tracing::warn!(error = %e, "cannot scan the log dir for the tiering lag"),
        }
        metrics::counter!("keel_sidecar_tiering_uploaded_segments_total")
            .increment(uploaded as u64);
        metrics::counter!("keel_sidecar_tiering_deleted_local_segments_total")
            .increment(deleted as u64);
        metrics::gauge!("keel_sidecar_tiering_lag_bytes").set(lag.bytes as f64);
        metrics::gauge!("keel_sidecar_tiering_lag_segments").set(lag.segments as f64);
        let mut expired = 0usize;
        if self.expire && failed.is_empty() {
            for e in expire_all(
                &self.store,
                &self.settings.cfg,
                Some(&self.log_dir),
                true,
                now_ms(),
            )
            .await?
            {
                match e.result {
                    Ok(r) => expired += r.expired.len(),
                    Err(err) => failed.push(format!("{} (expire): {err}", e.tp)),
                }
            }
            metrics::counter!("keel_sidecar_tiering_expired_segments_total")
                .increment(expired as u64);
        }
        metrics::gauge!("keel_sidecar_tiering_failed_partitions").set(failed.len() as f64);
        if let Some(first) = failed.first() {
            if upload_failures > 0 {
                tracing::warn!(
                    lag_segments = lag.segments,
                    lag_bytes = lag.bytes,
                    failed_partitions = upload_failures,
                    "tiering is behind: {} segment(s), {} bytes not yet uploaded; local segments are kept until they are committed remotely",
                    lag.segments,
                    lag.bytes
                );
            }
            anyhow::bail!(
                "{} partition(s) failed ({} segment(s), {} bytes not yet uploaded), first: {first}",
                failed.len(),
                lag.segments,
                lag.bytes
            );
        }
        Ok(format!(
            "{} partition(s): uploaded {uploaded} segment(s), deleted {deleted} local, expired {expired}, {} segment(s) / {} bytes behind",
            report.partitions.len(),
            lag.segments,
            lag.bytes
        ))
    }
}
