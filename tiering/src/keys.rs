//! Object keys. Every upload attempt writes under its own keys, so a retry or a second
//! writer never overwrites an object a manifest may reference:
//!
//! ```text
//! <prefix>/<topic>-<partition>/<base offset:020>-<attempt:016x>.log        (and .index, .timeindex,
//!                                                                          .txnindex, .snapshot,
//!                                                                          .leader-epoch-checkpoint)
//! <prefix>/<topic>-<partition>/manifest/<generation:020>.ktmf            (one per commit)
//! <prefix>/<topic>-<partition>/<base offset:020>-<attempt:016x>.mpu        (multipart intent, while
//!                                                                          the .log goes up in parts)
//! ```

use std::fmt;

use object_store::path::Path;

use crate::error::{Result, TieringError};
use crate::manifest::ObjectKind;

/// A topic-partition, printed and stored as `<topic>-<partition>` like Kafka's log dirs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Parses a `<topic>-<partition>` directory name (the topic may itself contain `-`).
    pub fn parse_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty()
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        (partition >= 0).then(|| TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Key of the folder holding one partition's objects.
pub fn partition_prefix(prefix: &Path, tp: &TopicPartition) -> Path {
    prefix.child(tp.to_string())
}

/// Key of one object of one upload attempt.
pub fn segment_key(
    prefix: &Path,
    tp: &TopicPartition,
    base: i64,
    attempt: u64,
    kind: ObjectKind,
) -> Path {
    partition_prefix(prefix, tp).child(format!("{base:020}-{attempt:016x}.{}", kind.suffix()))
}

/// Key of an attempt's multipart intent ([`crate::multipart`]).
pub fn intent_key(prefix: &Path, tp: &TopicPartition, base: i64, attempt: u64) -> Path {
    partition_prefix(prefix, tp).child(format!("{base:020}-{attempt:016x}.mpu"))
}

/// Folder of a partition's manifest generations.
pub fn manifest_dir(prefix: &Path, tp: &TopicPartition) -> Path {
    partition_prefix(prefix, tp).child("manifest")
}

/// Key of manifest generation `generation`.
pub fn manifest_key(prefix: &Path, tp: &TopicPartition, generation: u64) -> Path {
    manifest_dir(prefix, tp).child(format!("{generation:020}.ktmf"))
}

/// What an object key under a partition folder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectName {
    Segment {
        base: i64,
        attempt: u64,
        kind: ObjectKind,
    },
    Manifest {
        generation: u64,
    },
    /// The multipart intent of an attempt.
    Intent {
        base: i64,
        attempt: u64,
    },
}

/// Parses a key relative to the partition folder (`<file>` or `manifest/<file>`).
pub fn parse_object_name(rel: &str) -> Option<ObjectName> {
    if let Some(file) = rel.strip_prefix("manifest/") {
        let g = file.strip_suffix(".ktmf")?;
        return (g.len() == 20)
            .then(|| g.parse().ok())
            .flatten()
            .map(|generation| ObjectName::Manifest { generation });
    }
    let (stem, suffix) = rel.split_once('.')?;
    let (base, attempt) = stem.split_once('-')?;
    if base.len() != 20 || attempt.len() != 16 {
        return None;
    }
    let (base, attempt) = (base.parse().ok()?, u64::from_str_radix(attempt, 16).ok()?);
    if suffix == "mpu" {
        return Some(ObjectName::Intent { base, attempt });
    }
    let kind = ObjectKind::from_suffix(suffix)?;
    Some(ObjectName::Segment {
        base,
        attempt,
        kind,
    })
}

/// Splits a full key into its partition and the name relative to the partition folder.
pub fn split_key(prefix: &Path, key: &Path) -> Option<(TopicPartition, String)> {
    let mut parts = key.prefix_match(prefix)?;
    let tp = TopicPartition::parse_dir_name(parts.next()?.as_ref())?;
    let rest: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
    (!rest.is_empty()).then(|| (tp, rest.join("/")))
}

/// Checks that a topic name is one Kafka accepts (and so is safe in a key).
pub fn check_topic(topic: &str) -> Result<()> {
    if topic.is_empty()
        || topic.len() > 249
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(TieringError::Config {
            key: "topic".into(),
            value: topic.into(),
            reason: "topic names are 1-249 characters of [a-zA-Z0-9._-]".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roundtrip() {
        let p = Path::from("tier/x");
        let tp = TopicPartition::new("my-topic.v2", 7);
        let k = segment_key(&p, &tp, 1234, 0xabc, ObjectKind::TimeIndex);
        assert_eq!(
            k.as_ref(),
            "tier/x/my-topic.v2-7/00000000000000001234-0000000000000abc.timeindex"
        );
        let (tp2, rel) = split_key(&p, &k).unwrap();
        assert_eq!(tp2, tp);
        assert_eq!(
            parse_object_name(&rel),
            Some(ObjectName::Segment {
                base: 1234,
                attempt: 0xabc,
                kind: ObjectKind::TimeIndex
            })
        );
        let m = manifest_key(&p, &tp, 3);
        let (_, rel) = split_key(&p, &m).unwrap();
        assert_eq!(
            parse_object_name(&rel),
            Some(ObjectName::Manifest { generation: 3 })
        );
        let k = segment_key(&p, &tp, 5, 1, ObjectKind::LeaderEpochCheckpoint);
        let (_, rel) = split_key(&p, &k).unwrap();
        assert!(matches!(
            parse_object_name(&rel),
            Some(ObjectName::Segment {
                kind: ObjectKind::LeaderEpochCheckpoint,
                ..
            })
        ));
        let k = intent_key(&p, &tp, 5, 0xfe);
        let (_, rel) = split_key(&p, &k).unwrap();
        assert_eq!(
            parse_object_name(&rel),
            Some(ObjectName::Intent {
                base: 5,
                attempt: 0xfe
            })
        );
        assert_eq!(parse_object_name("junk"), None);
        assert_eq!(TopicPartition::parse_dir_name("topic-x"), None);
        assert_eq!(TopicPartition::parse_dir_name("-3"), None);
        assert_eq!(TopicPartition::parse_dir_name("a b-3"), None);
        assert_eq!(
            TopicPartition::parse_dir_name("__consumer_offsets-3"),
            Some(TopicPartition::new("__consumer_offsets", 3))
        );
    }
}
