//! Loading and committing a partition's manifest.
//!
//! Each commit creates a new object `manifest/<generation>.ktmf` with a conditional put
//! (`PutMode::Create`): if another writer already created that generation, this commit
//! fails with [`TieringError::CommitConflict`] and the caller reloads, where the fence
//! check ([`SegmentManifest::check_fence`]) stops a writer with an older leader epoch.
//! `PutMode::Create` works on every store `object_store` supports (S3 with `If-None-Match`,
//! GCS, Azure, the local filesystem, memory), whereas `PutMode::Update` is not available on
//! the local filesystem; hence generations rather than one overwritten key. The two
//! newest generations are kept; the one that falls out of that window is deleted after a
//! commit (leftovers from crashes are [`crate::gc`]'s).

use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload};

use crate::error::{Result, TieringError};
use crate::keys::{ObjectName, TopicPartition, manifest_dir, manifest_key, parse_object_name};
use crate::manifest::{self, SegmentManifest};
use crate::store::TierStore;

/// Generations older than the newest `KEEP` are pruned after a commit.
const KEEP: u64 = 2;

/// Manifest generations present in the store, ascending.
pub async fn list_generations(store: &TierStore, tp: &TopicPartition) -> Result<Vec<u64>> {
    let dir = manifest_dir(&store.prefix, tp);
    let mut gens: Vec<u64> = store
        .list_all(&dir)
        .await?
        .into_iter()
        .filter_map(|m| {
            let file = m.location.filename()?.to_string();
            match parse_object_name(&format!("manifest/{file}")) {
                Some(ObjectName::Manifest { generation }) => Some(generation),
                _ => None,
            }
        })
        .collect();
    gens.sort_unstable();
    Ok(gens)
}

/// Loads the newest manifest, or `None` if the partition has none yet.
pub async fn load(store: &TierStore, tp: &TopicPartition) -> Result<Option<SegmentManifest>> {
    for _ in 0..3 {
        let Some(&generation) = list_generations(store, tp).await?.last() else {
            return Ok(None);
        };
        let key = manifest_key(&store.prefix, tp, generation);
        // Pruned between list and get by a concurrent commit: list again.
        let Some(bytes) = store.get_opt(&key).await? else {
            continue;
        };
        let m = manifest::decode(&bytes, key.as_ref())?;
        if m.generation != generation {
            return Err(TieringError::ManifestFormat {
                key: key.to_string(),
                position: 8,
                reason: format!(
                    "holds generation {} but is named {generation}",
                    m.generation
                ),
            });
        }
        return Ok(Some(m));
    }
    Err(TieringError::CommitConflict {
        partition: tp.to_string(),
        generation: 0,
    })
}

/// Commits `m` as the next generation. On success `m.generation` is the new generation; on
/// a lost race it is unchanged and [`TieringError::CommitConflict`] is returned.
pub async fn commit(store: &TierStore, tp: &TopicPartition, m: &mut SegmentManifest) -> Result<()> {
    m.validate(&tp.to_string())?;
    let generation = m.generation + 1;
    let mut next = m.clone();
    next.generation = generation;
    let key = manifest_key(&store.prefix, tp, generation);
    let bytes = manifest::encode(&next);
    let opts = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match store
        .store
        .put_opts(&key, PutPayload::from(bytes), opts)
        .await
    {
        Ok(_) => {}
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => {
            return Err(TieringError::CommitConflict {
                partition: tp.to_string(),
                generation,
            });
        }
        Err(e) => return Err(TieringError::store("commit manifest", &key, e)),
    }
    *m = next;
    metrics::counter!("keel_tier_manifest_commits_total").increment(1);
    if generation > KEEP {
        // Each commit prunes the one generation that fell out of the kept window (no
        // listing: one DELETE per commit); any a crash left behind are GC's.
        let old: Vec<Path> = vec![manifest_key(&store.prefix, tp, generation - KEEP)];
        if let Err(e) = store.delete_all(old).await {
            tracing::debug!(partition = %tp, error = %e, "pruning an old manifest generation failed; gc will retry");
        }
    }
    Ok(())
}
