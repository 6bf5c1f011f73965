//! # Kafka-protocol cluster simulator
//!
//! `keel sim-cluster`: serves a simulated cluster, built from a `keel.cluster/v1` snapshot,
//! over the real Kafka protocol. Every broker listens on its own address (the base port plus
//! the broker's index in the snapshot, or a free port each when the base port is 0), and
//! Metadata/DescribeCluster advertise those addresses with racks and a controller id, so any
//! Kafka tool can be pointed at a 200-broker cluster on a laptop.
//!
//! - [`model`]: the pure core. Cluster state (replicas, ISR, leaders, configs, quotas, logs of
//!   created topics) and every change to it, in simulated time: reassignments copy data at
//!   the replication throttle within network capacity and follow KIP-455 (adding replicas,
//!   catching up, joining the ISR, then removing replicas), faults fire on schedule, and a
//!   revived broker's followers catch up before they rejoin the ISR.
//! - [`guard`]: an allocation-free structural pre-scan of every request body the simulator
//!   accepts, for every version it advertises, refusing arrays that claim more elements than
//!   the bytes left could hold (`kafka-protocol` 0.18 pre-allocates from claimed lengths).
//! - [`server`]: the tokio shell: one listener per broker, frames through
//!   [`keel_wire::frame`], requests decoded with `kafka-protocol`'s messages, answered by the
//!   handlers in `api`. Simulated time is wall time × `speed`, plus whatever
//!   [`SimHandle::advance`] added.
//!
//! APIs: ApiVersions, Metadata, DescribeCluster, DescribeConfigs, IncrementalAlterConfigs,
//! DescribeLogDirs, ListOffsets, AlterPartitionReassignments, ListPartitionReassignments,
//! ElectLeaders, DescribeClientQuotas, AlterClientQuotas, CreateTopics, and Produce / Fetch
//! on the in-memory logs of topics created through CreateTopics.
//!
//! Offsets of snapshot partitions: see [`model::RECORD_BYTES`].
//!
//! ## In-process use (tests)
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use keel::sim_cluster::{Fault, SimCluster, SimOptions};
//! let snapshot = std::fs::read("cluster.json")?;
//! let cluster = SimCluster::from_snapshot_json(&snapshot, SimOptions { speed: 0.0, ..Default::default() })?;
//! // Port 0: every broker gets a free port, so tests can run in parallel.
//! let sim = cluster.start("127.0.0.1:0".parse()?).await?;
//! let bootstrap = sim.bootstrap(); // "127.0.0.1:P0,127.0.0.1:P1,..."
//! // ... point a client at `bootstrap`, start a reassignment ...
//! sim.advance(std::time::Duration::from_secs(60)); // simulated time (speed 0: only this moves it)
//! sim.inject(Fault::BrokerDown { broker: 3 });
//! {
//!     let state = sim.state();
//!     let p = state.partition("orders", 0).ok_or("no such partition")?;
//!     assert!(!p.isr.contains(&3));
//!     let _rate = state.broker_config(1, "leader.replication.throttled.rate");
//! }
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
pub mod dispatch;
pub mod guard;
mod guard_schemas;
pub mod model;
pub mod server;

pub use model::configs::ConfigTarget;
pub use model::faults::{Fault, ScheduledFault};
pub use model::{BrokerId, ClusterState, RECORD_BYTES, SimBroker, SimPartition, SimTopic};
pub use server::{SimCluster, SimHandle, SimOptions};

use std::fmt;

/// Errors of the simulator.
#[derive(Debug)]
pub enum SimError {
    /// The snapshot cannot be simulated.
    Snapshot {
        /// What is wrong.
        reason: String,
    },
    /// Reading or parsing the snapshot failed.
    Balancer(keel_balancer::BalancerError),
    /// A listener could not be bound.
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The broker it was for.
        broker: BrokerId,
        /// The cause.
        source: std::io::Error,
    },
    /// The listen address is unusable.
    Listen {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Snapshot { reason } => write!(f, "cannot simulate the snapshot: {reason}"),
            SimError::Balancer(e) => write!(f, "{e}"),
            SimError::Bind {
                addr,
                broker,
                source,
            } => write!(f, "cannot listen on {addr} for broker {broker}: {source}"),
            SimError::Listen { reason } => write!(f, "bad listen address: {reason}"),
        }
    }
}

/// Display already includes the cause, so `source` is empty (error chains print it once).
impl std::error::Error for SimError {}

impl From<keel_balancer::BalancerError> for SimError {
    fn from(e: keel_balancer::BalancerError) -> Self {
        SimError::Balancer(e)
    }
}

/// Result of the simulator.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
