//! A map keyed by a small tag and two strings, looked up from borrowed `&str`s without
//! allocating. Hashing is a multiply-rotate word hash with a final avalanche (good high bits
//! for the std `HashMap` probe), computed once per lookup. Keys are compared in full, so a hash
//! collision can never merge two entities.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// Hash of `(tag, a, b)`.
#[inline]
pub(crate) fn hash_parts(tag: u32, a: &str, b: &str, c: &str) -> u64 {
    let mut h = u64::from(tag).wrapping_mul(K);
    h = mix_bytes(h, a.as_bytes());
    h = mix_bytes(h, b.as_bytes());
    h = mix_bytes(h, c.as_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 29;
    h
}

#[inline]
fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59))
            .wrapping_mul(K);
    }
    (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K)
}

/// Passes a precomputed u64 hash through.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Build = BuildHasherDefault<IdentityHasher>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartsKey {
    pub(crate) tag: u32,
    pub(crate) a: Box<str>,
    pub(crate) b: Box<str>,
    pub(crate) c: Box<str>,
}

impl PartsKey {
    #[inline]
    fn matches(&self, tag: u32, a: &str, b: &str, c: &str) -> bool {
        self.tag == tag && &*self.a == a && &*self.b == b && &*self.c == c
    }
}

#[derive(Debug)]
enum Slot<V> {
    One(PartsKey, V),
    Many(Vec<(PartsKey, V)>),
}

/// `(tag, &str, &str) → V` without allocation on lookup.
#[derive(Debug)]
pub(crate) struct PartsMap<V> {
    map: HashMap<u64, Slot<V>, Build>,
    len: usize,
}

impl<V> Default for PartsMap<V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            len: 0,
        }
    }
}

impl<V> PartsMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get_hashed(&self, h: u64, tag: u32, a: &str, b: &str, c: &str) -> Option<&V> {
        match self.map.get(&h)? {
            Slot::One(k, v) => k.matches(tag, a, b, c).then_some(v),
            Slot::Many(vs) => vs
                .iter()
                .find(|(k, _)| k.matches(tag, a, b, c))
                .map(|(_, v)| v),
        }
    }

    #[inline]
    pub(crate) fn get(&self, tag: u32, a: &str, b: &str, c: &str) -> Option<&V> {
        self.get_hashed(hash_parts(tag, a, b, c), tag, a, b, c)
    }

    /// Inserts, returning the previous value for the key.
    pub(crate) fn insert_hashed(
        &mut self,
        h: u64,
        tag: u32,
        a: &str,
        b: &str,
        c: &str,
        v: V,
    ) -> Option<V> {
        let key = PartsKey {
            tag,
            a: a.into(),
            b: b.into(),
            c: c.into(),
        };
        match self.map.remove(&h) {
            None => {
                self.map.insert(h, Slot::One(key, v));
                self.len += 1;
                None
            }
            Some(Slot::One(k, old)) => {
                if k.matches(tag, a, b, c) {
                    self.map.insert(h, Slot::One(k, v));
                    Some(old)
                } else {
                    self.len += 1;
                    self.map.insert(h, Slot::Many(vec![(k, old), (key, v)]));
                    None
                }
            }
            Some(Slot::Many(mut vs)) => {
                let prev = if let Some(pos) = vs.iter().position(|(k, _)| k.matches(tag, a, b, c)) {
                    Some(std::mem::replace(&mut vs[pos].1, v))
                } else {
                    vs.push((key, v));
                    self.len += 1;
                    None
                };
                self.map.insert(h, Slot::Many(vs));
                prev
            }
        }
    }

    pub(crate) fn insert(&mut self, tag: u32, a: &str, b: &str, c: &str, v: V) -> Option<V> {
        self.insert_hashed(hash_parts(tag, a, b, c), tag, a, b, c, v)
    }

    pub(crate) fn remove(&mut self, tag: u32, a: &str, b: &str, c: &str) -> Option<V> {
        let h = hash_parts(tag, a, b, c);
        match self.map.remove(&h)? {
            Slot::One(k, v) => {
                if k.matches(tag, a, b, c) {
                    self.len -= 1;
                    Some(v)
                } else {
                    self.map.insert(h, Slot::One(k, v));
                    None
                }
            }
            Slot::Many(mut vs) => {
                let out = vs
                    .iter()
                    .position(|(k, _)| k.matches(tag, a, b, c))
                    .map(|p| vs.swap_remove(p).1);
                if out.is_some() {
                    self.len -= 1;
                }
                if !vs.is_empty() {
                    self.map.insert(h, Slot::Many(vs));
                }
                out
            }
        }
    }

    /// Keeps the entries for which `keep` returns true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&PartsKey, &V) -> bool) {
        let mut removed = 0;
        self.map.retain(|_, slot| match slot {
            Slot::One(k, v) => {
                let k2 = keep(k, v);
                if !k2 {
                    removed += 1;
                }
                k2
            }
            Slot::Many(vs) => {
                let before = vs.len();
                vs.retain(|(k, v)| keep(k, v));
                removed += before - vs.len();
                !vs.is_empty()
            }
        });
        self.len -= removed;
    }

    /// Visits every entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&PartsKey, &V)) {
        for slot in self.map.values() {
            match slot {
                Slot::One(k, v) => f(k, v),
                Slot::Many(vs) => vs.iter().for_each(|(k, v)| f(k, v)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parts_map_agrees_with_a_btreemap(ops in proptest::collection::vec((0u32..3, "[ab]{0,3}", "[ab]{0,3}", any::<bool>()), 0..200)) {
            let mut m = PartsMap::default();
            let mut r = std::collections::BTreeMap::new();
            for (i, (tag, a, b, ins)) in ops.into_iter().enumerate() {
                if ins {
                    prop_assert_eq!(m.insert(tag, &a, &b, "", i), r.insert((tag, a.clone(), b.clone()), i));
                } else {
                    prop_assert_eq!(m.remove(tag, &a, &b, ""), r.remove(&(tag, a.clone(), b.clone())));
                }
                prop_assert_eq!(m.len(), r.len());
            }
            for ((tag, a, b), v) in &r {
                prop_assert_eq!(m.get(*tag, a, b, ""), Some(v));
            }
        }
    }

    #[test]
    fn split_between_parts_matters() {
        assert_ne!(hash_parts(0, "ab", "c", ""), hash_parts(0, "a", "bc", ""));
        let mut m = PartsMap::default();
        m.insert(0, "ab", "c", "", 1);
        assert_eq!(m.get(0, "a", "bc", ""), None);
    }
}
