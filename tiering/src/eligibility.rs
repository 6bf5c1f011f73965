//! Which local segment to upload next (pure).
//!
//! Rules, after Kafka's `RemoteLogManager` ([KIP-405](https://cwiki.apache.org/confluence/display/KAFKA/KIP-405%3A+Kafka+Tiered+Storage)):
//! - the active (last) segment is never uploaded;
//! - a closed segment is uploaded only when all its offsets are below the stable offset,
//!   i.e. when the next segment's base offset is ≤ that offset. Inside a broker this is the
//!   last stable offset (LSO). A sidecar cannot see the LSO on disk, so it uses the high
//!   watermark from `replication-offset-checkpoint`: that is ≥ LSO, so with open
//!   transactions a sidecar may upload a segment holding records of a transaction that is
//!   not yet decided (the records are immutable and the later commit/abort marker goes
//!   into a later segment, so the copy is still byte-correct);
//! - per partition, segments go up oldest first and one after another: only the oldest
//!   not-yet-committed closed segment is ever returned.

/// What the caller knows about one local segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSegmentInfo {
    pub base_offset: i64,
    /// Size of the `.log` file.
    pub size_bytes: u64,
    /// Largest record timestamp, when known (e.g. from the `.timeindex`).
    pub max_timestamp: Option<i64>,
}

/// The decision for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadDecision {
    /// Upload `local[index]`. `gap_from` is set when the remote log ends before this
    /// segment's base (local data below it is already gone).
    Upload { index: usize, gap_from: Option<i64> },
    /// Every closed segment is committed remotely.
    UpToDate,
    /// The oldest not-uploaded closed segment still holds offsets at or above the stable
    /// offset.
    WaitForStableOffset {
        base_offset: i64,
        next_base_offset: i64,
        stable_offset: i64,
    },
    /// The remote log ends inside a local segment: the local log was rewritten
    /// (truncation after unclean leader election). Needs an operator.
    Misaligned { base_offset: i64, remote_end: i64 },
}

/// Picks the next segment to upload. `local` is sorted by base offset and its last element
/// is the active segment; `remote_end` is [`crate::SegmentManifest::committed_end_offset`]
/// (or the start of a copy in progress); `has_remote` says whether the manifest holds
/// anything yet (a first upload starts wherever the local log starts).
pub fn next_upload(
    local: &[LocalSegmentInfo],
    stable_offset: i64,
    remote_end: i64,
    has_remote: bool,
) -> UploadDecision {
    for (i, pair) in local.windows(2).enumerate() {
        let (seg, next) = (pair[0], pair[1]);
        if next.base_offset <= remote_end {
            continue;
        }
        if seg.base_offset < remote_end {
            return UploadDecision::Misaligned {
                base_offset: seg.base_offset,
                remote_end,
            };
        }
        if next.base_offset > stable_offset {
            return UploadDecision::WaitForStableOffset {
                base_offset: seg.base_offset,
                next_base_offset: next.base_offset,
                stable_offset,
            };
        }
        let gap_from = (has_remote && seg.base_offset > remote_end).then_some(remote_end);
        return UploadDecision::Upload { index: i, gap_from };
    }
    UploadDecision::UpToDate
}

/// How far behind tiering is: closed local segments not yet committed remotely, and their
/// bytes. Reported as a metric and a log line when the store is down.
pub fn upload_lag(local: &[LocalSegmentInfo], remote_end: i64) -> (usize, u64) {
    local
        .windows(2)
        .filter(|p| p[1].base_offset > remote_end)
        .fold((0, 0), |(n, b), p| (n + 1, b + p[0].size_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(bases: &[i64]) -> Vec<LocalSegmentInfo> {
        bases
            .iter()
            .map(|&b| LocalSegmentInfo {
                base_offset: b,
                size_bytes: 100,
                max_timestamp: None,
            })
            .collect()
    }

    #[test]
    fn active_segment_is_never_uploaded() {
        assert_eq!(
            next_upload(&segs(&[0]), i64::MAX, 0, false),
            UploadDecision::UpToDate
        );
        assert_eq!(
            next_upload(&segs(&[0, 10]), i64::MAX, 10, true),
            UploadDecision::UpToDate
        );
    }

    #[test]
    fn waits_until_next_base_is_stable() {
        let l = segs(&[0, 10, 20]);
        assert!(matches!(
            next_upload(&l, 9, 0, false),
            UploadDecision::WaitForStableOffset { base_offset: 0, .. }
        ));
        assert_eq!(
            next_upload(&l, 10, 0, false),
            UploadDecision::Upload {
                index: 0,
                gap_from: None
            }
        );
        assert_eq!(
            next_upload(&l, 25, 10, true),
            UploadDecision::Upload {
                index: 1,
                gap_from: None
            }
        );
    }

    #[test]
    fn oldest_first_with_gap_and_misalignment() {
        let l = segs(&[50, 60, 70]);
        assert_eq!(
            next_upload(&l, 100, 20, true),
            UploadDecision::Upload {
                index: 0,
                gap_from: Some(20)
            }
        );
        assert!(matches!(
            next_upload(&l, 100, 55, true),
            UploadDecision::Misaligned {
                base_offset: 50,
                remote_end: 55
            }
        ));
        assert_eq!(upload_lag(&l, 60), (1, 100));
    }
}
