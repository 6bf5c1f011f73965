//! DescribeClientQuotas and AlterClientQuotas
//! ([KIP-546](https://cwiki.apache.org/confluence/display/KAFKA/KIP-546%3A+Add+Client+Quota+APIs+to+the+Admin+Client)).
//! An entity is a list of `(type, name)` pairs, e.g. `[("user", Some("alice"))]`; a `None`
//! name is the default entity of that type.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_request::{
    EntityData as AlterEntity, EntryData as AlterEntry, OpData,
};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};
use kafka_protocol::protocol::StrBytes;

use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::error::Result;

/// A quota entity: `(entity type, name)` pairs; `None` names the default entity.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// How one component of a DescribeClientQuotas filter matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// Exactly this name.
    Exact(String),
    /// The default entity of the type.
    Default,
    /// Any entity of the type (including the default).
    Any,
}

/// One component of a DescribeClientQuotas filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaFilter {
    /// Entity type: `user`, `client-id` or `ip`.
    pub entity_type: String,
    /// How the name matches.
    pub matching: QuotaMatch,
}

/// Quotas set on one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaEntry {
    /// The entity.
    pub entity: QuotaEntity,
    /// Quota key (`producer_byte_rate`, ...) to value.
    pub values: BTreeMap<String, f64>,
}

/// Changes for one entity: `Some(value)` sets a key, `None` removes it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    /// The entity.
    pub entity: QuotaEntity,
    /// `(key, Some(value))` sets, `(key, None)` removes.
    pub ops: Vec<(String, Option<f64>)>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// `user=alice,client-id=<default>`, for error contexts.
pub fn describe_entity(entity: &QuotaEntity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect();
    format!("quota entity {}", parts.join(","))
}

impl KafkaClient {
    /// Quotas of the entities that match every filter component (`strict`: entities with
    /// no other components than those filtered on).
    pub async fn describe_client_quotas(
        &self,
        filter: &[QuotaFilter],
        strict: bool,
    ) -> Result<Vec<QuotaEntry>> {
        self.call(
            &Target::Any,
            None,
            |_| {
                DescribeClientQuotasRequest::default()
                    .with_strict(strict)
                    .with_components(
                        filter
                            .iter()
                            .map(|f| {
                                let (match_type, name) = match &f.matching {
                                    QuotaMatch::Exact(n) => (0, Some(s(n))),
                                    QuotaMatch::Default => (1, None),
                                    QuotaMatch::Any => (2, None),
                                };
                                ComponentData::default()
                                    .with_entity_type(s(&f.entity_type))
                                    .with_match_type(match_type)
                                    .with_match(name)
                            })
                            .collect(),
                    )
            },
            |response, _, conn| {
                check_code(
                    "DescribeClientQuotas",
                    response.error_code,
                    response.error_message.as_deref(),
                    || ErrorContext {
                        broker: conn.node_id(),
                        ..Default::default()
                    },
                )?;
                Ok(response
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| QuotaEntry {
                        entity: e
                            .entity
                            .into_iter()
                            .map(|d| {
                                (
                                    d.entity_type.to_string(),
                                    d.entity_name.map(|n| n.to_string()),
                                )
                            })
                            .collect(),
                        values: e
                            .values
                            .into_iter()
                            .map(|v| (v.key.to_string(), v.value))
                            .collect(),
                    })
                    .collect())
            },
        )
        .await
    }

    /// Applies quota changes; fails with the first per-entity error.
    pub async fn alter_client_quotas(
        &self,
        alterations: &[QuotaAlteration],
        validate_only: bool,
    ) -> Result<()> {
        self.call(
            &Target::Any,
            None,
            |_| {
                AlterClientQuotasRequest::default()
                    .with_validate_only(validate_only)
                    .with_entries(
                        alterations
                            .iter()
                            .map(|a| {
                                AlterEntry::default()
                                    .with_entity(
                                        a.entity
                                            .iter()
                                            .map(|(t, n)| {
                                                AlterEntity::default()
                                                    .with_entity_type(s(t))
                                                    .with_entity_name(n.as_deref().map(s))
                                            })
                                            .collect(),
                                    )
                                    .with_ops(
                                        a.ops
                                            .iter()
                                            .map(|(k, v)| {
                                                OpData::default()
                                                    .with_key(s(k))
                                                    .with_value(v.unwrap_or(0.0))
                                                    .with_remove(v.is_none())
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    )
            },
            |response, _, conn| {
                for e in &response.entries {
                    let entity: QuotaEntity = e
                        .entity
                        .iter()
                        .map(|d| {
                            (
                                d.entity_type.to_string(),
                                d.entity_name.as_ref().map(|n| n.to_string()),
                            )
                        })
                        .collect();
                    check_code(
                        "AlterClientQuotas",
                        e.error_code,
                        e.error_message.as_deref(),
                        || {
                            ErrorContext {
                                broker: conn.node_id(),
                                ..Default::default()
                            }
                            .resource(describe_entity(&entity))
                        },
                    )?;
                }
                Ok(())
            },
        )
        .await
    }
}
