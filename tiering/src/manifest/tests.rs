use proptest::prelude::*;

use super::*;

fn seg(base: i64, last: i64, state: SegmentState) -> RemoteSegment {
    let mut checksums = ObjectChecksums::default();
    checksums.set(ObjectKind::Log, 7);
    RemoteSegment {
        base_offset: base,
        last_offset: last,
        max_timestamp: base * 10,
        size_bytes: 100,
        leader_epoch: 1,
        attempt: base as u64 + 1,
        state,
        checksums,
    }
}

#[test]
fn copy_then_delete_follows_kip405_states() {
    let mut m = SegmentManifest::new();
    assert!(
        m.begin_copy("t-0", seg(0, 9, SegmentState::CopySegmentFinished), 1, 5)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        m.copy_in_progress().unwrap().state,
        SegmentState::CopySegmentStarted
    );
    assert!(m.find(3).is_none(), "a copy in progress is not readable");
    m.finish_copy("t-0", seg(0, 9, SegmentState::CopySegmentFinished), 1, 5)
        .unwrap();
    assert_eq!(m.find(3).unwrap().base_offset, 0);
    m.begin_copy("t-0", seg(10, 19, SegmentState::CopySegmentStarted), 1, 5)
        .unwrap();
    m.finish_copy("t-0", seg(10, 19, SegmentState::CopySegmentFinished), 1, 5)
        .unwrap();
    assert_eq!(m.committed_end_offset(), 20);
    let marked = m.begin_delete("t-0", 10, 1, 5).unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(m.log_start_offset, 10);
    assert!(m.find(5).is_none());
    assert_eq!(m.pending_deletes().count(), 1);
    assert_eq!(m.finish_delete(&marked), 1);
    assert_eq!(m.segments().len(), 1);
}

#[test]
fn stale_attempt_is_replaced_and_returned() {
    let mut m = SegmentManifest::new();
    m.begin_copy("t-0", seg(0, 9, SegmentState::CopySegmentStarted), 1, 5)
        .unwrap();
    let mut again = seg(0, 9, SegmentState::CopySegmentStarted);
    again.attempt = 99;
    let stale = m.begin_copy("t-0", again, 1, 6).unwrap().unwrap();
    assert_eq!(stale.attempt, 1);
    assert!(
        m.finish_copy("t-0", seg(0, 9, SegmentState::CopySegmentFinished), 1, 6)
            .is_err(),
        "old attempt cannot finish"
    );
    let mut done = seg(0, 9, SegmentState::CopySegmentFinished);
    done.attempt = 99;
    m.finish_copy("t-0", done, 1, 6).unwrap();
}

#[test]
fn older_leader_epoch_is_fenced() {
    let mut m = SegmentManifest::new();
    m.begin_copy("t-0", seg(0, 9, SegmentState::CopySegmentStarted), 5, 1)
        .unwrap();
    let e = m
        .finish_copy("t-0", seg(0, 9, SegmentState::CopySegmentFinished), 4, 2)
        .unwrap_err();
    assert!(matches!(
        e,
        TieringError::Fenced {
            writer_epoch: 4,
            manifest_epoch: 5,
            ..
        }
    ));
}

#[test]
fn log_start_cannot_pass_committed_end_or_split_a_segment() {
    let mut m = SegmentManifest::new();
    m.begin_copy("t-0", seg(0, 9, SegmentState::CopySegmentStarted), 1, 1)
        .unwrap();
    m.finish_copy("t-0", seg(0, 9, SegmentState::CopySegmentFinished), 1, 1)
        .unwrap();
    assert!(m.begin_delete("t-0", 11, 1, 1).is_err());
    assert!(m.begin_delete("t-0", 5, 1, 1).is_err());
    assert!(
        m.begin_copy("t-0", seg(5, 12, SegmentState::CopySegmentStarted), 1, 1)
            .is_err()
    );
    assert_eq!(
        m.segments().len(),
        1,
        "failed transitions leave the manifest unchanged"
    );
}

#[test]
fn encoded_entry_is_at_most_64_bytes() {
    let mut full = ObjectChecksums::default();
    for k in ObjectKind::ALL {
        full.set(k, 0xdead_beef);
    }
    let mut s = seg(0, 9, SegmentState::CopySegmentFinished);
    s.checksums = full;
    let one = SegmentManifest::from_parts(1, 1, 1, 0, vec![s]).unwrap();
    let empty = SegmentManifest::new();
    let per_segment = encode(&one).len() - encode(&empty).len();
    assert_eq!(per_segment, ENTRY_MAX_LEN);
    assert!(per_segment <= 64);
}

#[test]
fn corrupt_manifest_is_reported_with_position() {
    let m = SegmentManifest::from_parts(
        3,
        1,
        1,
        0,
        vec![seg(0, 9, SegmentState::CopySegmentFinished)],
    )
    .unwrap();
    let mut bytes = encode(&m);
    bytes[HEADER_LEN + 2] ^= 1;
    let e = decode(&bytes, "t-0/manifest").unwrap_err().to_string();
    assert!(
        e.contains("t-0/manifest") && e.contains("CRC mismatch"),
        "{e}"
    );
    let e = decode(&bytes[..10], "k").unwrap_err().to_string();
    assert!(e.contains("shorter"), "{e}");
}

fn arb_manifest() -> impl Strategy<Value = SegmentManifest> {
    (
        proptest::collection::vec(
            (
                1i64..1000,
                0i64..500,
                any::<i64>(),
                any::<u32>(),
                any::<u64>(),
                0u8..64,
                any::<[u32; 6]>(),
            ),
            0..40,
        ),
        any::<u64>(),
        any::<i32>(),
        any::<u64>(),
        0usize..5,
        any::<bool>(),
    )
        .prop_map(|(specs, generation, epoch, writer, deleted, in_progress)| {
            let mut segments = Vec::new();
            let mut next = 0i64;
            for (gap, len, ts, size, attempt, mask, crcs) in specs {
                let base = next + gap;
                let mut checksums = ObjectChecksums {
                    zstd_chunks: mask & 32 != 0,
                    ..ObjectChecksums::default()
                };
                for k in ObjectKind::ALL {
                    if mask & (1 << k.bit()) != 0 {
                        checksums.set(k, crcs[k.bit()]);
                    }
                }
                segments.push(RemoteSegment {
                    base_offset: base,
                    last_offset: base + len,
                    max_timestamp: ts,
                    size_bytes: size,
                    leader_epoch: epoch,
                    attempt,
                    state: SegmentState::CopySegmentFinished,
                    checksums,
                });
                next = base + len + 1;
            }
            let deleted = deleted.min(segments.len());
            for s in segments.iter_mut().take(deleted) {
                s.state = SegmentState::DeleteSegmentStarted;
            }
            let log_start = segments.get(deleted).map_or(next, |s| s.base_offset);
            if in_progress
                && segments.len() > deleted
                && let Some(s) = segments.last_mut()
            {
                s.state = SegmentState::CopySegmentStarted;
            }
            SegmentManifest::from_parts(generation, epoch, writer, log_start, segments).unwrap()
        })
}

proptest! {
    #[test]
    fn manifest_roundtrips(m in arb_manifest()) {
        let bytes = encode(&m);
        prop_assert!(bytes.len() <= HEADER_LEN + 4 + m.segments().len() * 64);
        prop_assert_eq!(decode(&bytes, "k").unwrap(), m);
    }

    #[test]
    fn manifest_decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(m) = decode(&bytes, "k") {
            prop_assert_eq!(encode(&m), bytes, "whatever decodes re-encodes to the same bytes");
        }
    }

    #[test]
    fn manifest_decoding_flipped_bytes_never_panics(m in arb_manifest(), at in any::<prop::sample::Index>(), bit in 0u8..8, fix_crc in any::<bool>()) {
        let mut bytes = encode(&m);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if fix_crc {
            let n = bytes.len() - 4;
            let crc = crc32c::crc32c(&bytes[..n]);
            bytes[n..].copy_from_slice(&crc.to_be_bytes());
        }
        if let Ok(d) = decode(&bytes, "k") {
            prop_assert!(d.validate("k").is_ok());
        }
    }
}
