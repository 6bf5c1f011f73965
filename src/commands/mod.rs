//! One module per `keel` subcommand.

pub mod dump_segment;
pub mod gen_cluster;
pub mod plan;
pub mod quota;
pub mod simulate;
pub mod tier;
