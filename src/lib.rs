//! # keel
//!
//! The root crate: the `keel` command-line tool (`src/main.rs`, `src/commands/`) and, as
//! later issues land, the sidecar that drives the balancer, tiering and quotas next to JVM
//! Kafka brokers through Kafka's admin protocol.
//!
//! The libraries are re-exported so an embedding broker can depend on one crate.

pub use keel_balancer as balancer;
pub use keel_quotas as quotas;
pub use keel_tiering as tiering;
pub use keel_wire as wire;

pub mod execute;
pub mod sidecar;
pub mod sim_cluster;
pub mod snapshot;
