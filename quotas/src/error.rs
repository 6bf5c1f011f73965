//! The one error type of `keel-quotas`. Every variant names the field or entity at fault.

/// Errors from quota configuration, workload files and distributor input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A rate, count or duration is zero, negative, NaN or out of range.
    #[error("invalid value for `{field}`: {value} ({reason})")]
    InvalidValue {
        field: String,
        value: String,
        reason: &'static str,
    },
    /// An entity type keel does not know (`user`, `client-id`, `tenant` are known).
    #[error(
        "unknown entity type `{entity_type}` at `{field}` (expected `user`, `client-id` or `tenant`)"
    )]
    UnknownEntityType { field: String, entity_type: String },
    /// A quota kind (config key) keel does not know.
    #[error("unknown quota key `{key}` at `{field}`")]
    UnknownQuotaKey { field: String, key: String },
    /// An entity combination Kafka does not allow (e.g. tenant together with client-id).
    #[error("invalid entity at `{field}`: {reason}")]
    InvalidEntity { field: String, reason: String },
    /// A workload file is malformed; `path` is the JSON path of the bad field.
    #[error("bad workload field `{path}`: {reason}")]
    Workload { path: String, reason: String },
    /// A workload file could not be parsed as JSON.
    #[error("workload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A distributor input is inconsistent (e.g. a report for a broker outside the cluster).
    #[error("bad distributor input: {reason}")]
    Distributor { reason: String },
}

/// Result alias for `keel-quotas`.
pub type Result<T> = std::result::Result<T, QuotaError>;

pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl ToString,
    reason: &'static str,
) -> QuotaError {
    QuotaError::InvalidValue {
        field: field.into(),
        value: value.to_string(),
        reason,
    }
}
