//! Remote and local retention decisions (pure), after Kafka's `RemoteLogManager`
//! ([KIP-405](https://cwiki.apache.org/confluence/display/KAFKA/KIP-405%3A+Kafka+Tiered+Storage)).
//!
//! Remote: a segment expires by time when its max timestamp ≤ now − `retention.ms`, and by
//! size while the remote plus local-only bytes exceed `retention.bytes` by at least the
//! segment's size. Only an oldest-first prefix expires, so the log start offset moves
//! forward over whole segments and never past the committed end. The shell commits the
//! new log start (DELETE_SEGMENT_STARTED) before deleting any object.
//!
//! Local: a local segment may be deleted only when it is wholly below the committed remote
//! end *and* it breaches `local.retention.ms` / `local.retention.bytes` (−2 = same as
//! `retention.*`). A segment not committed remotely is never reported deletable: this is
//! what keeps local disks from losing data while the store is down.

use crate::config::TierConfig;
use crate::eligibility::LocalSegmentInfo;
use crate::manifest::SegmentManifest;

/// Why a segment expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ExpiryReason {
    Time,
    Size,
}

/// One remote segment to expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub base_offset: i64,
    pub last_offset: i64,
    pub reason: ExpiryReason,
}

/// The remote retention decision for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Log start offset after expiry (= the current one when nothing expires).
    pub new_log_start: i64,
    pub expired: Vec<Expiry>,
}

/// Decides which remote segments expire at `now_ms`. `local_only_bytes` is the size of
/// local data not yet in the store (it counts towards `retention.bytes`).
pub fn plan_remote_retention(
    manifest: &SegmentManifest,
    local_only_bytes: u64,
    cfg: &TierConfig,
    now_ms: i64,
) -> RetentionPlan {
    let time_cutoff = cfg.retention_ms_limit().map(|ms| now_ms.saturating_sub(ms));
    let mut breach: i128 = match cfg.retention_bytes_limit() {
        Some(limit) => {
            i128::from(manifest.remote_bytes()) + i128::from(local_only_bytes) - i128::from(limit)
        }
        None => i128::MIN,
    };
    let mut plan = RetentionPlan {
        new_log_start: manifest.log_start_offset,
        expired: Vec::new(),
    };
    for s in manifest.readable() {
        let size = i128::from(s.size_bytes);
        let reason = if time_cutoff.is_some_and(|cut| s.max_timestamp <= cut) {
            ExpiryReason::Time
        } else if breach != i128::MIN && breach - size >= 0 {
            ExpiryReason::Size
        } else {
            break;
        };
        if breach != i128::MIN {
            breach -= size;
        }
        plan.expired.push(Expiry {
            base_offset: s.base_offset,
            last_offset: s.last_offset,
            reason,
        });
        plan.new_log_start = s.end_offset();
    }
    plan
}

/// Local segments that may be deleted, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalRetentionReport {
    /// Base offsets of local segments safe to delete now.
    pub deletable: Vec<i64>,
    /// Bytes they free.
    pub deletable_bytes: u64,
    /// Oldest local segment that breaches local retention but is not committed remotely
    /// (so it is kept), if any.
    pub held_back_uncommitted: Option<i64>,
}

/// Decides which local segments may be deleted. `local` is sorted, last = active segment.
/// A segment's max timestamp comes from `local` or else from its manifest entry.
pub fn plan_local_retention(
    local: &[LocalSegmentInfo],
    manifest: &SegmentManifest,
    cfg: &TierConfig,
    now_ms: i64,
) -> LocalRetentionReport {
    let committed_end = manifest.committed_end_offset();
    let time_cutoff = cfg
        .effective_local_retention_ms()
        .map(|ms| now_ms.saturating_sub(ms));
    let total: u64 = local.iter().map(|s| s.size_bytes).sum();
    let mut breach: Option<i128> = cfg
        .effective_local_retention_bytes()
        .map(|limit| i128::from(total) - i128::from(limit));
    let mut report = LocalRetentionReport::default();
    for pair in local.windows(2) {
        let (seg, next) = (pair[0], pair[1]);
        let max_ts = seg
            .max_timestamp
            .or_else(|| manifest.find(seg.base_offset).map(|r| r.max_timestamp));
        let size = i128::from(seg.size_bytes);
        // Wholly below the remote log start: already expired by total retention.
        let expired_remotely = next.base_offset <= manifest.log_start_offset;
        let by_time =
            expired_remotely || matches!((time_cutoff, max_ts), (Some(cut), Some(ts)) if ts <= cut);
        let by_size = breach.is_some_and(|b| b - size >= 0);
        if !(by_time || by_size) {
            break;
        }
        if next.base_offset > committed_end {
            report.held_back_uncommitted = Some(seg.base_offset);
            break;
        }
        if let Some(b) = breach.as_mut() {
            *b -= size;
        }
        report.deletable.push(seg.base_offset);
        report.deletable_bytes += seg.size_bytes;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ObjectChecksums, RemoteSegment, SegmentState};

    pub(crate) fn manifest(segs: &[(i64, i64, i64, u32)]) -> SegmentManifest {
        let segments = segs
            .iter()
            .map(|&(b, l, ts, size)| RemoteSegment {
                base_offset: b,
                last_offset: l,
                max_timestamp: ts,
                size_bytes: size,
                leader_epoch: 0,
                attempt: 1,
                state: SegmentState::CopySegmentFinished,
                checksums: ObjectChecksums::default(),
            })
            .collect();
        SegmentManifest::from_parts(1, 0, 0, segs.first().map_or(0, |s| s.0), segments).unwrap()
    }

    #[test]
    fn time_retention_expires_a_prefix_only() {
        let m = manifest(&[(0, 9, 100, 10), (10, 19, 500, 10), (20, 29, 150, 10)]);
        let cfg = TierConfig {
            retention_ms: 1000,
            ..TierConfig::default()
        };
        let plan = plan_remote_retention(&m, 0, &cfg, 1200);
        assert_eq!(plan.new_log_start, 10);
        assert_eq!(plan.expired.len(), 1);
        assert_eq!(plan.expired[0].reason, ExpiryReason::Time);
    }

    #[test]
    fn size_retention_counts_local_only_bytes() {
        let m = manifest(&[(0, 9, 100, 10), (10, 19, 100, 10), (20, 29, 100, 10)]);
        let cfg = TierConfig {
            retention_ms: -1,
            retention_bytes: 25,
            ..TierConfig::default()
        };
        assert_eq!(plan_remote_retention(&m, 0, &cfg, 0).new_log_start, 0);
        let plan = plan_remote_retention(&m, 20, &cfg, 0);
        assert_eq!(plan.new_log_start, 20);
        assert!(plan.expired.iter().all(|e| e.reason == ExpiryReason::Size));
    }

    #[test]
    fn uncommitted_local_segment_is_held_back() {
        let m = manifest(&[(0, 9, 100, 10)]);
        let local: Vec<LocalSegmentInfo> = [0, 10, 20]
            .iter()
            .map(|&b| LocalSegmentInfo {
                base_offset: b,
                size_bytes: 10,
                max_timestamp: Some(0),
            })
            .collect();
        let cfg = TierConfig {
            local_retention_ms: 0,
            ..TierConfig::default()
        };
        let r = plan_local_retention(&local, &m, &cfg, 1000);
        assert_eq!(r.deletable, vec![0]);
        assert_eq!(r.held_back_uncommitted, Some(10));
    }
}
