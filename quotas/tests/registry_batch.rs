//! Batch resolution against one-by-one resolution: `resolve_batch_in_tenants` and
//! `resolve_batch` must give the handles that resolving each request in turn gives (same
//! limits, same shared states and tenant limiters, same per-tenant entity accounting), for
//! any mix of existing and missing entities, tenants, kinds, entity caps and duplicates.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::{
    EntityName, QuotaEntity, QuotaHandle, QuotaKind, QuotaRegistry, RegistryConfig,
    RequestIdentity, TenantResolver,
};
use proptest::prelude::*;

const TENANTS: [&str; 3] = ["tenant-a", "tenant-b", "a-tenant-whose-name-is-long-enough"];
const USERS: [&str; 3] = ["alice", "bob", ""];
const KINDS: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::RequestTime];

fn client(i: usize) -> String {
    // Every fourth id is long: its key does not fit inline in the state map's entry.
    if i % 4 == 3 {
        format!("client-with-a-long-generated-id-{i:03}")
    } else {
        format!("c{i}")
    }
}

/// Which quotas the registry has (each flag adds one).
#[derive(Debug, Clone, Copy)]
struct Config {
    /// Produce: `client-id=<default>` (a state per client-id).
    default_client: bool,
    /// Produce: `user=alice` (one state for all of alice's clients).
    alice: bool,
    /// Fetch: `user=<default>,client-id=<default>` (a state per user and client-id).
    default_user_client: bool,
    /// Tenant quotas for the first two tenants, produce and fetch.
    tenant_quotas: bool,
    cap: usize,
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1usize..12,
    )
        .prop_map(
            |(default_client, alice, default_user_client, tenant_quotas, cap)| Config {
                default_client,
                alice,
                default_user_client,
                tenant_quotas,
                cap,
            },
        )
}

fn registry(cfg: Config) -> QuotaRegistry {
    let reg = QuotaRegistry::new(
        RegistryConfig {
            max_entities_per_tenant: cfg.cap,
            ..RegistryConfig::default()
        },
        TenantResolver::new()
            .principal("alice", TENANTS[0])
            .client_id_prefix("c1", TENANTS[1])
            .default_tenant(TENANTS[2]),
    )
    .unwrap();
    let named = |n: &str| Some(EntityName::Named(n.to_string()));
    if cfg.default_client {
        let e = QuotaEntity::Client {
            user: None,
            client_id: Some(EntityName::Default),
        };
        reg.set_quota(&e, QuotaKind::Produce, 1e6, 0).unwrap();
    }
    if cfg.alice {
        let e = QuotaEntity::Client {
            user: named("alice"),
            client_id: None,
        };
        reg.set_quota(&e, QuotaKind::Produce, 2e6, 0).unwrap();
    }
    if cfg.default_user_client {
        let e = QuotaEntity::Client {
            user: Some(EntityName::Default),
            client_id: Some(EntityName::Default),
        };
        reg.set_quota(&e, QuotaKind::Fetch, 3e6, 0).unwrap();
    }
    if cfg.tenant_quotas {
        for t in &TENANTS[..2] {
            for kind in [QuotaKind::Produce, QuotaKind::Fetch] {
                reg.set_quota(&QuotaEntity::Tenant((*t).into()), kind, 5e6, 0)
                    .unwrap();
            }
        }
    }
    reg
}

/// A request: tenant index, user index, client index.
type Req = (usize, usize, usize);

/// One step: resolve `reqs` for `KINDS[kind]`, either one by one in both registries (to
/// create some entities before a batch) or as a batch in the second one.
#[derive(Debug, Clone)]
struct Step {
    kind: usize,
    reqs: Vec<Req>,
    warm_up: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0usize..3,
        // Up to 150 requests: batches span several chunks of 64.
        proptest::collection::vec((0usize..3, 0usize..3, 0usize..16), 0..150),
        proptest::bool::weighted(0.25),
    )
        .prop_map(|(kind, reqs, warm_up)| Step {
            kind,
            reqs,
            warm_up,
        })
}

fn rates(h: &QuotaHandle) -> (Option<f64>, Option<f64>) {
    (
        h.tenant_limiter().map(|l| l.rate()),
        h.client_limiter().map(|l| l.rate()),
    )
}

/// The sharing pattern of a list of handles: for every pair, whether they hold the same
/// user/client-id state and whether they hold the same tenant limiter.
fn sharing(hs: &[QuotaHandle]) -> Vec<(usize, usize, bool, bool)> {
    let same =
        |a: Option<&keel_quotas::LimiterRef>, b: Option<&keel_quotas::LimiterRef>| match (a, b) {
            (Some(a), Some(b)) => a.same_state(b),
            _ => false,
        };
    let mut out = Vec::new();
    for (i, a) in hs.iter().enumerate() {
        for (j, b) in hs.iter().enumerate().take(i) {
            out.push((
                i,
                j,
                same(a.client_limiter(), b.client_limiter()),
                same(a.tenant_limiter(), b.tenant_limiter()),
            ));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two registries with the same config see the same steps; warm-up steps resolve one by
    /// one in both, the others one by one in the first and as one batch in the second. Every
    /// handle must match its one-by-one twin (kind, epoch, limits), the sharing pattern of
    /// all handles so far must be the same, and so must the live entity count (the
    /// per-tenant cap and the overflow state included). Finally, a batch over requests that
    /// all exist returns the very states one-by-one resolution returned.
    #[test]
    fn batch_resolution_gives_the_handles_of_resolving_one_by_one_in_order(
        cfg in config(),
        steps in proptest::collection::vec(step(), 1..6),
    ) {
        let one_by_one = registry(cfg);
        let batched = registry(cfg);
        let names: Vec<String> = (0..16).map(client).collect();
        let mut held_a: Vec<QuotaHandle> = Vec::new();
        let mut held_b: Vec<QuotaHandle> = Vec::new();
        let mut all: Vec<(usize, Req)> = Vec::new();
        for (n, step) in steps.iter().enumerate() {
            let kind = KINDS[step.kind];
            let now = n as u64 * 1_000_000;
            let reqs: Vec<(&str, RequestIdentity<'_>)> = step
                .reqs
                .iter()
                .map(|&(t, u, c)| (TENANTS[t], RequestIdentity { principal: USERS[u], client_id: &names[c] }))
                .collect();
            let before = held_b.len();
            for (t, id) in &reqs {
                held_a.push(one_by_one.resolve_in_tenant(t, id, kind, now));
                if step.warm_up {
                    held_b.push(batched.resolve_in_tenant(t, id, kind, now));
                }
            }
            if !step.warm_up {
                batched.resolve_batch_in_tenants(&reqs, kind, now, &mut held_b);
            }
            prop_assert_eq!(held_b.len() - before, reqs.len(), "one handle per request");
            all.extend(step.reqs.iter().map(|r| (step.kind, *r)));
            for (i, (a, b)) in held_a.iter().zip(&held_b).enumerate().skip(before) {
                prop_assert_eq!(a.kind(), b.kind());
                prop_assert_eq!(a.epoch(), b.epoch(), "request {}", i);
                prop_assert_eq!(rates(a), rates(b), "request {} = {:?}", i, all[i]);
            }
            prop_assert_eq!(one_by_one.live_entities(), batched.live_entities());
        }
        prop_assert!(sharing(&held_a) == sharing(&held_b), "handles share states differently");

        // Everything exists now: a batch over all requests returns the same states.
        let mut again = Vec::new();
        for (kind, quota_kind) in KINDS.iter().enumerate() {
            let idx: Vec<usize> = (0..all.len()).filter(|&i| all[i].0 == kind).collect();
            let reqs: Vec<(&str, RequestIdentity<'_>)> = idx
                .iter()
                .map(|&i| {
                    let (t, u, c) = all[i].1;
                    (TENANTS[t], RequestIdentity { principal: USERS[u], client_id: &names[c] })
                })
                .collect();
            again.clear();
            let live = one_by_one.live_entities();
            one_by_one.resolve_batch_in_tenants(&reqs, *quota_kind, 0, &mut again);
            prop_assert_eq!(one_by_one.live_entities(), live, "a batch of hits creates nothing");
            for (h, i) in again.iter().zip(idx) {
                let first = &held_a[i];
                match (h.client_limiter(), first.client_limiter()) {
                    (Some(x), Some(y)) => prop_assert!(x.same_state(y), "request {} got another state", i),
                    (None, None) => {}
                    (x, y) => prop_assert!(false, "request {}: {:?} vs {:?}", i, x.is_some(), y.is_some()),
                }
            }
        }
    }
}

/// `resolve_batch` picks each request's tenant with the resolver, as `resolve` does.
#[test]
fn resolve_batch_uses_the_tenant_resolver_like_resolve() {
    let cfg = Config {
        default_client: true,
        alice: false,
        default_user_client: false,
        tenant_quotas: true,
        cap: 100,
    };
    let (a, b) = (registry(cfg), registry(cfg));
    let names: Vec<String> = (0..16).map(client).collect();
    let ids: Vec<RequestIdentity<'_>> = (0..200)
        .map(|i| RequestIdentity {
            principal: USERS[i % 3],
            client_id: &names[i % 16],
        })
        .collect();
    let one: Vec<QuotaHandle> = ids
        .iter()
        .map(|id| a.resolve(id, QuotaKind::Produce, 0))
        .collect();
    let mut batch = Vec::new();
    b.resolve_batch(&ids, QuotaKind::Produce, 0, &mut batch);
    assert_eq!(batch.len(), ids.len());
    for (i, (x, y)) in one.iter().zip(&batch).enumerate() {
        assert_eq!(rates(x), rates(y), "request {i}");
    }
    assert!(sharing(&one) == sharing(&batch));
    // Tenants with quotas (the first two) are reached through the resolver: some handles
    // carry a tenant limiter and some (the default tenant, no quota) do not.
    assert!(batch.iter().any(|h| h.tenant_limiter().is_some()));
    assert!(batch.iter().any(|h| h.tenant_limiter().is_none()));
    assert_eq!(a.live_entities(), b.live_entities());
}

/// Batches on several threads, one-by-one resolves, config changes and expiry all at once:
/// nothing deadlocks (batches take shard locks in ascending order, writers one at a time),
/// and since every state stays held, all handles for one key, from any thread and either
/// path, share one state.
#[test]
fn concurrent_batches_and_writers_agree_on_one_state_per_key() {
    let cfg = Config {
        default_client: true,
        alice: false,
        default_user_client: false,
        tenant_quotas: true,
        cap: 10_000,
    };
    let reg = registry(cfg);
    let names: Vec<String> = (0..300).map(|i| format!("client-{i}")).collect();
    let reqs: Vec<(&str, RequestIdentity<'_>)> = names
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                TENANTS[i % 2],
                RequestIdentity {
                    principal: "bob",
                    client_id: c,
                },
            )
        })
        .collect();
    let held: Vec<Vec<QuotaHandle>> = std::thread::scope(|s| {
        let reg = &reg;
        let reqs = &reqs;
        let writer = s.spawn(move || {
            for i in 0..200u32 {
                let e = QuotaEntity::Client {
                    user: None,
                    client_id: Some(EntityName::Default),
                };
                reg.set_quota(&e, QuotaKind::Produce, 1e6 + f64::from(i), 0)
                    .unwrap();
                reg.expire_idle(u64::MAX / 2);
            }
        });
        let workers: Vec<_> = (0..3)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for round in 0..20 {
                        let mut order: Vec<_> = reqs.clone();
                        if (t + round) % 2 == 1 {
                            order.reverse();
                        }
                        if t == 2 {
                            for (tenant, id) in &order {
                                out.push(reg.resolve_in_tenant(tenant, id, QuotaKind::Produce, 0));
                            }
                        } else {
                            reg.resolve_batch_in_tenants(&order, QuotaKind::Produce, 0, &mut out);
                        }
                    }
                    out
                })
            })
            .collect();
        writer.join().unwrap();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(reg.live_entities(), names.len());
    for (tenant, id) in &reqs {
        let h = reg.resolve_in_tenant(tenant, id, QuotaKind::Produce, 0);
        let state = h.client_limiter().unwrap();
        let same = held
            .iter()
            .flatten()
            .filter(|x| x.client_limiter().unwrap().same_state(state))
            .count();
        // Every thread resolved every key 20 times.
        assert_eq!(
            same,
            3 * 20,
            "handles of {} share {same} ways",
            id.client_id
        );
    }
}
