//! [`ErrorContext`]: where a broker error code came from (broker, topic, partition, resource),
//! and helpers that turn per-item error codes into [`WireError::Kafka`].

use std::fmt;

use kafka_protocol::ResponseError;

use crate::error::{Result, WireError};

/// Where an error code was found. Printed as ` (broker 1, topic "t", partition 0)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The broker that answered.
    pub broker: Option<i32>,
    /// The topic the item is about.
    pub topic: Option<String>,
    /// The partition the item is about.
    pub partition: Option<i32>,
    /// Another resource (config resource, quota entity, log dir).
    pub resource: Option<String>,
}

impl ErrorContext {
    /// Context naming only the broker.
    pub fn broker(broker: i32) -> Self {
        ErrorContext {
            broker: Some(broker),
            ..Default::default()
        }
    }

    /// Adds a topic.
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Adds a partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a resource description.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(b) = self.broker {
            parts.push(format!("broker {b}"));
        }
        if let Some(t) = &self.topic {
            parts.push(format!("topic {t:?}"));
        }
        if let Some(p) = self.partition {
            parts.push(format!("partition {p}"));
        }
        if let Some(r) = &self.resource {
            parts.push(r.clone());
        }
        if parts.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", parts.join(", "))
        }
    }
}

/// `": message"` when the broker sent an error message, else nothing. Used by
/// [`WireError::Kafka`]'s `Display`.
pub fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

/// `Ok(())` for error code 0, else [`WireError::Kafka`] with the context.
pub fn check_code(
    api: &'static str,
    code: i16,
    message: Option<&str>,
    context: impl FnOnce() -> ErrorContext,
) -> Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(WireError::Kafka {
            api,
            error,
            context: context(),
            message: message.map(str::to_owned),
        }),
    }
}
