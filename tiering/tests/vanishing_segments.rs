//! Brokers delete log segments at any time (retention, topic deletion), also between keel's
//! scan of a log dir and its reading of the files. A segment gone since the scan is no longer
//! local; it must not fail the pass. (The sidecar's tiering loop once failed a whole pass on
//! `stat …/00000000000000000000.log: No such file or directory` for a partition whose topic
//! another client had just deleted.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::{make_log_dir, seg_path, small};
use keel_tiering::TopicPartition;
use keel_tiering::sync::local_infos;

#[test]
fn local_infos_leaves_out_a_segment_deleted_after_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("retained", 0);
    make_log_dir(
        dir.path(),
        &[(tp.clone(), vec![small(), small(), small()])],
        1_000,
    );
    let pd = keel_wire::segment::PartitionDir::scan(&dir.path().join(tp.to_string())).unwrap();
    let all = local_infos(&pd).unwrap();
    assert_eq!(all.len(), 3, "three segments on disk");
    // The broker's retention deletes the oldest segment after the scan.
    std::fs::remove_file(seg_path(dir.path(), &tp, all[0].base_offset, "log")).unwrap();
    let left = local_infos(&pd).unwrap();
    let bases: Vec<i64> = left.iter().map(|s| s.base_offset).collect();
    assert_eq!(bases, vec![all[1].base_offset, all[2].base_offset]);
    assert_eq!(left[0].size_bytes, all[1].size_bytes);
}
