//! Staging files that a killed upload leaves in a local-filesystem store.
//!
//! `object_store`'s `LocalFileSystem` writes every object (a single put or a multipart
//! upload) to a staging file `<object>#<n>` next to its destination and renames it into
//! place when the write completes; a clean abort or drop removes it. A process killed
//! part-way (SIGKILL, power loss) leaves the staging file behind, and listings never show
//! names ending in `#<digits>`, so the object-level GC in [`crate::gc`] cannot see them.
//! This module finds them by walking the store's directory and decides which are orphans:
//! - a staging file for an object of the partition's live copy (its COPY_SEGMENT_STARTED
//!   attempt) is kept: that writer may still be running;
//! - any other staging file under keel's prefix whose destination is one of keel's object
//!   names (segment data and indexes, intents, manifests) is an orphan once it is older
//!   than the grace period (its modification time, which every write refreshes);
//! - files that are not keel's are left alone.
//!
//! [`plan_staging_gc`] is the pure decision; [`find_staging_files`] and
//! [`delete_staging_files`] are the blocking IO around it.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, SystemTime};

use object_store::path::Path;

use crate::error::{Result, TieringError};
use crate::gc::{OrphanSort, live_copy};
use crate::keys::{ObjectName, TopicPartition, parse_object_name, split_key};
use crate::manifest::SegmentManifest;

/// One `<object>#<digits>` file found under a local store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// The object key it was being written for (the name without `#<digits>`).
    pub destination: Path,
    /// Its last modification time.
    pub modified: SystemTime,
}

/// The object key a staging file name belongs to, or `None` when `name` is not a staging
/// file name (`<object>#<digits>`, the form `LocalFileSystem` uses and hides from listings).
pub fn staging_destination(name: &str) -> Option<&str> {
    let (object, suffix) = name.rsplit_once('#')?;
    (!object.is_empty() && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
        .then_some(object)
}

/// Pure planning: which staging files to delete, and how many orphans are kept because
/// they are younger than `grace`. `manifests` holds each partition's newest manifest
/// (`None` = the partition has none); a partition missing from the map is treated as
/// having no live copy.
pub fn plan_staging_gc(
    prefix: &Path,
    files: &[StagingFile],
    manifests: &HashMap<TopicPartition, Option<SegmentManifest>>,
    grace: Duration,
    now: SystemTime,
) -> (Vec<PathBuf>, usize) {
    let mut sort = OrphanSort::new(grace, now);
    for f in files {
        let Some((tp, rel)) = split_key(prefix, &f.destination) else {
            continue;
        };
        let orphan = match parse_object_name(&rel) {
            Some(ObjectName::Segment { base, attempt, .. })
            | Some(ObjectName::Intent { base, attempt }) => {
                live_copy(manifests, &tp) != Some((base, attempt))
            }
            Some(ObjectName::Manifest { .. }) => true,
            None => false, // not ours: leave alone
        };
        if orphan {
            sort.offer(f.path.clone(), f.modified);
        }
    }
    (sort.delete, sort.young)
}

/// Walks `root` (the directory a `file://` store was opened on) and returns every staging
/// file under it, with its object key relative to `root`. Symbolic links are not followed.
/// A missing `root` has none.
pub fn find_staging_files(root: &FsPath) -> Result<Vec<StagingFile>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(TieringError::io("list store directory", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| TieringError::io("list store directory", &dir, e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| TieringError::io("stat", &path, e))?;
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Some(object) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(staging_destination)
            else {
                continue;
            };
            let Some(destination) = object_key(root, &path.with_file_name(object)) else {
                continue;
            };
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| TieringError::io("stat", &path, e))?;
            found.push(StagingFile {
                path,
                destination,
                modified,
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// Deletes staging files; one already gone counts as deleted.
pub fn delete_staging_files(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(TieringError::io("delete staging file", p, e)),
        }
    }
    Ok(())
}

/// The object key of `file` under `root`, when every component is valid UTF-8 and a valid
/// key part.
fn object_key(root: &FsPath, file: &FsPath) -> Option<Path> {
    let rel = file.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Path::parse(parts?.join("/")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ObjectChecksums, RemoteSegment, SegmentState};

    const HOUR: Duration = Duration::from_secs(3600);

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 3)
    }

    fn segment_key(base: i64, attempt: u64) -> Path {
        Path::parse(format!("orders-3/{base:020}-{attempt:016x}.log")).unwrap()
    }

    fn staged(dest: Path, age: Duration, now: SystemTime) -> StagingFile {
        StagingFile {
            path: PathBuf::from(format!("/store/{dest}#7")),
            destination: dest,
            modified: now - age,
        }
    }

    fn in_progress(base: i64, attempt: u64) -> SegmentManifest {
        let started = RemoteSegment {
            base_offset: base,
            last_offset: base + 9,
            max_timestamp: 0,
            size_bytes: 100,
            leader_epoch: 0,
            attempt,
            state: SegmentState::CopySegmentStarted,
            checksums: ObjectChecksums::default(),
        };
        SegmentManifest::from_parts(1, 0, 1, base, vec![started]).unwrap()
    }

    #[test]
    fn staging_names_are_an_object_then_hash_then_digits() {
        assert_eq!(staging_destination("a.log#12"), Some("a.log"));
        assert_eq!(staging_destination("a#b.log#3"), Some("a#b.log"));
        assert_eq!(staging_destination("a.log#"), None);
        assert_eq!(staging_destination("a.log#1x"), None);
        assert_eq!(staging_destination("#5"), None);
        assert_eq!(staging_destination("a.log"), None);
    }

    #[test]
    fn the_live_copy_keeps_its_staging_files_and_old_orphans_go() {
        let now = SystemTime::now();
        let live = segment_key(100, 0xab);
        let dead = segment_key(100, 0xaa);
        let files = [
            staged(live.clone(), HOUR, now),
            staged(dead.clone(), HOUR, now),
            staged(Path::parse("orders-3/not-ours.bin").unwrap(), HOUR, now),
            staged(
                Path::parse(format!("orders-3/manifest/{:020}.ktmf", 4)).unwrap(),
                HOUR,
                now,
            ),
        ];
        let manifests = HashMap::from([(tp(), Some(in_progress(100, 0xab)))]);
        let (delete, young) =
            plan_staging_gc(&Path::default(), &files, &manifests, Duration::ZERO, now);
        assert_eq!(delete, vec![files[1].path.clone(), files[3].path.clone()]);
        assert_eq!(young, 0);
    }

    #[test]
    fn orphans_younger_than_the_grace_period_are_kept_and_counted() {
        let now = SystemTime::now();
        let files = [
            staged(segment_key(0, 1), Duration::from_secs(5), now),
            staged(segment_key(0, 2), 2 * HOUR, now),
        ];
        let (delete, young) = plan_staging_gc(&Path::default(), &files, &HashMap::new(), HOUR, now);
        assert_eq!(delete, vec![files[1].path.clone()]);
        assert_eq!(young, 1);
    }

    #[test]
    fn files_outside_the_prefix_are_not_touched() {
        let now = SystemTime::now();
        let files = [staged(segment_key(0, 1), HOUR, now)];
        let prefix = Path::parse("cluster-a").unwrap();
        let (delete, young) =
            plan_staging_gc(&prefix, &files, &HashMap::new(), Duration::ZERO, now);
        assert!(delete.is_empty());
        assert_eq!(young, 0);
    }

    #[test]
    fn the_walk_finds_staging_files_with_their_object_keys() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("orders-3");
        std::fs::create_dir_all(&part).unwrap();
        let name = format!("{:020}-{:016x}.log", 0, 1);
        std::fs::write(part.join(format!("{name}#42")), b"x").unwrap();
        std::fs::write(part.join(&name), b"committed").unwrap();
        std::fs::write(part.join("notes#draft"), b"x").unwrap();
        let found = find_staging_files(dir.path()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].destination, segment_key(0, 1));
        assert_eq!(found[0].path, part.join(format!("{name}#42")));
        delete_staging_files(&[found[0].path.clone()]).unwrap();
        delete_staging_files(&[found[0].path.clone()]).unwrap(); // already gone: fine
        assert!(find_staging_files(dir.path()).unwrap().is_empty());
        assert!(part.join(&name).exists());
    }

    #[test]
    fn a_missing_store_directory_has_no_staging_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            find_staging_files(&dir.path().join("gone"))
                .unwrap()
                .is_empty()
        );
    }
}
