//! Batch resolution: many connections' handles at once, for a broker that resolves them
//! together (a reconnect storm after a restart, a listener accepting a backlog, live handles
//! re-resolved after a config change).
//!
//! A single [`QuotaRegistry::resolve_in_tenant`] at 1M live entities makes two dependent cache
//! misses (the state map's slot, then the state object it points to) and then enough work
//! (key compare, reference counts, the handle) that the next resolve's misses do not start
//! until this one's have returned: it costs about two memory latencies (see the
//! `memory latency floor` row of `benches/quota_hot_path.rs`). A batch instead runs each step
//! over all of its requests before the next step, so the misses of one step are independent
//! plain loads in a short loop and the CPU has many of them in flight at once:
//!
//! 0. a plain load of every request's strings (inputs out of cache would otherwise stall
//!    step 1, whose per-request work is too long for the CPU to look far ahead);
//! 1. config lookup, key hash and shard for every request;
//! 2. the read lock of every shard the batch needs, each taken once, in ascending shard order
//!    (so two batches and the writers, which hold one shard at a time, cannot deadlock);
//! 3. a plain load of every request's home slot (first miss, overlapped);
//! 4. plain loads of every state whose slot hash matches (second miss, overlapped): the
//!    reference count, the key and the tenant link, which can sit on up to three lines;
//! 5. the real lookups (key compare, `Arc` clone), now on cached lines; then the locks go;
//! 6. requests whose state does not exist yet take the normal creation path, in request order.
//!
//! The handles are the ones resolving the requests one by one, in order, would give (same
//! states, same tenant limiters, same per-tenant entity accounting, duplicates included);
//! `quotas/tests/registry_batch.rs` checks that. The locks are held for one chunk of at most
//! [`CHUNK`] requests: a writer creating a state in one of those shards waits that long.

use parking_lot::RwLockReadGuard;

use super::{EntityState, QuotaRegistry, SHARDS, shard_of, state_tag};
use crate::clock::Nanos;
use crate::entity::RequestIdentity;
use crate::handle::QuotaHandle;
use crate::keymap::{KeyedMap, hash_parts};
use crate::kind::QuotaKind;

/// Requests resolved together (per-chunk scratch lives on the stack; larger batches run in
/// chunks of this size).
pub(crate) const CHUNK: usize = 64;

/// One request's state-map key, when a user/client-id quota applies to it.
#[derive(Clone, Copy)]
struct Probe<'a> {
    h: u64,
    tag: u32,
    user: &'a str,
    client: &'a str,
}

impl QuotaRegistry {
    /// Resolves many connections at once, each with an explicit tenant, appending one handle
    /// per request to `out`, in request order. Gives the same handles as calling
    /// [`Self::resolve_in_tenant`] for each request in turn, at a fraction of the cost per
    /// handle when the states are out of cache (their cache misses overlap; see the module
    /// docs). Use it where a broker has several connections to resolve at the same moment; a
    /// single connection gains nothing from it. `out` is not cleared; reusing it across calls
    /// avoids allocating.
    pub fn resolve_batch_in_tenants(
        &self,
        requests: &[(&str, RequestIdentity<'_>)],
        kind: QuotaKind,
        now: Nanos,
        out: &mut Vec<QuotaHandle>,
    ) {
        out.reserve(requests.len());
        for chunk in requests.chunks(CHUNK) {
            self.resolve_chunk(chunk, kind, now, out);
        }
    }

    /// Like [`Self::resolve_batch_in_tenants`], with each request's tenant from the resolver
    /// (as [`Self::resolve`]).
    pub fn resolve_batch(
        &self,
        ids: &[RequestIdentity<'_>],
        kind: QuotaKind,
        now: Nanos,
        out: &mut Vec<QuotaHandle>,
    ) {
        out.reserve(ids.len());
        let none = RequestIdentity {
            principal: "",
            client_id: "",
        };
        let mut chunk = [("", none); CHUNK];
        for ids in ids.chunks(CHUNK) {
            for (slot, id) in chunk.iter_mut().zip(ids) {
                *slot = (self.tenant_of(id), *id);
            }
            self.resolve_chunk(chunk.get(..ids.len()).unwrap_or_default(), kind, now, out);
        }
    }

    /// One chunk (at most [`CHUNK`] requests) through the steps of the module docs.
    fn resolve_chunk(
        &self,
        requests: &[(&str, RequestIdentity<'_>)],
        kind: QuotaKind,
        now: Nanos,
        out: &mut Vec<QuotaHandle>,
    ) {
        let epoch = self.epoch();
        // 0. The requests' strings (a broker's batch may have left some out of cache), with
        //    plain loads only, so their misses overlap instead of stalling step 1's hashing.
        let mut touched = 0u8;
        for (tenant, id) in requests {
            for s in [*tenant, id.principal, id.client_id] {
                let b = s.as_bytes();
                touched ^= b.first().copied().unwrap_or(0) ^ b.last().copied().unwrap_or(0);
            }
        }
        std::hint::black_box(touched);
        // 1. Config, key and shard of every request.
        let mut probes: [Option<Probe<'_>>; CHUNK] = [None; CHUNK];
        let mut shards_needed = 0u64;
        for (probe, (tenant, id)) in probes.iter_mut().zip(requests) {
            let Some((level_index, level, _)) =
                self.lookup_config(kind, id.principal, id.client_id)
            else {
                continue;
            };
            let (user, client) = level.state_parts(id.principal, id.client_id);
            let tag = state_tag(kind, level_index);
            let h = hash_parts(tag, tenant, user, client);
            shards_needed |= 1 << shard_of(h);
            *probe = Some(Probe {
                h,
                tag,
                user,
                client,
            });
        }
        // 2. Each needed shard's read lock once, in ascending order.
        let mut guards: [Option<RwLockReadGuard<'_, KeyedMap<EntityState>>>; SHARDS] =
            [const { None }; SHARDS];
        let mut rest = shards_needed;
        while rest != 0 {
            let s = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if let (Some(guard), Some(shard)) = (guards.get_mut(s), self.states.get(s)) {
                *guard = Some(shard.read());
            }
        }
        let map = |h: u64| guards.get(shard_of(h)).and_then(Option::as_ref);
        let probed = || probes.iter().take(requests.len()).flatten();
        // 3. Every home slot, with plain loads only (no locked instruction, no branch on
        //    what they load), so the misses are all in flight together.
        let mut touched = 0u64;
        for p in probed() {
            touched ^= map(p.h).map_or(0, |m| m.home_hash(p.h));
        }
        std::hint::black_box(touched);
        // 4. Every state whose slot carries the key's hash, the same way.
        let mut touched = 0u64;
        for p in probed() {
            if let Some(s) = map(p.h).and_then(|m| m.first_with_hash(p.h)) {
                // The reference count may sit on a line of its own before the key.
                touched ^= s.touch() ^ std::sync::Arc::strong_count(s) as u64;
            }
        }
        std::hint::black_box(touched);
        // 5. The real lookups, on cached lines.
        let mut states: [Option<std::sync::Arc<EntityState>>; CHUNK] = [const { None }; CHUNK];
        for ((state, probe), (tenant, _)) in states.iter_mut().zip(&probes).zip(requests) {
            if let Some(p) = probe {
                *state = map(p.h)
                    .and_then(|m| m.get_hashed(p.h, p.tag, tenant, p.user, p.client))
                    .cloned();
            }
        }
        drop(guards);
        // 6. Misses take the creation path in request order (as one-by-one resolution
        //    would: a duplicate finds the state its first occurrence created, the entity cap
        //    counts in order); then the handles.
        for ((state, probe), (tenant, id)) in states.iter_mut().zip(&probes).zip(requests) {
            if probe.is_some() && state.is_none() {
                *state = self.create_state(tenant, id, kind);
            }
        }
        for (state, (tenant, _)) in states.iter_mut().zip(requests) {
            let state = state.take();
            let tenant_limiter = match &state {
                Some(s) => s.tenant.limiter(kind).cloned(),
                None => self.tenant_limiter(tenant, kind),
            };
            out.push(QuotaHandle::new(kind, tenant_limiter, state, epoch, now));
        }
    }
}
