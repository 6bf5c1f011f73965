//! The error type of `keel::snapshot`.

use std::path::PathBuf;

/// Why a snapshot could not be captured or a capacity file could not be read.
///
/// An API that one broker lacks is not an error: it becomes a [`super::Warning`].
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The cluster could not be reached or answered an essential request (Metadata) with
    /// an error.
    #[error("reading cluster metadata: {source}")]
    Metadata {
        #[source]
        source: keel_wire::WireError,
    },
    /// The capacity file could not be read.
    #[error("reading capacity file {}: {source}", .path.display())]
    CapacityIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The capacity file is not valid TOML/JSON or has a wrong field.
    #[error("capacity file {}: {field}: {message}", .path.display())]
    Capacity {
        path: PathBuf,
        /// Field path inside the file (e.g. `brokers.101.cpu_cores`), or `$` for the whole file.
        field: String,
        message: String,
    },
    /// The cluster metadata is unusable (e.g. no brokers at all).
    #[error("cluster metadata: {reason}")]
    Cluster { reason: String },
    /// Writing the snapshot failed.
    #[error("writing the snapshot: {source}")]
    Write {
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`SnapshotError`].
pub type Result<T> = std::result::Result<T, SnapshotError>;
