//! Client quotas as DescribeClientQuotas / AlterClientQuotas see them
//! ([KIP-546](https://cwiki.apache.org/confluence/display/KAFKA/KIP-546%3A+Add+Client+Quota+APIs+to+the+Admin+Client)):
//! an entity is a set of `(entity type, name)` pairs (`user`, `client-id`, `ip`; a `None`
//! name is the default entity), each with quota values by key.

use std::collections::BTreeMap;

/// INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;

/// Entity type and name (`None`: the default entity of that type), sorted by type.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// Quota values by key.
pub type QuotaValues = BTreeMap<String, f64>;

/// The quota keys Kafka knows.
pub const QUOTA_KEYS: &[&str] = &[
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
    "connection_creation_rate",
];

const ENTITY_TYPES: &[&str] = &["user", "client-id", "ip"];

/// One filter component: entity type, match type (0 exact, 1 default, 2 any) and name.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaComponent {
    /// Entity type.
    pub entity_type: String,
    /// 0 EXACT, 1 DEFAULT, 2 ANY.
    pub match_type: i8,
    /// Name for EXACT.
    pub name: Option<String>,
}

/// One quota change: key, value, or removal.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaOp {
    /// Quota key.
    pub key: String,
    /// New value.
    pub value: f64,
    /// Remove the key instead.
    pub remove: bool,
}

/// Every client quota.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaStore {
    /// Values by entity.
    pub entries: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
}

impl QuotaStore {
    /// The entities matching `components` (`strict`: no other entity types), with their values.
    pub fn describe(
        &self,
        components: &[QuotaComponent],
        strict: bool,
    ) -> Result<Vec<(QuotaEntity, QuotaValues)>, (i16, String)> {
        for c in components {
            if !ENTITY_TYPES.contains(&c.entity_type.as_str()) {
                return Err((
                    INVALID_REQUEST,
                    format!("unknown entity type {:?}", c.entity_type),
                ));
            }
            if !(0..=2).contains(&c.match_type) {
                return Err((
                    INVALID_REQUEST,
                    format!("unknown match type {}", c.match_type),
                ));
            }
        }
        let matches = |entity: &QuotaEntity| {
            let all = components.iter().all(|c| {
                entity.iter().any(|(t, name)| {
                    *t == c.entity_type
                        && match c.match_type {
                            0 => name.is_some() && *name == c.name,
                            1 => name.is_none(),
                            _ => true,
                        }
                })
            });
            all && (!strict || entity.len() == components.len())
        };
        Ok(self
            .entries
            .iter()
            .filter(|(e, _)| matches(e))
            .map(|(e, v)| (e.clone(), v.clone()))
            .collect())
    }

    /// Validates and (unless `validate_only`) applies changes to one entity.
    pub fn alter(
        &mut self,
        mut entity: QuotaEntity,
        ops: &[QuotaOp],
        validate_only: bool,
    ) -> Result<(), (i16, String)> {
        if entity.is_empty() {
            return Err((INVALID_REQUEST, "the quota entity is empty".into()));
        }
        for (t, _) in &entity {
            if !ENTITY_TYPES.contains(&t.as_str()) {
                return Err((INVALID_REQUEST, format!("unknown entity type {t:?}")));
            }
        }
        entity.sort();
        for w in entity.windows(2) {
            if w[0].0 == w[1].0 {
                return Err((
                    INVALID_REQUEST,
                    format!("entity type {:?} appears twice", w[0].0),
                ));
            }
        }
        for op in ops {
            if !QUOTA_KEYS.contains(&op.key.as_str()) {
                return Err((INVALID_REQUEST, format!("unknown quota key {:?}", op.key)));
            }
            if !op.remove && (!op.value.is_finite() || op.value <= 0.0) {
                return Err((
                    INVALID_REQUEST,
                    format!(
                        "quota {} must be a positive number, not {}",
                        op.key, op.value
                    ),
                ));
            }
        }
        if validate_only {
            return Ok(());
        }
        let values = self.entries.entry(entity.clone()).or_default();
        for op in ops {
            if op.remove {
                values.remove(&op.key);
            } else {
                values.insert(op.key.clone(), op.value);
            }
        }
        if values.is_empty() {
            self.entries.remove(&entity);
        }
        Ok(())
    }

    /// The values of one entity (given in any order).
    pub fn get(&self, entity: &[(&str, Option<&str>)]) -> Option<&BTreeMap<String, f64>> {
        let mut key: QuotaEntity = entity
            .iter()
            .map(|(t, n)| ((*t).to_owned(), n.map(str::to_owned)))
            .collect();
        key.sort();
        self.entries.get(&key)
    }
}
