//! Kafka's text checkpoint files (`CheckpointFile`): a version line, an entry-count line,
//! then one entry per line with fields separated by whitespace.
//!
//! ```text
//! 0
//! 2
//! orders 0 1234
//! orders 1 987
//! ```
//!
//! - `leader-epoch-checkpoint` (per partition dir, `LeaderEpochCheckpointFile`, version 0):
//!   `epoch start_offset` lines, epochs increasing
//!   ([KIP-101](https://cwiki.apache.org/confluence/display/KAFKA/KIP-101+-+Alter+Replication+Protocol+to+use+Leader+Epoch+rather+than+High+Watermark+for+Truncation));
//! - `replication-offset-checkpoint` (high watermarks), `recovery-point-offset-checkpoint`
//!   and `log-start-offset-checkpoint` (per log dir, `OffsetCheckpointFile`, version 0):
//!   `topic partition offset` lines.
//!
//! As in Kafka's reader, an empty file or a file with only the version line holds no
//! entries, lines end with `\n`, `\r\n` or `\r`, and the count must match the entry lines.
//! Errors carry the 1-based line number.

use std::path::Path;

use crate::error::{Result, WireError};

/// File name of the per-partition leader epoch checkpoint.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// File name of the log-dir high-watermark checkpoint.
pub const REPLICATION_OFFSET_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// File name of the log-dir recovery-point checkpoint.
pub const RECOVERY_POINT_OFFSET_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
/// File name of the log-dir log-start-offset checkpoint.
pub const LOG_START_OFFSET_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";

/// Version of both checkpoint formats.
const VERSION: i32 = 0;

/// Splits like Java's `BufferedReader.readLine`: `\n`, `\r\n` and `\r` end a line, and a
/// final line without terminator counts. Yields (1-based line number, line).
fn java_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut n = 0usize;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        n += 1;
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = rest.get(..end).unwrap_or("");
        let after = rest.get(end..).unwrap_or("");
        rest = if let Some(r) = after.strip_prefix("\r\n") {
            r
        } else {
            after.get(1..).unwrap_or("")
        };
        Some((n, line))
    })
}

/// Java's `"\\s+"` split: a leading separator yields an empty first field, trailing ones
/// are dropped.
fn java_split_whitespace(line: &str) -> Vec<&str> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r');
    let mut parts: Vec<&str> = line.split(is_ws).collect();
    // Collapse runs: Java's \s+ never produces empty middle fields.
    let leading_empty = parts.first().is_some_and(|p| p.is_empty()) && !line.is_empty();
    parts.retain(|p| !p.is_empty());
    if leading_empty {
        parts.insert(0, "");
    }
    parts
}

/// Reads the common frame, handing each entry line to `entry` with its line number.
fn read_checkpoint<T>(
    bytes: &[u8],
    file_kind: &'static str,
    mut entry: impl FnMut(usize, &[&str]) -> Result<T>,
) -> Result<Vec<T>> {
    let bad = |line: usize, reason: String| WireError::Checkpoint {
        file_kind,
        line,
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes
            .get(..e.valid_up_to())
            .map_or(1, |b| 1 + b.iter().filter(|&&c| c == b'\n').count());
        bad(line, format!("not UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let mut lines = java_lines(text);
    let Some((n, version_line)) = lines.next() else {
        return Ok(Vec::new());
    };
    let version: i32 = version_line
        .parse()
        .map_err(|_| bad(n, format!("version {version_line:?} is not an integer")))?;
    if version != VERSION {
        return Err(bad(
            n,
            format!("unrecognized version {version} (expected {VERSION})"),
        ));
    }
    let Some((n, count_line)) = lines.next() else {
        return Ok(Vec::new());
    };
    let expected: i32 = count_line
        .parse()
        .map_err(|_| bad(n, format!("entry count {count_line:?} is not an integer")))?;
    let mut out = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).min(1 << 16));
    let mut last_line = n;
    for (n, line) in lines {
        out.push(entry(n, &java_split_whitespace(line))?);
        last_line = n;
    }
    if i64::try_from(out.len()).ok() != Some(i64::from(expected)) {
        return Err(bad(
            last_line,
            format!("expected {expected} entries, found {}", out.len()),
        ));
    }
    Ok(out)
}

fn read_file_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| WireError::io("read", path, e))
}

/// One leader epoch and the first offset written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// A `leader-epoch-checkpoint` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaderEpochCheckpoint {
    /// Entries in file order (Kafka writes them by increasing epoch and start offset).
    pub entries: Vec<EpochEntry>,
}

impl LeaderEpochCheckpoint {
    const FILE_KIND: &'static str = LEADER_EPOCH_CHECKPOINT_FILE;

    /// Parses the file's bytes (errors name the `leader-epoch-checkpoint` file).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_as(bytes, Self::FILE_KIND)
    }

    /// Parses the file's bytes, naming the file `file_kind` in errors (for instance
    /// [`REPLICATION_OFFSET_CHECKPOINT_FILE`]).
    pub fn parse_as(bytes: &[u8], file_kind: &'static str) -> Result<Self> {
        let kind = file_kind;
        let entries = read_checkpoint(bytes, kind, |line, parts| {
            let bad = |reason: String| WireError::Checkpoint {
                file_kind: kind,
                line,
                reason,
            };
            let [epoch, offset] = parts else {
                return Err(bad(format!(
                    "expected `epoch start_offset`, found {} fields",
                    parts.len()
                )));
            };
            Ok(EpochEntry {
                epoch: epoch
                    .parse()
                    .map_err(|_| bad(format!("epoch {epoch:?} is not a 32-bit integer")))?,
                start_offset: offset
                    .parse()
                    .map_err(|_| bad(format!("start offset {offset:?} is not a 64-bit integer")))?,
            })
        })?;
        Ok(LeaderEpochCheckpoint { entries })
    }

    /// Reads and parses the file at `path`.
    pub fn read_file(path: &Path) -> Result<Self> {
        Self::parse(&read_file_bytes(path)?)
    }

    /// The file's text as Kafka writes it.
    pub fn encode(&self) -> String {
        let mut s = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            s.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        s
    }

    /// The latest epoch entry, if any.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The epoch that `offset` was written in: the entry with the largest start offset
    /// `<= offset` (entries are assumed in Kafka's increasing order).
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// The end offset of `epoch` as Kafka's `LeaderEpochFileCache.endOffsetFor` answers a
    /// follower: the start offset of the first later epoch, or `log_end_offset` for the
    /// latest epoch; below the first known epoch, the requested epoch and the first start
    /// offset. `None` (Kafka's undefined epoch and offset) when `epoch` is above every
    /// known epoch or there are none.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let latest = self.latest()?;
        if epoch == latest.epoch {
            return Some((epoch, log_end_offset));
        }
        let next = self.entries.iter().find(|e| e.epoch > epoch)?;
        match self.entries.iter().rev().find(|e| e.epoch <= epoch) {
            Some(floor) => Some((floor.epoch, next.start_offset)),
            None => Some((epoch, next.start_offset)),
        }
    }
}

/// One `topic partition offset` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetCheckpointEntry {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A log-dir offset checkpoint (`replication-offset-checkpoint`,
/// `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCheckpoint {
    /// Entries in file order (Kafka writes them in hash-map order).
    pub entries: Vec<OffsetCheckpointEntry>,
}

impl OffsetCheckpoint {
    const FILE_KIND: &'static str = "offset checkpoint";

    /// Parses the file's bytes (errors say "offset checkpoint").
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_as(bytes, Self::FILE_KIND)
    }

    /// Parses the file's bytes, naming the file `file_kind` in errors (for instance
    /// [`REPLICATION_OFFSET_CHECKPOINT_FILE`]).
    pub fn parse_as(bytes: &[u8], file_kind: &'static str) -> Result<Self> {
        let kind = file_kind;
        let entries = read_checkpoint(bytes, kind, |line, parts| {
            let bad = |reason: String| WireError::Checkpoint {
                file_kind: kind,
                line,
                reason,
            };
            let [topic, partition, offset] = parts else {
                return Err(bad(format!(
                    "expected `topic partition offset`, found {} fields",
                    parts.len()
                )));
            };
            Ok(OffsetCheckpointEntry {
                topic: (*topic).to_owned(),
                partition: partition
                    .parse()
                    .map_err(|_| bad(format!("partition {partition:?} is not a 32-bit integer")))?,
                offset: offset
                    .parse()
                    .map_err(|_| bad(format!("offset {offset:?} is not a 64-bit integer")))?,
            })
        })?;
        Ok(OffsetCheckpoint { entries })
    }

    /// Reads and parses the file at `path`; errors name the file by its Kafka name when it
    /// has one of the three log-dir checkpoint names.
    pub fn read_file(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let kind = [
            REPLICATION_OFFSET_CHECKPOINT_FILE,
            RECOVERY_POINT_OFFSET_CHECKPOINT_FILE,
            LOG_START_OFFSET_CHECKPOINT_FILE,
        ]
        .into_iter()
        .find(|k| *k == name)
        .unwrap_or(Self::FILE_KIND);
        Self::parse_as(&read_file_bytes(path)?, kind)
    }

    /// The file's text as Kafka writes it.
    pub fn encode(&self) -> String {
        let mut s = format!("{VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            s.push_str(&format!("{} {} {}\n", e.topic, e.partition, e.offset));
        }
        s
    }

    /// The offset recorded for a partition (the last line wins if it appears twice).
    pub fn offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.partition == partition && e.topic == topic)
            .map(|e| e.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kafka_offset_checkpoint() {
        let cp =
            OffsetCheckpoint::parse(b"0\n2\norders 0 1234\n__consumer_offsets 17 5\n").unwrap();
        assert_eq!(cp.offset("orders", 0), Some(1234));
        assert_eq!(cp.offset("__consumer_offsets", 17), Some(5));
        assert_eq!(cp.offset("orders", 1), None);
        assert_eq!(OffsetCheckpoint::parse(cp.encode().as_bytes()).unwrap(), cp);
    }

    #[test]
    fn empty_and_version_only_files_have_no_entries() {
        assert!(OffsetCheckpoint::parse(b"").unwrap().entries.is_empty());
        assert!(
            LeaderEpochCheckpoint::parse(b"0\n")
                .unwrap()
                .entries
                .is_empty()
        );
        assert!(
            LeaderEpochCheckpoint::parse(b"0\r\n0\r\n")
                .unwrap()
                .entries
                .is_empty()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = LeaderEpochCheckpoint::parse(b"0\n2\n0 0\n1 x\n").unwrap_err();
        assert!(matches!(e, WireError::Checkpoint { line: 4, .. }), "{e}");
        let e = LeaderEpochCheckpoint::parse(b"1\n0\n").unwrap_err();
        assert!(matches!(e, WireError::Checkpoint { line: 1, .. }), "{e}");
        let e = LeaderEpochCheckpoint::parse(b"0\n3\n0 0\n1 5\n").unwrap_err();
        assert!(matches!(e, WireError::Checkpoint { line: 4, .. }), "{e}");
        let e = OffsetCheckpoint::parse(b"0\n1\n t 0 5\n").unwrap_err();
        assert!(matches!(e, WireError::Checkpoint { line: 3, .. }), "{e}");
    }

    #[test]
    fn epoch_lookups() {
        let cp = LeaderEpochCheckpoint::parse(b"0\n3\n0 0\n2 100\n5 250\n").unwrap();
        assert_eq!(cp.epoch_for_offset(0), Some(0));
        assert_eq!(cp.epoch_for_offset(99), Some(0));
        assert_eq!(cp.epoch_for_offset(100), Some(2));
        assert_eq!(cp.epoch_for_offset(10_000), Some(5));
        assert_eq!(cp.end_offset_for(0, 400), Some((0, 100)));
        assert_eq!(cp.end_offset_for(1, 400), Some((0, 100)));
        assert_eq!(cp.end_offset_for(2, 400), Some((2, 250)));
        assert_eq!(cp.end_offset_for(5, 400), Some((5, 400)));
        assert_eq!(cp.end_offset_for(9, 400), None);
        let later = LeaderEpochCheckpoint::parse(b"0\n1\n3 70\n").unwrap();
        assert_eq!(later.end_offset_for(1, 400), Some((1, 70)));
    }
}
