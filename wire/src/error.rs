//! The one error type of `keel-wire`. Every variant says where the problem is: a byte
//! position in a buffer or file, a record index, a file path or a line number.

use std::path::PathBuf;

use crate::batch::Compression;

/// Errors from decoding or encoding Kafka wire and on-disk formats.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends inside a batch (or another structure); `position` is where the
    /// incomplete structure starts.
    #[error("truncated {what} at position {position}: need {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        position: u64,
        needed: u64,
        available: u64,
    },
    /// A batch header field is impossible (negative length, length below the header size, ...).
    #[error("corrupt batch at position {position}: {reason}")]
    CorruptBatch { position: u64, reason: String },
    /// A magic byte keel does not know.
    #[error("unsupported magic {magic} at position {position}")]
    UnsupportedMagic { position: u64, magic: i8 },
    /// The stored CRC does not match the computed one.
    #[error(
        "CRC mismatch in batch at position {position}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        position: u64,
        stored: u32,
        computed: u32,
    },
    /// A record inside a batch could not be decoded.
    #[error("bad record {record} in batch at position {position}: {reason}")]
    Record {
        position: u64,
        record: u32,
        reason: String,
    },
    /// A compressed batch payload could not be decompressed (or compressed).
    #[error("{codec:?} codec failed for batch at position {position}: {reason}")]
    Codec {
        position: u64,
        codec: Compression,
        reason: String,
    },
    /// Unknown compression codec id in the attributes.
    #[error("unknown compression codec {codec} in batch at position {position}")]
    UnknownCodec { position: u64, codec: u8 },
    /// A batch could not be encoded (too many records, field out of range, ...).
    #[error("cannot encode batch: {reason}")]
    Encode { reason: String },
    /// A binary index / snapshot file is malformed at a byte offset.
    #[error("malformed {file_kind} at byte {position}: {reason}")]
    FileFormat {
        file_kind: &'static str,
        position: u64,
        reason: String,
    },
    /// A text checkpoint file is malformed at a line.
    #[error("malformed {file_kind} at line {line}: {reason}")]
    Checkpoint {
        file_kind: &'static str,
        line: usize,
        reason: String,
    },
    /// A file-system operation failed on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A malformed request/response frame.
    #[error("bad frame at byte {position}: {reason}")]
    Frame { position: u64, reason: String },
    /// A protocol-level failure (version negotiation, unexpected response, ...).
    #[error("protocol error: {reason}")]
    Protocol { reason: String },
    /// A broker answered with an error code, for the whole request or for one item of it
    /// (`context` names the broker, topic, partition or config resource).
    #[error("{api} failed{context}: {error} (error code {}){}", .error.code(), crate::client::message_suffix(.message))]
    Kafka {
        api: &'static str,
        error: kafka_protocol::ResponseError,
        context: crate::client::ErrorContext,
        message: Option<String>,
    },
    /// The broker does not offer the API (or no version keel can speak). Callers treat this
    /// as a capability flag.
    #[error("broker {broker} does not support {api}: {detail}")]
    Unsupported {
        api: &'static str,
        broker: String,
        detail: String,
    },
    /// A connection to a broker failed or broke.
    #[error("network error with {broker} during {op}: {source}")]
    Network {
        broker: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// No response within the request timeout.
    #[error("{api} to {broker} timed out after {} ms", .after.as_millis())]
    Timeout {
        api: &'static str,
        broker: String,
        after: std::time::Duration,
    },
    /// SASL authentication failed. Never carries the password.
    #[error("SASL {mechanism} authentication with {broker} failed: {reason}")]
    Auth {
        broker: String,
        mechanism: &'static str,
        reason: String,
    },
    /// TLS setup (certificates, keys, server name) failed.
    #[error("TLS {what}: {reason}")]
    Tls { what: String, reason: String },
    /// Client configuration is invalid.
    #[error("client config {field}: {reason}")]
    ClientConfig { field: &'static str, reason: String },
}

impl WireError {
    /// Adds a file path to an error produced while reading that file.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WireError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for `keel-wire`.
pub type Result<T, E = WireError> = std::result::Result<T, E>;
