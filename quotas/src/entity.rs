//! Quota entities and which configured quota applies to a request.
//!
//! keel's model is tenant → principal (user) → client-id. Tenants are keel's unit of
//! cluster-wide quota; users and client-ids follow Kafka's entity model
//! ([KIP-55](https://cwiki.apache.org/confluence/display/KAFKA/KIP-55%3A+Secure+Quotas+for+Authenticated+Users)).
//! Within a tenant, the user/client-id quota that applies is the first configured one in
//! Kafka's order ([`KAFKA_PRECEDENCE`]):
//!
//! 1. `user=U, client-id=C`   2. `user=U, client-id=<default>`   3. `user=U`
//! 4. `user=<default>, client-id=C`   5. `user=<default>, client-id=<default>`
//! 6. `user=<default>`   7. `client-id=C`   8. `client-id=<default>`
//!
//! Like Kafka's metric tags, the state a request is counted in keeps the user name when the
//! matched level has a user part and the client-id when it has a client part: a quota on
//! `user=<default>` gives every user its own bucket, a quota on `user=U` is shared by all of
//! U's clients. keel also keys state by tenant, so equal client-ids in two tenants never share.

use crate::error::{QuotaError, Result};

/// A named entity or Kafka's `<default>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityName {
    /// `<default>`: applies to every name without its own entry.
    Default,
    /// An exact name.
    Named(String),
}

/// Something a quota can be configured on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaEntity {
    /// A keel tenant: its cluster-wide quota (split across brokers by the distributor).
    Tenant(String),
    /// A Kafka user and/or client-id entity, at least one part present.
    Client {
        /// `user` part, if any.
        user: Option<EntityName>,
        /// `client-id` part, if any.
        client_id: Option<EntityName>,
    },
}

impl QuotaEntity {
    /// Builds an entity from `(entity_type, name)` pairs as in Kafka's `DescribeClientQuotas`
    /// (`None` name = `<default>`). `field` names the config entry for errors.
    pub fn from_parts(parts: &[(&str, Option<&str>)], field: &str) -> Result<Self> {
        let mut user = None;
        let mut client_id = None;
        let mut tenant = None;
        for (i, (ty, name)) in parts.iter().enumerate() {
            let n = || match name {
                None => EntityName::Default,
                Some(s) => EntityName::Named((*s).to_string()),
            };
            let slot_field = format!("{field}.entity[{i}]");
            let dup = |what: &str| QuotaError::InvalidEntity {
                field: slot_field.clone(),
                reason: format!("`{what}` given twice"),
            };
            match *ty {
                "user" => {
                    if user.replace(n()).is_some() {
                        return Err(dup("user"));
                    }
                }
                "client-id" => {
                    if client_id.replace(n()).is_some() {
                        return Err(dup("client-id"));
                    }
                }
                "tenant" => match name {
                    Some(s) if !s.is_empty() => {
                        if tenant.replace((*s).to_string()).is_some() {
                            return Err(dup("tenant"));
                        }
                    }
                    _ => {
                        return Err(QuotaError::InvalidEntity {
                            field: slot_field,
                            reason: "a tenant quota needs a tenant name".into(),
                        });
                    }
                },
                other => {
                    return Err(QuotaError::UnknownEntityType {
                        field: format!("{slot_field}.entity_type"),
                        entity_type: other.to_string(),
                    });
                }
            }
        }
        match (tenant, user, client_id) {
            (Some(t), None, None) => Ok(QuotaEntity::Tenant(t)),
            (Some(_), _, _) => Err(QuotaError::InvalidEntity {
                field: field.to_string(),
                reason: "a tenant quota cannot be combined with user or client-id".into(),
            }),
            (None, None, None) => Err(QuotaError::InvalidEntity {
                field: field.to_string(),
                reason: "no entity given".into(),
            }),
            (None, user, client_id) => Ok(QuotaEntity::Client { user, client_id }),
        }
    }
}

/// One of Kafka's eight user/client-id precedence levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// User part: `None` absent, `Some(false)` `<default>`, `Some(true)` the exact user.
    pub user: Option<bool>,
    /// Client part: same encoding.
    pub client: Option<bool>,
}

/// Kafka's order, most specific first.
pub const KAFKA_PRECEDENCE: [Level; 8] = [
    Level {
        user: Some(true),
        client: Some(true),
    },
    Level {
        user: Some(true),
        client: Some(false),
    },
    Level {
        user: Some(true),
        client: None,
    },
    Level {
        user: Some(false),
        client: Some(true),
    },
    Level {
        user: Some(false),
        client: Some(false),
    },
    Level {
        user: Some(false),
        client: None,
    },
    Level {
        user: None,
        client: Some(true),
    },
    Level {
        user: None,
        client: Some(false),
    },
];

/// String standing for `<default>` in internal keys (cannot be a valid Kafka user or client-id
/// prefix clash because it is only used in the config map, tagged by level).
pub(crate) const DEFAULT_MARK: &str = "<default>";

impl Level {
    /// Index in [`KAFKA_PRECEDENCE`].
    pub fn index(self) -> usize {
        KAFKA_PRECEDENCE
            .iter()
            .position(|l| *l == self)
            .unwrap_or(0)
    }

    /// The level of a `Client` entity.
    pub fn of(user: &Option<EntityName>, client: &Option<EntityName>) -> Level {
        let f = |e: &Option<EntityName>| e.as_ref().map(|n| matches!(n, EntityName::Named(_)));
        Level {
            user: f(user),
            client: f(client),
        }
    }

    /// True when the level names no user and no client (only `<default>` or absent parts), so
    /// its config key is the same for every request.
    #[inline]
    pub(crate) fn names_nobody(self) -> bool {
        self.user != Some(true) && self.client != Some(true)
    }

    /// The config-map key parts of this level for a request by `user`/`client_id`.
    pub(crate) fn config_parts<'a>(self, user: &'a str, client_id: &'a str) -> (&'a str, &'a str) {
        let part = |p: Option<bool>, name: &'a str| match p {
            None => "",
            Some(false) => DEFAULT_MARK,
            Some(true) => name,
        };
        (part(self.user, user), part(self.client, client_id))
    }

    /// The state key parts (Kafka's metric tags) of this level for `user`/`client_id`.
    pub(crate) fn state_parts<'a>(self, user: &'a str, client_id: &'a str) -> (&'a str, &'a str) {
        (
            if self.user.is_some() { user } else { "" },
            if self.client.is_some() { client_id } else { "" },
        )
    }
}

/// Who is making a request: what a broker knows once a connection is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIdentity<'a> {
    /// Authenticated principal name (Kafka user); `""` for anonymous.
    pub principal: &'a str,
    /// The request header's client-id.
    pub client_id: &'a str,
}

/// Maps requests to tenants: by exact principal, by client-id prefix, or by topic prefix
/// (Confluent-style logical clusters). Longest prefix wins; principal beats client-id prefix.
#[derive(Debug, Clone, Default)]
pub struct TenantResolver {
    by_principal: std::collections::HashMap<String, String>,
    by_client_prefix: Vec<(String, String)>,
    by_topic_prefix: Vec<(String, String)>,
    default_tenant: Option<String>,
}

impl TenantResolver {
    /// An empty resolver: every request falls into the default tenant (`None` = no tenant).
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps a principal to a tenant.
    pub fn principal(mut self, principal: &str, tenant: &str) -> Self {
        self.by_principal.insert(principal.into(), tenant.into());
        self
    }

    /// Maps client-ids starting with `prefix` to a tenant.
    pub fn client_id_prefix(mut self, prefix: &str, tenant: &str) -> Self {
        self.by_client_prefix.push((prefix.into(), tenant.into()));
        self.by_client_prefix
            .sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        self
    }

    /// Maps topics starting with `prefix` to a tenant.
    pub fn topic_prefix(mut self, prefix: &str, tenant: &str) -> Self {
        self.by_topic_prefix.push((prefix.into(), tenant.into()));
        self.by_topic_prefix
            .sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        self
    }

    /// The tenant of requests nothing else matches.
    pub fn default_tenant(mut self, tenant: &str) -> Self {
        self.default_tenant = Some(tenant.into());
        self
    }

    /// The tenant of a connection (principal first, then client-id prefix, then the default).
    pub fn resolve<'s>(&'s self, id: &RequestIdentity<'_>) -> Option<&'s str> {
        if let Some(t) = self.by_principal.get(id.principal) {
            return Some(t);
        }
        self.by_client_prefix
            .iter()
            .find(|(p, _)| id.client_id.starts_with(p.as_str()))
            .map(|(_, t)| t.as_str())
            .or(self.default_tenant.as_deref())
    }

    /// The tenant owning a topic (for brokers that split tenants by topic prefix).
    pub fn resolve_topic<'s>(&'s self, topic: &str) -> Option<&'s str> {
        self.by_topic_prefix
            .iter()
            .find(|(p, _)| topic.starts_with(p.as_str()))
            .map(|(_, t)| t.as_str())
            .or(self.default_tenant.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_kafkas_order() {
        let names: Vec<String> = KAFKA_PRECEDENCE
            .iter()
            .map(|l| {
                let (u, c) = l.config_parts("U", "C");
                format!("{u}/{c}")
            })
            .collect();
        assert_eq!(
            names,
            [
                "U/C",
                "U/<default>",
                "U/",
                "<default>/C",
                "<default>/<default>",
                "<default>/",
                "/C",
                "/<default>"
            ]
        );
    }

    #[test]
    fn unknown_entity_types_name_the_field() {
        let e = QuotaEntity::from_parts(&[("ip", Some("1.2.3.4"))], "quotas[3]").unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("quotas[3].entity[0].entity_type") && s.contains("`ip`"),
            "{s}"
        );
        assert!(
            QuotaEntity::from_parts(&[("tenant", Some("a")), ("user", Some("u"))], "q").is_err()
        );
        assert!(QuotaEntity::from_parts(&[], "q").is_err());
        assert!(QuotaEntity::from_parts(&[("user", None), ("user", Some("x"))], "q").is_err());
        assert_eq!(
            QuotaEntity::from_parts(&[("user", Some("u")), ("client-id", None)], "q").unwrap(),
            QuotaEntity::Client {
                user: Some(EntityName::Named("u".into())),
                client_id: Some(EntityName::Default)
            }
        );
    }

    #[test]
    fn resolver_prefers_principal_then_longest_prefix() {
        let r = TenantResolver::new()
            .principal("User:alice", "acme")
            .client_id_prefix("acme-", "acme")
            .client_id_prefix("acme-eu-", "acme-eu")
            .topic_prefix("lkc-1.", "lkc-1")
            .default_tenant("shared");
        let id = |p, c| RequestIdentity {
            principal: p,
            client_id: c,
        };
        assert_eq!(r.resolve(&id("User:alice", "acme-eu-1")), Some("acme"));
        assert_eq!(r.resolve(&id("User:bob", "acme-eu-1")), Some("acme-eu"));
        assert_eq!(r.resolve(&id("User:bob", "acme-1")), Some("acme"));
        assert_eq!(r.resolve(&id("User:bob", "x")), Some("shared"));
        assert_eq!(r.resolve_topic("lkc-1.orders"), Some("lkc-1"));
    }
}
