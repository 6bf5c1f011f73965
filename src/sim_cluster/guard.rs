//! Allocation guard for the request bodies the simulator decodes.
//!
//! `kafka-protocol` 0.18 decodes an array by calling `Vec::with_capacity(claimed length)`
//! before reading any element, so a 20-byte request claiming 2^31 elements makes it try to
//! allocate gigabytes. Before a body reaches the decoder, [`check_request`] walks its layout
//! (for the API key and version, see `guard_schemas`), without allocating, and refuses it when
//! an array claims more elements than the bytes left could hold, when it ends early, or when
//! bytes are left over. A body that passes has every element it claims, so the decoder
//! allocates at most a small multiple of the body's size.
//!
//! Only the versions [`advertised`] lists are walked; any other version is refused.

use std::ops::RangeInclusive;

use kafka_protocol::messages::ApiKey;

use super::guard_schemas;

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardError {
    /// Byte offset in the body where the walk stopped.
    pub at: usize,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (body byte {})", self.reason, self.at)
    }
}

/// The API versions the simulator serves (and the guard knows the layout of).
pub fn advertised(key: ApiKey) -> Option<RangeInclusive<i16>> {
    Some(match key {
        ApiKey::Produce => 3..=9,
        ApiKey::Fetch => 4..=12,
        ApiKey::ListOffsets => 1..=7,
        ApiKey::Metadata => 1..=12,
        ApiKey::ApiVersions => 0..=3,
        ApiKey::CreateTopics => 2..=7,
        ApiKey::DescribeConfigs => 1..=4,
        ApiKey::AlterPartitionReassignments => 0..=0,
        ApiKey::ListPartitionReassignments => 0..=0,
        ApiKey::ElectLeaders => 0..=2,
        ApiKey::DescribeLogDirs => 1..=4,
        ApiKey::DescribeClientQuotas => 0..=1,
        ApiKey::AlterClientQuotas => 0..=1,
        ApiKey::DescribeCluster => 0..=1,
        ApiKey::IncrementalAlterConfigs => 0..=1,
        _ => return None,
    })
}

/// Every API key the simulator serves.
pub const SERVED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DescribeConfigs,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::ElectLeaders,
    ApiKey::DescribeLogDirs,
    ApiKey::DescribeClientQuotas,
    ApiKey::AlterClientQuotas,
    ApiKey::DescribeCluster,
    ApiKey::IncrementalAlterConfigs,
];

/// Checks that `body`, a request of `api_key` at `version`, is safe to hand to
/// `kafka-protocol`'s decoder.
pub fn check_request(api_key: i16, version: i16, body: &[u8]) -> Result<(), GuardError> {
    let refuse = |reason: String| GuardError { at: 0, reason };
    let key =
        ApiKey::try_from(api_key).map_err(|()| refuse(format!("unknown API key {api_key}")))?;
    let range = advertised(key).ok_or_else(|| refuse(format!("{key:?} is not served")))?;
    if !range.contains(&version) {
        return Err(refuse(format!(
            "{key:?} v{version} is outside the served versions {}..={}",
            range.start(),
            range.end()
        )));
    }
    let mut w = Walker::new(body);
    guard_schemas::walk(key, version, &mut w)?;
    if w.remaining() != 0 {
        // Kafka ignores bytes after the body, and librdkafka sends some (Metadata v12 for
        // all topics carries 3 extra bytes), so they are tolerated here too.
        tracing::debug!(api = ?key, version, left = w.remaining(), "bytes left over after the request body");
    }
    Ok(())
}

/// An allocation-free reader of a body's layout. `flexible` selects compact encodings
/// (KIP-482) for strings, bytes and arrays.
#[derive(Debug)]
pub struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Whether the version being walked is flexible.
    pub flexible: bool,
}

impl<'a> Walker<'a> {
    /// A walker at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Walker<'a> {
        Walker {
            bytes,
            at: 0,
            flexible: false,
        }
    }

    /// Bytes not yet walked.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// An error at the current position.
    pub fn fail(&self, reason: String) -> GuardError {
        GuardError {
            at: self.at,
            reason,
        }
    }

    /// Skips `n` fixed bytes.
    pub fn fixed(&mut self, n: usize) -> Result<(), GuardError> {
        if self.remaining() < n {
            return Err(self.fail(format!(
                "body ends early: {n} bytes needed, {} left",
                self.remaining()
            )));
        }
        self.at += n;
        Ok(())
    }

    fn i16(&mut self) -> Result<i16, GuardError> {
        let at = self.at;
        self.fixed(2)?;
        Ok(i16::from_be_bytes([self.bytes[at], self.bytes[at + 1]]))
    }

    fn i32(&mut self) -> Result<i32, GuardError> {
        let at = self.at;
        self.fixed(4)?;
        let b = &self.bytes[at..at + 4];
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint, read as `kafka-protocol` reads it (at most 5 bytes).
    fn uvarint(&mut self) -> Result<u32, GuardError> {
        let mut value = 0u32;
        for i in 0..5 {
            let Some(&b) = self.bytes.get(self.at) else {
                return Err(self.fail("body ends inside a varint".into()));
            };
            self.at += 1;
            value |= u32::from(b & 0x7f).wrapping_shl(i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(self.fail("varint longer than 5 bytes".into()))
    }

    /// A (nullable) string: compact in flexible versions, else i16 length.
    pub fn string(&mut self) -> Result<(), GuardError> {
        let len = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i16()?)
        };
        if len < -1 {
            return Err(self.fail(format!("negative string length {len}")));
        }
        self.fixed(usize::try_from(len.max(0)).unwrap_or(usize::MAX))
    }

    /// (Nullable) bytes or records: compact in flexible versions, else i32 length.
    pub fn bytes(&mut self) -> Result<(), GuardError> {
        let len = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        if len < -1 {
            return Err(self.fail(format!("negative bytes length {len}")));
        }
        self.fixed(usize::try_from(len.max(0)).unwrap_or(usize::MAX))
    }

    /// A (nullable) array whose elements take at least `min_len` bytes each, walking each
    /// element with `element`.
    pub fn array(
        &mut self,
        min_len: usize,
        mut element: impl FnMut(&mut Walker<'a>) -> Result<(), GuardError>,
    ) -> Result<(), GuardError> {
        let count = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        if count < -1 {
            return Err(self.fail(format!("negative array length {count}")));
        }
        let count = u64::try_from(count.max(0)).unwrap_or(0);
        let room = (self.remaining() / min_len.max(1)) as u64;
        if count > room {
            return Err(self.fail(format!(
                "array claims {count} elements but only {} bytes are left (room for {room})",
                self.remaining()
            )));
        }
        for _ in 0..count {
            element(self)?;
        }
        Ok(())
    }

    /// An array of fixed-size elements (`i32` arrays: 4).
    pub fn fixed_array(&mut self, elem_len: usize) -> Result<(), GuardError> {
        self.array(elem_len, |w| w.fixed(elem_len))
    }

    /// The tagged-field section of a flexible struct (nothing in other versions). Every
    /// tagged field is skipped by its declared size.
    pub fn tags(&mut self) -> Result<(), GuardError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        if count as usize > self.remaining() / 2 {
            return Err(self.fail(format!("{count} tagged fields claimed")));
        }
        for _ in 0..count {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.fixed(size)?;
        }
        Ok(())
    }

    /// The minimum size of a struct's tag section (1 in flexible versions).
    pub fn tag_len(&self) -> usize {
        usize::from(self.flexible)
    }

    /// The minimum encoded size of a string (1 compact, 2 classic).
    pub fn str_len(&self) -> usize {
        if self.flexible { 1 } else { 2 }
    }

    /// The minimum encoded size of an array or bytes length (1 compact, 4 classic).
    pub fn len_len(&self) -> usize {
        if self.flexible { 1 } else { 4 }
    }
}
