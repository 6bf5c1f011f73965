//! Bounded in-memory LRU caches of the read path ([`crate::fetch`]):
//! - [`ObjectCache`]: whole small objects (offset indexes, chunk tables), keyed by object key;
//! - [`ChunkCache`]: hot chunks of `.log` objects, keyed by (object key, chunk index), so
//!   consumers re-reading near the tail are served without a GET.
//!
//! Objects are immutable (every upload attempt has its own keys, see [`crate::keys`]), so
//! entries never go stale; they are only evicted, least recently used first, when the byte
//! budget would be exceeded. Both are [`ByteLru`]s: a map plus a recency index, O(log n)
//! per operation. The budget counts payload bytes (keys and bookkeeping are not counted).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Debug)]
struct Lru<K> {
    map: HashMap<K, (Bytes, u64)>,
    /// tick → key, oldest first.
    order: BTreeMap<u64, K>,
    bytes: usize,
    tick: u64,
}

impl<K> Default for Lru<K> {
    fn default() -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            bytes: 0,
            tick: 0,
        }
    }
}

/// An LRU cache bounded by the total length of its values.
#[derive(Debug)]
pub struct ByteLru<K> {
    capacity: usize,
    inner: Mutex<Lru<K>>,
}

impl<K: Clone + Eq + Hash> ByteLru<K> {
    /// A cache holding at most `capacity` bytes (values larger than that are not cached).
    pub fn new(capacity: usize) -> Self {
        ByteLru {
            capacity,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// The budget in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The value for `key`, marking it most recently used.
    pub fn get<Q>(&self, key: &Q) -> Option<Bytes>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        let (value, old) = {
            let (b, t) = g.map.get_mut(key)?;
            let old = std::mem::replace(t, tick);
            (b.clone(), old)
        };
        if let Some(k) = g.order.remove(&old) {
            g.order.insert(tick, k);
        }
        Some(value)
    }

    /// Inserts (or replaces) `key`, then evicts least recently used entries until the
    /// cache is within its budget. A value larger than the whole budget is not cached.
    pub fn insert(&self, key: K, value: Bytes) {
        if value.len() > self.capacity {
            return;
        }
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        g.bytes += value.len();
        if let Some((old, old_tick)) = g.map.insert(key.clone(), (value, tick)) {
            g.bytes -= old.len();
            g.order.remove(&old_tick);
        }
        g.order.insert(tick, key);
        while g.bytes > self.capacity {
            let Some((_, oldest)) = g.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = g.map.remove(&oldest) {
                g.bytes -= b.len();
            }
        }
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whole small objects (indexes, chunk tables), keyed by object key.
pub type ObjectCache = ByteLru<String>;

/// Hit and miss counts of a [`ChunkCache`] (also exported as the metrics
/// `keel_tier_chunk_cache_hits_total` / `keel_tier_chunk_cache_misses_total`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// Hot chunks of `.log` objects: the raw bytes of chunk `i` of an object are the segment's
/// bytes `i × chunk_len .. (i + 1) × chunk_len` (decompressed for zstd-chunked objects,
/// whose chunks are the compression chunks).
#[derive(Debug)]
pub struct ChunkCache {
    lru: ByteLru<(Arc<str>, u64)>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ChunkCache {
    /// A cache of at most `capacity` bytes of chunk data; 0 disables it.
    pub fn new(capacity: usize) -> Self {
        ChunkCache {
            lru: ByteLru::new(capacity),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether the cache can hold anything.
    pub fn enabled(&self) -> bool {
        self.lru.capacity() > 0
    }

    /// Chunk `index` of `object`, counting a hit or a miss.
    pub fn get(&self, object: &Arc<str>, index: u64) -> Option<Bytes> {
        let found = self.lru.get(&(object.clone(), index));
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("keel_tier_chunk_cache_hits_total").increment(1);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("keel_tier_chunk_cache_misses_total").increment(1);
        }
        found
    }

    /// Chunk `index` of `object` without counting (to probe before a read).
    pub fn peek(&self, object: &Arc<str>, index: u64) -> bool {
        self.lru.get(&(object.clone(), index)).is_some()
    }

    /// Stores chunk `index` of `object`.
    pub fn insert(&self, object: &Arc<str>, index: u64, data: Bytes) {
        self.lru.insert((object.clone(), index), data);
        metrics::gauge!("keel_tier_chunk_cache_bytes").set(self.lru.size() as f64);
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.lru.size()
    }

    /// The budget in bytes.
    pub fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let c = ObjectCache::new(10);
        c.insert("a".into(), Bytes::from_static(b"1234"));
        c.insert("b".into(), Bytes::from_static(b"1234"));
        assert!(c.get("a").is_some());
        c.insert("c".into(), Bytes::from_static(b"1234"));
        assert!(c.get("b").is_none(), "b was least recently used");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert!(c.size() <= 10);
        c.insert("huge".into(), Bytes::from(vec![0; 11]));
        assert!(c.get("huge").is_none());
        c.insert("a".into(), Bytes::from_static(b"123456"));
        assert_eq!(c.size(), 10, "a replaced in place: 6 + 4");
    }

    #[test]
    fn chunk_cache_counts_hits_and_misses() {
        let c = ChunkCache::new(100);
        let k: Arc<str> = Arc::from("t-0/x.log");
        assert!(c.get(&k, 0).is_none());
        c.insert(&k, 0, Bytes::from_static(b"abc"));
        assert_eq!(c.get(&k, 0).as_deref(), Some(&b"abc"[..]));
        assert!(c.get(&k, 1).is_none());
        assert_eq!(c.stats(), CacheStats { hits: 1, misses: 2 });
    }

    #[derive(Debug, Clone)]
    enum CacheOp {
        Insert(u8, usize),
        Get(u8),
    }

    fn cache_op() -> impl Strategy<Value = CacheOp> {
        prop_oneof![
            (any::<u8>(), 0usize..600).prop_map(|(k, n)| CacheOp::Insert(k % 32, n)),
            any::<u8>().prop_map(|k| CacheOp::Get(k % 32)),
        ]
    }

    proptest! {
        /// Whatever the sequence of inserts and reads, the bytes held never exceed the
        /// budget, equal the sum of the values held, and the value just inserted (when it
        /// fits the budget) is kept, with the bytes it was given.
        #[test]
        fn cache_never_exceeds_its_byte_budget(
            capacity in 0usize..2_000,
            ops in proptest::collection::vec(cache_op(), 1..200),
        ) {
            let c = ChunkCache::new(capacity);
            let name: Arc<str> = Arc::from("p-0/00000000000000000000-0000000000000001.log");
            let mut model: HashMap<u64, usize> = HashMap::new();
            for op in ops {
                match op {
                    CacheOp::Insert(k, n) => {
                        let value = Bytes::from(vec![k; n]);
                        c.insert(&name, u64::from(k), value);
                        if n <= capacity {
                            let got = c.get(&name, u64::from(k));
                            prop_assert_eq!(got.map(|b| b.to_vec()), Some(vec![k; n]));
                        }
                    }
                    CacheOp::Get(k) => {
                        if let Some(b) = c.get(&name, u64::from(k)) {
                            prop_assert!(b.iter().all(|x| *x == k), "chunk {} holds another chunk's bytes", k);
                        }
                    }
                }
                prop_assert!(c.size() <= capacity, "{} bytes held, budget {}", c.size(), capacity);
                model.clear();
                for k in 0..32u64 {
                    if c.peek(&name, k) {
                        let len = c.lru.get(&(name.clone(), k)).map_or(0, |b| b.len());
                        model.insert(k, len);
                    }
                }
                prop_assert_eq!(model.values().sum::<usize>(), c.size());
                prop_assert_eq!(model.len(), c.lru.len());
            }
        }
    }
}
