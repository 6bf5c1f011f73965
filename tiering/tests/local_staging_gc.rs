//! GC on a local-filesystem store also removes the `<object>#<n>` staging files a killed
//! write leaves behind (listings never show them), keeps young ones, and leaves files
//! that are not keel's alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, SystemTime};

use keel_tiering::keys::segment_key;
use keel_tiering::{ObjectKind, TierStore, TopicPartition, gc};

fn staging_file_of_a_killed_upload(dir: &std::path::Path, store: &TierStore) -> std::path::PathBuf {
    let tp = TopicPartition::new("orders", 0);
    let key = segment_key(&store.prefix, &tp, 0, 0x1234, ObjectKind::Log);
    let path = dir.join(format!("{key}#17"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    path
}

#[test]
fn gc_deletes_staging_files_of_killed_local_writes_after_the_grace_period() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = TierStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let staged = staging_file_of_a_killed_upload(dir.path(), &store);
    let foreign = dir.path().join("orders-0").join("operator-notes.txt#3");
    std::fs::write(&foreign, b"not keel's").unwrap();

    // Invisible to listings, so only the directory walk can find it.
    assert!(
        rt.block_on(store.list_all(&store.prefix))
            .unwrap()
            .is_empty()
    );

    let young = rt
        .block_on(gc::collect_garbage(
            &store,
            Duration::from_secs(3600),
            SystemTime::now(),
        ))
        .unwrap();
    assert!(young.staging_files_deleted.is_empty());
    assert_eq!(young.young_orphans, 1);
    assert!(staged.exists());

    let r = rt
        .block_on(gc::collect_garbage(
            &store,
            Duration::ZERO,
            SystemTime::now(),
        ))
        .unwrap();
    assert_eq!(r.staging_files_deleted, vec![staged.clone()]);
    assert!(!staged.exists());
    assert!(foreign.exists(), "a file that is not keel's was deleted");
}
