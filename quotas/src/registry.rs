//! The quota registry: configured quotas, live per-entity state, and resolution of a
//! connection to a [`QuotaHandle`].
//!
//! Resolution is the per-connection hot path. It reads the user/client-id quota config as an
//! immutable snapshot (swapped whole on a change, `arc_swap::ArcSwap`), through a per-thread
//! cache that is reused while the registry's config version is unchanged (two loads and a
//! compare; no atomic read-modify-write); levels that name no user or client are precomputed
//! per snapshot, so the common `<default>` quotas cost no map probe. It then makes one lookup
//! in the sharded state map with a hash computed once, and does not allocate when the state
//! exists. The map's slots hold the key's full hash next to the pointer to its state, and a
//! state is one heap object holding its key, its limiter and its tenant: a hit reads one slot
//! line and the object, where the key compare and the handle's reference count are. Tenant
//! limiters are created once per kind and then only reconfigured, so reading one is a load. A
//! handle joins its tenant bucket's active clients when it first publishes what it recorded
//! (see [`QuotaHandle`]), so resolving writes nothing shared besides the reference counts.
//!
//! What one resolve costs: with states out of cache (1M live entities), the two dependent
//! misses, slot then state object, i.e. about two memory latencies (the `memory latency
//! floor` row of `benches/quota_hot_path.rs`: ~180 ns per miss on the project VM), and the
//! next resolve's misses do not start before this one's return. No single resolve gets under
//! one memory latency. A broker with several connections to resolve at once (a reconnect
//! storm, an accept backlog, re-resolving after a config change) should use
//! [`QuotaRegistry::resolve_batch`] / [`QuotaRegistry::resolve_batch_in_tenants`]: same
//! handles, with the misses of the whole batch in flight together (see `registry/batch.rs`).
//!
//! Memory stays bounded: each tenant holds at most `max_entities_per_tenant` user/client-id
//! states (later ones share one overflow state per tenant and kind), and
//! [`QuotaRegistry::expire_idle`] drops states idle for `idle_expiry` that no connection holds.
//! Config changes update live states at once and bump an epoch after which connections may
//! re-resolve.

mod batch;
mod state;

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

use crate::bucket::{BucketCounters, BucketParams, BucketState};
use crate::clock::{NANOS_PER_SEC, Nanos};
use crate::entity::{
    DEFAULT_MARK, EntityName, Level, QuotaEntity, RequestIdentity, TenantResolver,
};
use crate::error::{Result, invalid};
use crate::handle::{LimiterRef, QuotaHandle};
use crate::kafka_window::{KafkaLimiter, KafkaWindowConfig};
use crate::keymap::{Keyed, KeyedMap, PartsKey, PartsMap, hash_parts};
use crate::kind::{Mode, QuotaKind};
pub(crate) use state::EntityState;
use state::{ConfigStore, TenantEntry};

const SHARDS: usize = 64;

/// The shard of a key hash. Uses bits 32.. of the hash: the map inside a shard takes its
/// bucket index from the low bits and its probe tag from the top 7, so sharding on either
/// would leave every key in a shard with the same bucket bits or tags (long probe chains and
/// a full key compare per probe; this was a 40× slowdown at 1M entities).
#[inline]
fn shard_of(h: u64) -> usize {
    ((h >> 32) as usize) % SHARDS
}
const OVERFLOW_USER: &str = "<overflow>";

/// The state-map tag of a kind's states at a precedence level ([`Level::index`]), so keys
/// of different kinds and levels never meet. A tenant's overflow state takes level 0's tag
/// with [`OVERFLOW_USER`] as its user.
fn state_tag(kind: QuotaKind, level_index: usize) -> u32 {
    (kind.index() * 8 + level_index) as u32
}

/// Source of [`QuotaRegistry`] ids (for the per-thread config cache).
static NEXT_REGISTRY_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The user/client-id config snapshot this thread last resolved with: registry id, the
    /// registry's config version when it was read, and the snapshot. Resolution reads it with
    /// two plain loads and a compare instead of an `ArcSwap` load (a thread-local debt slot
    /// taken and released with two atomic read-modify-writes). It keeps one old snapshot alive
    /// per thread until the thread next resolves.
    static CONFIG_CACHE: RefCell<(u64, u64, Option<Arc<ConfigStore>>)> =
        const { RefCell::new((0, 0, None)) };
}

/// Registry-wide settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegistryConfig {
    /// Enforcement mode for every limiter.
    pub mode: Mode,
    /// Burst in seconds of quota (bucket mode). Default 1 s.
    pub burst_secs: f64,
    /// Throttle cap in ms. Default 30 000.
    pub max_throttle_ms: u64,
    /// Kafka-mode windows. Default 11 × 1 s.
    pub kafka_window: KafkaWindowConfig,
    /// Idle time after which unused state is dropped, ns. Default 1 h (Kafka's sensor expiry).
    pub idle_expiry: u64,
    /// User/client-id states per tenant before new ones share an overflow state. Default 10 000.
    pub max_entities_per_tenant: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Bucket,
            burst_secs: 1.0,
            max_throttle_ms: 30_000,
            kafka_window: KafkaWindowConfig::default(),
            idle_expiry: 3600 * NANOS_PER_SEC,
            max_entities_per_tenant: 10_000,
        }
    }
}

impl RegistryConfig {
    /// Validates every field, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        BucketParams::new(1.0, self.burst_secs, self.max_throttle_ms, "registry")?;
        self.kafka_window.validate("registry.kafka_window")?;
        if self.idle_expiry == 0 {
            return Err(invalid("registry.idle_expiry", 0, "must be > 0"));
        }
        if self.max_entities_per_tenant == 0 {
            return Err(invalid(
                "registry.max_entities_per_tenant",
                0,
                "must be > 0",
            ));
        }
        Ok(())
    }
}

/// Per-tenant, per-kind usage counters (since state creation).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantUsage {
    /// Tenant name.
    pub tenant: String,
    /// Quota kind.
    pub kind: QuotaKind,
    /// Tenant limit on this broker (units/s).
    pub limit: Option<f64>,
    /// Counters of the tenant limiter.
    pub counters: BucketCounters,
}

/// What happened to a new connection (KIP-612-style connection quotas per tenant).
#[derive(Debug)]
pub enum ConnectionAdmission {
    /// Accepted; keep the guard for the connection's lifetime. The throttle (connection rate)
    /// says how long to delay before reading from it.
    Accepted(ConnectionGuard, crate::handle::Throttle),
    /// Refused: the tenant is at `limit` connections.
    Refused {
        /// The tenant's connection limit.
        limit: u32,
    },
}

/// Holds one of a tenant's connection slots; released on drop.
#[derive(Debug)]
pub struct ConnectionGuard {
    tenant: Arc<TenantEntry>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let _ = self
            .tenant
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
    }
}

/// Configured quotas and live state for one broker.
#[derive(Debug)]
pub struct QuotaRegistry {
    config: RegistryConfig,
    resolver: TenantResolver,
    /// User/client-id quota config, swapped whole on a change (read without a lock).
    quotas: ArcSwap<ConfigStore>,
    /// Bumped (release) right after every store into `quotas`: a thread whose cached snapshot
    /// has this version reads no older config than the latest stored before it.
    config_version: AtomicU64,
    /// This registry's id (keys the per-thread config cache).
    id: u64,
    /// Serialises config changes (read-copy-update of `quotas`, tenant limiter slots).
    writer: Mutex<()>,
    tenants: RwLock<PartsMap<Arc<TenantEntry>>>,
    states: Vec<RwLock<KeyedMap<EntityState>>>,
    epoch: AtomicU64,
}

impl QuotaRegistry {
    /// A registry with `config` and a tenant resolver.
    pub fn new(config: RegistryConfig, resolver: TenantResolver) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            resolver,
            quotas: ArcSwap::from_pointee(ConfigStore::default()),
            config_version: AtomicU64::new(1),
            id: NEXT_REGISTRY_ID.fetch_add(1, Ordering::Relaxed),
            writer: Mutex::new(()),
            tenants: RwLock::new(PartsMap::default()),
            states: (0..SHARDS)
                .map(|_| RwLock::new(KeyedMap::default()))
                .collect(),
            epoch: AtomicU64::new(1),
        })
    }

    /// Registry settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The tenant resolver.
    pub fn resolver(&self) -> &TenantResolver {
        &self.resolver
    }

    /// Bumped on every config change; handles with an older epoch may re-resolve.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    fn new_limiter(&self, kind: QuotaKind, limit: f64, field: &str) -> Result<LimiterRef> {
        let rate = kind.units_per_sec(limit);
        let params = BucketParams::new(
            rate,
            self.config.burst_secs,
            self.config.max_throttle_ms,
            field,
        )?;
        Ok(match self.config.mode {
            Mode::Bucket => LimiterRef::Bucket(Arc::new(BucketState::new(&params))),
            Mode::Kafka => LimiterRef::Kafka(Arc::new(KafkaLimiter::new(
                self.config.kafka_window,
                rate,
                self.config.max_throttle_ms,
            ))),
        })
    }

    fn configure_limiter(
        &self,
        l: &LimiterRef,
        kind: QuotaKind,
        limit: Option<f64>,
        now: Nanos,
    ) -> Result<()> {
        // A removed quota leaves live state unlimited in effect (huge rate); new handles skip it.
        let rate = limit.map_or(1e15, |v| kind.units_per_sec(v));
        let params = BucketParams::new(
            rate,
            self.config.burst_secs,
            self.config.max_throttle_ms,
            "quota",
        )?;
        match l {
            LimiterRef::Bucket(b) => b.configure(&params, now),
            LimiterRef::Kafka(k) => k.configure(rate, self.config.max_throttle_ms),
        }
        Ok(())
    }

    fn tenant_entry(&self, tenant: &str) -> Arc<TenantEntry> {
        if let Some(t) = self.tenants.read().get(0, tenant, "", "") {
            return t.clone();
        }
        let mut w = self.tenants.write();
        if let Some(t) = w.get(0, tenant, "", "") {
            return t.clone();
        }
        let t = Arc::new(TenantEntry::new());
        w.insert(0, tenant, "", "", t.clone());
        t
    }

    /// Sets (adds or alters) a quota; applies at once to live state. `value` is in the kind's
    /// configured unit (bytes/s, percent, mutations/s, connections/s).
    pub fn set_quota(
        &self,
        entity: &QuotaEntity,
        kind: QuotaKind,
        value: f64,
        now: Nanos,
    ) -> Result<()> {
        let field = format!("quota[{}].{}", entity_label(entity), kind.config_key());
        BucketParams::new(
            kind.units_per_sec(value),
            self.config.burst_secs,
            self.config.max_throttle_ms,
            &field,
        )?;
        self.apply(entity, kind, Some(value), &field, now)
    }

    /// Removes a quota; live state it governed stops throttling at once.
    pub fn remove_quota(&self, entity: &QuotaEntity, kind: QuotaKind, now: Nanos) -> Result<()> {
        let field = format!("quota[{}].{}", entity_label(entity), kind.config_key());
        self.apply(entity, kind, None, &field, now)
    }

    fn apply(
        &self,
        entity: &QuotaEntity,
        kind: QuotaKind,
        value: Option<f64>,
        field: &str,
        now: Nanos,
    ) -> Result<()> {
        let _writer = self.writer.lock();
        match entity {
            QuotaEntity::Tenant(name) => {
                let t = self.tenant_entry(name);
                let slot = t.slot(kind);
                match (slot.get(), value) {
                    (Some(l), Some(v)) => {
                        self.configure_limiter(l, kind, Some(v), now)?;
                        if t.is_enabled(kind) {
                            // Same limiter, new rate: live handles see it at once; no
                            // re-resolve needed.
                            return Ok(());
                        }
                        t.set_enabled(kind, true);
                    }
                    (Some(l), None) => {
                        if !t.is_enabled(kind) {
                            return Ok(());
                        }
                        self.configure_limiter(l, kind, None, now)?;
                        t.set_enabled(kind, false);
                    }
                    (None, Some(v)) => {
                        // Under the writer lock nobody else fills the slot.
                        let _ = slot.set(self.new_limiter(kind, v, field)?);
                        t.set_enabled(kind, true);
                    }
                    (None, None) => return Ok(()),
                }
            }
            QuotaEntity::Client { user, client_id } => {
                let level = Level::of(user, client_id);
                let part = |e: &Option<EntityName>| match e {
                    None => String::new(),
                    Some(EntityName::Default) => DEFAULT_MARK.to_string(),
                    Some(EntityName::Named(n)) => n.clone(),
                };
                let (u, c) = (part(user), part(client_id));
                let mut q = ConfigStore::clone(&self.quotas.load());
                let tag = level.index() as u32;
                let mut limits = q
                    .client_limits
                    .get(tag, &u, &c, "")
                    .copied()
                    .unwrap_or_default();
                limits[kind.index()] = value;
                if limits.iter().all(Option::is_none) {
                    q.client_limits.remove(tag, &u, &c, "");
                } else {
                    q.client_limits.insert(tag, &u, &c, "", limits);
                }
                q.recompute_mask();
                // Published before live states are refreshed: a state created meanwhile
                // either reads this config (it looks it up under its shard's write lock) or
                // is in its shard before the refresh reaches that shard.
                self.quotas.store(Arc::new(q));
                self.config_version.fetch_add(1, Ordering::Release);
                self.refresh_client_states(kind, now)?;
            }
        }
        self.epoch.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Re-derives the limit of every live user/client-id state of `kind` from its tags.
    fn refresh_client_states(&self, kind: QuotaKind, now: Nanos) -> Result<()> {
        let q = self.quotas.load();
        for shard in &self.states {
            let s = shard.read();
            let mut result = Ok(());
            s.for_each(|e| {
                let k = e.key();
                if k.tag as usize / 8 != kind.index() || result.is_err() {
                    return;
                }
                let limit = q.lookup(kind, k.b(), k.c()).map(|(_, v)| v);
                result = self.configure_limiter(&e.limiter, kind, limit, now);
            });
            result?;
        }
        Ok(())
    }

    /// Sets a tenant's connection limit (`None` = unlimited).
    pub fn set_max_connections(&self, tenant: &str, limit: Option<u32>) -> Result<()> {
        if limit == Some(0) {
            return Err(invalid(
                format!("quota[tenant={tenant}].max_connections"),
                0,
                "must be > 0",
            ));
        }
        self.tenant_entry(tenant)
            .max_connections
            .store(limit.unwrap_or(u32::MAX), Ordering::Relaxed);
        Ok(())
    }

    /// The tenant of a connection, per the resolver (`""` when none matches).
    pub fn tenant_of<'a>(&'a self, id: &RequestIdentity<'_>) -> &'a str {
        self.resolver.resolve(id).unwrap_or("")
    }

    /// Admits or refuses a new connection for `tenant` (count limit and connection rate).
    pub fn open_connection(&self, tenant: &str, now: Nanos) -> ConnectionAdmission {
        let t = self.tenant_entry(tenant);
        let limit = t.max_connections.load(Ordering::Relaxed);
        let admitted = t
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < limit).then_some(c + 1)
            });
        if admitted.is_err() {
            return ConnectionAdmission::Refused { limit };
        }
        let ns = t
            .limiter(QuotaKind::ConnectionRate)
            .map_or(0, |l| l.record(1, now));
        ConnectionAdmission::Accepted(
            ConnectionGuard { tenant: t },
            crate::handle::Throttle::from_ns(ns, now),
        )
    }

    /// Resolves a connection to its handle for `kind` (tenant via the resolver).
    pub fn resolve(&self, id: &RequestIdentity<'_>, kind: QuotaKind, now: Nanos) -> QuotaHandle {
        let tenant = self.tenant_of(id);
        self.resolve_in_tenant(tenant, id, kind, now)
    }

    /// Resolves with an explicit tenant (e.g. from [`TenantResolver::resolve_topic`]).
    ///
    /// When a user/client-id quota applies: the config from this thread's cached snapshot, one
    /// lookup in the state map (its shard's read lock, a hash computed once, two dependent
    /// cache lines on a hit), and the reference counts the handle keeps. Otherwise: the
    /// tenant's entry under the tenant map's read lock.
    pub fn resolve_in_tenant(
        &self,
        tenant: &str,
        id: &RequestIdentity<'_>,
        kind: QuotaKind,
        now: Nanos,
    ) -> QuotaHandle {
        let epoch = self.epoch();
        let found = self.lookup_config(kind, id.principal, id.client_id);
        let Some((level_index, level, _)) = found else {
            let tenant_limiter = self.tenant_limiter(tenant, kind);
            return QuotaHandle::new(kind, tenant_limiter, None, epoch, now);
        };
        let (u, c) = level.state_parts(id.principal, id.client_id);
        let tag = state_tag(kind, level_index);
        let h = hash_parts(tag, tenant, u, c);
        let hit = self.states[shard_of(h)]
            .read()
            .get_hashed(h, tag, tenant, u, c)
            .cloned();
        let state = hit.or_else(|| self.create_state(tenant, id, kind));
        let tenant_limiter = match &state {
            Some(s) => s.tenant.limiter(kind).cloned(),
            None => self.tenant_limiter(tenant, kind),
        };
        QuotaHandle::new(kind, tenant_limiter, state, epoch, now)
    }

    /// The tenant's limiter for `kind`, from the tenant map (when no user/client-id state
    /// brings it along).
    fn tenant_limiter(&self, tenant: &str, kind: QuotaKind) -> Option<LimiterRef> {
        self.tenants
            .read()
            .get(0, tenant, "", "")
            .and_then(|t| t.limiter(kind).cloned())
    }

    /// The configured user/client-id level for a request and its limit, from this thread's
    /// cached snapshot when it is current (see [`CONFIG_CACHE`]).
    #[inline]
    fn lookup_config(
        &self,
        kind: QuotaKind,
        user: &str,
        client: &str,
    ) -> Option<(usize, Level, f64)> {
        let version = self.config_version.load(Ordering::Acquire);
        let cached = CONFIG_CACHE.try_with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            if slot.0 != self.id || slot.1 != version || slot.2.is_none() {
                *slot = (self.id, version, Some(self.quotas.load_full()));
            }
            slot.2
                .as_ref()
                .map(|q| q.lookup_indexed(kind, user, client))
        });
        match cached {
            Ok(Some(found)) => found,
            // Only while the thread is being torn down.
            _ => self.quotas.load().lookup_indexed(kind, user, client),
        }
    }

    /// The slow path of resolution: creates the user/client-id state (or finds the one another
    /// thread, or an earlier request of the same batch, created; or the tenant's overflow
    /// state past its cap). The state's existence and the tenant's entity count are checked
    /// and updated under the key's shard write lock, so two resolves of the same new key get
    /// the same state even when the tenant is one state short of its cap. Reads the config
    /// afresh under that lock, so a concurrent config change cannot leave it stale. Holds one
    /// shard lock at a time (the batch path relies on it).
    #[cold]
    fn create_state(
        &self,
        tenant: &str,
        id: &RequestIdentity<'_>,
        kind: QuotaKind,
    ) -> Option<Arc<EntityState>> {
        let entry = self.tenant_entry(tenant);
        let (level, _) = self
            .quotas
            .load()
            .lookup(kind, id.principal, id.client_id)?;
        let (u, c) = level.state_parts(id.principal, id.client_id);
        let tag = state_tag(kind, level.index());
        let h = hash_parts(tag, tenant, u, c);
        {
            let mut w = self.states[shard_of(h)].write();
            if let Some(s) = w.get_hashed(h, tag, tenant, u, c) {
                return Some(s.clone());
            }
            let cap = self.config.max_entities_per_tenant;
            if entry
                .entities
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < cap).then_some(n + 1)
                })
                .is_ok()
            {
                let made = self.new_state(&entry, id, kind, PartsKey::new(tag, tenant, u, c));
                let Some(s) = made else {
                    entry.entities.fetch_sub(1, Ordering::Relaxed);
                    return None;
                };
                w.insert_hashed(h, s.clone());
                return Some(s);
            }
        }
        // Over the cap: the tenant's overflow state for this kind.
        let (tag, u, c) = (state_tag(kind, 0), OVERFLOW_USER, "");
        let h = hash_parts(tag, tenant, u, c);
        let mut w = self.states[shard_of(h)].write();
        if let Some(s) = w.get_hashed(h, tag, tenant, u, c) {
            return Some(s.clone());
        }
        let s = self.new_state(&entry, id, kind, PartsKey::new(tag, tenant, u, c))?;
        w.insert_hashed(h, s.clone());
        Some(s)
    }

    /// A new state under `key` with the limit the config gives `id` now (called under the
    /// key's shard write lock: a config change stored after this load refreshes that shard
    /// after the lock is released). `None` when no quota applies any more.
    fn new_state(
        &self,
        entry: &Arc<TenantEntry>,
        id: &RequestIdentity<'_>,
        kind: QuotaKind,
        key: PartsKey,
    ) -> Option<Arc<EntityState>> {
        let (_, limit) = self
            .quotas
            .load()
            .lookup(kind, id.principal, id.client_id)?;
        let field = format!(
            "quota[user={},client-id={}].{}",
            id.principal,
            id.client_id,
            kind.config_key()
        );
        let limiter = self.new_limiter(kind, limit, &field).ok()?;
        Some(Arc::new(EntityState::new(key, limiter, entry.clone())))
    }

    /// Drops user/client-id states idle for `idle_expiry` that no connection holds; returns how
    /// many were dropped.
    pub fn expire_idle(&self, now: Nanos) -> usize {
        let idle = self.config.idle_expiry;
        let mut dropped = 0;
        for shard in &self.states {
            shard.write().retain(|s| {
                let limiter_held = match &s.limiter {
                    LimiterRef::Bucket(b) => Arc::strong_count(b) > 1,
                    LimiterRef::Kafka(b) => Arc::strong_count(b) > 1,
                };
                let held = Arc::strong_count(s) > 1 || limiter_held;
                let keep = held || !s.limiter.is_idle(now, idle);
                if !keep {
                    dropped += 1;
                    if s.key().b() != OVERFLOW_USER {
                        let _ = s.tenant.entities.fetch_update(
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                            |n| n.checked_sub(1),
                        );
                    }
                }
                keep
            });
        }
        dropped
    }

    /// Number of live user/client-id states (all tenants, kinds).
    pub fn live_entities(&self) -> usize {
        self.states.iter().map(|s| s.read().len()).sum()
    }

    /// Per-tenant usage counters for every tenant limiter.
    pub fn tenant_usage(&self) -> Vec<TenantUsage> {
        let mut out = Vec::new();
        self.tenants.read().for_each(|k, t| {
            for kind in QuotaKind::ALL {
                if let Some(l) = t.limiter(kind) {
                    out.push(TenantUsage {
                        tenant: k.a().to_string(),
                        kind,
                        limit: Some(l.rate()),
                        counters: l.counters(),
                    });
                }
            }
        });
        out.sort_by(|a, b| (&a.tenant, a.kind).cmp(&(&b.tenant, b.kind)));
        out
    }
}

fn entity_label(e: &QuotaEntity) -> String {
    let n = |x: &Option<EntityName>| match x {
        None => None,
        Some(EntityName::Default) => Some("<default>".to_string()),
        Some(EntityName::Named(s)) => Some(s.clone()),
    };
    match e {
        QuotaEntity::Tenant(t) => format!("tenant={t}"),
        QuotaEntity::Client { user, client_id } => {
            let mut parts = Vec::new();
            if let Some(u) = n(user) {
                parts.push(format!("user={u}"));
            }
            if let Some(c) = n(client_id) {
                parts.push(format!("client-id={c}"));
            }
            parts.join(",")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shard must not be chosen by the bits the shard's table uses for its bucket index
    /// (the low bits) or its probe tag (the top 7): keys of one shard must still spread over
    /// both, or lookups degrade into long probe chains with a key compare per probe.
    #[test]
    fn keys_in_one_shard_still_spread_over_bucket_bits_and_probe_tags() {
        let mut low = std::collections::HashSet::new();
        let mut top = std::collections::HashSet::new();
        for i in 0..20_000 {
            let h = hash_parts(7, "tenant-0001", "", &format!("producer-{i:07}"));
            if shard_of(h) == 0 {
                low.insert(h & 0x3f);
                top.insert(h >> 57);
            }
        }
        assert!(
            low.len() > 32,
            "low 6 bits in one shard: {} values",
            low.len()
        );
        assert!(
            top.len() > 64,
            "top 7 bits in one shard: {} values",
            top.len()
        );
    }
}
