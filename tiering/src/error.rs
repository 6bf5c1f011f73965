//! The one error type of `keel-tiering`. Every variant names where the problem is: the
//! topic-partition, the object key or local path, the byte position, the config key.

use std::path::PathBuf;

/// Errors from tiering: manifest decoding, fencing, store access, local segment files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TieringError {
    /// A manifest's bytes are malformed; `position` is the byte where decoding failed.
    #[error("malformed segment manifest {key} at byte {position}: {reason}")]
    ManifestFormat {
        key: String,
        position: usize,
        reason: String,
    },
    /// A manifest change would break an invariant (overlap, out-of-order, bad transition).
    #[error("manifest of {partition}: {reason}")]
    ManifestInvariant { partition: String, reason: String },
    /// A writer with an older leader epoch (or a lost conditional put) tried to commit.
    #[error(
        "writer for {partition} is fenced: its leader epoch {writer_epoch} is below the manifest's {manifest_epoch}"
    )]
    Fenced {
        partition: String,
        writer_epoch: i32,
        manifest_epoch: i32,
    },
    /// Another writer committed a manifest generation first (conditional put lost).
    #[error("manifest of {partition}: generation {generation} was committed by another writer")]
    CommitConflict { partition: String, generation: u64 },
    /// A config key has a bad value.
    #[error("config {key}={value}: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },
    /// A local segment failed verification (CRC mismatch, truncation, bad header).
    #[error("corrupt segment {path} at position {position}: {reason}")]
    CorruptSegment {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// An object read back from the store does not match the checksum in the manifest.
    #[error(
        "checksum mismatch for object {key}: manifest says {expected:#010x}, read {actual:#010x}"
    )]
    ChecksumMismatch {
        key: String,
        expected: u32,
        actual: u32,
    },
    /// A fetch asked for an offset the remote log does not hold.
    #[error(
        "offset {offset} of {partition} is not in the remote log (remote range {start}..{end})"
    )]
    OffsetOutOfRange {
        partition: String,
        offset: i64,
        start: i64,
        end: i64,
    },
    /// A remote object is malformed (e.g. an offset index whose length is not a multiple of 8).
    #[error("malformed remote object {key}: {reason}")]
    RemoteFormat { key: String, reason: String },
    /// An object-store request failed.
    #[error("object store {op} {key}: {source}")]
    Store {
        op: &'static str,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    /// A store URL could not be parsed or opened.
    #[error("store URL {url}: {reason}")]
    StoreUrl { url: String, reason: String },
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A log-dir file (checkpoint, index) could not be parsed.
    #[error("{path}: {source}")]
    Wire {
        path: PathBuf,
        #[source]
        source: Box<keel_wire::WireError>,
    },
}

impl TieringError {
    /// Wraps an object-store error with the operation and key.
    pub fn store(op: &'static str, key: impl ToString, source: object_store::Error) -> Self {
        TieringError::Store {
            op,
            key: key.to_string(),
            source: Box::new(source),
        }
    }

    /// A store request that failed on keel's side (the task or thread carrying it stopped,
    /// or a commit it had to wait for failed), reported like the store's own failures.
    pub fn keel_side(
        op: &'static str,
        key: impl ToString,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let source = object_store::Error::Generic {
            store: "keel",
            source: source.into(),
        };
        Self::store(op, key, source)
    }

    /// Wraps an IO error with the operation and path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TieringError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True for errors worth retrying later (store unavailable, conflicts), false for bad data.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TieringError::Store { .. } | TieringError::CommitConflict { .. }
        )
    }
}

/// Result alias for `keel-tiering`.
pub type Result<T, E = TieringError> = std::result::Result<T, E>;
