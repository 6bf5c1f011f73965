//! # keel-quotas
//!
//! Owns per-tenant throughput quotas on a broker's request hot path (produce and fetch
//! bytes/s, request time, partition mutations, connections), in Kafka's windowed mode and in
//! keel's token-bucket mode, and the distributor that splits each tenant's cluster-wide quota
//! across brokers by demand.
//!
//! Pure core: callers pass `now`; nothing here does IO or spawns tasks.
//!
//! Follows [KIP-13](https://cwiki.apache.org/confluence/display/KAFKA/KIP-13+-+Quotas),
//! [KIP-55](https://cwiki.apache.org/confluence/display/KAFKA/KIP-55%3A+Secure+Quotas+for+Authenticated+Users),
//! [KIP-124](https://cwiki.apache.org/confluence/display/KAFKA/KIP-124+-+Request+rate+quotas),
//! [KIP-219](https://cwiki.apache.org/confluence/display/KAFKA/KIP-219+-+Improve+quota+communication),
//! [KIP-546](https://cwiki.apache.org/confluence/display/KAFKA/KIP-546%3A+Add+Client+Quota+APIs+to+the+Admin+Client)
//! and [KIP-599](https://cwiki.apache.org/confluence/display/KAFKA/KIP-599%3A+Throttle+Create+Topic%2C+Create+Partition+and+Delete+Topic+Operations).

//! ## Map
//! - Hot path: [`QuotaRegistry::resolve`] (once per connection) → [`QuotaHandle::record`] /
//!   [`QuotaHandle::cap_fetch`] per request, with `now` from a [`CoarseClock`];
//!   [`QuotaRegistry::resolve_batch`] for many connections at once (their cache misses
//!   overlap: a fraction of a single resolve's cost per handle at 1M live entities).
//! - Limiters: [`bucket`] (GCRA, default) and [`kafka_window`] (Kafka's windowed rate).
//! - Entities: [`entity`] (Kafka precedence, [`TenantResolver`]).
//! - Cluster-wide: [`report`] (broker side: demand reports, share keeper, transport) and
//!   [`distributor`] (pure: reports in, shares out).
//! - [`telemetry`] (metrics with bounded labels) and [`sim`] (the workload simulator).

pub mod bucket;
pub mod clock;
pub mod distributor;
pub mod entity;
pub mod error;
pub mod handle;
pub mod kafka_window;
mod keymap;
pub mod kind;
pub mod registry;
pub mod report;
pub mod sim;
pub mod telemetry;

pub use bucket::{BucketCounters, BucketParams, BucketState};
pub use clock::{CoarseClock, NANOS_PER_MS, NANOS_PER_SEC, Nanos};
pub use distributor::{
    Distributor, DistributorConfig, TenantShares, compute_shares, uniform_broker_value,
};
pub use entity::{EntityName, QuotaEntity, RequestIdentity, TenantResolver};
pub use error::{QuotaError, Result};
pub use handle::{LimiterRef, QuotaHandle, Throttle};
pub use kafka_window::{KafkaLimiter, KafkaRate, KafkaWindowConfig, kafka_throttle_ms};
pub use kind::{Mode, QuotaKind};
pub use registry::{
    ConnectionAdmission, ConnectionGuard, QuotaRegistry, RegistryConfig, TenantUsage,
};
pub use report::{
    BrokerReport, DemandMeter, InMemoryTransport, ReportTransport, ShareKeeper, TenantDemand,
};
pub use telemetry::QuotaMetrics;
