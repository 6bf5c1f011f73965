//! # keel-balancer
//!
//! Owns partition-rebalance planning for Kafka clusters: the cluster model read from a
//! `keel.cluster/v1` snapshot (`../shared/formats/cluster-snapshot.md`), the goals (rack
//! awareness, capacity, replica limits, broker states, and the soft balance goals that
//! Cruise Control defines), the planner that turns a model into replica and leadership moves,
//! the cost model, and the executor state machine that carries a plan out in paced batches.
//!
//! This crate is a pure core: no tokio, no IO. It takes inputs (and `now` where time matters)
//! and returns decisions. The `keel` binary and the sidecar are the shells that read files
//! and talk to brokers.
//!
//! Follows Kafka's reassignment model: [KIP-455](https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment)
//! and preferred-leader election ([KIP-460](https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC)).

pub mod bound;
pub mod error;
pub mod executor;
pub mod goals;
pub mod model;
pub mod plan;
pub mod planner;
pub mod simulate;
pub mod snapshot;
mod state;
pub mod status;

pub use error::{BalancerError, Result};
pub use goals::{GoalConfig, GoalKind, Goals};
pub use model::{Broker, BrokerState, Cluster, Partition, Resource};
pub use plan::{Action, ActionKind, Cost, ExecutionOptions, Plan, Reassignment};
pub use planner::{Infeasibility, PlanOptions, Progress, plan};
pub use simulate::{Simulation, simulate};
pub mod generate;
pub mod report;
pub mod whatif;
