//! A broker log directory (`log.dirs` entry): its checkpoint files and partition dirs.

use std::path::{Path, PathBuf};

use super::checkpoint::{
    LOG_START_OFFSET_CHECKPOINT_FILE, OffsetCheckpoint, RECOVERY_POINT_OFFSET_CHECKPOINT_FILE,
    REPLICATION_OFFSET_CHECKPOINT_FILE,
};
use super::partition_dir::PartitionDirName;
use crate::error::{Result, WireError};

/// The three offset checkpoints of a log dir. A missing file reads as empty, as Kafka
/// treats it (it creates the files on its first checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogDirCheckpoints {
    /// `replication-offset-checkpoint`: high watermarks.
    pub high_watermarks: OffsetCheckpoint,
    /// `recovery-point-offset-checkpoint`: offsets up to which data is flushed.
    pub recovery_points: OffsetCheckpoint,
    /// `log-start-offset-checkpoint`: log start offsets above the first segment's base.
    pub log_start_offsets: OffsetCheckpoint,
}

fn read_or_empty(path: &Path) -> Result<OffsetCheckpoint> {
    match OffsetCheckpoint::read_file(path) {
        Err(WireError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(OffsetCheckpoint::default())
        }
        other => other,
    }
}

impl LogDirCheckpoints {
    /// Reads the checkpoints in `log_dir`.
    pub fn read(log_dir: &Path) -> Result<Self> {
        Ok(LogDirCheckpoints {
            high_watermarks: read_or_empty(&log_dir.join(REPLICATION_OFFSET_CHECKPOINT_FILE))?,
            recovery_points: read_or_empty(&log_dir.join(RECOVERY_POINT_OFFSET_CHECKPOINT_FILE))?,
            log_start_offsets: read_or_empty(&log_dir.join(LOG_START_OFFSET_CHECKPOINT_FILE))?,
        })
    }

    /// The high watermark of a partition, if checkpointed.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.high_watermarks.offset(topic, partition)
    }
}

/// The subdirectories of a log dir.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogDirListing {
    /// Partition directories, sorted by topic then partition.
    pub partitions: Vec<(PartitionDirName, PathBuf)>,
    /// Subdirectories whose names are not partition names.
    pub other: Vec<PathBuf>,
}

/// Lists the partition directories under `log_dir` (`topic-partition`, including Kafka's
/// renamed `-delete`/`-future`/`-stray` ones) and the other subdirectories. Files are
/// left out.
pub fn list_partition_dirs(log_dir: &Path) -> Result<LogDirListing> {
    let rd = std::fs::read_dir(log_dir).map_err(|e| WireError::io("list", log_dir, e))?;
    let mut out = LogDirListing::default();
    for entry in rd {
        let entry = entry.map_err(|e| WireError::io("list", log_dir, e))?;
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(|e| WireError::io("stat", &path, e))?
            .is_dir();
        if !is_dir {
            continue;
        }
        match entry.file_name().to_str().map(PartitionDirName::parse) {
            Some(Ok(name)) => out.partitions.push((name, path)),
            _ => out.other.push(path),
        }
    }
    out.partitions
        .sort_by(|a, b| (&a.0.topic, a.0.partition).cmp(&(&b.0.topic, b.0.partition)));
    out.other.sort();
    Ok(out)
}
