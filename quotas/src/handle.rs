//! The hot path: a [`QuotaHandle`] is resolved once per connection and kind, then
//! [`QuotaHandle::record`] is called per request. Recording is lock-free in `bucket` mode
//! (one CAS on the shared bucket, plain arithmetic on the connection's own fairness clock;
//! the tenant's admitted-units counter is bumped once per millisecond of quota, on a throttle
//! and on drop, not per request) and never allocates.
//!
//! Fairness within a tenant: every handle on a tenant bucket keeps its own "client TAT",
//! advanced by its own requests at `active_clients ×` the tenant cost (its fair share of the
//! tenant rate). When the tenant bucket is over its burst, a request is throttled by the
//! smaller of the tenant's excess and the client's own excess over its fair share. A client
//! under its fair share is not delayed for another client's excess; a heavy client carries
//! the delay it caused. A new handle starts with the tenant's debt beyond the burst (so opening
//! connections does not escape a throttle).
//!
//! [`Throttle`] carries what [KIP-219](https://cwiki.apache.org/confluence/display/KAFKA/KIP-219+-+Improve+quota+communication)
//! needs: `throttle_time_ms` for the response and the instant the broker may read from the
//! channel again.

use std::cell::Cell;
use std::sync::Arc;

use crate::bucket::{BucketCounters, BucketState};
use crate::clock::{NANOS_PER_MS, Nanos};
use crate::kafka_window::KafkaLimiter;
use crate::kind::QuotaKind;
use crate::registry::EntityState;

/// The throttle decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// `throttle_time_ms` for the response (rounded up to whole ms).
    pub throttle_time_ms: u32,
    /// When the broker may read from this channel again (KIP-219 mute); `now` if not throttled.
    pub readable_at: Nanos,
}

impl Throttle {
    /// A throttle of `ns` starting at `now`.
    #[inline]
    pub fn from_ns(ns: u64, now: Nanos) -> Self {
        let ms = ns.div_ceil(NANOS_PER_MS);
        Self {
            throttle_time_ms: u32::try_from(ms).unwrap_or(u32::MAX),
            readable_at: now.saturating_add(ns),
        }
    }

    /// True when the client must wait.
    #[inline]
    pub fn is_throttled(&self) -> bool {
        self.throttle_time_ms > 0
    }
}

/// A shared limiter: a lock-free bucket or Kafka's windowed rate.
#[derive(Debug, Clone)]
pub enum LimiterRef {
    /// keel's GCRA token bucket.
    Bucket(Arc<BucketState>),
    /// Kafka's windowed rate.
    Kafka(Arc<KafkaLimiter>),
}

impl LimiterRef {
    /// Records without per-client fairness; returns the throttle in ns (capped).
    #[inline]
    pub fn record(&self, units: u64, now: Nanos) -> u64 {
        match self {
            LimiterRef::Bucket(b) => {
                let over = b.record(units, now);
                if over == 0 {
                    return 0;
                }
                let t = over.min(b.max_throttle_ns());
                b.note_throttle(t);
                t
            }
            LimiterRef::Kafka(k) => {
                let now_ms = i64::try_from(now / NANOS_PER_MS).unwrap_or(i64::MAX);
                k.record(units, now_ms).saturating_mul(NANOS_PER_MS)
            }
        }
    }

    /// The current limit, units per second.
    pub fn rate(&self) -> f64 {
        match self {
            LimiterRef::Bucket(b) => b.rate(),
            LimiterRef::Kafka(k) => k.quota(),
        }
    }

    /// Counter snapshot.
    pub fn counters(&self) -> BucketCounters {
        match self {
            LimiterRef::Bucket(b) => b.counters(),
            LimiterRef::Kafka(k) => k.counters(),
        }
    }

    /// Units allowed in one fetch response at `now`.
    pub fn fetch_allowance(&self, now: Nanos) -> u64 {
        match self {
            LimiterRef::Bucket(b) => {
                // Never less than a tenth of the burst: the response then carries data and the
                // record that follows throttles the client (KAFKA-9677: no empty responses forever).
                let floor = b.units_for_ns(b.tolerance_ns() / 10).max(1);
                b.available_units(now).max(floor)
            }
            LimiterRef::Kafka(k) => k.max_value_in_window().max(1),
        }
    }

    /// True when idle for `idle` ns at `now` and no debt is outstanding.
    pub fn is_idle(&self, now: Nanos, idle: u64) -> bool {
        match self {
            LimiterRef::Bucket(b) => b.is_idle(now, idle),
            LimiterRef::Kafka(k) => k.is_idle(
                i64::try_from(now / NANOS_PER_MS).unwrap_or(i64::MAX),
                i64::try_from(idle / NANOS_PER_MS).unwrap_or(i64::MAX),
            ),
        }
    }

    /// True when both refer to the same shared state.
    pub fn same_state(&self, other: &LimiterRef) -> bool {
        match (self, other) {
            (LimiterRef::Bucket(a), LimiterRef::Bucket(b)) => Arc::ptr_eq(a, b),
            (LimiterRef::Kafka(a), LimiterRef::Kafka(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// One connection's resolved quota state for one kind. `Send` but not `Sync`: the per-connection
/// fairness clock is a plain cell, so a handle belongs to one connection task at a time.
#[derive(Debug)]
pub struct QuotaHandle {
    kind: QuotaKind,
    tenant: Option<LimiterRef>,
    /// The user/client-id state (its limiter is `client.limiter`); holding the state's `Arc`
    /// keeps it from expiring.
    client: Option<Arc<EntityState>>,
    client_tat: Cell<u64>,
    /// True once this handle counts among its tenant bucket's active clients: from its first
    /// publish (1 ms of quota recorded, or the first record that finds the tenant over its
    /// burst) until it is dropped. A connection that never sends does not dilute the others'
    /// fair shares, and resolving a handle and dropping it unused makes no shared write.
    attached: Cell<bool>,
    /// Units recorded on the tenant bucket but not yet added to its admitted counter, and
    /// their cost (ns). Published every millisecond of quota, on a throttle and on drop, so
    /// the common record is one atomic operation.
    unpublished: Cell<u64>,
    unpublished_cost: Cell<u64>,
    epoch: u64,
}

/// Unpublished cost (ns of quota) after which a handle adds its units to the shared counter.
const PUBLISH_EVERY_NS: u64 = 1_000_000;

impl QuotaHandle {
    pub(crate) fn new(
        kind: QuotaKind,
        tenant: Option<LimiterRef>,
        client: Option<Arc<EntityState>>,
        epoch: u64,
        now: Nanos,
    ) -> Self {
        let mut start = 0;
        if let Some(LimiterRef::Bucket(b)) = &tenant {
            // Inherit the tenant's debt when it is over its burst; otherwise start with a
            // fresh fair share.
            let over = b.over_ns(now);
            if over > 0 {
                start = now.saturating_add(over).saturating_add(b.tolerance_ns());
            }
        }
        Self {
            kind,
            tenant,
            client,
            client_tat: Cell::new(start),
            attached: Cell::new(false),
            unpublished: Cell::new(0),
            unpublished_cost: Cell::new(0),
            epoch,
        }
    }

    /// A handle that never throttles (no quota applies).
    pub fn unlimited(kind: QuotaKind) -> Self {
        Self::new(kind, None, None, 0, 0)
    }

    /// The quota kind.
    pub fn kind(&self) -> QuotaKind {
        self.kind
    }

    /// Adds the units this handle recorded but has not yet published to the tenant's admitted
    /// counter (done by itself every millisecond of quota, on a throttle and on drop).
    pub fn publish(&self) {
        if let Some(LimiterRef::Bucket(b)) = &self.tenant {
            b.add_admitted(self.unpublished.replace(0));
            self.unpublished_cost.set(0);
        }
    }

    /// Config epoch the handle was resolved at; re-resolve when the registry's epoch moves.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// True when some quota applies.
    pub fn is_limited(&self) -> bool {
        self.tenant.is_some() || self.client.is_some()
    }

    /// The tenant-level limiter, if any.
    pub fn tenant_limiter(&self) -> Option<&LimiterRef> {
        self.tenant.as_ref()
    }

    /// The user/client-id limiter, if any.
    pub fn client_limiter(&self) -> Option<&LimiterRef> {
        self.client.as_deref().map(|s| &s.limiter)
    }

    /// Records `units` at `now` (record first, then check) and returns the throttle: the larger
    /// of the tenant's (fair share) and the user/client-id quota's, each capped.
    #[inline]
    pub fn record(&self, units: u64, now: Nanos) -> Throttle {
        let mut ns = match &self.tenant {
            Some(LimiterRef::Bucket(b)) => self.record_fair(b, units, now),
            Some(k @ LimiterRef::Kafka(_)) => k.record(units, now),
            None => 0,
        };
        if let Some(c) = &self.client {
            ns = ns.max(c.limiter.record(units, now));
        }
        Throttle::from_ns(ns, now)
    }

    #[inline]
    fn record_fair(&self, b: &BucketState, units: u64, now: Nanos) -> u64 {
        let (over_tenant, cost) = b.advance(units, now);
        let pending = self.unpublished.get().wrapping_add(units);
        let pending_cost = self.unpublished_cost.get().saturating_add(cost);
        if pending_cost >= PUBLISH_EVERY_NS || over_tenant > 0 {
            // Joining the active clients here (not on every record) keeps the common record
            // free of the check; fairness only decides anything once the tenant is over, and
            // that record takes this branch before its share is computed below.
            if !self.attached.get() {
                self.attach(b);
            }
            b.add_admitted(pending);
            self.unpublished.set(0);
            self.unpublished_cost.set(0);
        } else {
            self.unpublished.set(pending);
            self.unpublished_cost.set(pending_cost);
        }
        let share_cost = cost.saturating_mul(b.active_clients());
        let tat = self.client_tat.get().max(now).saturating_add(share_cost);
        self.client_tat.set(tat);
        if over_tenant == 0 {
            return 0;
        }
        let over_client = tat.saturating_sub(now).saturating_sub(b.tolerance_ns());
        let t = over_tenant.min(over_client).min(b.max_throttle_ns());
        b.note_throttle(t);
        t
    }

    /// Joins the tenant bucket's active clients (once, on the first publish).
    #[cold]
    fn attach(&self, b: &BucketState) {
        b.attach_client();
        self.attached.set(true);
    }

    /// The fetch size the quota allows for a request of `requested` units at `now`: what is left
    /// in the bucket, but never less than a tenth of the burst, so a throttled consumer always
    /// makes progress (KAFKA-9677). Record what is actually sent with [`Self::record`].
    pub fn cap_fetch(&self, requested: u64, now: Nanos) -> u64 {
        let mut allowed = requested;
        for l in [self.tenant.as_ref(), self.client_limiter()]
            .into_iter()
            .flatten()
        {
            allowed = allowed.min(l.fetch_allowance(now));
        }
        allowed
    }
}

impl Drop for QuotaHandle {
    fn drop(&mut self) {
        if let Some(LimiterRef::Bucket(b)) = &self.tenant {
            b.add_admitted(self.unpublished.get());
            if self.attached.get() {
                b.detach_client();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::BucketParams;
    use crate::clock::NANOS_PER_SEC;

    fn bucket(rate: f64) -> Arc<BucketState> {
        Arc::new(BucketState::new(
            &BucketParams::new(rate, 1.0, 30_000, "t").unwrap(),
        ))
    }

    #[test]
    fn throttle_rounds_up_to_whole_ms_and_sets_readable_at() {
        let t = Throttle::from_ns(1_500_001, 10);
        assert_eq!(t.throttle_time_ms, 2);
        assert_eq!(t.readable_at, 1_500_011);
        assert!(!Throttle::from_ns(0, 5).is_throttled());
    }

    #[test]
    fn light_client_is_not_throttled_for_a_heavy_clients_excess() {
        let b = bucket(1000.0);
        let heavy = QuotaHandle::new(
            QuotaKind::Produce,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            0,
        );
        let light = QuotaHandle::new(
            QuotaKind::Produce,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            0,
        );
        let now = 100 * NANOS_PER_SEC;
        let t_heavy = heavy.record(3000, now);
        assert!(t_heavy.throttle_time_ms >= 1000, "{t_heavy:?}");
        let t_light = light.record(50, now);
        assert_eq!(
            t_light.throttle_time_ms, 0,
            "light client under its fair share"
        );
        drop(light);
        assert_eq!(b.active_clients(), 1);
    }

    #[test]
    fn a_handle_counts_as_an_active_client_from_its_first_publish_until_dropped() {
        let b = bucket(1000.0);
        let tenant = || Some(LimiterRef::Bucket(b.clone()));
        let idle = QuotaHandle::new(QuotaKind::Produce, tenant(), None, 0, 0);
        let busy = QuotaHandle::new(QuotaKind::Produce, tenant(), None, 0, 0);
        assert_eq!(b.attached_clients(), 0, "resolving attaches nobody");
        // 10 units at 1000/s cost 10 ms of quota: published (and attached) at once.
        busy.record(10, NANOS_PER_SEC);
        busy.record(10, NANOS_PER_SEC);
        assert_eq!(b.attached_clients(), 1, "once per handle");
        drop(idle);
        assert_eq!(b.attached_clients(), 1, "an idle handle detaches nothing");
        drop(busy);
        assert_eq!(b.attached_clients(), 0);
    }

    #[test]
    fn a_new_connection_inherits_the_tenants_debt() {
        let b = bucket(1000.0);
        let a = QuotaHandle::new(
            QuotaKind::Produce,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            0,
        );
        let now = 100 * NANOS_PER_SEC;
        a.record(3000, now);
        let fresh = QuotaHandle::new(
            QuotaKind::Produce,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            now,
        );
        assert!(fresh.record(10, now).throttle_time_ms >= 2000);
    }

    #[test]
    fn admitted_units_are_published_every_millisecond_of_quota_and_on_drop() {
        let b = bucket(1_000_000.0);
        let h = QuotaHandle::new(
            QuotaKind::Produce,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            0,
        );
        let now = 100 * NANOS_PER_SEC;
        h.record(100, now);
        assert_eq!(
            b.counters().admitted,
            0,
            "100 B = 0.1 ms of quota: not yet published"
        );
        for _ in 0..9 {
            h.record(100, now);
        }
        assert_eq!(b.counters().admitted, 1000, "1 ms of quota: published");
        h.record(7, now);
        h.publish();
        assert_eq!(b.counters().admitted, 1007);
        h.record(5, now);
        drop(h);
        assert_eq!(b.counters().admitted, 1012);
    }

    #[test]
    fn cap_fetch_never_returns_zero() {
        let b = bucket(1000.0);
        let h = QuotaHandle::new(
            QuotaKind::Fetch,
            Some(LimiterRef::Bucket(b.clone())),
            None,
            0,
            0,
        );
        let now = 100 * NANOS_PER_SEC;
        assert_eq!(h.cap_fetch(5000, now), 1000);
        h.record(5000, now);
        assert_eq!(
            h.cap_fetch(5000, now),
            100,
            "a tenth of the burst even when exhausted"
        );
        assert_eq!(h.cap_fetch(7, now), 7);
    }
}
