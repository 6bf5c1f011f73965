//! What the registry keeps: the client-quota config (an immutable snapshot, swapped whole on
//! a change), per-tenant entries (limiters set once per kind and then only reconfigured, so
//! reading one is a plain load), and per-entity states (one heap object each: key, limiter
//! and the tenant it belongs to).

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::entity::{KAFKA_PRECEDENCE, Level};
use crate::handle::LimiterRef;
use crate::keymap::{Keyed, PartsKey, PartsMap};
use crate::kind::QuotaKind;

pub(crate) type Limits = [Option<f64>; QuotaKind::COUNT];

/// User/client-id quota config. Immutable once published: a change builds a new one and
/// swaps it in, so resolution reads it without a lock or a shared reader count.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConfigStore {
    /// Tag = level index; parts = config parts (user, client) and "".
    pub(crate) client_limits: PartsMap<Limits>,
    /// Bit `l` of `level_mask[kind]` set when some level-`l` entry has a limit for `kind`.
    level_mask: [u8; QuotaKind::COUNT],
    /// `fixed[kind][l]`: the limit of level `l` when that level names no user or client (its
    /// config key is the same for every request: `<default>`/`<default>`, `<default>`/ and
    /// /`<default>`), so a lookup reads it here instead of hashing and probing the map.
    fixed: [[Option<f64>; KAFKA_PRECEDENCE.len()]; QuotaKind::COUNT],
}

impl ConfigStore {
    pub(crate) fn recompute_mask(&mut self) {
        let mut mask = [0u8; QuotaKind::COUNT];
        self.client_limits.for_each(|k, limits| {
            for kind in QuotaKind::ALL {
                if limits[kind.index()].is_some() {
                    mask[kind.index()] |= 1 << k.tag;
                }
            }
        });
        self.level_mask = mask;
        let mut fixed = [[None; KAFKA_PRECEDENCE.len()]; QuotaKind::COUNT];
        for (i, level) in KAFKA_PRECEDENCE.iter().enumerate() {
            if !level.names_nobody() {
                continue;
            }
            let (u, c) = level.config_parts("", "");
            if let Some(limits) = self.client_limits.get(i as u32, u, c, "") {
                for kind in QuotaKind::ALL {
                    fixed[kind.index()][i] = limits[kind.index()];
                }
            }
        }
        self.fixed = fixed;
    }

    /// First configured level for `kind` and its limit.
    #[inline]
    pub(crate) fn lookup(&self, kind: QuotaKind, user: &str, client: &str) -> Option<(Level, f64)> {
        self.lookup_indexed(kind, user, client)
            .map(|(_, level, limit)| (level, limit))
    }

    /// Like [`Self::lookup`], with the level's index in [`KAFKA_PRECEDENCE`].
    #[inline]
    pub(crate) fn lookup_indexed(
        &self,
        kind: QuotaKind,
        user: &str,
        client: &str,
    ) -> Option<(usize, Level, f64)> {
        let mask = self.level_mask[kind.index()];
        if mask == 0 {
            return None;
        }
        let fixed = &self.fixed[kind.index()];
        // Only the configured levels, most specific first.
        let mut rest = mask;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let Some(level) = KAFKA_PRECEDENCE.get(i) else {
                break;
            };
            let limit = if level.names_nobody() {
                fixed[i]
            } else {
                let (u, c) = level.config_parts(user, client);
                self.client_limits
                    .get(i as u32, u, c, "")
                    .and_then(|l| l[kind.index()])
            };
            if let Some(limit) = limit {
                return Some((i, *level, limit));
            }
        }
        None
    }
}

/// A tenant's live state. A tenant limiter, once created for a kind, stays for the tenant's
/// life: altering the quota reconfigures it in place, removing it marks the kind disabled
/// (and makes the limiter unlimited for handles still holding it), adding it back re-enables
/// and reconfigures the same limiter. Reading it is therefore a load, never a lock.
#[derive(Debug)]
pub(crate) struct TenantEntry {
    limiters: [OnceLock<LimiterRef>; QuotaKind::COUNT],
    /// Bit `kind.index()` set while the tenant has a quota of that kind.
    enabled: AtomicU8,
    pub(crate) entities: AtomicUsize,
    pub(crate) connections: AtomicU32,
    pub(crate) max_connections: AtomicU32,
}

impl TenantEntry {
    pub(crate) fn new() -> Self {
        Self {
            limiters: Default::default(),
            enabled: AtomicU8::new(0),
            entities: AtomicUsize::new(0),
            connections: AtomicU32::new(0),
            max_connections: AtomicU32::new(u32::MAX),
        }
    }

    /// The tenant's limiter for `kind`, if it has a quota of that kind.
    #[inline]
    pub(crate) fn limiter(&self, kind: QuotaKind) -> Option<&LimiterRef> {
        if self.enabled.load(Ordering::Acquire) & (1 << kind.index()) == 0 {
            return None;
        }
        self.limiters[kind.index()].get()
    }

    /// The limiter for `kind` whether or not it is enabled (created once, never replaced).
    pub(crate) fn slot(&self, kind: QuotaKind) -> &OnceLock<LimiterRef> {
        &self.limiters[kind.index()]
    }

    pub(crate) fn is_enabled(&self, kind: QuotaKind) -> bool {
        self.enabled.load(Ordering::Acquire) & (1 << kind.index()) != 0
    }

    pub(crate) fn set_enabled(&self, kind: QuotaKind, on: bool) {
        let bit = 1u8 << kind.index();
        if on {
            self.enabled.fetch_or(bit, Ordering::Release);
        } else {
            self.enabled.fetch_and(!bit, Ordering::Release);
        }
    }
}

/// One user/client-id state: its key, its limiter and its tenant, in one heap object (the
/// state map holds only a pointer to it). A handle holds the `Arc` of this object, so
/// resolving bumps a count on the line the lookup just compared the key on.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct EntityState {
    /// First, right after the `Arc` counts: the lookup compares it, the handle bumps the count.
    key: PartsKey,
    pub(crate) limiter: LimiterRef,
    pub(crate) tenant: Arc<TenantEntry>,
}

impl EntityState {
    pub(crate) fn new(key: PartsKey, limiter: LimiterRef, tenant: Arc<TenantEntry>) -> Self {
        Self {
            key,
            limiter,
            tenant,
        }
    }
}

impl EntityState {
    /// Reads the two lines a resolve uses (the key, next to the `Arc` counts, and the tenant
    /// link at the end) with plain loads and folds them into a word, for a batch lookup that
    /// brings many states into cache at once before it compares any key.
    #[inline]
    pub(crate) fn touch(&self) -> u64 {
        u64::from(self.key.tag) ^ Arc::as_ptr(&self.tenant) as usize as u64
    }
}

impl Keyed for EntityState {
    #[inline]
    fn key(&self) -> &PartsKey {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-entity state object besides the 64-byte limiter: key, limiter pointer, tenant
    /// pointer, plus the `Arc`'s two counts. (The state map adds one 16-byte slot per 3/8 to
    /// 3/4 of an entity: 21-43 bytes an entity.)
    #[test]
    fn an_entity_state_object_stays_within_96_bytes() {
        assert!(
            std::mem::size_of::<EntityState>() + 16 <= 96,
            "{} bytes",
            std::mem::size_of::<EntityState>()
        );
    }
}
