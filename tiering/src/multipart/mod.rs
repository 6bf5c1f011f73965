//! Multipart uploads that can be resumed and garbage-collected by id.
//!
//! `object_store`'s `put_multipart` hides the upload id, and `object_store` cannot list
//! unfinished multipart uploads, so a crashed upload used to leave parts behind that only a
//! bucket lifecycle rule could remove, and a retry started over. Desired state first: when
//! the store offers [`MultipartStore`] (S3, GCS, Azure, memory), an upload
//! 1. writes an *intent* object `<base>-<attempt>.mpu` next to the segment's objects,
//!    naming the object key and the part layout, **before the multipart upload exists**
//!    (after the COPY_SEGMENT_STARTED commit of its attempt);
//! 2. creates the multipart upload;
//! 3. records the upload id in the intent **before the first part**;
//! 4. records each finished part (index, CRC-32C of its bytes, ETag) in the intent as parts
//!    complete (overwrites in the background, coalesced: a crash loses at most the last
//!    few records, whose parts are then sent again);
//! 5. completes the upload, then deletes the intent.
//!
//! A retry of the same attempt reads the intent and sends only the parts that are missing
//! or whose bytes no longer match the recorded CRC-32C (compressed uploads recompress the
//! segment to find out, see [`crate::upload_parts`]). [`crate::gc`] aborts the uploads of
//! intents no live copy owns, by id ([`MultipartStore::abort_multipart`]), then deletes
//! the intents.
//!
//! **The one window**: a process that dies after step 2 and before step 3 leaves a
//! multipart upload whose id nobody recorded. Its intent exists and names the object, but
//! without an id, and `object_store` can neither list multipart uploads nor abort one
//! without its id. A retry of the attempt creates a new upload for the same key; GC deletes
//! the intent and logs a warning naming the key. The stray upload holds no parts (parts go
//! up only after step 3) and costs nothing but an entry in the bucket's upload list; keep
//! the bucket's `AbortIncompleteMultipartUpload` lifecycle rule (S3, and GCS's rule of the
//! same name; Azure drops uncommitted blocks after 7 days by itself) to remove it, or abort
//! it by hand after finding it with `aws s3api list-multipart-uploads --prefix <key>`.
//!
//! The intent object and its text format: [`intent`].

pub mod intent;

use std::sync::Arc;

use bytes::Bytes;
use object_store::PutPayload;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;

pub use intent::{DonePart, Intent, ZstdLayout};

use crate::error::{Result, TieringError};
use crate::keys::{TopicPartition, intent_key, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment};
use crate::store::TierStore;

/// Whether a store's answer to a request naming a multipart upload id keel recorded says
/// the upload no longer exists (completed, or aborted by GC or a bucket lifecycle rule).
/// S3 answers NoSuchUpload (404, `NotFound`); s3s-fs answers an upload id it no longer
/// knows with AccessDenied (403, `PermissionDenied`). Ask this only about recorded ids: a
/// missing permission would have failed the CreateMultipartUpload that made the id.
pub fn upload_is_gone(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::NotFound { .. } | object_store::Error::PermissionDenied { .. }
    )
}

/// Reads the intent of an attempt: `Ok(None)` when there is none.
pub async fn load_intent(
    store: &TierStore,
    tp: &TopicPartition,
    seg: &RemoteSegment,
) -> Result<Option<Intent>> {
    let key = intent_key(&store.prefix, tp, seg.base_offset, seg.attempt);
    match store.get_opt(&key).await? {
        Some(bytes) => Intent::decode(&bytes, key.as_ref()).map(Some),
        None => Ok(None),
    }
}

/// Aborts the multipart upload an attempt's intent names (if any) and deletes the intent;
/// returns whether an upload was aborted by id. Idempotent: an upload already completed
/// or aborted counts as aborted. An intent without an upload id is deleted with a warning
/// (the module docs' "one window").
pub async fn abort_attempt(
    store: &TierStore,
    tp: &TopicPartition,
    seg: &RemoteSegment,
) -> Result<bool> {
    let key = intent_key(&store.prefix, tp, seg.base_offset, seg.attempt);
    let intent = match store.get_opt(&key).await? {
        Some(bytes) => Intent::decode(&bytes, key.as_ref()).ok(),
        None => return Ok(false),
    };
    let mut aborted = false;
    if let (Some(intent), Some(mp)) = (intent, &store.multipart) {
        let log = segment_key(
            &store.prefix,
            tp,
            seg.base_offset,
            seg.attempt,
            ObjectKind::Log,
        );
        match &intent.upload_id {
            Some(id) => {
                match mp.abort_multipart(&log, id).await {
                    Ok(()) => {}
                    Err(e) if upload_is_gone(&e) => {
                        tracing::debug!(key = %log, upload_id = %id, error = %e,
                            "abort multipart: the store no longer knows the upload; dropping its intent");
                    }
                    Err(e) => return Err(TieringError::store("abort multipart", &log, e)),
                }
                aborted = true;
                metrics::counter!("keel_tier_multipart_aborted_total").increment(1);
            }
            None => {
                tracing::warn!(key = %log,
                    "multipart intent without an upload id: a process died while creating the upload. \
                     If the store created it, object_store cannot abort it without the id; the bucket's \
                     AbortIncompleteMultipartUpload lifecycle rule removes it (it holds no parts)");
                metrics::counter!("keel_tier_multipart_unrecorded_total").increment(1);
            }
        }
    }
    store.delete_all(vec![key]).await?;
    Ok(aborted)
}

/// How a [`PartUploader`] begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStart {
    /// Write the intent, create the multipart upload, record its id.
    New,
    /// Continue the upload an earlier try's intent records; when it records no upload id
    /// yet, create one and record it.
    Resume(Intent),
}

/// Sends the parts of one multipart upload, at most `concurrency` at a time, recording
/// each finished part in the intent (in the background, coalesced).
pub struct PartUploader {
    mp: Arc<dyn MultipartStore>,
    key: Key,
    intent: Intent,
    concurrency: usize,
    /// Parts in flight, each on its own task (they progress while the caller reads and
    /// verifies the next part).
    inflight: tokio::task::JoinSet<(usize, u32, object_store::Result<PartId>)>,
    progress: Option<tokio::sync::watch::Sender<Intent>>,
    writer: Option<tokio::task::JoinHandle<()>>,
    /// Bytes sent in parts by this uploader (not counting parts skipped on resume).
    pub sent_bytes: u64,
    /// Parts skipped because a previous try had sent them.
    pub skipped_parts: usize,
}

impl std::fmt::Debug for PartUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartUploader")
            .field("key", &self.key)
            .field("parts_done", &self.intent.parts.len())
            .finish()
    }
}

impl PartUploader {
    /// Starts the upload of `key` (see the module docs' steps 1-3: the intent `fresh` is
    /// written before the multipart upload is created, the id recorded before any part),
    /// or continues the upload an earlier try's intent records.
    pub async fn start(
        store: &TierStore,
        mp: Arc<dyn MultipartStore>,
        intent_key: Key,
        key: Key,
        fresh: Intent,
        start: UploadStart,
        concurrency: usize,
    ) -> Result<Self> {
        let resumed = matches!(start, UploadStart::Resume(_));
        let mut intent = match start {
            UploadStart::Resume(intent) => intent,
            UploadStart::New => {
                store
                    .store
                    .put(&intent_key, PutPayload::from(fresh.encode()))
                    .await
                    .map_err(|e| TieringError::store("record multipart intent", &intent_key, e))?;
                fresh
            }
        };
        if intent.upload_id.is_none() {
            if resumed {
                tracing::warn!(key = %key,
                    "resuming a multipart intent without an upload id: a process died while creating the upload; \
                     if the store created it, the bucket's AbortIncompleteMultipartUpload lifecycle rule removes it");
            }
            intent.parts.clear();
            let id = mp
                .create_multipart(&key)
                .await
                .map_err(|e| TieringError::store("start multipart", &key, e))?;
            intent.upload_id = Some(id);
            let id = intent.upload_id.as_deref().unwrap_or_default();
            if let Err(e) = store
                .store
                .put(&intent_key, PutPayload::from(intent.encode()))
                .await
            {
                let _ = mp.abort_multipart(&key, &id.to_string()).await;
                return Err(TieringError::store(
                    "record multipart upload id",
                    &intent_key,
                    e,
                ));
            }
        }
        let (tx, mut rx) = tokio::sync::watch::channel(intent.clone());
        let (store2, ikey) = (store.clone(), intent_key.clone());
        let writer = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let snapshot = rx.borrow_and_update().encode();
                if let Err(e) = store2.put(&ikey, Bytes::from(snapshot)).await {
                    tracing::debug!(key = %ikey, error = %e, "recording multipart progress failed; a retry resends those parts");
                }
            }
        });
        Ok(PartUploader {
            mp,
            key,
            intent,
            concurrency: concurrency.max(1),
            inflight: tokio::task::JoinSet::new(),
            progress: Some(tx),
            writer: Some(writer),
            sent_bytes: 0,
            skipped_parts: 0,
        })
    }

    /// The upload's intent as known so far.
    pub fn intent(&self) -> &Intent {
        &self.intent
    }

    /// The multipart upload's id (always recorded once [`PartUploader::start`] returned).
    pub fn upload_id(&self) -> &str {
        self.intent.upload_id.as_deref().unwrap_or_default()
    }

    /// Whether part `idx` with these bytes' CRC-32C was sent by an earlier try.
    pub fn already_sent(&self, idx: usize, crc: u32) -> bool {
        self.intent.resumable && self.intent.parts.get(&idx).is_some_and(|p| p.crc == crc)
    }

    /// Notes a part skipped because [`PartUploader::already_sent`].
    pub fn skip(&mut self) {
        self.skipped_parts += 1;
        metrics::counter!("keel_tier_multipart_resumed_parts_total").increment(1);
    }

    fn record(&mut self, idx: usize, crc: u32, done: object_store::Result<PartId>) -> Result<()> {
        let part = done.map_err(|e| TieringError::store("upload part", &self.key, e))?;
        self.intent.parts.insert(
            idx,
            DonePart {
                crc,
                etag: part.content_id,
            },
        );
        if let Some(tx) = &self.progress {
            tx.send_replace(self.intent.clone());
        }
        Ok(())
    }

    /// Sends part `idx` (waiting while `concurrency` parts are in flight).
    pub async fn send(&mut self, idx: usize, crc: u32, data: Bytes) -> Result<()> {
        while self.inflight.len() >= self.concurrency {
            if let Some(joined) = self.inflight.join_next().await {
                let (i, c, r) = joined.map_err(|e| self.join_error(e))?;
                self.record(i, c, r)?;
            }
        }
        self.sent_bytes += data.len() as u64;
        let (mp, key, id) = (
            self.mp.clone(),
            self.key.clone(),
            self.upload_id().to_string(),
        );
        self.inflight.spawn(async move {
            let r = mp
                .put_part(&key, &id, idx, PutPayload::from_bytes(data))
                .await;
            (idx, crc, r)
        });
        Ok(())
    }

    /// Waits for the parts in flight, stops recording progress, and completes the upload
    /// with parts `0..n_parts`. When the store no longer knows the upload and the object
    /// exists with `object_size` bytes, an earlier try completed it (and died before it
    /// could say so): that counts as completed. The key is unique to the attempt, so only
    /// this upload can have written it.
    pub async fn complete(
        mut self,
        store: &TierStore,
        n_parts: usize,
        object_size: u64,
    ) -> Result<()> {
        while let Some(joined) = self.inflight.join_next().await {
            let (i, c, r) = joined.map_err(|e| self.join_error(e))?;
            self.record(i, c, r)?;
        }
        self.stop_recording().await;
        let mut parts = Vec::with_capacity(n_parts);
        for i in 0..n_parts {
            let Some(p) = self.intent.parts.get(&i) else {
                return Err(TieringError::RemoteFormat {
                    key: self.key.to_string(),
                    reason: format!("part {i} of {n_parts} was never sent"),
                });
            };
            parts.push(PartId {
                content_id: p.etag.clone(),
            });
        }
        match self
            .mp
            .complete_multipart(&self.key, &self.upload_id().to_string(), parts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match store.store.head(&self.key).await {
                Ok(meta) if meta.size == object_size => {
                    tracing::info!(key = %self.key, "multipart upload was completed by an earlier try");
                    Ok(())
                }
                _ => Err(TieringError::store("complete multipart", &self.key, e)),
            },
        }
    }

    /// Waits for the parts in flight (recording those that finished) and the last progress
    /// write, leaving the upload open for a retry to resume.
    pub async fn suspend(mut self) {
        while let Some(joined) = self.inflight.join_next().await {
            if let Ok((i, c, r)) = joined {
                let _ = self.record(i, c, r);
            }
        }
        self.stop_recording().await;
    }

    fn join_error(&self, e: tokio::task::JoinError) -> TieringError {
        TieringError::keel_side("upload part", &self.key, e)
    }

    async fn stop_recording(&mut self) {
        self.progress = None; // closes the channel: the writer flushes the latest and stops
        if let Some(w) = self.writer.take() {
            let _ = w.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_uploads_are_recognised_by_one_predicate() {
        let nf = object_store::Error::NotFound {
            path: "p".into(),
            source: "NoSuchUpload".into(),
        };
        let denied = object_store::Error::PermissionDenied {
            path: "p".into(),
            source: "AccessDenied".into(),
        };
        let other = object_store::Error::Generic {
            store: "S3",
            source: "503".into(),
        };
        assert!(upload_is_gone(&nf) && upload_is_gone(&denied) && !upload_is_gone(&other));
    }
}
