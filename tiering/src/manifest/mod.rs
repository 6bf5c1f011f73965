//! The per-partition segment manifest: which segments the store holds, in which
//! [KIP-405](https://cwiki.apache.org/confluence/display/KAFKA/KIP-405%3A+Kafka+Tiered+Storage)
//! state, under which upload attempt, with which object checksums, plus the remote log
//! start offset and the fencing fields (leader epoch and writer id of the last writer).
//!
//! The manifest is the commit point: data objects are written first, the manifest after,
//! with a conditional put (see [`crate::manifest_store`]). Everything here is pure: the
//! transitions check their invariants and return errors instead of breaking them.
//!
//! Invariants (checked by [`SegmentManifest::validate`], on decode and after every change):
//! - segments are sorted by base offset and do not overlap;
//! - a `CopySegmentStarted` entry can only be the last one (copies go one after another);
//! - `DeleteSegmentStarted` entries lie wholly below the log start offset, and
//!   `CopySegmentFinished` entries wholly at or above it (retention never deletes above it).

mod codec;

pub use codec::{ENTRY_MAX_LEN, HEADER_LEN, MANIFEST_MAGIC, MANIFEST_VERSION, decode, encode};

use crate::error::{Result, TieringError};

/// KIP-405 remote segment states (`RemoteLogSegmentState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SegmentState {
    /// Upload began; objects may be partly written. Not readable.
    CopySegmentStarted,
    /// All objects written and committed: readable.
    CopySegmentFinished,
    /// Expired: below the log start offset, objects being deleted. Not readable.
    DeleteSegmentStarted,
    /// Objects deleted. Entries in this state are dropped from the manifest.
    DeleteSegmentFinished,
}

impl SegmentState {
    pub(crate) fn id(self) -> u8 {
        match self {
            SegmentState::CopySegmentStarted => 0,
            SegmentState::CopySegmentFinished => 1,
            SegmentState::DeleteSegmentStarted => 2,
            SegmentState::DeleteSegmentFinished => 3,
        }
    }

    pub(crate) fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => SegmentState::CopySegmentStarted,
            1 => SegmentState::CopySegmentFinished,
            2 => SegmentState::DeleteSegmentStarted,
            3 => SegmentState::DeleteSegmentFinished,
            _ => return None,
        })
    }
}

/// The objects uploaded for one segment. The data (`Log`) and the two indexes are always
/// present; the others only when the broker has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ObjectKind {
    Log,
    OffsetIndex,
    TimeIndex,
    TxnIndex,
    ProducerSnapshot,
    LeaderEpochCheckpoint,
}

impl ObjectKind {
    /// All kinds, in the order of their bit in [`ObjectChecksums`].
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Log,
        ObjectKind::OffsetIndex,
        ObjectKind::TimeIndex,
        ObjectKind::TxnIndex,
        ObjectKind::ProducerSnapshot,
        ObjectKind::LeaderEpochCheckpoint,
    ];

    pub(crate) fn bit(self) -> usize {
        self as usize
    }

    /// File-name suffix used in object keys and in a broker's log dir.
    pub fn suffix(self) -> &'static str {
        match self {
            ObjectKind::Log => "log",
            ObjectKind::OffsetIndex => "index",
            ObjectKind::TimeIndex => "timeindex",
            ObjectKind::TxnIndex => "txnindex",
            ObjectKind::ProducerSnapshot => "snapshot",
            ObjectKind::LeaderEpochCheckpoint => "leader-epoch-checkpoint",
        }
    }

    /// Inverse of [`ObjectKind::suffix`].
    pub fn from_suffix(s: &str) -> Option<Self> {
        ObjectKind::ALL.into_iter().find(|k| k.suffix() == s)
    }
}

/// CRC-32C of each object present for a segment, and whether the `.log` object is
/// zstd-compressed chunk by chunk ([`crate::chunks`]; bit 7 of the encoded mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ObjectChecksums {
    crcs: [Option<u32>; 6],
    pub zstd_chunks: bool,
}

impl ObjectChecksums {
    /// Records the checksum of one object.
    pub fn set(&mut self, kind: ObjectKind, crc: u32) {
        self.crcs[kind.bit()] = Some(crc);
    }

    /// The checksum of `kind`, if that object was uploaded.
    pub fn get(&self, kind: ObjectKind) -> Option<u32> {
        self.crcs[kind.bit()]
    }

    /// The uploaded kinds with their checksums.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectKind, u32)> + '_ {
        ObjectKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|c| (k, c)))
    }

    pub(crate) fn mask(&self) -> u8 {
        self.crcs
            .iter()
            .enumerate()
            .fold(u8::from(self.zstd_chunks) << 7, |m, (i, c)| {
                if c.is_some() { m | (1 << i) } else { m }
            })
    }
}

/// One remote segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteSegment {
    pub base_offset: i64,
    /// Last offset in the segment (inclusive).
    pub last_offset: i64,
    /// Largest record timestamp (ms); drives retention by time.
    pub max_timestamp: i64,
    /// Size of the `.log` data object in bytes (segments are < 2 GiB in Kafka).
    pub size_bytes: u32,
    /// Leader epoch of the writer that uploaded it.
    pub leader_epoch: i32,
    /// Unique id of the upload attempt; part of every object key of this segment.
    pub attempt: u64,
    pub state: SegmentState,
    pub checksums: ObjectChecksums,
}

impl RemoteSegment {
    /// Offset after the last one.
    pub fn end_offset(&self) -> i64 {
        self.last_offset.saturating_add(1)
    }
}

/// A partition's manifest. See the module docs for the invariants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentManifest {
    /// Commit counter: the manifest object `generation` N+1 may only be created once.
    pub generation: u64,
    /// Leader epoch of the last writer; writers with a lower epoch are fenced.
    pub leader_epoch: i32,
    /// Id of the last writer process (diagnostics; fencing is by epoch and conditional put).
    pub writer_id: u64,
    /// Remote log start offset: nothing below it is readable.
    pub log_start_offset: i64,
    segments: Vec<RemoteSegment>,
}

impl SegmentManifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a manifest from parts and checks its invariants.
    pub fn from_parts(
        generation: u64,
        leader_epoch: i32,
        writer_id: u64,
        log_start_offset: i64,
        segments: Vec<RemoteSegment>,
    ) -> Result<Self> {
        let m = SegmentManifest {
            generation,
            leader_epoch,
            writer_id,
            log_start_offset,
            segments,
        };
        m.validate("manifest")?;
        Ok(m)
    }

    /// All entries, oldest first.
    pub fn segments(&self) -> &[RemoteSegment] {
        &self.segments
    }

    /// Readable (copy-finished) segments, oldest first.
    pub fn readable(&self) -> impl Iterator<Item = &RemoteSegment> + '_ {
        self.segments
            .iter()
            .filter(|s| s.state == SegmentState::CopySegmentFinished)
    }

    /// Entries whose objects are being deleted (expired, not yet removed).
    pub fn pending_deletes(&self) -> impl Iterator<Item = &RemoteSegment> + '_ {
        self.segments
            .iter()
            .filter(|s| s.state == SegmentState::DeleteSegmentStarted)
    }

    /// The copy in progress, if any (always the last entry).
    pub fn copy_in_progress(&self) -> Option<&RemoteSegment> {
        self.segments
            .last()
            .filter(|s| s.state == SegmentState::CopySegmentStarted)
    }

    /// Exclusive end of the committed remote log: the offset after the last copy-finished
    /// segment, or the log start offset when none is committed. Local segments wholly
    /// below it are safe to delete locally (subject to local retention).
    pub fn committed_end_offset(&self) -> i64 {
        self.readable()
            .last()
            .map_or(self.log_start_offset, |s| s.end_offset())
    }

    /// Total bytes of copy-finished segments.
    pub fn remote_bytes(&self) -> u64 {
        self.readable().map(|s| u64::from(s.size_bytes)).sum()
    }

    /// The readable segment holding `offset` (binary search).
    pub fn find(&self, offset: i64) -> Option<&RemoteSegment> {
        if offset < self.log_start_offset {
            return None;
        }
        let idx = self.segments.partition_point(|s| s.last_offset < offset);
        self.segments
            .get(idx)
            .filter(|s| s.base_offset <= offset && s.state == SegmentState::CopySegmentFinished)
    }

    /// Refuses writers whose leader epoch is older than the manifest's.
    pub fn check_fence(&self, partition: &str, writer_epoch: i32) -> Result<()> {
        if writer_epoch < self.leader_epoch {
            return Err(TieringError::Fenced {
                partition: partition.to_string(),
                writer_epoch,
                manifest_epoch: self.leader_epoch,
            });
        }
        Ok(())
    }

    fn claim(&mut self, partition: &str, writer_epoch: i32, writer_id: u64) -> Result<()> {
        self.check_fence(partition, writer_epoch)?;
        self.leader_epoch = writer_epoch;
        self.writer_id = writer_id;
        Ok(())
    }

    /// COPY_SEGMENT_STARTED: records an upload attempt of `segment` (its state is ignored).
    /// A previous unfinished attempt is replaced and returned so its objects can be deleted.
    pub fn begin_copy(
        &mut self,
        partition: &str,
        mut segment: RemoteSegment,
        writer_epoch: i32,
        writer_id: u64,
    ) -> Result<Option<RemoteSegment>> {
        self.claim(partition, writer_epoch, writer_id)?;
        let stale = if self.copy_in_progress().is_some() {
            self.segments.pop()
        } else {
            None
        };
        let end = self.segments.last().map_or(i64::MIN, |s| s.end_offset());
        let bad = |reason: String| TieringError::ManifestInvariant {
            partition: partition.to_string(),
            reason,
        };
        if segment.base_offset < end || segment.base_offset < self.log_start_offset {
            let r = format!(
                "segment at base {} overlaps the remote log ending at {} (log start {})",
                segment.base_offset,
                end.max(self.log_start_offset),
                self.log_start_offset
            );
            if let Some(s) = stale {
                self.segments.push(s);
            }
            return Err(bad(r));
        }
        segment.state = SegmentState::CopySegmentStarted;
        self.segments.push(segment);
        if let Err(e) = self.validate(partition) {
            self.segments.pop();
            if let Some(s) = stale {
                self.segments.push(s);
            }
            return Err(e);
        }
        Ok(stale)
    }

    /// COPY_SEGMENT_FINISHED: the attempt `done.attempt` of the segment at `done.base_offset`
    /// is fully uploaded; its entry takes the final fields of `done` (last offset, max
    /// timestamp, size, checksums).
    pub fn finish_copy(
        &mut self,
        partition: &str,
        done: RemoteSegment,
        writer_epoch: i32,
        writer_id: u64,
    ) -> Result<()> {
        self.claim(partition, writer_epoch, writer_id)?;
        let no_readable = self.readable().next().is_none();
        let prev_end = self
            .segments
            .iter()
            .rev()
            .nth(1)
            .map_or(i64::MIN, |s| s.end_offset());
        let Some(last) = self.segments.last_mut().filter(|s| {
            s.state == SegmentState::CopySegmentStarted
                && s.base_offset == done.base_offset
                && s.attempt == done.attempt
        }) else {
            return Err(TieringError::ManifestInvariant {
                partition: partition.to_string(),
                reason: format!(
                    "no copy in progress for base offset {} attempt {:016x}",
                    done.base_offset, done.attempt
                ),
            });
        };
        if done.last_offset < done.base_offset || done.base_offset < prev_end {
            return Err(TieringError::ManifestInvariant {
                partition: partition.to_string(),
                reason: format!(
                    "finished segment {}..={} is invalid",
                    done.base_offset, done.last_offset
                ),
            });
        }
        *last = RemoteSegment {
            state: SegmentState::CopySegmentFinished,
            ..done
        };
        if no_readable && done.base_offset > self.log_start_offset {
            self.log_start_offset = done.base_offset;
        }
        Ok(())
    }

    /// DELETE_SEGMENT_STARTED: advances the log start offset to `new_log_start` and marks
    /// every readable segment wholly below it as being deleted. Returns the segments whose
    /// objects may now be deleted (after this manifest is committed). `new_log_start` must
    /// be a segment boundary and may not pass the committed end.
    pub fn begin_delete(
        &mut self,
        partition: &str,
        new_log_start: i64,
        writer_epoch: i32,
        writer_id: u64,
    ) -> Result<Vec<RemoteSegment>> {
        self.claim(partition, writer_epoch, writer_id)?;
        if new_log_start <= self.log_start_offset {
            return Ok(Vec::new());
        }
        let bad = |reason: String| TieringError::ManifestInvariant {
            partition: partition.to_string(),
            reason,
        };
        if new_log_start > self.committed_end_offset() {
            return Err(bad(format!(
                "log start {new_log_start} would pass the committed end {}",
                self.committed_end_offset()
            )));
        }
        if let Some(s) = self
            .readable()
            .find(|s| s.base_offset < new_log_start && new_log_start <= s.last_offset)
        {
            return Err(bad(format!(
                "log start {new_log_start} falls inside segment {}..={}",
                s.base_offset, s.last_offset
            )));
        }
        let mut marked = Vec::new();
        for s in &mut self.segments {
            if s.state == SegmentState::CopySegmentFinished && s.last_offset < new_log_start {
                s.state = SegmentState::DeleteSegmentStarted;
                marked.push(*s);
            }
        }
        self.log_start_offset = new_log_start;
        self.validate(partition)?;
        Ok(marked)
    }

    /// DELETE_SEGMENT_FINISHED: drops the entries of deleted segments (matched by base
    /// offset and attempt). Returns how many were dropped.
    pub fn finish_delete(&mut self, deleted: &[RemoteSegment]) -> usize {
        let before = self.segments.len();
        self.segments.retain(|s| {
            !(s.state == SegmentState::DeleteSegmentStarted
                && deleted
                    .iter()
                    .any(|d| d.base_offset == s.base_offset && d.attempt == s.attempt))
        });
        before - self.segments.len()
    }

    /// Checks the invariants listed in the module docs.
    pub fn validate(&self, partition: &str) -> Result<()> {
        let bad = |reason: String| {
            Err(TieringError::ManifestInvariant {
                partition: partition.to_string(),
                reason,
            })
        };
        let n = self.segments.len();
        for (i, s) in self.segments.iter().enumerate() {
            if s.last_offset < s.base_offset {
                return bad(format!(
                    "segment {} ends before it starts ({})",
                    s.base_offset, s.last_offset
                ));
            }
            if s.last_offset - s.base_offset > i64::from(u32::MAX) {
                return bad(format!(
                    "segment {} spans more than 2^32 offsets",
                    s.base_offset
                ));
            }
            if i > 0 && s.base_offset <= self.segments[i - 1].last_offset {
                return bad(format!(
                    "segment {} overlaps or precedes segment {}",
                    s.base_offset,
                    self.segments[i - 1].base_offset
                ));
            }
            match s.state {
                SegmentState::CopySegmentStarted if i + 1 != n => {
                    return bad(format!(
                        "copy of segment {} in progress but not last",
                        s.base_offset
                    ));
                }
                SegmentState::DeleteSegmentStarted if s.last_offset >= self.log_start_offset => {
                    return bad(format!(
                        "segment {} being deleted reaches the log start {}",
                        s.base_offset, self.log_start_offset
                    ));
                }
                SegmentState::CopySegmentFinished | SegmentState::CopySegmentStarted
                    if s.base_offset < self.log_start_offset =>
                {
                    return bad(format!(
                        "readable segment {} starts below the log start {}",
                        s.base_offset, self.log_start_offset
                    ));
                }
                SegmentState::DeleteSegmentFinished => {
                    return bad(format!(
                        "segment {} is delete-finished but still listed",
                        s.base_offset
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
