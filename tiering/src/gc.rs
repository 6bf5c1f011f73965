//! Orphan garbage collection: list the store and delete the objects no manifest
//! references and that are older than a grace period, i.e. what uploads killed part-way
//! and replaced attempts left behind, and manifest generations older than the two kept.
//!
//! Safe against live writers: a writer commits COPY_SEGMENT_STARTED for an attempt before
//! writing any of its objects, and GC reads the manifests *after* listing, so an object in
//! the listing whose attempt is live is referenced by the manifest GC reads. The grace
//! period adds margin for clock skew and for stores whose listings lag.
//!
//! Not visible through `object_store` and so not collected here: parts of multipart
//! uploads that were never completed nor aborted (S3: use a bucket lifecycle rule
//! `AbortIncompleteMultipartUpload`; the local filesystem store keeps them as `#<n>`
//! staging files next to the object).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use object_store::ObjectMeta;
use object_store::path::Path;

use crate::error::Result;
use crate::keys::{ObjectName, TopicPartition, parse_object_name, split_key};
use crate::manifest::{ObjectKind, SegmentManifest, SegmentState};
use crate::manifest_store;
use crate::store::TierStore;

/// What a GC run found and did.
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub scanned: usize,
    pub deleted: Vec<Path>,
    /// Unreferenced objects kept because they are younger than the grace period.
    pub young_orphans: usize,
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
    let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut delete = Vec::new();
    let mut young = 0;
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
            Some(ObjectName::Manifest { generation }) => manifests
                .get(&tp)
                .and_then(|m| m.as_ref())
                .is_some_and(|m| generation + 2 <= m.generation),
            None => false, // not ours: leave alone
        };
        if !orphan {
            continue;
        }
        if SystemTime::from(o.last_modified) <= cutoff {
            delete.push(o.location.clone());
        } else {
            young += 1;
        }
    }
    (delete, young)
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
    store.delete_all(delete.clone()).await?;
    Ok(GcReport {
        scanned: objects.len(),
        deleted: delete,
        young_orphans: young,
    })
}
