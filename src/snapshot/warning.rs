//! Warnings and capability flags a capture reports next to the snapshot.

use std::fmt;

/// Something the snapshot could not measure, or measured only in part. The snapshot still
/// completes; the affected field keeps its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The Kafka API concerned, if one.
    pub api: Option<&'static str>,
    /// Whether this is a capability flag: some broker does not offer `api` at all.
    pub unsupported: bool,
    /// One line for humans.
    pub message: String,
}

impl Warning {
    /// A warning about `api`.
    pub fn api(api: &'static str, message: impl Into<String>) -> Self {
        Warning {
            api: Some(api),
            unsupported: false,
            message: message.into(),
        }
    }

    /// A warning not tied to an API.
    pub fn other(message: impl Into<String>) -> Self {
        Warning {
            api: None,
            unsupported: false,
            message: message.into(),
        }
    }

    /// A capability flag: brokers that do not offer `api`.
    pub fn unsupported(api: &'static str, message: impl Into<String>) -> Self {
        Warning {
            api: Some(api),
            unsupported: true,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether the brokers offer one Kafka API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// API name (`DescribeLogDirs`, `ElectLeaders`, ...).
    pub api: &'static str,
    /// Brokers (ids) that do not offer it, or offer no version keel speaks.
    pub missing_on: Vec<i32>,
    /// Brokers that were asked.
    pub asked: usize,
}

impl Capability {
    /// Whether every asked broker offers the API.
    pub fn everywhere(&self) -> bool {
        self.missing_on.is_empty() && self.asked > 0
    }
}

/// The APIs keel's sidecar uses and which brokers offer them (from ApiVersions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// One entry per probed API.
    pub apis: Vec<Capability>,
}

impl Capabilities {
    /// Whether every broker offers `api` (false when it was not probed).
    pub fn supported(&self, api: &str) -> bool {
        self.apis.iter().any(|c| c.api == api && c.everywhere())
    }

    /// One capability warning per API some broker lacks.
    pub fn warnings(&self) -> Vec<Warning> {
        self.apis
            .iter()
            .filter(|c| !c.missing_on.is_empty())
            .map(|c| {
                Warning::unsupported(
                    c.api,
                    format!(
                        "capability: {} not supported by {} of {} brokers ({}); keel features that need it are off",
                        c.api,
                        c.missing_on.len(),
                        c.asked,
                        ids(&c.missing_on)
                    ),
                )
            })
            .collect()
    }
}

/// `1, 2, 3` or `1, 2, 3, ... (+N more)`.
pub(crate) fn ids(ids: &[i32]) -> String {
    let mut s = ids
        .iter()
        .take(8)
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 8 {
        s.push_str(&format!(", ... (+{} more)", ids.len() - 8));
    }
    s
}
