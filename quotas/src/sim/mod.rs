//! The offline quota simulator behind `keel quota simulate`: reads a
//! `keel.quota-workload/v1` workload and runs it in simulated time through the same
//! registry, handles, distributor and share keeper a broker links.

pub mod engine;
pub mod workload;

pub use engine::{KindResult, SimResult, simulate};
pub use workload::{FORMAT, Workload};
