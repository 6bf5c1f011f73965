//! Maps keyed by a small tag and three strings, looked up from borrowed `&str`s without
//! allocating. Hashing is a multiply-rotate word hash over fixed-size (overlapping) word loads
//! with a final avalanche (good low bits for the bucket index, good high bits for hashbrown's
//! probe tag), computed once per lookup. Keys are compared in full, so a hash collision can
//! never merge two entities. [`PartsMap`] (config, tenants) is a hashbrown table with the key
//! inline in each entry; [`KeyedMap`] (the per-entity states, up to millions) is an
//! open-addressing table of (hash, pointer) slots.
//!
//! Every hash starts from a per-process random seed ([`seed`]): client-ids are chosen by
//! clients, so without one a client could craft ids offline that all land in one probe chain
//! (hash flooding) and slow every resolve of the broker. Nothing keel persists or prints
//! depends on these hashes or on table order.
//!
//! A key's strings are stored concatenated *inside* the map entry when they fit in
//! [`INLINE`] bytes (a tenant name plus a client-id usually do), so a lookup compares them on
//! the cache line it has already loaded instead of following one pointer per string: at 1M
//! entities each of those pointers was a cache miss.

use std::sync::OnceLock;

use hashbrown::HashTable;

const K: u64 = 0x517c_c1b7_2722_0a95;

/// This process's hash seed: random (from std's `RandomState`, seeded by the OS), drawn once.
#[inline]
pub(crate) fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(K);
        h.finish()
    })
}

/// Hash of `(tag, a, b, c)`, seeded with [`seed`].
#[inline]
pub(crate) fn hash_parts(tag: u32, a: &str, b: &str, c: &str) -> u64 {
    hash_seeded(seed(), tag, a, b, c)
}

#[inline]
fn hash_seeded(seed: u64, tag: u32, a: &str, b: &str, c: &str) -> u64 {
    let mut h = (u64::from(tag) ^ seed).wrapping_mul(K);
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
    let n = bytes.len();
    if n >= 8 {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = (h.rotate_left(5) ^ word(c)).wrapping_mul(K);
        }
        if !chunks.remainder().is_empty() {
            // The last 8 bytes, overlapping the previous word: a fixed-size load, no copy loop.
            h = (h.rotate_left(5) ^ word(bytes.get(n - 8..).unwrap_or_default())).wrapping_mul(K);
        }
    } else if n > 0 {
        h = (h.rotate_left(5) ^ short_word(bytes)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ n as u64).wrapping_mul(K)
}

/// The first 8 bytes of `c` (at least 8 long) as a little-endian word.
#[inline]
fn word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    if let Some(head) = c.get(..8) {
        w.copy_from_slice(head);
    }
    u64::from_le_bytes(w)
}

/// 1 to 7 bytes as a word, from at most two overlapping loads (the length is mixed in by the
/// caller, so overlaps cannot make two lengths collide systematically).
#[inline]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = b
            .get(..4)
            .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
        let hi = b
            .get(n - 4..)
            .map_or(0, |x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
        u64::from(lo) | u64::from(hi) << 32
    } else {
        let (first, mid, last) = (b[0], b[n / 2], b[n - 1]);
        u64::from(first) | u64::from(mid) << 8 | u64::from(last) << 16
    }
}

/// `x == y` for slices of equal length, from the same fixed-size loads as the hash: whole
/// words plus one overlapping last word, or [`short_word`] (which covers every byte of a 1-7
/// byte slice) for short ones. No `memcmp` call and no byte loop.
#[inline]
fn words_eq(x: &[u8], y: &[u8]) -> bool {
    let n = x.len();
    if n != y.len() {
        return false;
    }
    if n >= 8 {
        let whole = x
            .chunks_exact(8)
            .zip(y.chunks_exact(8))
            .all(|(p, q)| word(p) == word(q));
        whole
            && word(x.get(n - 8..).unwrap_or_default()) == word(y.get(n - 8..).unwrap_or_default())
    } else {
        n == 0 || short_word(x) == short_word(y)
    }
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

    /// Like [`Self::matches`], comparing 8 bytes at a time in registers (no `memcmp` calls and
    /// no probe key to build): the per-lookup compare of the state map.
    #[inline]
    pub(crate) fn matches_words(&self, tag: u32, a: &str, b: &str, c: &str) -> bool {
        if self.tag != tag || usize::from(self.la) != a.len() || usize::from(self.lb) != b.len() {
            return false;
        }
        let k = self.bytes.as_bytes();
        if k.len() != a.len() + b.len() + c.len() {
            return false;
        }
        let Some((ka, rest)) = k.split_at_checked(a.len()) else {
            return false;
        };
        let Some((kb, kc)) = rest.split_at_checked(b.len()) else {
            return false;
        };
        words_eq(ka, a.as_bytes()) && words_eq(kb, b.as_bytes()) && words_eq(kc, c.as_bytes())
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

/// One slot of a [`KeyedMap`]: the key's full hash next to the pointer to its value, so a probe
/// reads the hash and the pointer from one cache line (16 bytes, four slots a line).
#[derive(Debug)]
struct Slot<T> {
    hash: u64,
    value: Option<std::sync::Arc<T>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            hash: 0,
            value: None,
        }
    }
}

/// `(tag, &str, &str, &str) → Arc<T>` where `T` holds its key: an open-addressing table
/// (linear probing, at most 3/4 full) whose slots carry the key's full hash and the pointer
/// side by side. A lookup that hits reads one slot line (the hash compare rejects other keys
/// there without touching them) and then the value, where it compares the key in full and a
/// caller bumps the `Arc` count on the same line: two dependent cache misses at 1M entities,
/// where a control-byte table (hashbrown) took three (control bytes, then the pointer array,
/// then the object).
#[derive(Debug)]
pub(crate) struct KeyedMap<T> {
    slots: Vec<Slot<T>>,
    len: usize,
}

impl<T> Default for KeyedMap<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }
}

/// Smallest table allocated.
const MIN_SLOTS: usize = 16;

impl<T: Keyed> KeyedMap<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
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
        self.find(h, |k| k.matches_words(tag, a, b, c))
    }

    /// The hash word of `h`'s home slot (0 when the table is empty): one plain load that brings
    /// the slot's cache line in. A batch lookup issues these for many keys before it uses any,
    /// so their cache misses overlap instead of queueing behind each other.
    #[inline]
    pub(crate) fn home_hash(&self, h: u64) -> u64 {
        let mask = self.slots.len().wrapping_sub(1);
        self.slots.get((h as usize) & mask).map_or(0, |s| s.hash)
    }

    /// The first entry on `h`'s probe chain whose full hash is `h`, without comparing keys:
    /// what a batch lookup touches ahead of the real lookup ([`Self::get_hashed`]), which
    /// then finds the entry's lines in cache.
    #[inline]
    pub(crate) fn first_with_hash(&self, h: u64) -> Option<&std::sync::Arc<T>> {
        self.find(h, |_| true)
    }

    /// Probes from `h`'s home slot to the first empty one (there always is one: the table is
    /// at most 3/4 full).
    #[inline]
    fn find(&self, h: u64, eq: impl Fn(&PartsKey) -> bool) -> Option<&std::sync::Arc<T>> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = (h as usize) & mask;
        loop {
            let slot = self.slots.get(i)?;
            let v = slot.value.as_ref()?;
            if slot.hash == h && eq(v.key()) {
                return Some(v);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts `v` under its own key (hash `h`), replacing an equal key's entry.
    pub(crate) fn insert_hashed(&mut self, h: u64, v: std::sync::Arc<T>) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.len + 1) * 2);
        }
        let mask = self.slots.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let slot = &mut self.slots[i];
            match &slot.value {
                None => {
                    *slot = Slot {
                        hash: h,
                        value: Some(v),
                    };
                    self.len += 1;
                    return;
                }
                Some(old) if slot.hash == h && old.key() == v.key() => {
                    slot.value = Some(v);
                    return;
                }
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Re-lays the entries out in a table of at least `want` slots (a power of two).
    fn rebuild(&mut self, want: usize) {
        let n = want.max(MIN_SLOTS).next_power_of_two();
        let old = std::mem::replace(&mut self.slots, (0..n).map(|_| Slot::default()).collect());
        let mask = n - 1;
        for slot in old {
            let Some(v) = slot.value else { continue };
            let mut i = (slot.hash as usize) & mask;
            while self.slots[i].value.is_some() {
                i = (i + 1) & mask;
            }
            self.slots[i] = Slot {
                hash: slot.hash,
                value: Some(v),
            };
        }
    }

    /// Keeps the entries for which `keep` returns true (and shrinks the table to fit them).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut std::sync::Arc<T>) -> bool) {
        let mut dropped = 0;
        for slot in &mut self.slots {
            if let Some(v) = &mut slot.value
                && !keep(v)
            {
                slot.value = None;
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.len -= dropped;
            // Linear probing cannot leave holes in a probe chain: lay the rest out again.
            let want = if self.len == 0 { 0 } else { self.len * 2 };
            if want == 0 {
                self.slots = Vec::new();
            } else {
                self.rebuild(want);
            }
        }
    }

    /// Visits every entry.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&std::sync::Arc<T>)) {
        for v in self.slots.iter().filter_map(|s| s.value.as_ref()) {
            f(v);
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

    #[derive(Debug)]
    struct Val(PartsKey, usize);
    impl Keyed for Val {
        fn key(&self) -> &PartsKey {
            &self.0
        }
    }

    proptest! {
        /// The open-addressing state map against a `BTreeMap`, through inserts, replacements,
        /// growth and `retain` (which lays the survivors out again): every key finds its latest
        /// value, and only it.
        #[test]
        fn keyed_map_agrees_with_a_btreemap_through_inserts_and_retains(
            ops in proptest::collection::vec(
                (0u32..3, "[ab]{0,3}|[ab]{36,42}", "[ab]{0,9}", 0usize..4),
                0..300,
            )
        ) {
            let mut m: KeyedMap<Val> = KeyedMap::default();
            let mut r = std::collections::BTreeMap::new();
            for (i, (tag, a, c, op)) in ops.into_iter().enumerate() {
                if op == 0 {
                    // Drop every entry whose value is odd.
                    m.retain(|v| v.1 % 2 == 0);
                    r.retain(|_, v| *v % 2 == 0);
                } else {
                    let h = hash_parts(tag, &a, "", &c);
                    m.insert_hashed(h, std::sync::Arc::new(Val(PartsKey::new(tag, &a, "", &c), i)));
                    r.insert((tag, a.clone(), c.clone()), i);
                }
                prop_assert_eq!(m.len(), r.len());
            }
            for ((tag, a, c), v) in &r {
                let got = m.get_hashed(hash_parts(*tag, a, "", c), *tag, a, "", c).map(|x| x.1);
                prop_assert_eq!(got, Some(*v));
                // The same bytes split differently are another key.
                if !a.is_empty() && !r.contains_key(&(*tag, a[1..].to_string(), format!("{}{c}", &a[..1]))) {
                    let (a2, c2) = (&a[1..], format!("{}{c}", &a[..1]));
                    prop_assert!(m.get_hashed(hash_parts(*tag, a2, "", &c2), *tag, a2, "", &c2).is_none());
                }
            }
            let mut seen = 0;
            m.for_each(|_| seen += 1);
            prop_assert_eq!(seen, r.len());
        }

        /// The word-at-a-time compare agrees with a byte compare for every length (the short
        /// and overlapping-word paths included).
        #[test]
        fn word_compare_agrees_with_byte_compare(
            x in proptest::collection::vec(0u8..4, 0..40),
            flip in any::<proptest::sample::Index>(),
        ) {
            let mut y = x.clone();
            prop_assert!(words_eq(&x, &y));
            if !y.is_empty() {
                let i = flip.index(y.len());
                y[i] ^= 1;
                prop_assert!(!words_eq(&x, &y), "differs at {} of {}", i, y.len());
            }
            prop_assert!(!words_eq(&x, &x[..x.len().saturating_sub(1)]) || x.is_empty());
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
    fn keys_crafted_to_share_a_bucket_under_one_seed_spread_under_another() {
        assert_eq!(seed(), seed(), "one seed per process");
        // What an attacker who knew the seed could do: pick client-ids that all land in one
        // bucket of a 1024-bucket table. Under any other seed they scatter.
        let ids: Vec<String> = (0..200_000).map(|i| format!("rest-proxy-{i}")).collect();
        let bucket = |seed: u64, id: &str| hash_seeded(seed, 7, "tenant", "", id) & 1023;
        let crafted: Vec<&String> = ids.iter().filter(|id| bucket(1, id) == 0).collect();
        assert!(
            crafted.len() > 100,
            "{} ids share bucket 0 under seed 1",
            crafted.len()
        );
        for other in [2u64, 0x9e37_79b9_7f4a_7c15, seed()] {
            if other == 1 {
                continue;
            }
            let mut per_bucket = std::collections::BTreeMap::new();
            for id in &crafted {
                *per_bucket.entry(bucket(other, id)).or_insert(0usize) += 1;
            }
            let worst = per_bucket.values().max().copied().unwrap_or(0);
            assert!(
                worst <= 8,
                "under seed {other:#x}, {worst} of {} crafted ids still share a bucket",
                crafted.len()
            );
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
