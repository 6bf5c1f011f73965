//! Quota kinds and their units, named after Kafka's quota config keys
//! (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage` from
//! [KIP-124](https://cwiki.apache.org/confluence/display/KAFKA/KIP-124+-+Request+rate+quotas),
//! `controller_mutation_rate` from
//! [KIP-599](https://cwiki.apache.org/confluence/display/KAFKA/KIP-599%3A+Throttle+Create+Topic%2C+Create+Partition+and+Delete+Topic+Operations),
//! and connection quotas from KIP-612).

use crate::error::{QuotaError, Result};

/// A rate-limited quantity. Every kind is enforced by the same limiter; only the unit differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    /// Produce request bytes per second (`producer_byte_rate`). Unit: bytes.
    Produce = 0,
    /// Fetch response bytes per second (`consumer_byte_rate`). Unit: bytes.
    Fetch = 1,
    /// Request handler time as a percentage of one thread (`request_percentage`, KIP-124).
    /// Unit recorded: nanoseconds of thread time; the configured value is a percentage.
    RequestTime = 2,
    /// Partition mutations per second (`controller_mutation_rate`, KIP-599). Unit: partitions.
    PartitionMutations = 3,
    /// New connections per second for a tenant (`connection_creation_rate`). Unit: connections.
    ConnectionRate = 4,
}

impl QuotaKind {
    /// Number of rate kinds.
    pub const COUNT: usize = 5;
    /// Every rate kind, in index order.
    pub const ALL: [QuotaKind; Self::COUNT] = [
        QuotaKind::Produce,
        QuotaKind::Fetch,
        QuotaKind::RequestTime,
        QuotaKind::PartitionMutations,
        QuotaKind::ConnectionRate,
    ];

    /// Dense index, `0..COUNT`.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Kafka's config key for this kind.
    pub fn config_key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::RequestTime => "request_percentage",
            QuotaKind::PartitionMutations => "controller_mutation_rate",
            QuotaKind::ConnectionRate => "connection_creation_rate",
        }
    }

    /// Short name used in reports, metrics and simulator output (`produce`, `fetch`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            QuotaKind::Produce => "produce",
            QuotaKind::Fetch => "fetch",
            QuotaKind::RequestTime => "request_time",
            QuotaKind::PartitionMutations => "partition_mutations",
            QuotaKind::ConnectionRate => "connection_rate",
        }
    }

    /// Parses a Kafka config key or a short name. `field` names where the key came from.
    pub fn parse(key: &str, field: &str) -> Result<Self> {
        QuotaKind::ALL
            .into_iter()
            .find(|k| k.config_key() == key || k.short_name() == key)
            .ok_or_else(|| QuotaError::UnknownQuotaKey {
                field: field.to_string(),
                key: key.to_string(),
            })
    }

    /// Converts a configured value into units per second for the limiter: a percentage of a
    /// thread becomes nanoseconds of thread time per second; every other kind is already a rate.
    pub fn units_per_sec(self, configured: f64) -> f64 {
        match self {
            QuotaKind::RequestTime => configured / 100.0 * 1e9,
            _ => configured,
        }
    }
}

/// How a quota is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// keel's token bucket (GCRA): explicit burst, capped throttle, fair within a tenant.
    #[default]
    Bucket,
    /// Apache Kafka's windowed rate: 11 samples of 1 s, record first then check,
    /// throttle = (O − T) / T × W.
    Kafka,
}

impl Mode {
    /// Parses `bucket` or `kafka`; `field` names where the value came from.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        match s {
            "bucket" => Ok(Mode::Bucket),
            "kafka" => Ok(Mode::Kafka),
            other => Err(QuotaError::InvalidValue {
                field: field.to_string(),
                value: other.to_string(),
                reason: "expected `bucket` or `kafka`",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_keys() {
        for k in QuotaKind::ALL {
            assert_eq!(QuotaKind::parse(k.config_key(), "f").unwrap(), k);
            assert_eq!(QuotaKind::parse(k.short_name(), "f").unwrap(), k);
        }
        let e = QuotaKind::parse("bytes_per_fortnight", "quotas[0].key").unwrap_err();
        assert!(e.to_string().contains("quotas[0].key"), "{e}");
    }

    #[test]
    fn request_percentage_is_thread_nanos_per_second() {
        assert_eq!(QuotaKind::RequestTime.units_per_sec(50.0), 5e8);
        assert_eq!(QuotaKind::Produce.units_per_sec(1e6), 1e6);
    }
}
