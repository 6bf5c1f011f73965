//! One module per `keel` subcommand.

pub mod dump_segment;
pub mod execute;
pub mod gen_cluster;
pub mod plan;
pub mod quota;
pub mod sidecar;
pub mod sim_cluster;
pub mod simulate;
pub mod snapshot;
pub mod tier;
