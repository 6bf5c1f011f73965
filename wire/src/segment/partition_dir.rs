//! Listing a partition directory: its segments by base offset with their sibling files.
//!
//! The pure part ([`PartitionDir::from_file_names`]) sorts names; [`PartitionDir::scan`] is
//! the thin shell that reads the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::checkpoint::LEADER_EPOCH_CHECKPOINT_FILE;
use super::file_name::{SegmentFileKind, SegmentFileName};
use crate::error::{Result, WireError};

/// The files of one segment. `log` is always set for segments listed in
/// [`PartitionDir::segments`]; siblings are `None` when missing (Kafka rebuilds a missing
/// `.index`/`.timeindex` on load; `.txnindex` exists only if a transaction was aborted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentFiles {
    pub base_offset: i64,
    pub log: Option<PathBuf>,
    pub offset_index: Option<PathBuf>,
    pub time_index: Option<PathBuf>,
    pub txn_index: Option<PathBuf>,
    /// The producer snapshot named after this segment's base offset, if any.
    pub producer_snapshot: Option<PathBuf>,
}

/// Whether a directory is a live partition or one of Kafka's renamed states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionDirState {
    /// `topic-partition`.
    Live,
    /// `topic-partition.<uuid>-delete`: scheduled for deletion.
    Delete,
    /// `topic-partition.<uuid>-future`: being moved between log dirs.
    Future,
    /// `topic-partition.<uuid>-stray`: not assigned to this broker.
    Stray,
}

/// A parsed partition directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionDirName {
    pub topic: String,
    pub partition: i32,
    pub state: PartitionDirState,
}

impl PartitionDirName {
    /// Parses `topic-partition`, or `topic-partition.<32 hex>-delete|-future|-stray`. The
    /// partition is the number after the last `-` (topic names may contain `-`).
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |reason: &str| WireError::FileFormat {
            file_kind: "partition directory name",
            position: 0,
            reason: format!("{name:?}: {reason}"),
        };
        let mut state = PartitionDirState::Live;
        let mut base = name;
        for (suffix, s) in [
            ("-delete", PartitionDirState::Delete),
            ("-future", PartitionDirState::Future),
            ("-stray", PartitionDirState::Stray),
        ] {
            if let Some(rest) = name.strip_suffix(suffix) {
                let Some((tp, id)) = rest.rsplit_once('.') else {
                    return Err(bad("renamed partition dir without a .<id> part"));
                };
                if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("renamed partition dir id is not 32 hex digits"));
                }
                state = s;
                base = tp;
                break;
            }
        }
        let Some((topic, partition)) = base.rsplit_once('-') else {
            return Err(bad("no '-' before the partition number"));
        };
        if topic.is_empty() {
            return Err(bad("empty topic"));
        }
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("partition is not a non-negative integer"));
        }
        let partition: i32 = partition
            .parse()
            .map_err(|_| bad("partition does not fit in an i32"))?;
        Ok(PartitionDirName {
            topic: topic.to_owned(),
            partition,
            state,
        })
    }
}

/// What a partition directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionDir {
    pub path: PathBuf,
    /// Segments that have a `.log`, by increasing base offset.
    pub segments: Vec<SegmentFiles>,
    /// Every producer snapshot by its offset (not all match a segment base offset: Kafka
    /// also writes one at the log end offset on shutdown).
    pub producer_snapshots: BTreeMap<i64, PathBuf>,
    pub leader_epoch_checkpoint: Option<PathBuf>,
    /// `partition.metadata` (topic id), if present.
    pub partition_metadata: Option<PathBuf>,
    /// Everything else: transient (`.deleted`, `.cleaned`, `.swap`) files, index files
    /// without a `.log`, unknown names.
    pub other: Vec<PathBuf>,
}

impl PartitionDir {
    /// Sorts the names of the files in `dir` (no IO).
    pub fn from_file_names<'n>(dir: &Path, names: impl IntoIterator<Item = &'n str>) -> Self {
        let mut by_base: BTreeMap<i64, SegmentFiles> = BTreeMap::new();
        let mut out = PartitionDir {
            path: dir.to_path_buf(),
            ..PartitionDir::default()
        };
        for name in names {
            let path = dir.join(name);
            if name == LEADER_EPOCH_CHECKPOINT_FILE {
                out.leader_epoch_checkpoint = Some(path);
                continue;
            }
            if name == "partition.metadata" {
                out.partition_metadata = Some(path);
                continue;
            }
            let parsed = match SegmentFileName::parse(name) {
                Ok(p) if p.transient.is_none() => p,
                _ => {
                    out.other.push(path);
                    continue;
                }
            };
            if parsed.kind == SegmentFileKind::ProducerSnapshot {
                out.producer_snapshots.insert(parsed.base_offset, path);
                continue;
            }
            let seg = by_base
                .entry(parsed.base_offset)
                .or_insert_with(|| SegmentFiles {
                    base_offset: parsed.base_offset,
                    ..SegmentFiles::default()
                });
            let slot = match parsed.kind {
                SegmentFileKind::Log => &mut seg.log,
                SegmentFileKind::OffsetIndex => &mut seg.offset_index,
                SegmentFileKind::TimeIndex => &mut seg.time_index,
                SegmentFileKind::TxnIndex => &mut seg.txn_index,
                SegmentFileKind::ProducerSnapshot => &mut seg.producer_snapshot,
            };
            *slot = Some(path);
        }
        for (base, mut seg) in by_base {
            if seg.log.is_none() {
                out.other.extend(
                    [seg.offset_index, seg.time_index, seg.txn_index]
                        .into_iter()
                        .flatten(),
                );
                continue;
            }
            seg.producer_snapshot = out.producer_snapshots.get(&base).cloned();
            out.segments.push(seg);
        }
        out.other.sort();
        out
    }

    /// Lists the directory at `dir`. Subdirectories and non-UTF-8 names go to `other`.
    pub fn scan(dir: &Path) -> Result<Self> {
        let rd = std::fs::read_dir(dir).map_err(|e| WireError::io("list", dir, e))?;
        let mut names = Vec::new();
        let mut odd = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| WireError::io("list", dir, e))?;
            let is_file = entry
                .file_type()
                .map_err(|e| WireError::io("stat", entry.path(), e))?
                .is_file();
            match entry.file_name().into_string() {
                Ok(n) if is_file => names.push(n),
                _ => odd.push(entry.path()),
            }
        }
        let mut out = Self::from_file_names(dir, names.iter().map(String::as_str));
        out.other.extend(odd);
        out.other.sort();
        Ok(out)
    }

    /// The parsed directory name (topic, partition, state).
    pub fn name(&self) -> Result<PartitionDirName> {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        PartitionDirName::parse(name)
    }

    /// The segment that would hold `offset`: the one with the largest base offset
    /// `<= offset`.
    pub fn segment_for_offset(&self, offset: i64) -> Option<&SegmentFiles> {
        let n = self.segments.partition_point(|s| s.base_offset <= offset);
        n.checked_sub(1).and_then(|i| self.segments.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_siblings_and_sorts_by_base_offset() {
        let names = [
            "00000000000000000500.log",
            "00000000000000000000.index",
            "00000000000000000000.log",
            "00000000000000000500.timeindex",
            "00000000000000000500.index",
            "00000000000000000000.timeindex",
            "00000000000000000500.snapshot",
            "00000000000000000731.snapshot",
            "00000000000000000000.txnindex",
            "00000000000000000900.index",
            "00000000000000000100.log.deleted",
            "leader-epoch-checkpoint",
            "partition.metadata",
        ];
        let d = PartitionDir::from_file_names(Path::new("/d/orders-3"), names);
        let bases: Vec<i64> = d.segments.iter().map(|s| s.base_offset).collect();
        assert_eq!(bases, vec![0, 500]);
        assert!(d.segments[0].txn_index.is_some());
        assert!(d.segments[1].txn_index.is_none());
        assert!(d.segments[1].producer_snapshot.is_some());
        assert_eq!(d.producer_snapshots.len(), 2);
        assert!(d.leader_epoch_checkpoint.is_some());
        assert_eq!(d.other.len(), 2, "{:?}", d.other);
        assert_eq!(d.segment_for_offset(499).unwrap().base_offset, 0);
        assert_eq!(d.segment_for_offset(500).unwrap().base_offset, 500);
        assert!(d.segment_for_offset(-1).is_none());
        let n = d.name().unwrap();
        assert_eq!((n.topic.as_str(), n.partition), ("orders", 3));
    }

    #[test]
    fn parses_dir_names() {
        let n = PartitionDirName::parse("my-topic-12").unwrap();
        assert_eq!((n.topic.as_str(), n.partition), ("my-topic", 12));
        let n = PartitionDirName::parse("t-0.0123456789abcdef0123456789abcdef-delete").unwrap();
        assert_eq!(n.state, PartitionDirState::Delete);
        assert_eq!(n.topic, "t");
        for bad in ["topic", "-3", "t-x", "t-0.zz-delete", "t-99999999999"] {
            assert!(PartitionDirName::parse(bad).is_err(), "{bad}");
        }
    }
}
