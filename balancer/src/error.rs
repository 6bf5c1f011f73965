//! The one error type of `keel-balancer`.
//!
//! Every variant carries the context a user needs to fix the input: the JSON field path of
//! a malformed snapshot, or, for an infeasible plan, the goal, the brokers and partitions
//! that block it and what would make the input feasible.

/// Errors of the balancer.
#[derive(Debug, thiserror::Error)]
pub enum BalancerError {
    /// The snapshot is not valid JSON (syntax error).
    #[error("snapshot is not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json reported.
        message: String,
    },
    /// A field of the snapshot is missing, has the wrong type or an invalid value.
    #[error("snapshot field `{path}`: {message}")]
    Field {
        /// JSON path of the field, e.g. `partitions[812].replicas[1]`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The requested plan cannot satisfy a hard goal.
    #[error(
        "infeasible: goal `{goal}` cannot be satisfied: {blocking}. To make it feasible: {remedy}"
    )]
    Infeasible {
        /// The goal that cannot be met.
        goal: String,
        /// The brokers and partitions that block it.
        blocking: String,
        /// What would make the input feasible.
        remedy: String,
    },
    /// An option passed to the planner or simulator is invalid.
    #[error("invalid option `{option}`: {message}")]
    Option {
        /// The option's name.
        option: String,
        /// What is wrong with it.
        message: String,
    },
    /// A plan file does not fit the cluster it is applied to.
    #[error("plan field `{path}`: {message}")]
    Plan {
        /// JSON path in the plan.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `__keel_state` record (executor plan or control record) cannot be decoded.
    #[error("__keel_state {record} record, `{path}`: {message}")]
    StateRecord {
        /// Which record (`plan` or `control`).
        record: String,
        /// Field path or position in the record.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, BalancerError>;

impl BalancerError {
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        BalancerError::Field {
            path: path.into(),
            message: message.into(),
        }
    }
    pub(crate) fn infeasible(
        goal: impl Into<String>,
        blocking: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        BalancerError::Infeasible {
            goal: goal.into(),
            blocking: blocking.into(),
            remedy: remedy.into(),
        }
    }
    pub(crate) fn option(option: impl Into<String>, message: impl Into<String>) -> Self {
        BalancerError::Option {
            option: option.into(),
            message: message.into(),
        }
    }
}
