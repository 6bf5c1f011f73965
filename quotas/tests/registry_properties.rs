//! Property tests of the registry's resolution against a reference model of Kafka's quota
//! precedence: config changes reach live states at once, and state stays bounded under
//! client-id churn (entity counts released on expiry, overflow shared).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use keel_quotas::{
    EntityName, NANOS_PER_SEC, QuotaEntity, QuotaHandle, QuotaKind, QuotaRegistry, RegistryConfig,
    RequestIdentity, TenantResolver,
};
use proptest::prelude::*;

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const CLIENTS: [&str; 3] = ["c1", "c2", "c3"];

/// A config entry: user part and client part, each absent (`None`), `<default>`
/// (`Some(None)`) or a name (`Some(Some(i))`).
type Slot = (Option<Option<usize>>, Option<Option<usize>>);

fn slot() -> impl Strategy<Value = Slot> {
    let part = || {
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (0usize..3).prop_map(|i| Some(Some(i)))
        ]
    };
    (part(), part()).prop_filter("an entity has at least one part", |(u, c)| {
        u.is_some() || c.is_some()
    })
}

fn entity((u, c): Slot) -> QuotaEntity {
    let name = |p: Option<Option<usize>>, names: [&str; 3]| {
        p.map(|n| match n {
            None => EntityName::Default,
            Some(i) => EntityName::Named(names[i].to_string()),
        })
    };
    QuotaEntity::Client {
        user: name(u, USERS),
        client_id: name(c, CLIENTS),
    }
}

/// Kafka's precedence, written independently of the crate: the most specific configured
/// entry for `(user, client)`, as (level 0..8, limit).
fn reference(cfg: &BTreeMap<Slot, f64>, user: usize, client: usize) -> Option<(usize, f64)> {
    let order: [Slot; 8] = [
        (Some(Some(user)), Some(Some(client))),
        (Some(Some(user)), Some(None)),
        (Some(Some(user)), None),
        (Some(None), Some(Some(client))),
        (Some(None), Some(None)),
        (Some(None), None),
        (None, Some(Some(client))),
        (None, Some(None)),
    ];
    order
        .iter()
        .enumerate()
        .find_map(|(i, s)| cfg.get(s).map(|v| (i, *v)))
}

#[derive(Debug, Clone)]
enum Op {
    Set(Slot, u32),
    Remove(Slot),
    Resolve(usize, usize),
    Drop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (slot(), 1u32..1000).prop_map(|(s, v)| Op::Set(s, v)),
        slot().prop_map(Op::Remove),
        (0usize..3, 0usize..3).prop_map(|(u, c)| Op::Resolve(u, c)),
        (0usize..8).prop_map(Op::Drop),
    ]
}

fn rate_of(h: &QuotaHandle) -> Option<f64> {
    h.client_limiter().map(|l| l.rate())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= b * 1e-6
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// After every config change, a new handle gets exactly the reference model's limit, and
    /// every live handle whose precedence level did not change carries the new limit at once
    /// (or, when its quota is gone, an unlimited one).
    #[test]
    fn config_changes_reach_new_and_live_handles_at_once(ops in proptest::collection::vec(op(), 1..60)) {
        let reg = QuotaRegistry::new(RegistryConfig::default(), TenantResolver::new().default_tenant("t")).unwrap();
        let mut cfg: BTreeMap<Slot, f64> = BTreeMap::new();
        // Live handles: (user, client, level at resolve, handle).
        let mut live: Vec<(usize, usize, Option<usize>, QuotaHandle)> = Vec::new();
        for op in ops {
            match op {
                Op::Set(s, v) => {
                    let v = f64::from(v) * 1000.0;
                    reg.set_quota(&entity(s), QuotaKind::Produce, v, 0).unwrap();
                    cfg.insert(s, v);
                }
                Op::Remove(s) => {
                    reg.remove_quota(&entity(s), QuotaKind::Produce, 0).unwrap();
                    cfg.remove(&s);
                }
                Op::Resolve(u, c) => {
                    let h = reg.resolve(&RequestIdentity { principal: USERS[u], client_id: CLIENTS[c] }, QuotaKind::Produce, 0);
                    let want = reference(&cfg, u, c);
                    match (rate_of(&h), want) {
                        (None, None) => {}
                        (Some(r), Some((_, v))) => prop_assert!(close(r, v), "resolved {r}, reference {v}"),
                        (got, want) => prop_assert!(false, "resolved {got:?}, reference {want:?}"),
                    }
                    live.push((u, c, want.map(|w| w.0), h));
                }
                Op::Drop(i) => {
                    if i < live.len() {
                        live.swap_remove(i);
                    }
                }
            }
            for (u, c, level, h) in &live {
                let now = reference(&cfg, *u, *c);
                let Some(rate) = rate_of(h) else { continue };
                match now {
                    Some((l, v)) if Some(l) == *level => prop_assert!(
                        close(rate, v),
                        "live handle ({}, {}) at level {l}: rate {rate}, config {v}", USERS[*u], CLIENTS[*c]
                    ),
                    None => prop_assert!(rate >= 1e14, "quota gone, live limiter still at {rate}"),
                    // Its level changed: the epoch moved and the handle re-resolves.
                    Some(_) => prop_assert!(reg.epoch() > h.epoch()),
                }
            }
        }
    }

    /// Under any churn of client-ids over two tenants, live state never exceeds the per-tenant
    /// cap plus one overflow state per tenant; states no connection holds expire once idle,
    /// and their slots are released (a new client-id then gets its own state again).
    #[test]
    fn state_stays_bounded_under_client_id_churn(
        ids in proptest::collection::vec((0usize..2, 0u32..400, any::<bool>()), 1..300),
        cap in 1usize..20,
    ) {
        let cfg = RegistryConfig { max_entities_per_tenant: cap, idle_expiry: NANOS_PER_SEC, ..RegistryConfig::default() };
        let reg = QuotaRegistry::new(cfg, TenantResolver::new()).unwrap();
        reg.set_quota(&QuotaEntity::Client { user: None, client_id: Some(EntityName::Default) }, QuotaKind::Produce, 1e6, 0).unwrap();
        let tenants = ["rest-proxy-a", "rest-proxy-b"];
        let mut held = Vec::new();
        for (i, (t, cid, keep)) in ids.iter().enumerate() {
            let now = i as u64 * 1000;
            let cid = format!("random-{cid}");
            let h = reg.resolve_in_tenant(tenants[*t], &RequestIdentity { principal: "", client_id: &cid }, QuotaKind::Produce, now);
            h.record(10, now);
            if *keep {
                held.push(h);
            }
            prop_assert!(reg.live_entities() <= 2 * (cap + 1), "{} states, cap {cap}", reg.live_entities());
        }
        let later = 1000 * NANOS_PER_SEC;
        let before = reg.live_entities();
        let dropped = reg.expire_idle(later);
        prop_assert_eq!(reg.live_entities(), before - dropped);
        // Only held states survive (distinct states held, at most one per handle).
        prop_assert!(reg.live_entities() <= held.len());
        drop(held);
        reg.expire_idle(later);
        prop_assert_eq!(reg.live_entities(), 0);
        // Slots were released: the first fresh client-id gets a state of its own (had the
        // expired states kept their slots, both would share the tenant's overflow state).
        let a = reg.resolve_in_tenant(tenants[0], &RequestIdentity { principal: "", client_id: "fresh-1" }, QuotaKind::Produce, later);
        let b = reg.resolve_in_tenant(tenants[0], &RequestIdentity { principal: "", client_id: "fresh-2" }, QuotaKind::Produce, later);
        prop_assert!(!a.client_limiter().unwrap().same_state(b.client_limiter().unwrap()));
    }
}
