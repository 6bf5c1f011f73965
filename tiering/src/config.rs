//! Topic-level tiering config with Kafka's names, so users recognise them
//! ([KIP-405](https://cwiki.apache.org/confluence/display/KAFKA/KIP-405%3A+Kafka+Tiered+Storage)):
//! `remote.storage.enable`, `retention.ms`, `retention.bytes`, `local.retention.ms`,
//! `local.retention.bytes`. As in Kafka, `-1` means unlimited and, for the `local.*` keys,
//! `-2` means "same as the matching `retention.*`".

use crate::error::{Result, TieringError};

/// Sentinel for "unlimited".
pub const UNLIMITED: i64 = -1;
/// Sentinel for `local.retention.*`: use the matching `retention.*` value.
pub const SAME_AS_RETENTION: i64 = -2;

/// Retention settings of one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierConfig {
    /// `remote.storage.enable`: whether the topic's segments go to the store.
    pub remote_storage_enable: bool,
    /// `retention.ms`: total retention by time (remote + local); -1 unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: total retention by size (remote + local-only); -1 unlimited.
    pub retention_bytes: i64,
    /// `local.retention.ms`: how long local copies of uploaded segments stay; -2 = retention.ms.
    pub local_retention_ms: i64,
    /// `local.retention.bytes`: local size kept; -2 = retention.bytes.
    pub local_retention_bytes: i64,
}

impl Default for TierConfig {
    /// Kafka's defaults: 7 days, unlimited size, local = same as total.
    fn default() -> Self {
        TierConfig {
            remote_storage_enable: true,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: UNLIMITED,
            local_retention_ms: SAME_AS_RETENTION,
            local_retention_bytes: SAME_AS_RETENTION,
        }
    }
}

impl TierConfig {
    /// Effective local retention by time (resolves -2); `None` = unlimited.
    pub fn effective_local_retention_ms(&self) -> Option<i64> {
        limit(resolve(self.local_retention_ms, self.retention_ms))
    }

    /// Effective local retention by size (resolves -2); `None` = unlimited.
    pub fn effective_local_retention_bytes(&self) -> Option<i64> {
        limit(resolve(self.local_retention_bytes, self.retention_bytes))
    }

    /// Total retention by time; `None` = unlimited.
    pub fn retention_ms_limit(&self) -> Option<i64> {
        limit(self.retention_ms)
    }

    /// Total retention by size; `None` = unlimited.
    pub fn retention_bytes_limit(&self) -> Option<i64> {
        limit(self.retention_bytes)
    }

    /// Applies one `key=value` setting with Kafka's key names. Unknown keys are an error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |reason: &str| TieringError::Config {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let number = |allow_same: bool| -> Result<i64> {
            let v: i64 = value.trim().parse().map_err(|_| bad("not an integer"))?;
            let min = if allow_same {
                SAME_AS_RETENTION
            } else {
                UNLIMITED
            };
            if v < min {
                return Err(bad(if allow_same {
                    "must be >= 0, -1 (unlimited) or -2 (same as retention.*)"
                } else {
                    "must be >= 0 or -1 (unlimited)"
                }));
            }
            Ok(v)
        };
        match key {
            "remote.storage.enable" => {
                self.remote_storage_enable = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("must be true or false")),
                }
            }
            "retention.ms" => self.retention_ms = number(false)?,
            "retention.bytes" => self.retention_bytes = number(false)?,
            "local.retention.ms" => self.local_retention_ms = number(true)?,
            "local.retention.bytes" => self.local_retention_bytes = number(true)?,
            _ => {
                return Err(bad(
                    "unknown key (known: remote.storage.enable, retention.ms, retention.bytes, local.retention.ms, local.retention.bytes)",
                ));
            }
        }
        Ok(())
    }

    /// Parses a `key=value` pair (as given on the command line) and applies it.
    pub fn set_pair(&mut self, pair: &str) -> Result<()> {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(TieringError::Config {
                key: pair.to_string(),
                value: String::new(),
                reason: "expected key=value".to_string(),
            });
        };
        self.set(k.trim(), v)
    }
}

fn resolve(local: i64, total: i64) -> i64 {
    if local == SAME_AS_RETENTION {
        total
    } else {
        local
    }
}

fn limit(v: i64) -> Option<i64> {
    if v < 0 { None } else { Some(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_two_means_same_as_retention() {
        let mut c = TierConfig::default();
        c.set("retention.ms", "1000").unwrap();
        c.set("retention.bytes", "500").unwrap();
        assert_eq!(c.effective_local_retention_ms(), Some(1000));
        assert_eq!(c.effective_local_retention_bytes(), Some(500));
        c.set("local.retention.ms", "10").unwrap();
        c.set("local.retention.bytes", "-1").unwrap();
        assert_eq!(c.effective_local_retention_ms(), Some(10));
        assert_eq!(c.effective_local_retention_bytes(), None);
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = TierConfig::default();
        let e = c.set("retention.ms", "-2").unwrap_err().to_string();
        assert!(e.contains("retention.ms=-2"), "{e}");
        assert!(c.set("retention.bytes", "x").is_err());
        assert!(c.set("remote.storage.enable", "yes").is_err());
        assert!(c.set("segment.bytes", "1").is_err());
        assert!(c.set_pair("retention.ms").is_err());
        c.set_pair("remote.storage.enable=false").unwrap();
        assert!(!c.remote_storage_enable);
    }
}
