//! One module per `keel` subcommand.

pub mod dump_segment;
pub mod quota;
pub mod tier;
