//! Property tests of the retention and eligibility cores, named after the invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use keel_tiering::eligibility::{LocalSegmentInfo, UploadDecision, next_upload};
use keel_tiering::retention::{plan_local_retention, plan_remote_retention};
use keel_tiering::{ObjectChecksums, RemoteSegment, SegmentManifest, SegmentState, TierConfig};
use proptest::prelude::*;

/// A local log of `n` contiguous segments and a manifest holding the first `uploaded`.
fn scenario() -> impl Strategy<Value = (Vec<LocalSegmentInfo>, SegmentManifest, TierConfig, i64)> {
    (
        proptest::collection::vec((1i64..100, 1u64..1000, 0i64..10_000), 1..30),
        any::<prop::sample::Index>(),
        -1i64..20_000,
        -1i64..20_000,
        -2i64..20_000,
        -2i64..20_000,
        0i64..30_000,
    )
        .prop_map(|(specs, cut, rms, rbytes, lms, lbytes, now)| {
            let mut local = Vec::new();
            let mut base = 0;
            for (len, size, ts) in &specs {
                local.push(LocalSegmentInfo {
                    base_offset: base,
                    size_bytes: *size,
                    max_timestamp: Some(*ts),
                });
                base += len;
            }
            let uploaded = cut.index(local.len()); // never the active (last) one
            let segments = (0..uploaded)
                .map(|i| RemoteSegment {
                    base_offset: local[i].base_offset,
                    last_offset: local[i + 1].base_offset - 1,
                    max_timestamp: specs[i].2,
                    size_bytes: specs[i].1 as u32,
                    leader_epoch: 0,
                    attempt: i as u64,
                    state: SegmentState::CopySegmentFinished,
                    checksums: ObjectChecksums::default(),
                })
                .collect();
            let manifest = SegmentManifest::from_parts(1, 0, 0, 0, segments).unwrap();
            let cfg = TierConfig {
                remote_storage_enable: true,
                retention_ms: rms,
                retention_bytes: rbytes,
                local_retention_ms: if lms == -1 { -2 } else { lms },
                local_retention_bytes: lbytes,
            };
            (local, manifest, cfg, now)
        })
}

proptest! {
    #[test]
    fn local_delete_never_precedes_remote_commit((local, manifest, cfg, now) in scenario()) {
        let report = plan_local_retention(&local, &manifest, &cfg, now);
        let end = manifest.committed_end_offset();
        for base in &report.deletable {
            let i = local.iter().position(|s| s.base_offset == *base).unwrap();
            prop_assert!(i + 1 < local.len(), "active segment reported deletable");
            prop_assert!(local[i + 1].base_offset <= end, "segment {} deletable but remote ends at {}", base, end);
        }
        // deletable is an oldest-first prefix
        for (i, base) in report.deletable.iter().enumerate() {
            prop_assert_eq!(*base, local[i].base_offset);
        }
    }

    #[test]
    fn retention_never_deletes_above_log_start((local, mut manifest, cfg, now) in scenario()) {
        let local_only: u64 = local.iter().filter(|s| s.base_offset >= manifest.committed_end_offset()).map(|s| s.size_bytes).sum();
        let plan = plan_remote_retention(&manifest, local_only, &cfg, now);
        prop_assert!(plan.new_log_start <= manifest.committed_end_offset());
        let marked = manifest.begin_delete("t-0", plan.new_log_start, 0, 0).unwrap();
        prop_assert_eq!(marked.len(), plan.expired.len());
        for s in &marked {
            prop_assert!(s.last_offset < manifest.log_start_offset);
        }
        for s in manifest.readable() {
            prop_assert!(s.base_offset >= manifest.log_start_offset);
        }
        prop_assert!(manifest.validate("t-0").is_ok());
    }

    #[test]
    fn upload_never_picks_active_or_unstable_segment((local, manifest, _cfg, stable) in scenario()) {
        let end = manifest.committed_end_offset();
        if let UploadDecision::Upload { index, .. } = next_upload(&local, stable, end, manifest.readable().next().is_some()) {
            prop_assert!(index + 1 < local.len());
            prop_assert!(local[index + 1].base_offset <= stable);
            prop_assert!(local[index].base_offset >= end);
            // oldest first: every earlier closed segment is already committed
            for s in &local[..index] {
                prop_assert!(s.base_offset < end);
            }
        }
    }
}
