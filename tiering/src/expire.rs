//! Remote retention, the shell: load the manifest, plan ([`crate::retention`]), commit the
//! advanced log start offset with the expired segments in DELETE_SEGMENT_STARTED, *then*
//! delete their objects (batched, idempotent), then commit DELETE_SEGMENT_FINISHED (the
//! entries are dropped). A crash between the steps leaves DELETE_SEGMENT_STARTED entries,
//! whose deletes the next run finishes first. Readers never see a segment below the log
//! start offset, so no read can race with a delete of data it may still serve.

use object_store::path::Path;

use crate::config::TierConfig;
use crate::error::Result;
use crate::keys::{TopicPartition, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment, SegmentManifest};
use crate::manifest_store;
use crate::retention::{Expiry, plan_remote_retention};
use crate::store::TierStore;

/// What one expiry run did to a partition.
#[derive(Debug, Default, Clone)]
pub struct ExpireReport {
    pub expired: Vec<Expiry>,
    pub log_start_before: i64,
    pub log_start_after: i64,
    pub deleted_objects: usize,
    /// Deletes left over from an earlier interrupted run, finished now.
    pub resumed_deletes: usize,
}

/// Every partition folder in the store.
pub async fn list_partitions(store: &TierStore) -> Result<Vec<TopicPartition>> {
    let listing = store
        .store
        .list_with_delimiter(Some(&store.prefix))
        .await
        .map_err(|e| crate::error::TieringError::store("list", &store.prefix, e))?;
    let mut tps: Vec<TopicPartition> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().and_then(TopicPartition::parse_dir_name))
        .collect();
    tps.sort();
    Ok(tps)
}

fn object_keys(store: &TierStore, tp: &TopicPartition, segs: &[RemoteSegment]) -> Vec<Path> {
    segs.iter()
        .flat_map(|s| {
            ObjectKind::ALL
                .into_iter()
                .filter(|k| s.checksums.get(*k).is_some())
                .map(|k| segment_key(&store.prefix, tp, s.base_offset, s.attempt, k))
        })
        .collect()
}

/// Who writes the manifest during an expiry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireWriter {
    /// Leader epoch of the writer. In sidecar mode this is the latest epoch of the
    /// partition's `leader-epoch-checkpoint` ([`crate::sync::leader_epoch`]): a sidecar next
    /// to a broker that is no longer the leader (older epoch than the manifest's) is fenced
    /// and changes nothing. `None` (an operator run without a log dir) writes with the
    /// manifest's own epoch.
    pub epoch: Option<i32>,
    /// Writer id recorded in the manifest.
    pub id: u64,
}

/// Applies remote retention to one partition at `now_ms`. `local_only_bytes` is the size of
/// local data not yet uploaded (counts towards `retention.bytes`; 0 when unknown). Returns
/// [`crate::TieringError::Fenced`] before touching anything when `writer.epoch` is older
/// than the manifest's leader epoch.
pub async fn expire_partition(
    store: &TierStore,
    tp: &TopicPartition,
    cfg: &TierConfig,
    local_only_bytes: u64,
    now_ms: i64,
    writer: ExpireWriter,
) -> Result<ExpireReport> {
    let Some(mut m) = manifest_store::load(store, tp).await? else {
        return Ok(ExpireReport::default());
    };
    let epoch = writer.epoch.unwrap_or(m.leader_epoch);
    m.check_fence(&tp.to_string(), epoch)?;
    let writer_id = writer.id;
    let mut report = ExpireReport {
        log_start_before: m.log_start_offset,
        ..ExpireReport::default()
    };
    let pending: Vec<RemoteSegment> = m.pending_deletes().copied().collect();
    if !pending.is_empty() {
        report.deleted_objects += store.delete_all(object_keys(store, tp, &pending)).await?;
        report.resumed_deletes = pending.len();
        finish(store, tp, &mut m, &pending).await?;
    }
    let plan = plan_remote_retention(&m, local_only_bytes, cfg, now_ms);
    if plan.new_log_start > m.log_start_offset {
        let mut next = m.clone();
        let marked = next.begin_delete(&tp.to_string(), plan.new_log_start, epoch, writer_id)?;
        // Commit point: the log start moves before any object goes.
        manifest_store::commit(store, tp, &mut next).await?;
        m = next;
        report.deleted_objects += store.delete_all(object_keys(store, tp, &marked)).await?;
        finish(store, tp, &mut m, &marked).await?;
        metrics::counter!("keel_tier_expired_segments_total").increment(marked.len() as u64);
        report.expired = plan.expired;
    }
    report.log_start_after = m.log_start_offset;
    Ok(report)
}

async fn finish(
    store: &TierStore,
    tp: &TopicPartition,
    m: &mut SegmentManifest,
    deleted: &[RemoteSegment],
) -> Result<()> {
    let mut next = m.clone();
    if next.finish_delete(deleted) > 0 {
        manifest_store::commit(store, tp, &mut next).await?;
        *m = next;
    }
    Ok(())
}
