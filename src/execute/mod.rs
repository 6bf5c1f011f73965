//! # Plan execution shell
//!
//! Owns carrying a plan out on a live Kafka cluster over its admin protocol (`keel execute`,
//! and the sidecar's rebalance loop). The decisions are the pure
//! [`keel_balancer::executor::Executor`]'s; this module is its IO shell:
//!
//! - [`state_topic`]: [`StateTopic`], keel's compacted, single-partition state topic
//!   (`__keel_state`), written with Produce `acks=all` and replayed with Fetch;
//! - [`records`]: what the executor keeps there (plan, control and command records);
//! - [`translate`]: actions to IncrementalAlterConfigs / AlterPartitionReassignments /
//!   ElectLeaders requests, and Metadata + ListPartitionReassignments to observations (pure);
//! - [`host`]: the loop (observe, step, act, report), [`run_execution`];
//! - [`control`]: `pause`, `resume`, `cancel` (command records) and `status`;
//! - [`plan_input`]: Kafka's reassignment JSON and keel's plan JSON;
//! - [`progress`]: progress lines and `metrics` (moves in flight, bytes moved, pauses).
//!
//! Follows [KIP-455] (reassignment API, cancellation with null targets), [KIP-73]
//! (replication throttles) and [KIP-460] (preferred-leader election).
//!
//! [KIP-455]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment
//! [KIP-73]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-73+Replication+Quotas
//! [KIP-460]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC

pub mod control;
pub mod host;
pub mod plan_input;
pub mod progress;
pub mod records;
pub mod state_topic;
pub mod translate;

pub use control::{ExecutionStatus, read_status, send_command};
pub use host::{
    ExecuteOptions, ExecutionEnd, HealthScope, Start, default_holder_id, run_execution,
};
pub use plan_input::{PlanTarget, desired_state, parse_plan};
pub use state_topic::{DEFAULT_STATE_TOPIC, StateRecord, StateTopic};
