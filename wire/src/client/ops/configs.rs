//! DescribeConfigs and IncrementalAlterConfigs
//! ([KIP-339](https://cwiki.apache.org/confluence/display/KAFKA/KIP-339%3A+Create+a+new+IncrementalAlterConfigs+API)).
//! Broker resources go to that broker; topic and cluster-default resources to any broker.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::{Result, WireError};

/// A resource whose configuration can be described or altered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic.
    Topic(String),
    /// One broker's dynamic configuration.
    Broker(i32),
    /// The cluster-wide default broker configuration.
    BrokerDefault,
    /// One broker's log4j loggers.
    BrokerLogger(i32),
}

impl ConfigResource {
    fn type_code(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) | ConfigResource::BrokerDefault => 4,
            ConfigResource::BrokerLogger(_) => 8,
        }
    }

    fn name(&self) -> String {
        match self {
            ConfigResource::Topic(t) => t.clone(),
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => id.to_string(),
            ConfigResource::BrokerDefault => String::new(),
        }
    }

    fn target(&self) -> Target {
        match self {
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => Target::Broker(*id),
            _ => Target::Any,
        }
    }

    fn context(&self) -> ErrorContext {
        match self {
            ConfigResource::Topic(t) => ErrorContext::default().topic(t.clone()),
            ConfigResource::Broker(id) => {
                ErrorContext::default().resource(format!("broker {id} config"))
            }
            ConfigResource::BrokerDefault => {
                ErrorContext::default().resource("cluster default broker config")
            }
            ConfigResource::BrokerLogger(id) => {
                ErrorContext::default().resource(format!("broker {id} loggers"))
            }
        }
    }
}

/// Where a config value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically on this broker.
    DynamicBroker,
    /// Set dynamically as the cluster-wide broker default.
    DynamicDefaultBroker,
    /// From the broker's `server.properties`.
    StaticBroker,
    /// Kafka's built-in default.
    Default,
    /// Set dynamically on a broker logger.
    DynamicBrokerLogger,
    /// Any other source code.
    Other(i8),
}

impl ConfigSource {
    fn from_code(code: i8) -> Self {
        match code {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            other => ConfigSource::Other(other),
        }
    }
}

/// One config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name.
    pub name: String,
    /// Value; `None` for sensitive values or unset ones.
    pub value: Option<String>,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is sensitive (and therefore hidden).
    pub is_sensitive: bool,
}

/// An IncrementalAlterConfigs operation on one config name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set the value.
    Set(String),
    /// Remove the dynamic value (falls back to the static or default one).
    Delete,
    /// Append to a list value.
    Append(String),
    /// Remove from a list value.
    Subtract(String),
}

/// One change: a config name and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// Config name.
    pub name: String,
    /// The operation.
    pub op: AlterConfigOp,
}

impl ConfigChange {
    /// `name = value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        ConfigChange {
            name: name.into(),
            op: AlterConfigOp::Set(value.into()),
        }
    }

    /// Remove `name`'s dynamic value.
    pub fn delete(name: impl Into<String>) -> Self {
        ConfigChange {
            name: name.into(),
            op: AlterConfigOp::Delete,
        }
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

impl KafkaClient {
    /// Describes the configuration of `resource` (only `keys` when given).
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
        keys: Option<&[String]>,
    ) -> Result<Vec<ConfigEntry>> {
        let name = resource.name();
        let type_code = resource.type_code();
        self.call(
            &resource.target(),
            None,
            |_| {
                DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(type_code)
                        .with_resource_name(s(&name))
                        .with_configuration_keys(keys.map(|k| k.iter().map(|n| s(n)).collect())),
                ])
            },
            |response, _, conn| {
                let result = response
                    .results
                    .into_iter()
                    .find(|r| r.resource_type == type_code && r.resource_name.as_str() == name)
                    .ok_or_else(|| WireError::Protocol {
                        reason: format!(
                            "DescribeConfigs answer from {} has no result for {}",
                            conn.label(),
                            resource.context()
                        ),
                    })?;
                check_code(
                    "DescribeConfigs",
                    result.error_code,
                    result.error_message.as_deref(),
                    || with_broker(resource.context(), conn.node_id()),
                )?;
                Ok(result
                    .configs
                    .into_iter()
                    .map(|c| ConfigEntry {
                        name: c.name.to_string(),
                        value: c.value.map(|v| v.to_string()),
                        read_only: c.read_only,
                        source: ConfigSource::from_code(c.config_source),
                        is_sensitive: c.is_sensitive,
                    })
                    .collect())
            },
        )
        .await
    }

    /// Applies `changes` to `resource` with IncrementalAlterConfigs (`validate_only` asks the
    /// broker to check without applying).
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<()> {
        let name = resource.name();
        let type_code = resource.type_code();
        self.call(
            &resource.target(),
            None,
            |_| {
                let configs = changes
                    .iter()
                    .map(|c| {
                        let (op, value) = match &c.op {
                            AlterConfigOp::Set(v) => (0, Some(s(v))),
                            AlterConfigOp::Delete => (1, None),
                            AlterConfigOp::Append(v) => (2, Some(s(v))),
                            AlterConfigOp::Subtract(v) => (3, Some(s(v))),
                        };
                        AlterableConfig::default()
                            .with_name(s(&c.name))
                            .with_config_operation(op)
                            .with_value(value)
                    })
                    .collect();
                IncrementalAlterConfigsRequest::default()
                    .with_validate_only(validate_only)
                    .with_resources(vec![
                        AlterConfigsResource::default()
                            .with_resource_type(type_code)
                            .with_resource_name(s(&name))
                            .with_configs(configs),
                    ])
            },
            |response, _, conn| {
                for r in &response.responses {
                    check_code(
                        "IncrementalAlterConfigs",
                        r.error_code,
                        r.error_message.as_deref(),
                        || with_broker(resource.context(), conn.node_id()),
                    )?;
                }
                Ok(())
            },
        )
        .await
    }
}

fn with_broker(mut context: ErrorContext, broker: Option<i32>) -> ErrorContext {
    context.broker = broker;
    context
}
