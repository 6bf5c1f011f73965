//! The registry: Kafka precedence, config changes on live state, bounded memory under
//! client-id churn, idle expiry, connection quotas and config errors.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_quotas::{
    ConnectionAdmission, NANOS_PER_SEC, QuotaEntity, QuotaError, QuotaKind, QuotaRegistry,
    RegistryConfig, RequestIdentity, TenantResolver,
};

const S: u64 = NANOS_PER_SEC;

fn id<'a>(principal: &'a str, client_id: &'a str) -> RequestIdentity<'a> {
    RequestIdentity {
        principal,
        client_id,
    }
}

fn ent(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
    QuotaEntity::from_parts(parts, "test").unwrap()
}

fn registry() -> QuotaRegistry {
    QuotaRegistry::new(
        RegistryConfig::default(),
        TenantResolver::new().default_tenant("t"),
    )
    .unwrap()
}

/// Burst (1 s of quota) the handle admits from idle before it is throttled.
fn burst_of(reg: &QuotaRegistry, who: RequestIdentity<'_>) -> u64 {
    let h = reg.resolve(&who, QuotaKind::Produce, 0);
    let now = 100 * S;
    let mut n = 0;
    while !h.record(1000, now).is_throttled() {
        n += 1000;
        assert!(n < 1_000_000_000, "never throttled");
    }
    n
}

#[test]
fn the_most_specific_configured_level_applies() {
    let reg = registry();
    reg.set_quota(
        &ent(&[("client-id", None)]),
        QuotaKind::Produce,
        10_000.0,
        0,
    )
    .unwrap();
    assert_eq!(burst_of(&reg, id("alice", "c1")), 10_000);
    reg.set_quota(&ent(&[("user", None)]), QuotaKind::Produce, 20_000.0, 0)
        .unwrap();
    assert_eq!(
        burst_of(&reg, id("alice", "c2")),
        20_000,
        "user=<default> beats client-id=<default>"
    );
    reg.set_quota(
        &ent(&[("user", Some("alice"))]),
        QuotaKind::Produce,
        30_000.0,
        0,
    )
    .unwrap();
    assert_eq!(burst_of(&reg, id("alice", "c3")), 30_000);
    assert_eq!(burst_of(&reg, id("bob", "c3")), 20_000);
    reg.set_quota(
        &ent(&[("user", Some("alice")), ("client-id", Some("c4"))]),
        QuotaKind::Produce,
        40_000.0,
        0,
    )
    .unwrap();
    assert_eq!(burst_of(&reg, id("alice", "c4")), 40_000);
    // Quotas are per kind: fetch has none.
    assert!(
        !reg.resolve(&id("alice", "c4"), QuotaKind::Fetch, 0)
            .is_limited()
    );
}

#[test]
fn a_user_quota_is_shared_by_its_clients_and_a_default_user_quota_is_not() {
    let reg = registry();
    reg.set_quota(
        &ent(&[("user", Some("alice"))]),
        QuotaKind::Produce,
        1000.0,
        0,
    )
    .unwrap();
    reg.set_quota(&ent(&[("user", None)]), QuotaKind::Produce, 1000.0, 0)
        .unwrap();
    let a1 = reg.resolve(&id("alice", "c1"), QuotaKind::Produce, 0);
    let a2 = reg.resolve(&id("alice", "c2"), QuotaKind::Produce, 0);
    assert!(
        a1.client_limiter()
            .unwrap()
            .same_state(a2.client_limiter().unwrap())
    );
    let b = reg.resolve(&id("bob", "c1"), QuotaKind::Produce, 0);
    let c = reg.resolve(&id("carol", "c1"), QuotaKind::Produce, 0);
    assert!(
        !b.client_limiter()
            .unwrap()
            .same_state(c.client_limiter().unwrap())
    );
}

#[test]
fn config_changes_apply_at_once_to_live_handles() {
    let reg = registry();
    let tenant = QuotaEntity::Tenant("t".into());
    reg.set_quota(&tenant, QuotaKind::Produce, 1000.0, 0)
        .unwrap();
    let h = reg.resolve(&id("u", "c"), QuotaKind::Produce, 0);
    let now = 100 * S;
    assert!(h.record(1500, now).is_throttled());
    reg.set_quota(&tenant, QuotaKind::Produce, 1_000_000.0, now)
        .unwrap();
    // The debt (500 B) is now paid off at 1 MB/s: 10 ms later 5 kB pass (at 1 kB/s they would
    // have waited 5.5 s).
    let later = now + 10_000_000;
    assert!(
        !h.record(5_000, later).is_throttled(),
        "raised quota applies to the live handle"
    );
    reg.remove_quota(&tenant, QuotaKind::Produce, later)
        .unwrap();
    assert!(
        !h.record(100_000_000, later + 1_000_000).is_throttled(),
        "removed quota stops throttling"
    );
    assert!(reg.epoch() > h.epoch(), "handle is told to re-resolve");
    assert!(
        !reg.resolve(&id("u", "c"), QuotaKind::Produce, now)
            .is_limited()
    );

    let cd = ent(&[("client-id", None)]);
    reg.set_quota(&cd, QuotaKind::Produce, 1000.0, now).unwrap();
    let h = reg.resolve(&id("u", "c"), QuotaKind::Produce, now);
    assert!(h.record(1500, now).is_throttled());
    assert!(
        h.record(1000, now + 100_000_000).is_throttled(),
        "still over at 1 kB/s"
    );
    reg.set_quota(&cd, QuotaKind::Produce, 10_000_000.0, now)
        .unwrap();
    assert!(
        !h.record(900_000, now + 100_000_000).is_throttled(),
        "10 MB/s applies to the live state"
    );
}

#[test]
fn random_client_ids_cannot_grow_state_past_the_per_tenant_cap() {
    let cfg = RegistryConfig {
        max_entities_per_tenant: 100,
        ..RegistryConfig::default()
    };
    let reg = QuotaRegistry::new(cfg, TenantResolver::new().default_tenant("rest-proxy")).unwrap();
    reg.set_quota(&ent(&[("client-id", None)]), QuotaKind::Produce, 1000.0, 0)
        .unwrap();
    for i in 0..10_000 {
        let cid = format!("random-{i}");
        let h = reg.resolve(&id("", &cid), QuotaKind::Produce, 0);
        h.record(10, i * 1000);
    }
    // 100 entities plus one overflow state shared by the rest.
    assert_eq!(reg.live_entities(), 101);
    let a = reg.resolve(&id("", "late-1"), QuotaKind::Produce, 0);
    let b = reg.resolve(&id("", "late-2"), QuotaKind::Produce, 0);
    assert!(
        a.client_limiter()
            .unwrap()
            .same_state(b.client_limiter().unwrap()),
        "overflow is shared"
    );
}

#[test]
fn idle_state_expires_unless_a_connection_holds_it() {
    let cfg = RegistryConfig {
        idle_expiry: 3600 * S,
        ..RegistryConfig::default()
    };
    let reg = QuotaRegistry::new(cfg, TenantResolver::new()).unwrap();
    reg.set_quota(&ent(&[("client-id", None)]), QuotaKind::Produce, 1000.0, 0)
        .unwrap();
    let held = reg.resolve(&id("", "kept"), QuotaKind::Produce, 0);
    held.record(10, S);
    drop(reg.resolve(&id("", "gone"), QuotaKind::Produce, 0));
    assert_eq!(reg.live_entities(), 2);
    assert_eq!(reg.expire_idle(1800 * S), 0, "not idle for an hour yet");
    assert_eq!(reg.expire_idle(3700 * S), 1);
    assert_eq!(reg.live_entities(), 1);
    // After expiry the tenant can create entities again (count was released).
    drop(reg.resolve(&id("", "again"), QuotaKind::Produce, 3700 * S));
    assert_eq!(reg.live_entities(), 2);
}

#[test]
fn connection_limits_and_rates_hold_per_tenant() {
    let reg = registry();
    reg.set_max_connections("t", Some(2)).unwrap();
    reg.set_quota(
        &QuotaEntity::Tenant("t".into()),
        QuotaKind::ConnectionRate,
        1.0,
        0,
    )
    .unwrap();
    let now = 100 * S;
    let g1 = match reg.open_connection("t", now) {
        ConnectionAdmission::Accepted(g, t) => {
            assert!(!t.is_throttled());
            g
        }
        other => panic!("{other:?}"),
    };
    let g2 = match reg.open_connection("t", now) {
        ConnectionAdmission::Accepted(g, t) => {
            assert!(
                t.is_throttled(),
                "second connection in the same second is delayed"
            );
            g
        }
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        reg.open_connection("t", now),
        ConnectionAdmission::Refused { limit: 2 }
    ));
    assert!(matches!(
        reg.open_connection("other", now),
        ConnectionAdmission::Accepted(..)
    ));
    drop(g1);
    assert!(matches!(
        reg.open_connection("t", now + 10 * S),
        ConnectionAdmission::Accepted(..)
    ));
    drop(g2);
}

#[test]
fn bad_config_gives_an_error_naming_the_field() {
    let reg = registry();
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = reg
            .set_quota(
                &QuotaEntity::Tenant("acme".into()),
                QuotaKind::Produce,
                bad,
                0,
            )
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("quota[tenant=acme].producer_byte_rate"), "{s}");
        assert!(matches!(e, QuotaError::InvalidValue { .. }));
    }
    let e = reg
        .set_quota(
            &ent(&[("user", Some("u")), ("client-id", None)]),
            QuotaKind::Fetch,
            -5.0,
            0,
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("quota[user=u,client-id=<default>].consumer_byte_rate"),
        "{e}"
    );
    let e = QuotaEntity::from_parts(&[("group", Some("g"))], "alter[0]").unwrap_err();
    assert!(matches!(e, QuotaError::UnknownEntityType { .. }), "{e}");
    assert!(
        reg.set_max_connections("t", Some(0))
            .unwrap_err()
            .to_string()
            .contains("max_connections")
    );
    let bad = RegistryConfig {
        burst_secs: 0.0,
        ..RegistryConfig::default()
    };
    assert!(
        QuotaRegistry::new(bad, TenantResolver::new())
            .unwrap_err()
            .to_string()
            .contains("burst_secs")
    );
    let bad = RegistryConfig {
        max_entities_per_tenant: 0,
        ..RegistryConfig::default()
    };
    assert!(QuotaRegistry::new(bad, TenantResolver::new()).is_err());
}

#[test]
fn request_percentage_is_a_share_of_one_thread() {
    let reg = registry();
    reg.set_quota(
        &QuotaEntity::Tenant("t".into()),
        QuotaKind::RequestTime,
        50.0,
        0,
    )
    .unwrap();
    let h = reg.resolve(&id("u", "c"), QuotaKind::RequestTime, 0);
    let now = 100 * S;
    // 50% of a thread, 1 s burst: 0.5 s of handler time, then 0.1 s more costs 200 ms.
    assert!(!h.record(500_000_000, now).is_throttled());
    assert_eq!(h.record(100_000_000, now).throttle_time_ms, 200);
}

/// Resolution reads the user/client-id config from a per-thread cache: two registries used in
/// turn on one thread must each see their own config, never the other's.
#[test]
fn registries_used_in_turn_on_one_thread_each_resolve_with_their_own_config() {
    let (a, b) = (registry(), registry());
    a.set_quota(
        &ent(&[("client-id", None)]),
        QuotaKind::Produce,
        10_000.0,
        0,
    )
    .unwrap();
    b.set_quota(
        &ent(&[("client-id", None)]),
        QuotaKind::Produce,
        30_000.0,
        0,
    )
    .unwrap();
    for round in 0..3 {
        let c = format!("c{round}");
        assert_eq!(
            burst_of(&a, id("u", &c)),
            10_000,
            "registry a, round {round}"
        );
        assert_eq!(
            burst_of(&b, id("u", &c)),
            30_000,
            "registry b, round {round}"
        );
    }
    assert!(
        !b.resolve(&id("u", "x"), QuotaKind::Fetch, 0).is_limited(),
        "b has no fetch quota"
    );
}

/// A thread that has resolved (and so cached the config) sees a change made on another
/// thread on its next resolution.
#[test]
fn a_config_change_on_another_thread_reaches_this_threads_next_resolution() {
    let reg = registry();
    reg.set_quota(
        &ent(&[("client-id", None)]),
        QuotaKind::Produce,
        10_000.0,
        0,
    )
    .unwrap();
    let (to_worker, worker_rx) = std::sync::mpsc::channel::<String>();
    let (to_main, main_rx) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|s| {
        s.spawn(|| {
            for c in worker_rx {
                to_main.send(burst_of(&reg, id("u", &c))).unwrap();
            }
        });
        to_worker.send("before".into()).unwrap();
        assert_eq!(main_rx.recv().unwrap(), 10_000);
        reg.set_quota(&ent(&[("user", None)]), QuotaKind::Produce, 20_000.0, 0)
            .unwrap();
        to_worker.send("after-1".into()).unwrap();
        assert_eq!(main_rx.recv().unwrap(), 20_000, "user level added");
        reg.remove_quota(&ent(&[("user", None)]), QuotaKind::Produce, 0)
            .unwrap();
        to_worker.send("after-2".into()).unwrap();
        assert_eq!(main_rx.recv().unwrap(), 10_000, "user level removed");
        drop(to_worker);
    });
}
