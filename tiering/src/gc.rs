//! Orphan garbage collection: list the store and delete the objects no manifest
//! references and that are older than a grace period, i.e. what uploads killed part-way
//! and replaced attempts left behind, and manifest generations older than the two kept.
//!
//! Safe against live writers: a writer commits COPY_SEGMENT_STARTED for an attempt before
//! writing any of its objects, and GC reads the manifests *after* listing, so an object in
//! the listing whose attempt is live is referenced by the manifest GC reads. The grace
//! period adds margin for clock skew and for stores whose listings lag.
//!
//! Multipart leftovers: `object_store` cannot list unfinished multipart uploads, so uploads
//! record their upload id in an intent object before the first part ([`crate::multipart`]).
//! An intent no live copy owns (its attempt is not the manifest's COPY_SEGMENT_STARTED
//! entry) and older than the grace period has its upload aborted by id, then is deleted.
//! The intent is written before the upload is created, so every upload has one; an
//! orphaned intent that records no upload id (its writer died between creating the upload
//! and recording the id) is deleted with a warning naming the object key: `object_store`
//! cannot abort an upload without its id, so that window is left to the bucket lifecycle
//! rule `AbortIncompleteMultipartUpload` (such an upload holds no parts; see
//! [`crate::multipart`]).
//!
//! The local filesystem store has no multipart ids, and every write it makes goes through
//! an `<object>#<n>` staging file that listings do not show; a killed write leaves that file
//! behind. On such a store ([`TierStore::local_root`]) GC also walks the directory and
//! deletes orphaned staging files under the same rules ([`crate::local_staging`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use object_store::ObjectMeta;
use object_store::path::Path;

use crate::error::Result;
use crate::keys::{ObjectName, TopicPartition, parse_object_name, split_key};
use crate::local_staging;
use crate::manifest::{ObjectKind, SegmentManifest, SegmentState};
use crate::manifest_store;
use crate::store::TierStore;

/// What a GC run found and did.
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub scanned: usize,
    pub deleted: Vec<Path>,
    /// Multipart uploads aborted by the id their orphaned intent recorded.
    pub aborted_uploads: usize,
    /// Unreferenced objects (and local staging files) kept because they are younger than
    /// the grace period.
    pub young_orphans: usize,
    /// Local-filesystem staging files deleted ([`crate::local_staging`]).
    pub staging_files_deleted: Vec<std::path::PathBuf>,
}

/// The (base offset, attempt) of a partition's live copy: its COPY_SEGMENT_STARTED entry.
pub(crate) fn live_copy(
    manifests: &HashMap<TopicPartition, Option<SegmentManifest>>,
    tp: &TopicPartition,
) -> Option<(i64, u64)> {
    manifests
        .get(tp)
        .and_then(|m| m.as_ref())
        .and_then(|m| m.copy_in_progress())
        .map(|s| (s.base_offset, s.attempt))
}

/// Orphans sorted by age: those last modified at or before `now - grace` are to delete, the
/// younger ones only counted.
pub(crate) struct OrphanSort<T> {
    cutoff: SystemTime,
    pub(crate) delete: Vec<T>,
    pub(crate) young: usize,
}

impl<T> OrphanSort<T> {
    pub(crate) fn new(grace: Duration, now: SystemTime) -> Self {
        OrphanSort {
            cutoff: now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH),
            delete: Vec::new(),
            young: 0,
        }
    }

    pub(crate) fn offer(&mut self, orphan: T, modified: SystemTime) {
        if modified <= self.cutoff {
            self.delete.push(orphan);
        } else {
            self.young += 1;
        }
    }
}

/// Pure planning: which of `objects` to delete. `manifests` holds each partition's newest
/// manifest and generation (None = no manifest).
pub fn plan_gc(
    prefix: &Path,
    objects: &[ObjectMeta],
    manifests: &HashMap<TopicPartition, Option<SegmentManifest>>,
    grace: Duration,
    now: SystemTime,
) -> (Vec<Path>, usize) {
    let mut referenced: HashMap<&TopicPartition, HashSet<(i64, u64, ObjectKind)>> = HashMap::new();
    for (tp, m) in manifests {
        let set = referenced.entry(tp).or_default();
        for s in m.iter().flat_map(|m| m.segments()) {
            for kind in ObjectKind::ALL {
                // A copy in progress may write any kind; finished ones list theirs.
                if s.state == SegmentState::CopySegmentStarted || s.checksums.get(kind).is_some() {
                    set.insert((s.base_offset, s.attempt, kind));
                }
            }
        }
    }
    let mut sort = OrphanSort::new(grace, now);
    for o in objects {
        let Some((tp, rel)) = split_key(prefix, &o.location) else {
            continue;
        };
        let orphan = match parse_object_name(&rel) {
            Some(ObjectName::Segment {
                base,
                attempt,
                kind,
            }) => !referenced
                .get(&tp)
                .is_some_and(|set| set.contains(&(base, attempt, kind))),
            Some(ObjectName::Intent { base, attempt }) => {
                live_copy(manifests, &tp) != Some((base, attempt))
            }
            Some(ObjectName::Manifest { generation }) => manifests
                .get(&tp)
                .and_then(|m| m.as_ref())
                .is_some_and(|m| generation + 2 <= m.generation),
            None => false, // not ours: leave alone
        };
        if !orphan {
            continue;
        }
        sort.offer(o.location.clone(), SystemTime::from(o.last_modified));
    }
    (sort.delete, sort.young)
}

/// Lists the store, loads every partition's manifest, and deletes orphans older than `grace`.
pub async fn collect_garbage(
    store: &TierStore,
    grace: Duration,
    now: SystemTime,
) -> Result<GcReport> {
    let objects = store.list_all(&store.prefix).await?;
    let mut manifests = HashMap::new();
    for o in &objects {
        if let Some((tp, _)) = split_key(&store.prefix, &o.location)
            && !manifests.contains_key(&tp)
        {
            let m = manifest_store::load(store, &tp).await?;
            manifests.insert(tp, m);
        }
    }
    let (delete, young) = plan_gc(&store.prefix, &objects, &manifests, grace, now);
    // Orphaned intents: abort their uploads by id first (this also deletes the intent).
    let mut aborted = 0;
    for key in &delete {
        if let Some((tp, rel)) = split_key(&store.prefix, key)
            && let Some(ObjectName::Intent { base, attempt }) = parse_object_name(&rel)
        {
            let seg = crate::manifest::RemoteSegment {
                base_offset: base,
                last_offset: base,
                max_timestamp: -1,
                size_bytes: 0,
                leader_epoch: 0,
                attempt,
                state: SegmentState::CopySegmentStarted,
                checksums: crate::manifest::ObjectChecksums::default(),
            };
            if crate::multipart::abort_attempt(store, &tp, &seg).await? {
                aborted += 1;
            }
        }
    }
    store.delete_all(delete.clone()).await?;
    let (staging_files_deleted, young_staging) =
        collect_local_staging(store, &mut manifests, grace, now).await?;
    Ok(GcReport {
        scanned: objects.len(),
        deleted: delete,
        aborted_uploads: aborted,
        young_orphans: young + young_staging,
        staging_files_deleted,
    })
}

/// On a local-filesystem store, deletes the orphaned staging files killed writes left
/// behind; returns them and how many younger orphans were kept. The walk runs after the
/// manifests were read, so a staging file of a copy started since then is younger than
/// any sensible grace period.
async fn collect_local_staging(
    store: &TierStore,
    manifests: &mut HashMap<TopicPartition, Option<SegmentManifest>>,
    grace: Duration,
    now: SystemTime,
) -> Result<(Vec<std::path::PathBuf>, usize)> {
    let Some(root) = store.local_root.clone() else {
        return Ok((Vec::new(), 0));
    };
    let walk_root = root.clone();
    let files = blocking(&root, move || local_staging::find_staging_files(&walk_root)).await?;
    for f in &files {
        if let Some((tp, _)) = split_key(&store.prefix, &f.destination)
            && !manifests.contains_key(&tp)
        {
            let m = manifest_store::load(store, &tp).await?;
            manifests.insert(tp, m);
        }
    }
    let (delete, young) =
        local_staging::plan_staging_gc(&store.prefix, &files, manifests, grace, now);
    let deleted = delete.clone();
    blocking(&root, move || local_staging::delete_staging_files(&delete)).await?;
    Ok((deleted, young))
}

/// Runs blocking filesystem work under `root` off the async threads.
async fn blocking<T: Send + 'static>(
    root: &std::path::Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        crate::error::TieringError::io("walk local store", root, std::io::Error::other(e))
    })?
}
