//! A bounded in-memory LRU cache of immutable objects (offset indexes, hot chunks), keyed
//! by object key. Objects are immutable (unique keys per upload attempt), so entries never
//! go stale; they only get evicted when the byte budget is exceeded.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, (Bytes, u64)>,
    bytes: usize,
    tick: u64,
}

/// LRU by bytes.
#[derive(Debug)]
pub struct ObjectCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ObjectCache {
    /// A cache holding at most `capacity` bytes (objects larger than that are not cached).
    pub fn new(capacity: usize) -> Self {
        ObjectCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        g.map.get_mut(key).map(|(b, t)| {
            *t = tick;
            b.clone()
        })
    }

    pub fn insert(&self, key: &str, value: Bytes) {
        if value.len() > self.capacity {
            return;
        }
        let mut g = self.inner.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some((old, _)) = g.map.insert(key.to_string(), (value.clone(), tick)) {
            g.bytes -= old.len();
        }
        g.bytes += value.len();
        while g.bytes > self.capacity {
            let Some(oldest) = g
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let c = ObjectCache::new(10);
        c.insert("a", Bytes::from_static(b"1234"));
        c.insert("b", Bytes::from_static(b"1234"));
        assert!(c.get("a").is_some());
        c.insert("c", Bytes::from_static(b"1234"));
        assert!(c.get("b").is_none(), "b was least recently used");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert!(c.size() <= 10);
        c.insert("huge", Bytes::from(vec![0; 11]));
        assert!(c.get("huge").is_none());
    }
}
