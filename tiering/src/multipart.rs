//! Multipart uploads that can be resumed and garbage-collected by id.
//!
//! `object_store`'s `put_multipart` hides the upload id, and `object_store` cannot list
//! unfinished multipart uploads, so a crashed upload used to leave parts behind that only a
//! bucket lifecycle rule could remove, and a retry started over. Desired state first: when
//! the store offers [`MultipartStore`] (S3, GCS, Azure, memory), an upload
//! 1. creates the multipart upload,
//! 2. records its id in an *intent* object `<base>-<attempt>.mpu` next to the segment's
//!    objects with a conditional put (`PutMode::Create`) **before the first part**,
//! 3. records each finished part (index, CRC-32C of its bytes, ETag) in the intent as parts
//!    complete (overwrites in the background, coalesced: a crash loses at most the last
//!    few records, whose parts are then sent again),
//! 4. completes the upload, then deletes the intent.
//!
//! A retry of the same attempt reads the intent and sends only the parts that are missing
//! or whose local bytes no longer match the recorded CRC-32C. [`crate::gc`] aborts the
//! uploads of intents no live copy owns, by id ([`MultipartStore::abort_multipart`]), then
//! deletes the intents. The one gap: a crash between steps 1 and 2 leaves an upload no
//! intent names (keep the bucket's `AbortIncompleteMultipartUpload` lifecycle rule as the
//! backstop for that window).
//!
//! The intent format is text, one record per line, tokens percent-escaped:
//! ```text
//! keel-multipart-intent 1
//! upload <upload id>
//! part-size <bytes>
//! size <segment bytes>
//! resumable <0|1>
//! part <index> <crc32c, 8 hex digits> <etag>
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{PutMode, PutOptions, PutPayload};

use crate::error::{Result, TieringError};
use crate::keys::{TopicPartition, intent_key, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment};
use crate::store::TierStore;

const MAGIC_LINE: &str = "keel-multipart-intent 1";

/// One finished part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonePart {
    /// CRC-32C of the part's stored bytes.
    pub crc: u32,
    /// The store's id for the part (S3: its ETag).
    pub etag: String,
}

/// What an intent object records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intent {
    pub upload_id: String,
    pub part_size: u64,
    /// Size of the segment (`.log`) being uploaded.
    pub size: u64,
    /// Whether part `i` always holds bytes `i × part_size ..` of the segment (uncompressed
    /// uploads), so a retry may skip the parts it finds here.
    pub resumable: bool,
    pub parts: BTreeMap<usize, DonePart>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Intent {
    /// The intent's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{MAGIC_LINE}\nupload {}\npart-size {}\nsize {}\nresumable {}\n",
            escape(&self.upload_id),
            self.part_size,
            self.size,
            u8::from(self.resumable)
        );
        for (i, p) in &self.parts {
            s.push_str(&format!("part {i} {:08x} {}\n", p.crc, escape(&p.etag)));
        }
        s.into_bytes()
    }

    /// Parses an intent; `key` names the object in errors. Never panics.
    pub fn decode(bytes: &[u8], key: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| TieringError::RemoteFormat {
            key: key.to_string(),
            reason: format!("multipart intent line {}: {reason}", line + 1),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| bad(0, format!("not UTF-8: {e}")))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, MAGIC_LINE)) => {}
            other => {
                return Err(bad(
                    0,
                    format!("expected {MAGIC_LINE:?}, found {:?}", other.map(|l| l.1)),
                ));
            }
        }
        let mut intent = Intent::default();
        let mut seen = [false; 4];
        for (n, line) in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            let num = |s: &str| s.parse::<u64>().map_err(|e| bad(n, format!("{s:?}: {e}")));
            match fields.as_slice() {
                ["upload", id] => {
                    intent.upload_id =
                        unescape(id).ok_or_else(|| bad(n, "bad escape in upload id".into()))?;
                    seen[0] = true;
                }
                ["part-size", v] => {
                    intent.part_size = num(v)?;
                    seen[1] = true;
                }
                ["size", v] => {
                    intent.size = num(v)?;
                    seen[2] = true;
                }
                ["resumable", v] => {
                    intent.resumable = match *v {
                        "0" => false,
                        "1" => true,
                        other => return Err(bad(n, format!("resumable {other:?}"))),
                    };
                    seen[3] = true;
                }
                ["part", idx, crc, etag] => {
                    let idx = usize::try_from(num(idx)?)
                        .map_err(|_| bad(n, "part index too large".into()))?;
                    let crc = u32::from_str_radix(crc, 16)
                        .map_err(|e| bad(n, format!("crc {crc:?}: {e}")))?;
                    let etag = unescape(etag).ok_or_else(|| bad(n, "bad escape in etag".into()))?;
                    intent.parts.insert(idx, DonePart { crc, etag });
                }
                _ => return Err(bad(n, format!("unknown record {line:?}"))),
            }
        }
        if seen.contains(&false) {
            return Err(bad(
                0,
                "missing upload, part-size, size or resumable".into(),
            ));
        }
        if intent.part_size == 0 {
            return Err(bad(0, "part size 0".into()));
        }
        let parts = intent.size.div_ceil(intent.part_size);
        if let Some((&last, _)) = intent.parts.last_key_value()
            && intent.resumable
            && last as u64 >= parts
        {
            return Err(bad(
                0,
                format!(
                    "part {last} beyond the {parts} parts of {} bytes",
                    intent.size
                ),
            ));
        }
        Ok(intent)
    }
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

/// Aborts the multipart upload an attempt's intent names (if any) and deletes the intent.
/// Idempotent: an upload already completed or aborted counts as aborted.
pub async fn abort_attempt(
    store: &TierStore,
    tp: &TopicPartition,
    seg: &RemoteSegment,
) -> Result<()> {
    let key = intent_key(&store.prefix, tp, seg.base_offset, seg.attempt);
    let intent = match store.get_opt(&key).await? {
        Some(bytes) => Intent::decode(&bytes, key.as_ref()).ok(),
        None => return Ok(()),
    };
    if let (Some(intent), Some(mp)) = (intent, &store.multipart) {
        let log = segment_key(
            &store.prefix,
            tp,
            seg.base_offset,
            seg.attempt,
            ObjectKind::Log,
        );
        match mp.abort_multipart(&log, &intent.upload_id).await {
            // S3 answers an upload id it no longer knows (completed, or aborted already)
            // with NoSuchUpload (404); s3s-fs answers it with AccessDenied (403).
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(object_store::Error::PermissionDenied { .. }) => {
                tracing::warn!(key = %log, upload_id = %intent.upload_id,
                    "abort multipart refused (the store no longer knows the upload, or lacks the permission); dropping its intent");
            }
            Err(e) => return Err(TieringError::store("abort multipart", &log, e)),
        }
        metrics::counter!("keel_tier_multipart_aborted_total").increment(1);
    }
    store.delete_all(vec![key]).await?;
    Ok(())
}

/// How a [`PartUploader`] begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStart {
    /// Create the multipart upload, then record its intent.
    New,
    /// The upload was created already (alongside the manifest commit); record its intent.
    Created(String),
    /// Continue the upload an earlier try recorded.
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
    /// Starts a new upload of `key` (or takes one just created) and records its intent
    /// (conditional put) before any part is sent, or resumes the upload an intent names.
    pub async fn start(
        store: &TierStore,
        mp: Arc<dyn MultipartStore>,
        intent_key: Key,
        key: Key,
        fresh: Intent,
        start: UploadStart,
        concurrency: usize,
    ) -> Result<Self> {
        let intent = match start {
            UploadStart::Resume(intent) => intent,
            created => {
                let upload_id = match created {
                    UploadStart::Created(id) => id,
                    _ => mp
                        .create_multipart(&key)
                        .await
                        .map_err(|e| TieringError::store("start multipart", &key, e))?,
                };
                let intent = Intent { upload_id, ..fresh };
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                if let Err(e) = store
                    .store
                    .put_opts(&intent_key, PutPayload::from(intent.encode()), opts)
                    .await
                {
                    let _ = mp.abort_multipart(&key, &intent.upload_id).await;
                    return Err(TieringError::store(
                        "record multipart intent",
                        &intent_key,
                        e,
                    ));
                }
                intent
            }
        };
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
            self.intent.upload_id.clone(),
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
            .complete_multipart(&self.key, &self.intent.upload_id, parts)
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
        TieringError::store(
            "upload part",
            &self.key,
            object_store::Error::Generic {
                store: "keel",
                source: Box::new(e),
            },
        )
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
    use proptest::prelude::*;

    fn sample() -> Intent {
        let mut parts = BTreeMap::new();
        parts.insert(
            0,
            DonePart {
                crc: 0xdead_beef,
                etag: "\"0a1b\"".into(),
            },
        );
        parts.insert(
            2,
            DonePart {
                crc: 7,
                etag: "with space%".into(),
            },
        );
        Intent {
            upload_id: "VXBsb2FkIElE/x+y==".into(),
            part_size: 8 << 20,
            size: 20 << 20,
            resumable: true,
            parts,
        }
    }

    #[test]
    fn intent_roundtrips() {
        let i = sample();
        assert_eq!(Intent::decode(&i.encode(), "k").unwrap(), i);
    }

    #[test]
    fn intent_errors_name_the_line() {
        let mut bytes = sample().encode();
        bytes.extend_from_slice(b"part x 0 e\n");
        let e = Intent::decode(&bytes, "t-0/x.mpu").unwrap_err().to_string();
        assert!(e.contains("t-0/x.mpu") && e.contains("line 8"), "{e}");
        let e = Intent::decode(b"keel-multipart-intent 1\nsize 3\n", "k").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let mut far = sample();
        far.parts.insert(
            9,
            DonePart {
                crc: 1,
                etag: "e".into(),
            },
        );
        assert!(
            Intent::decode(&far.encode(), "k").is_err(),
            "part beyond the segment"
        );
    }

    proptest! {
        #[test]
        fn intent_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Intent::decode(&bytes, "k");
        }

        #[test]
        fn intent_decode_of_mutated_intents_never_panics(flip in 0usize..200, to in any::<u8>()) {
            let mut bytes = sample().encode();
            let i = flip % bytes.len();
            bytes[i] = to;
            let _ = Intent::decode(&bytes, "k");
        }

        #[test]
        fn intent_roundtrips_any_tokens(id in ".{0,40}", etag in ".{0,40}", crc in any::<u32>(), idx in 0usize..3) {
            let mut i = sample();
            i.upload_id = id;
            i.parts.insert(idx, DonePart { crc, etag });
            prop_assert_eq!(Intent::decode(&i.encode(), "k").unwrap(), i);
        }
    }
}
