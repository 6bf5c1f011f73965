//! The remote read path: offset → segment (manifest, cached) → byte position (remote
//! offset index, cached, CRC-checked) → exactly one ranged GET of the `.log` object.
//!
//! The range starts at the index entry at or below the offset and ends where the batch
//! holding the offset must have ended (the position of the index entry after the first
//! one above the offset, or the object's end), extended to `max_bytes` past the start.
//! The reply starts at the batch holding the offset and holds whole batches only, at most
//! `max_bytes` of them, except that the first batch is always returned whole (as Kafka's
//! fetch does). Each returned batch's CRC-32C is checked; whole objects (indexes) are
//! checked against the CRC-32C in the manifest.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use keel_wire::batch::{BatchIter, LogEntry};
use keel_wire::segment::OffsetIndex;
use object_store::{GetOptions, GetRange};
use parking_lot::Mutex;

use crate::cache::ObjectCache;
use crate::chunks::{ChunkTable, decompress_frames};
use crate::error::{Result, TieringError};
use crate::keys::{TopicPartition, segment_key};
use crate::manifest::{ObjectKind, RemoteSegment, SegmentManifest};
use crate::manifest_store;
use crate::ratelimit::RateLimiter;
use crate::store::TierStore;

/// Batches read from the store.
#[derive(Debug, Clone)]
pub struct FetchResult {
    /// Whole record batches, back to back, starting with the one holding the offset.
    pub records: Bytes,
    /// The segment they came from.
    pub segment: RemoteSegment,
    /// Byte position of the first returned batch in the segment.
    pub position: u64,
}

/// Reads remote segments; caches manifests, indexes and nothing else.
#[derive(Debug)]
pub struct RemoteReader {
    store: TierStore,
    manifests: Mutex<HashMap<TopicPartition, Arc<SegmentManifest>>>,
    cache: ObjectCache,
    rate: Option<Arc<RateLimiter>>,
    range_gets: AtomicU64,
}

/// Default index cache budget.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

impl RemoteReader {
    pub fn new(store: TierStore, cache_bytes: usize, rate: Option<Arc<RateLimiter>>) -> Self {
        RemoteReader {
            store,
            manifests: Mutex::new(HashMap::new()),
            cache: ObjectCache::new(cache_bytes),
            rate,
            range_gets: AtomicU64::new(0),
        }
    }

    /// Number of ranged GETs of `.log` objects so far.
    pub fn range_gets(&self) -> u64 {
        self.range_gets.load(Ordering::Relaxed)
    }

    /// The partition's manifest, from cache unless `refresh`.
    pub async fn manifest(
        &self,
        tp: &TopicPartition,
        refresh: bool,
    ) -> Result<Arc<SegmentManifest>> {
        if !refresh && let Some(m) = self.manifests.lock().get(tp) {
            return Ok(m.clone());
        }
        let m = Arc::new(
            manifest_store::load(&self.store, tp)
                .await?
                .unwrap_or_default(),
        );
        self.manifests.lock().insert(tp.clone(), m.clone());
        Ok(m)
    }

    /// A whole object, CRC-checked against the manifest, through the cache.
    pub async fn get_object(
        &self,
        tp: &TopicPartition,
        seg: &RemoteSegment,
        kind: ObjectKind,
    ) -> Result<Bytes> {
        let key = segment_key(&self.store.prefix, tp, seg.base_offset, seg.attempt, kind);
        if let Some(b) = self.cache.get(key.as_ref()) {
            return Ok(b);
        }
        let bytes = self
            .store
            .get_opt(&key)
            .await?
            .ok_or_else(|| TieringError::RemoteFormat {
                key: key.to_string(),
                reason: "object listed in the manifest is missing".into(),
            })?;
        if let Some(expected) = seg.checksums.get(kind) {
            let actual = crc32c::crc32c(&bytes);
            if actual != expected {
                return Err(TieringError::ChecksumMismatch {
                    key: key.to_string(),
                    expected,
                    actual,
                });
            }
        }
        if kind == ObjectKind::Log && seg.checksums.zstd_chunks {
            let table = ChunkTable::parse_tail(&bytes, key.as_ref())?;
            let n = table.offsets.len().saturating_sub(1);
            if n == 0 {
                return Ok(Bytes::new());
            }
            return Ok(Bytes::from(decompress_frames(
                &bytes,
                &table,
                0,
                n - 1,
                key.as_ref(),
            )?));
        }
        if kind != ObjectKind::Log {
            self.cache.insert(key.as_ref(), bytes.clone());
        }
        Ok(bytes)
    }

    /// Reads batches from `offset` on, up to `max_bytes` (at least one whole batch).
    pub async fn fetch(
        &self,
        tp: &TopicPartition,
        offset: i64,
        max_bytes: usize,
    ) -> Result<FetchResult> {
        let mut m = self.manifest(tp, false).await?;
        if m.find(offset).is_none() {
            m = self.manifest(tp, true).await?;
        }
        let Some(seg) = m.find(offset).copied() else {
            return Err(TieringError::OffsetOutOfRange {
                partition: tp.to_string(),
                offset,
                start: m.log_start_offset,
                end: m.committed_end_offset(),
            });
        };
        let index_bytes = self.get_object(tp, &seg, ObjectKind::OffsetIndex).await?;
        let index_key = segment_key(
            &self.store.prefix,
            tp,
            seg.base_offset,
            seg.attempt,
            ObjectKind::OffsetIndex,
        );
        let index = OffsetIndex::parse(&index_bytes, seg.base_offset).map_err(|e| {
            TieringError::RemoteFormat {
                key: index_key.to_string(),
                reason: e.to_string(),
            }
        })?;
        let size = u64::from(seg.size_bytes);
        let floor = index.floor_slot(offset);
        let start = floor
            .and_then(|i| index.entry(i))
            .map_or(0, |e| u64::from(e.position));
        let above = floor.map_or(0, |i| i + 1);
        let end_bound = index
            .entry(above + 1)
            .map_or(size, |e| u64::from(e.position));
        // The batch holding the offset starts at or before the first entry above it.
        let target_upper = index.entry(above).map_or(size, |e| u64::from(e.position));
        let end = end_bound
            .max(target_upper.saturating_add(max_bytes as u64))
            .min(size);
        let log_key = segment_key(
            &self.store.prefix,
            tp,
            seg.base_offset,
            seg.attempt,
            ObjectKind::Log,
        );
        let data = self.read_raw(&seg, &log_key, start, end).await?;
        match select_batches(&data, start, offset, max_bytes, log_key.as_ref())? {
            Selection::Found { from, to } => Ok(FetchResult {
                records: data.slice(from..to),
                segment: seg,
                position: start + from as u64,
            }),
            Selection::NeedMore { position, len } => {
                // Only when the index points further back than Kafka's does: a second GET.
                let data = self
                    .read_raw(&seg, &log_key, position, (position + len).min(size))
                    .await?;
                Ok(FetchResult {
                    records: data,
                    segment: seg,
                    position,
                })
            }
        }
    }

    /// Raw segment bytes `start..end` with one ranged GET (through the chunk table for
    /// compressed objects; the table is fetched once and cached).
    async fn read_raw(
        &self,
        seg: &RemoteSegment,
        key: &object_store::path::Path,
        start: u64,
        end: u64,
    ) -> Result<Bytes> {
        if !seg.checksums.zstd_chunks {
            return self.get_range(key, start, end).await;
        }
        let table = self.chunk_table(key).await?;
        let (first, last, range) = table.frames_for(start, end);
        let data = self.get_range(key, range.start, range.end).await?;
        let raw = Bytes::from(decompress_frames(&data, &table, first, last, key.as_ref())?);
        let off = usize::try_from(start - first as u64 * u64::from(table.chunk_size))
            .unwrap_or(usize::MAX)
            .min(raw.len());
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        Ok(raw.slice(off..off.saturating_add(len).min(raw.len())))
    }

    async fn chunk_table(&self, key: &object_store::path::Path) -> Result<ChunkTable> {
        let cache_key = format!("{key}#chunk-table");
        if let Some(tail) = self.cache.get(&cache_key) {
            return ChunkTable::parse_tail(&tail, key.as_ref());
        }
        // HEAD + bounded range rather than a suffix range: not every S3 server supports the latter.
        let size = self
            .store
            .store
            .head(key)
            .await
            .map_err(|e| TieringError::store("head", key, e))?
            .size;
        let mut want = (64 * 1024u64).min(size);
        for _ in 0..2 {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(size - want..size)),
                ..GetOptions::default()
            };
            let r = self
                .store
                .store
                .get_opts(key, opts)
                .await
                .map_err(|e| TieringError::store("get chunk table", key, e))?;
            let tail = r
                .bytes()
                .await
                .map_err(|e| TieringError::store("read", key, e))?;
            let need =
                ChunkTable::encoded_len(ChunkTable::count_from_tail(&tail, key.as_ref())?) as u64;
            if need <= tail.len() as u64 {
                let table = ChunkTable::parse_tail(&tail, key.as_ref())?;
                self.cache.insert(&cache_key, tail);
                return Ok(table);
            }
            want = need.min(size);
        }
        Err(TieringError::RemoteFormat {
            key: key.to_string(),
            reason: "chunk table larger than announced".into(),
        })
    }

    async fn get_range(
        &self,
        key: &object_store::path::Path,
        start: u64,
        end: u64,
    ) -> Result<Bytes> {
        if let Some(rate) = &self.rate {
            rate.acquire(end.saturating_sub(start)).await;
        }
        self.range_gets.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("keel_tier_fetch_bytes_total").increment(end.saturating_sub(start));
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let r = self
            .store
            .store
            .get_opts(key, opts)
            .await
            .map_err(|e| TieringError::store("ranged get", key, e))?;
        r.bytes()
            .await
            .map_err(|e| TieringError::store("read", key, e))
    }
}

/// Where the wanted batches lie in a fetched range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// `data[from..to]` are the batches to return.
    Found { from: usize, to: usize },
    /// The batch holding the offset starts at `position` and needs `len` bytes, beyond the range.
    NeedMore { position: u64, len: u64 },
}

/// Picks whole batches from `data` (read from segment position `start`): from the first
/// batch whose last offset is ≥ `offset`, then more while they fit in `max_bytes`. Pure.
pub fn select_batches(
    data: &[u8],
    start: u64,
    offset: i64,
    max_bytes: usize,
    key: &str,
) -> Result<Selection> {
    let mut first: Option<usize> = None;
    let mut to = 0usize;
    for entry in BatchIter::with_base_position(data, start) {
        let entry = match entry {
            Ok(e) => e,
            Err(keel_wire::WireError::Truncated {
                position, needed, ..
            }) => {
                if first.is_none() {
                    return Ok(Selection::NeedMore {
                        position,
                        len: needed,
                    });
                }
                break;
            }
            Err(e) => {
                return Err(TieringError::RemoteFormat {
                    key: key.to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let LogEntry::V2(batch) = entry else {
            return Err(TieringError::RemoteFormat {
                key: key.to_string(),
                reason: format!("legacy message at {}", entry.position()),
            });
        };
        let rel = (batch.position() - start) as usize;
        match first {
            None if batch.last_offset() < offset => continue,
            None => first = Some(rel),
            Some(f) if rel + batch.size() - f > max_bytes => break,
            Some(_) => {}
        }
        batch
            .validate_crc()
            .map_err(|e| TieringError::RemoteFormat {
                key: key.to_string(),
                reason: e.to_string(),
            })?;
        to = rel + batch.size();
    }
    match first {
        Some(from) => Ok(Selection::Found { from, to }),
        None => Err(TieringError::RemoteFormat {
            key: key.to_string(),
            reason: format!(
                "no batch holds offset {offset} in bytes {start}..{}",
                start + data.len() as u64
            ),
        }),
    }
}
