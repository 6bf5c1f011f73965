//! # Plan executor: a sans-IO reconciler
//!
//! Owns carrying a plan out on a live cluster: the [`Executor`] state machine converges the
//! cluster toward a [`DesiredState`] (every partition's target replicas) under a replication
//! throttle and concurrency caps, pauses itself when the cluster degrades, and survives being
//! killed at any point. It is pure, in the style of quinn-proto and raft-rs: the host (the
//! sidecar, or the simulator in [`testing`]) feeds it observations, action results and `now`,
//! and [`Executor::step`] returns [`Action`]s. No IO, no clocks, no threads.
//!
//! **Reconciliation, not replay.** Every step compares the desired state with what was
//! observed and issues only what is missing. A partition already at its target is done; one
//! with a reassignment in flight (ListPartitionReassignments) is awaited, never re-issued. A
//! new executor built from the persisted records therefore continues without doing any work
//! twice or losing any.
//!
//! **Outbox.** The desired state and every change of phase are written to the compacted
//! `__keel_state` topic ([`Action::PersistDesiredState`]) and read back before any cluster
//! action that depends on them.
//!
//! **Single writer.** The control record carries a fenced lease (holder, epoch, expiry). The
//! host feeds every control record it reads, in log order; the first claim of an epoch wins,
//! a claim counts only once the previous lease has expired (or comes from the same holder),
//! and the executor acts only while the winning record is its own and more than a tenth of a
//! lease from expiry (a margin for clock skew between hosts). The host should use one stable,
//! unique holder id per executor process identity; the same holder may re-claim at once.
//!
//! **Batches.** Moves are issued smallest first (bytes copied, ties by `(topic, partition)`),
//! under a per-broker cap (a move counts against every broker it adds to or removes from) and
//! a cluster cap, with `leader./follower.replication.throttled.rate` and the
//! `…throttled.replicas` lists set before each batch, cleared at the end, followed by a
//! preferred-leader election.
//!
//! **Health.** It pauses on an under-replicated or offline partition it did not cause (not in
//! flight, not already so when the plan started), on any ISR below `min.insync.replicas`, and
//! when transient alerts (failed or timed-out actions, stuck moves) exceed the error budget.
//!
//! Follows [KIP-455] (reassignment API, cancellation with null targets), [KIP-73]
//! (replication quotas) and [KIP-460] (preferred-leader election).
//!
//! [KIP-455]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment
//! [KIP-73]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-73+Replication+Quotas
//! [KIP-460]: https://cwiki.apache.org/confluence/display/KAFKA/KIP-460%3A+Admin+Leader+Election+RPC

mod action;
mod core;
mod desired;
mod observe;
pub mod record;
mod step;
pub mod testing;

pub use action::{Action, ActionId, Move, ObservedPartition, Step, Throttles, TopicThrottle};
pub use core::{Executor, PartitionStatus, Status, ThrottledReplicas};
pub use desired::{BrokerId, DesiredPartition, DesiredState, Limits, TargetPartition};
pub use record::{Command, ControlRecord, MoveProgress, Outcome, PauseReason, Phase};
