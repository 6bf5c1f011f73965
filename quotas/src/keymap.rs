//! A map keyed by a small tag and three strings, looked up from borrowed `&str`s without
//! allocating. Hashing is a multiply-rotate word hash with a final avalanche (good low bits for
//! the bucket index and good high bits for the probe tag of the std `HashMap`), computed once
//! per lookup. Keys are compared in full, so a hash collision can never merge two entities.
//!
//! A key's strings are stored concatenated *inside* the map entry when they fit in
//! [`INLINE`] bytes (a tenant name plus a client-id usually do), so a lookup compares them on
//! the cache line it has already loaded instead of following one pointer per string: at 1M
//! entities each of those pointers was a cache miss.

use hashbrown::HashTable;

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

/// Key bytes stored in the entry up to this length; longer keys go to the heap.
pub(crate) const INLINE: usize = 38;

#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyBytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl KeyBytes {
    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyBytes::Heap(b) => b,
        }
    }
}

/// `(tag, a, b, c)`, with `a`, `b` and `c` concatenated and split at `la` and `la + lb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartsKey {
    pub(crate) tag: u32,
    la: u16,
    lb: u16,
    bytes: KeyBytes,
}

impl PartsKey {
    pub(crate) fn new(tag: u32, a: &str, b: &str, c: &str) -> Self {
        let total = a.len() + b.len() + c.len();
        // Kafka user and client-id strings are at most 32 767 bytes (INT16 length on the wire);
        // a longer name saturates its length and then never matches (it gets no state of its own).
        let la = u16::try_from(a.len()).unwrap_or(u16::MAX);
        let lb = u16::try_from(b.len()).unwrap_or(u16::MAX);
        let bytes = if total <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..a.len()].copy_from_slice(a.as_bytes());
            buf[a.len()..a.len() + b.len()].copy_from_slice(b.as_bytes());
            buf[a.len() + b.len()..total].copy_from_slice(c.as_bytes());
            KeyBytes::Inline {
                len: total as u8,
                buf,
            }
        } else {
            let mut v = Vec::with_capacity(total);
            v.extend_from_slice(a.as_bytes());
            v.extend_from_slice(b.as_bytes());
            v.extend_from_slice(c.as_bytes());
            KeyBytes::Heap(v.into_boxed_slice())
        };
        Self { tag, la, lb, bytes }
    }

    #[inline]
    pub(crate) fn matches(&self, tag: u32, a: &str, b: &str, c: &str) -> bool {
        if self.tag != tag || usize::from(self.la) != a.len() || usize::from(self.lb) != b.len() {
            return false;
        }
        let k = self.bytes.as_bytes();
        k.len() == a.len() + b.len() + c.len()
            && &k[..a.len()] == a.as_bytes()
            && &k[a.len()..a.len() + b.len()] == b.as_bytes()
            && &k[a.len() + b.len()..] == c.as_bytes()
    }

    /// Equality with an inline key (both zero-padded, so the whole buffers compare).
    #[inline]
    pub(crate) fn same_inline(&self, other: &PartsKey) -> bool {
        self.tag == other.tag
            && self.la == other.la
            && self.lb == other.lb
            && match (&self.bytes, &other.bytes) {
                (KeyBytes::Inline { len: l1, buf: b1 }, KeyBytes::Inline { len: l2, buf: b2 }) => {
                    l1 == l2 && b1 == b2
                }
                _ => false,
            }
    }

    fn part(&self, from: usize, to: usize) -> &str {
        // Built from three `&str`s split at these offsets, so every part is valid UTF-8.
        std::str::from_utf8(self.bytes.as_bytes().get(from..to).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The key's hash (as [`hash_parts`] computes it for the parts).
    pub(crate) fn hash(&self) -> u64 {
        hash_parts(self.tag, self.a(), self.b(), self.c())
    }

    /// First string (the tenant, in state and tenant maps).
    pub(crate) fn a(&self) -> &str {
        self.part(0, usize::from(self.la))
    }

    /// Second string (the user part).
    pub(crate) fn b(&self) -> &str {
        let la = usize::from(self.la);
        self.part(la, la + usize::from(self.lb))
    }

    /// Third string (the client-id part).
    pub(crate) fn c(&self) -> &str {
        let from = usize::from(self.la) + usize::from(self.lb);
        self.part(from, self.bytes.as_bytes().len())
    }
}

/// One entry: the key and its value side by side (one cache line when `V` is a pointer pair,
/// so a lookup that hits touches the table's control bytes and this line only).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Entry<V> {
    key: PartsKey,
    value: V,
}

impl<V> Entry<V> {
    fn hash(&self) -> u64 {
        hash_parts(self.key.tag, self.key.a(), self.key.b(), self.key.c())
    }
}

/// `(tag, &str, &str, &str) → V` without allocation on lookup.
#[derive(Debug, Clone)]
pub(crate) struct PartsMap<V> {
    table: HashTable<Entry<V>>,
}

impl<V> Default for PartsMap<V> {
    fn default() -> Self {
        Self {
            table: HashTable::new(),
        }
    }
}

impl<V> PartsMap<V> {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    #[inline]
    pub(crate) fn get_hashed(&self, h: u64, tag: u32, a: &str, b: &str, c: &str) -> Option<&V> {
        if a.len() + b.len() + c.len() <= INLINE {
            // Compare whole fixed-size inline keys (zero-padded): a few word loads, where a
            // `memcmp` call per part cost ~100 ns on the project VM.
            let probe = PartsKey::new(tag, a, b, c);
            return self
                .table
                .find(h, |e| e.key.same_inline(&probe))
                .map(|e| &e.value);
        }
        self.table
            .find(h, |e| e.key.matches(tag, a, b, c))
            .map(|e| &e.value)
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
        match self
            .table
            .entry(h, |e| e.key.matches(tag, a, b, c), Entry::hash)
        {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().value, v))
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    key: PartsKey::new(tag, a, b, c),
                    value: v,
                });
                None
            }
        }
    }

    pub(crate) fn insert(&mut self, tag: u32, a: &str, b: &str, c: &str, v: V) -> Option<V> {
        self.insert_hashed(hash_parts(tag, a, b, c), tag, a, b, c, v)
    }

    pub(crate) fn remove(&mut self, tag: u32, a: &str, b: &str, c: &str) -> Option<V> {
        let h = hash_parts(tag, a, b, c);
        self.table
            .find_entry(h, |e| e.key.matches(tag, a, b, c))
            .ok()
            .map(|o| o.remove().0.value)
    }

    /// Visits every entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&PartsKey, &V)) {
        for e in &self.table {
            f(&e.key, &e.value);
        }
    }
}

/// Values that carry their own [`PartsKey`], kept behind an `Arc` in a [`KeyedMap`].
pub(crate) trait Keyed {
    fn key(&self) -> &PartsKey;
}

/// `(tag, &str, &str, &str) → Arc<T>` where `T` holds its key: the table itself is only
/// control bytes and one pointer per slot (9 bytes, ~18 MB at a million entries, where
/// key-inline 64-byte entries took ~130 MB), and a lookup that hits touches one small heap
/// object holding both the key it compares and the `Arc` count a caller bumps next to it.
#[derive(Debug)]
pub(crate) struct KeyedMap<T> {
    table: HashTable<std::sync::Arc<T>>,
}

impl<T> Default for KeyedMap<T> {
    fn default() -> Self {
        Self {
            table: HashTable::new(),
        }
    }
}

impl<T: Keyed> KeyedMap<T> {
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The entry for a key whose hash is `h` (from [`hash_parts`]).
    #[inline]
    pub(crate) fn get_hashed(
        &self,
        h: u64,
        tag: u32,
        a: &str,
        b: &str,
        c: &str,
    ) -> Option<&std::sync::Arc<T>> {
        if a.len() + b.len() + c.len() <= INLINE {
            let probe = PartsKey::new(tag, a, b, c);
            return self.table.find(h, |e| e.key().same_inline(&probe));
        }
        self.table.find(h, |e| e.key().matches(tag, a, b, c))
    }

    /// Inserts `v` under its own key (hash `h`), replacing an equal key's entry.
    pub(crate) fn insert_hashed(&mut self, h: u64, v: std::sync::Arc<T>) {
        let entry = self
            .table
            .entry(h, |e| e.key() == v.key(), |e| e.key().hash());
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => *o.get_mut() = v,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(v);
            }
        }
    }

    /// Keeps the entries for which `keep` returns true.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&mut std::sync::Arc<T>) -> bool) {
        self.table.retain(keep);
    }

    /// Visits every entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&std::sync::Arc<T>)) {
        for e in &self.table {
            f(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parts_map_agrees_with_a_btreemap(ops in proptest::collection::vec((0u32..3, "[ab]{0,3}|[ab]{30,40}", "[ab]{0,3}", any::<bool>()), 0..200)) {
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
    fn keyed_map_finds_by_full_key_and_keeps_one_entry_per_key() {
        #[derive(Debug)]
        struct V(PartsKey, u32);
        impl Keyed for V {
            fn key(&self) -> &PartsKey {
                &self.0
            }
        }
        let long = "y".repeat(INLINE + 3);
        let mut m = KeyedMap::default();
        for (i, (tag, a, b)) in [
            (1, "t", "u"),
            (1, "tu", ""),
            (2, "t", "u"),
            (1, long.as_str(), "u"),
        ]
        .into_iter()
        .enumerate()
        {
            let h = hash_parts(tag, a, b, "");
            m.insert_hashed(
                h,
                std::sync::Arc::new(V(PartsKey::new(tag, a, b, ""), i as u32)),
            );
        }
        fn get(m: &KeyedMap<V>, tag: u32, a: &str, b: &str) -> Option<u32> {
            m.get_hashed(hash_parts(tag, a, b, ""), tag, a, b, "")
                .map(|v| v.1)
        }
        assert_eq!(get(&m, 1, "t", "u"), Some(0));
        assert_eq!(get(&m, 1, "tu", ""), Some(1));
        assert_eq!(get(&m, 2, "t", "u"), Some(2));
        assert_eq!(get(&m, 1, &long, "u"), Some(3));
        assert_eq!(get(&m, 1, "t", "v"), None);
        let h = hash_parts(1, "t", "u", "");
        m.insert_hashed(h, std::sync::Arc::new(V(PartsKey::new(1, "t", "u", ""), 9)));
        assert_eq!(m.len(), 4);
        assert_eq!(get(&m, 1, "t", "u"), Some(9));
        m.retain(|v| v.1 != 9);
        assert_eq!(get(&m, 1, "t", "u"), None);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn long_keys_go_to_the_heap_and_still_match_in_full() {
        let long = "x".repeat(INLINE + 5);
        let mut m = PartsMap::default();
        m.insert(1, &long, "u", "c", 1);
        m.insert(1, "t", "u", "c", 2);
        assert_eq!(m.get(1, &long, "u", "c"), Some(&1));
        assert_eq!(m.get(1, &long, "u", "d"), None);
        assert_eq!(m.get(1, "t", "u", "c"), Some(&2));
        let mut parts = Vec::new();
        m.for_each(|k, _| parts.push((k.a().len(), k.b().to_string(), k.c().to_string())));
        parts.sort();
        assert_eq!(
            parts,
            [
                (1, "u".to_string(), "c".to_string()),
                (INLINE + 5, "u".to_string(), "c".to_string())
            ]
        );
    }

    #[test]
    fn split_between_parts_matters() {
        assert_ne!(hash_parts(0, "ab", "c", ""), hash_parts(0, "a", "bc", ""));
        let mut m = PartsMap::default();
        m.insert(0, "ab", "c", "", 1);
        assert_eq!(m.get(0, "a", "bc", ""), None);
    }
}
