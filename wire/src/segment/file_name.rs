//! Segment file names: `<base offset, 20 digits>.<kind>[.<transient suffix>]`, as Kafka's
//! `LogFileUtils` forms and parses them.

use std::fmt;

use crate::error::{Result, WireError};

/// What a segment-named file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentFileKind {
    /// `.log`: the record batches.
    Log,
    /// `.index`: offset → position.
    OffsetIndex,
    /// `.timeindex`: timestamp → offset.
    TimeIndex,
    /// `.txnindex`: aborted transactions.
    TxnIndex,
    /// `.snapshot`: producer state as of the offset in the name (not always a segment base).
    ProducerSnapshot,
}

impl SegmentFileKind {
    /// Every kind.
    pub const ALL: [SegmentFileKind; 5] = [
        SegmentFileKind::Log,
        SegmentFileKind::OffsetIndex,
        SegmentFileKind::TimeIndex,
        SegmentFileKind::TxnIndex,
        SegmentFileKind::ProducerSnapshot,
    ];

    /// The extension with its dot, e.g. `.timeindex`.
    pub fn suffix(self) -> &'static str {
        match self {
            SegmentFileKind::Log => ".log",
            SegmentFileKind::OffsetIndex => ".index",
            SegmentFileKind::TimeIndex => ".timeindex",
            SegmentFileKind::TxnIndex => ".txnindex",
            SegmentFileKind::ProducerSnapshot => ".snapshot",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.suffix().strip_prefix('.') == Some(ext))
    }
}

/// Suffixes Kafka appends while a file is being deleted, cleaned or swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransientSuffix {
    /// `.deleted`: scheduled for asynchronous deletion.
    Deleted,
    /// `.cleaned`: output of the log cleaner, not yet swapped in.
    Cleaned,
    /// `.swap`: being swapped in to replace an older segment.
    Swap,
}

impl TransientSuffix {
    /// The suffix with its dot.
    pub fn suffix(self) -> &'static str {
        match self {
            TransientSuffix::Deleted => ".deleted",
            TransientSuffix::Cleaned => ".cleaned",
            TransientSuffix::Swap => ".swap",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        [Self::Deleted, Self::Cleaned, Self::Swap]
            .into_iter()
            .find(|k| k.suffix().strip_prefix('.') == Some(ext))
    }
}

/// A parsed segment file name such as `00000000000000001234.timeindex.deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentFileName {
    /// The offset in the name: the segment's base offset, or for a `.snapshot` the offset
    /// the snapshot was taken at.
    pub base_offset: i64,
    pub kind: SegmentFileKind,
    /// Set while the file is being deleted, cleaned or swapped.
    pub transient: Option<TransientSuffix>,
}

impl SegmentFileName {
    /// A live (non-transient) file name.
    pub fn new(base_offset: i64, kind: SegmentFileKind) -> Self {
        SegmentFileName {
            base_offset,
            kind,
            transient: None,
        }
    }

    /// Parses a file name (no directory part). Like Kafka, the offset is the decimal number
    /// before the first dot; Kafka writes it zero-padded to 20 digits, and any width is
    /// accepted here. Errors name the file and say what is wrong.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |reason: String| WireError::FileFormat {
            file_kind: "segment file name",
            position: 0,
            reason: format!("{name:?}: {reason}"),
        };
        let Some((digits, rest)) = name.split_once('.') else {
            return Err(bad("no extension".into()));
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "the part before the first '.' is not a decimal offset".into()
            ));
        }
        let base_offset: i64 = digits
            .parse()
            .map_err(|_| bad("offset does not fit in a signed 64-bit integer".into()))?;
        let (ext, transient) = match rest.split_once('.') {
            None => (rest, None),
            Some((ext, t)) => match TransientSuffix::from_extension(t) {
                Some(t) => (ext, Some(t)),
                None => return Err(bad(format!("unknown suffix .{t}"))),
            },
        };
        let kind = SegmentFileKind::from_extension(ext)
            .ok_or_else(|| bad(format!("unknown extension .{ext}")))?;
        Ok(SegmentFileName {
            base_offset,
            kind,
            transient,
        })
    }

    /// The offset zero-padded to 20 digits, as Kafka's `filenamePrefixFromOffset`.
    pub fn prefix(base_offset: i64) -> String {
        format!("{base_offset:020}")
    }
}

impl fmt::Display for SegmentFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020}{}", self.base_offset, self.kind.suffix())?;
        if let Some(t) = self.transient {
            f.write_str(t.suffix())?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SegmentFileName {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_twenty_digits_and_parses_back() {
        let n = SegmentFileName::new(1234, SegmentFileKind::TimeIndex);
        assert_eq!(n.to_string(), "00000000000000001234.timeindex");
        assert_eq!(SegmentFileName::parse(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn parses_transient_suffixes() {
        let n = SegmentFileName::parse("00000000000000000007.log.deleted").unwrap();
        assert_eq!(n.base_offset, 7);
        assert_eq!(n.kind, SegmentFileKind::Log);
        assert_eq!(n.transient, Some(TransientSuffix::Deleted));
        assert_eq!(n.to_string(), "00000000000000000007.log.deleted");
    }

    #[test]
    fn rejects_non_segment_names() {
        for name in [
            "leader-epoch-checkpoint",
            "partition.metadata",
            "abc.log",
            "-1.log",
            "00000000000000000000.idx",
            "99999999999999999999.log",
            "00000000000000000000.log.bak",
        ] {
            assert!(SegmentFileName::parse(name).is_err(), "{name}");
        }
    }
}
