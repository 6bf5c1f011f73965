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
//!
//! Hot chunks: the `.log` bytes read are kept in a bounded [`ChunkCache`] by (object,
//! chunk) — [`LOG_CHUNK_LEN`] slices of plain objects, decompressed zstd chunks of
//! compressed ones. A read whose chunks are all cached makes no GET (consumers re-reading
//! near the tail); otherwise one ranged GET covers the missing chunks, widened to chunk
//! boundaries. With the chunk cache disabled (budget 0) the GET covers exactly the range.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use keel_wire::batch::{BatchIter, LogEntry};
use keel_wire::segment::OffsetIndex;
use object_store::{GetOptions, GetRange};
use parking_lot::Mutex;

use crate::cache::{CacheStats, ChunkCache, ObjectCache};
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

/// Reads remote segments; caches manifests, indexes (and chunk tables), and hot chunks.
#[derive(Debug)]
pub struct RemoteReader {
    store: TierStore,
    manifests: Mutex<HashMap<TopicPartition, Arc<SegmentManifest>>>,
    cache: ObjectCache,
    chunks: ChunkCache,
    rate: Option<Arc<RateLimiter>>,
    /// Bounds the GETs in flight at once (all partitions), when set.
    gets: Option<Arc<tokio::sync::Semaphore>>,
    range_gets: AtomicU64,
}

/// Default index cache budget.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;
/// Default hot-chunk cache budget.
pub const DEFAULT_CHUNK_CACHE_BYTES: usize = 64 << 20;
/// Chunk length of plain (uncompressed) `.log` objects in the chunk cache.
pub const LOG_CHUNK_LEN: u64 = 128 << 10;

impl RemoteReader {
    /// A reader with an index cache of `cache_bytes` and a hot-chunk cache of
    /// [`DEFAULT_CHUNK_CACHE_BYTES`] (see [`RemoteReader::with_chunk_cache`]).
    pub fn new(store: TierStore, cache_bytes: usize, rate: Option<Arc<RateLimiter>>) -> Self {
        RemoteReader {
            store,
            manifests: Mutex::new(HashMap::new()),
            cache: ObjectCache::new(cache_bytes),
            chunks: ChunkCache::new(DEFAULT_CHUNK_CACHE_BYTES),
            rate,
            gets: None,
            range_gets: AtomicU64::new(0),
        }
    }

    /// At most `n` ranged GETs of `.log` objects in flight at once (the fetch concurrency
    /// limit; the byte-rate limit is the `rate` of [`RemoteReader::new`]).
    pub fn with_fetch_concurrency(mut self, n: usize) -> Self {
        self.gets = Some(Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Sets the hot-chunk cache budget in bytes (0 disables it: every read is one GET of
    /// exactly the bytes it needs).
    pub fn with_chunk_cache(mut self, bytes: usize) -> Self {
        self.chunks = ChunkCache::new(bytes);
        self
    }

    /// Number of ranged GETs of `.log` objects so far.
    pub fn range_gets(&self) -> u64 {
        self.range_gets.load(Ordering::Relaxed)
    }

    /// Hot-chunk cache hits and misses so far.
    pub fn chunk_cache_stats(&self) -> CacheStats {
        self.chunks.stats()
    }

    /// Bytes held by the hot-chunk cache.
    pub fn chunk_cache_size(&self) -> usize {
        self.chunks.size()
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
            self.cache.insert(key.to_string(), bytes.clone());
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

    /// Raw segment bytes `start..end`: from the chunk cache when every chunk is there,
    /// else with one ranged GET (through the chunk table for compressed objects; the table
    /// is fetched once and cached).
    async fn read_raw(
        &self,
        seg: &RemoteSegment,
        key: &object_store::path::Path,
        start: u64,
        end: u64,
    ) -> Result<Bytes> {
        let size = u64::from(seg.size_bytes);
        let end = end.min(size);
        if start >= end {
            return Ok(Bytes::new());
        }
        if !seg.checksums.zstd_chunks {
            if !self.chunks.enabled() {
                return self.get_range(key, start, end).await;
            }
            return self.read_plain_chunks(key, size, start, end).await;
        }
        let table = self.chunk_table(key).await?;
        let cs = u64::from(table.chunk_size.max(1));
        let (first, last, range) = table.frames_for(start, end);
        let raw = if self.chunks.enabled() {
            self.read_compressed_chunks(key, &table, first, last)
                .await?
        } else {
            let data = self.get_range(key, range.start, range.end).await?;
            Bytes::from(decompress_frames(&data, &table, first, last, key.as_ref())?)
        };
        Ok(slice_from(&raw, first as u64 * cs, start, end))
    }

    /// Plain objects: chunks of [`LOG_CHUNK_LEN`] through the cache; one GET for the span
    /// of missing chunks.
    async fn read_plain_chunks(
        &self,
        key: &object_store::path::Path,
        size: u64,
        start: u64,
        end: u64,
    ) -> Result<Bytes> {
        let name: Arc<str> = Arc::from(key.as_ref());
        let (first, last) = (start / LOG_CHUNK_LEN, (end - 1) / LOG_CHUNK_LEN);
        let mut parts = Vec::new();
        let mut missing: Option<(u64, u64)> = None;
        for i in first..=last {
            match self.chunks.get(&name, i) {
                Some(b) => parts.push(Some(b)),
                None => {
                    parts.push(None);
                    missing = Some(missing.map_or((i, i), |(lo, _)| (lo, i)));
                }
            }
        }
        if let Some((lo, hi)) = missing {
            let from = lo * LOG_CHUNK_LEN;
            let to = ((hi + 1) * LOG_CHUNK_LEN).min(size);
            let data = self.get_range(key, from, to).await?;
            if (data.len() as u64) < to - from {
                return Err(TieringError::RemoteFormat {
                    key: key.to_string(),
                    reason: format!(
                        "ranged GET {from}..{to} returned {} bytes: object shorter than the manifest says",
                        data.len()
                    ),
                });
            }
            for i in lo..=hi {
                let a = usize::try_from((i - lo) * LOG_CHUNK_LEN).unwrap_or(usize::MAX);
                let b = a.saturating_add(LOG_CHUNK_LEN as usize).min(data.len());
                let chunk = data.slice(a.min(b)..b);
                self.chunks.insert(&name, i, chunk.clone());
                parts[usize::try_from(i - first).unwrap_or(usize::MAX)] = Some(chunk);
            }
            if first >= lo && last <= hi {
                return Ok(slice_from(&data, from, start, end));
            }
        }
        Ok(slice_from(
            &concat(parts),
            first * LOG_CHUNK_LEN,
            start,
            end,
        ))
    }

    /// Compressed objects: decompressed zstd chunks `first..=last` through the cache; one
    /// GET for the frames of the span of missing chunks.
    async fn read_compressed_chunks(
        &self,
        key: &object_store::path::Path,
        table: &ChunkTable,
        first: usize,
        last: usize,
    ) -> Result<Bytes> {
        let name: Arc<str> = Arc::from(key.as_ref());
        let mut parts = Vec::new();
        let mut missing: Option<(usize, usize)> = None;
        for i in first..=last {
            match self.chunks.get(&name, i as u64) {
                Some(b) => parts.push(Some(b)),
                None => {
                    parts.push(None);
                    missing = Some(missing.map_or((i, i), |(lo, _)| (lo, i)));
                }
            }
        }
        if let Some((lo, hi)) = missing {
            let at = |i: usize| table.offsets.get(i).copied().unwrap_or(0);
            let data = self.get_range(key, at(lo), at(hi + 1)).await?;
            for i in lo..=hi {
                let rel = usize::try_from(at(i) - at(lo)).unwrap_or(usize::MAX);
                let frame = data.get(rel..).unwrap_or_default();
                let raw = Bytes::from(decompress_frames(frame, table, i, i, key.as_ref())?);
                self.chunks.insert(&name, i as u64, raw.clone());
                parts[i - first] = Some(raw);
            }
        }
        Ok(concat(parts))
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
                self.cache.insert(cache_key, tail);
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
        let _permit = match &self.gets {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
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

/// Bytes `start..end` of a buffer that starts at segment position `at`.
fn slice_from(buf: &Bytes, at: u64, start: u64, end: u64) -> Bytes {
    let a = usize::try_from(start.saturating_sub(at))
        .unwrap_or(usize::MAX)
        .min(buf.len());
    let b = usize::try_from(end.saturating_sub(at))
        .unwrap_or(usize::MAX)
        .clamp(a, buf.len());
    buf.slice(a..b)
}

/// Consecutive chunks as one buffer (no copy for a single chunk).
fn concat(parts: Vec<Option<Bytes>>) -> Bytes {
    let mut parts: Vec<Bytes> = parts.into_iter().flatten().collect();
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut out = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in &parts {
        out.extend_from_slice(p);
    }
    Bytes::from(out)
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
