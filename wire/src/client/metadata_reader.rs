//! [`MetadataReader`]: reads a Metadata response body (versions 0-13) topic by topic and
//! partition by partition, straight from the received bytes, without building the whole
//! decoded response.
//!
//! `kafka-protocol` decodes a Metadata response into one `MetadataResponse` holding three
//! `Vec`s per partition; for a 100k-partition cluster that is tens of megabytes alive at once,
//! next to whatever the caller builds from it. The reader instead hands out borrowed views
//! ([`TopicHead`], [`PartitionEntry`] with [`BrokerIds`] over the raw bytes), so a caller can
//! fold the answer into its own compact form while the only copy of the response is the
//! frame itself. It allocates nothing, and an array length is never trusted beyond the bytes
//! that are left, so hostile bytes cannot make it allocate or panic.
//!
//! Layout ([Kafka protocol guide](https://kafka.apache.org/protocol#The_Messages_Metadata),
//! flexible versions from v9 per
//! [KIP-482](https://cwiki.apache.org/confluence/display/KAFKA/KIP-482%3A+The+Kafka+Protocol+should+Support+Optional+Tagged+Fields)):
//! `throttle_time_ms` (v3+), brokers, `cluster_id` (v2+), `controller_id` (v1+), topics,
//! `cluster_authorized_operations` (v8-10), `error_code` (v13+), tagged fields (v9+).

use crate::error::{Result, WireError};

/// Versions the reader understands.
pub const METADATA_VERSIONS: std::ops::RangeInclusive<i16> = 0..=13;

/// A cursor over the body bytes. Every read checks the bytes left.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Stream position of `bytes[0]`, for errors.
    position: u64,
}

impl<'a> Cursor<'a> {
    fn error(&self, reason: String) -> WireError {
        WireError::Frame {
            position: self.position + self.at as u64,
            reason: format!("Metadata response: {reason}"),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(self.error(format!("{what} needs {n} bytes, {left} left")));
        }
        let bytes = self.bytes;
        let slice = &bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn i16(&mut self, what: &str) -> Result<i16> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint of at most 5 bytes.
    fn uvarint(&mut self, what: &str) -> Result<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.take(1, what)?[0];
            value |= u32::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error(format!("{what}: varint longer than 5 bytes")))
    }

    /// An array or string length: `i32`/`i16` (-1 = null) or, flexible, a varint of length + 1
    /// (0 = null). `None` for null.
    fn length(&mut self, flexible: bool, short: bool, what: &str) -> Result<Option<usize>> {
        let n: i64 = if flexible {
            i64::from(self.uvarint(what)?) - 1
        } else if short {
            i64::from(self.i16(what)?)
        } else {
            i64::from(self.i32(what)?)
        };
        match n {
            -1 => Ok(None),
            n if n < -1 => Err(self.error(format!("{what}: negative length {n}"))),
            n => Ok(Some(n as usize)),
        }
    }

    fn string(&mut self, flexible: bool, what: &str) -> Result<Option<&'a str>> {
        let Some(len) = self.length(flexible, true, what)? else {
            return Ok(None);
        };
        let start = self.at;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| WireError::Frame {
                position: self.position + start as u64,
                reason: format!("Metadata response: {what} is not UTF-8: {e}"),
            })
    }

    /// An array of `i32`; null reads as empty.
    fn i32_array(&mut self, flexible: bool, what: &str) -> Result<BrokerIds<'a>> {
        let n = self.length(flexible, false, what)?.unwrap_or(0);
        let bytes = n
            .checked_mul(4)
            .ok_or_else(|| self.error(format!("{what}: length {n} overflows")))?;
        Ok(BrokerIds(self.take(bytes, what)?))
    }

    /// Skips a tagged-field section (flexible versions only).
    fn skip_tags(&mut self, flexible: bool, what: &str) -> Result<()> {
        if !flexible {
            return Ok(());
        }
        let count = self.uvarint(what)?;
        for _ in 0..count {
            self.uvarint(what)?;
            let size = self.uvarint(what)? as usize;
            self.take(size, what)?;
        }
        Ok(())
    }
}

/// Broker ids (or replica ids) in a response, read in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerIds<'a>(&'a [u8]);

impl<'a> BrokerIds<'a> {
    /// Number of ids.
    pub fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i32> + Clone + 'a {
        self.0
            .chunks_exact(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// One broker of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerEntry<'a> {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: &'a str,
    /// Advertised port (as sent; not yet checked).
    pub port: i32,
    /// `broker.rack` (v1+), if set.
    pub rack: Option<&'a str>,
}

/// What comes before the topics: throttle time, brokers, cluster id, controller id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// Throttle time in ms (0 before v3).
    pub throttle_time_ms: i32,
    /// The brokers in response order.
    pub brokers: Vec<BrokerEntry<'a>>,
    /// The cluster id (v2+).
    pub cluster_id: Option<&'a str>,
    /// The controller id (-1 when unknown or before v1).
    pub controller_id: i32,
}

/// One topic's fields before its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicHead<'a> {
    /// The topic's error code (0 = none).
    pub error_code: i16,
    /// The topic name (null only in v12+ answers by topic id).
    pub name: Option<&'a str>,
    /// The topic id (v10+; all zeros before).
    pub topic_id: [u8; 16],
    /// Whether the topic is internal (v1+).
    pub is_internal: bool,
    /// Number of partitions that follow.
    pub partitions: usize,
}

/// One partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEntry<'a> {
    /// The partition's error code (0 = none).
    pub error_code: i16,
    /// Partition index.
    pub partition: i32,
    /// Leader id, -1 when none.
    pub leader: i32,
    /// Leader epoch (v7+; -1 before).
    pub leader_epoch: i32,
    /// Replica assignment, preferred leader first.
    pub replicas: BrokerIds<'a>,
    /// In-sync replicas.
    pub isr: BrokerIds<'a>,
    /// Offline replicas (v5+).
    pub offline_replicas: BrokerIds<'a>,
}

/// Where the reader is in the topics array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between topics; this many left.
    Topics(usize),
    /// Inside a topic: partitions left in it, topics left after it.
    Partitions(usize, usize),
    /// Past the topics array.
    Done,
}

/// Reads a Metadata response body: first [`MetadataReader::new`] (the head), then topics
/// with [`MetadataReader::next_topic`], each topic's partitions with
/// [`MetadataReader::next_partition`] (partitions not read are skipped), then
/// [`MetadataReader::finish`].
#[derive(Debug, Clone)]
pub struct MetadataReader<'a> {
    cursor: Cursor<'a>,
    version: i16,
    state: State,
}

impl<'a> MetadataReader<'a> {
    /// Starts reading `body` (a response body of Metadata `version`; `position` is the stream
    /// position of its first byte, for errors) and reads everything before the topics.
    pub fn new(body: &'a [u8], version: i16, position: u64) -> Result<(Self, ResponseHead<'a>)> {
        let mut cursor = Cursor {
            bytes: body,
            at: 0,
            position,
        };
        if !METADATA_VERSIONS.contains(&version) {
            return Err(cursor.error(format!("version {version} is not supported (0-13)")));
        }
        let flexible = version >= 9;
        let throttle_time_ms = if version >= 3 {
            cursor.i32("throttle_time_ms")?
        } else {
            0
        };
        let count = cursor.length(flexible, false, "brokers")?.unwrap_or(0);
        let mut brokers = Vec::new();
        for _ in 0..count {
            let node_id = cursor.i32("broker node_id")?;
            let host = cursor.string(flexible, "broker host")?.unwrap_or_default();
            let port = cursor.i32("broker port")?;
            let rack = if version >= 1 {
                cursor.string(flexible, "broker rack")?
            } else {
                None
            };
            cursor.skip_tags(flexible, "broker tagged fields")?;
            // Pushed one by one: `count` is not trusted for a capacity.
            brokers.push(BrokerEntry {
                node_id,
                host,
                port,
                rack,
            });
        }
        let cluster_id = if version >= 2 {
            cursor.string(flexible, "cluster_id")?
        } else {
            None
        };
        let controller_id = if version >= 1 {
            cursor.i32("controller_id")?
        } else {
            -1
        };
        let topics = cursor.length(flexible, false, "topics")?.unwrap_or(0);
        let head = ResponseHead {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
        };
        let reader = MetadataReader {
            cursor,
            version,
            state: State::Topics(topics),
        };
        Ok((reader, head))
    }

    fn flexible(&self) -> bool {
        self.version >= 9
    }

    /// Reads what follows a topic's partitions.
    fn end_topic(&mut self) -> Result<()> {
        let flexible = self.flexible();
        if self.version >= 8 {
            self.cursor.i32("topic_authorized_operations")?;
        }
        self.cursor.skip_tags(flexible, "topic tagged fields")
    }

    /// The next topic's head, or `None` after the last one. Partitions of the previous topic
    /// that were not read are skipped.
    pub fn next_topic(&mut self) -> Result<Option<TopicHead<'a>>> {
        while let State::Partitions(..) = self.state {
            self.next_partition()?;
        }
        let left = match self.state {
            State::Topics(0) => {
                self.state = State::Done;
                return Ok(None);
            }
            State::Topics(n) => n,
            State::Done | State::Partitions(..) => return Ok(None),
        };
        let flexible = self.flexible();
        let c = &mut self.cursor;
        let error_code = c.i16("topic error_code")?;
        let name = c.string(flexible, "topic name")?;
        let mut topic_id = [0u8; 16];
        if self.version >= 10 {
            topic_id.copy_from_slice(c.take(16, "topic_id")?);
        }
        let is_internal = if self.version >= 1 {
            c.take(1, "is_internal")?[0] != 0
        } else {
            false
        };
        let partitions = c.length(flexible, false, "partitions")?.unwrap_or(0);
        self.state = State::Partitions(partitions, left - 1);
        Ok(Some(TopicHead {
            error_code,
            name,
            topic_id,
            is_internal,
            partitions,
        }))
    }

    /// The next partition of the current topic, or `None` after its last one.
    pub fn next_partition(&mut self) -> Result<Option<PartitionEntry<'a>>> {
        let (left, topics_after) = match self.state {
            State::Partitions(left, topics_after) => (left, topics_after),
            State::Topics(_) | State::Done => return Ok(None),
        };
        if left == 0 {
            self.end_topic()?;
            self.state = State::Topics(topics_after);
            return Ok(None);
        }
        let flexible = self.flexible();
        let version = self.version;
        let c = &mut self.cursor;
        let error_code = c.i16("partition error_code")?;
        let partition = c.i32("partition_index")?;
        let leader = c.i32("leader_id")?;
        let leader_epoch = if version >= 7 {
            c.i32("leader_epoch")?
        } else {
            -1
        };
        let replicas = c.i32_array(flexible, "replica_nodes")?;
        let isr = c.i32_array(flexible, "isr_nodes")?;
        let offline_replicas = if version >= 5 {
            c.i32_array(flexible, "offline_replicas")?
        } else {
            BrokerIds(&[])
        };
        c.skip_tags(flexible, "partition tagged fields")?;
        self.state = State::Partitions(left - 1, topics_after);
        Ok(Some(PartitionEntry {
            error_code,
            partition,
            leader,
            leader_epoch,
            replicas,
            isr,
            offline_replicas,
        }))
    }

    /// Skips any topics not read and reads the rest of the body; returns the top-level error
    /// code (v13+, else 0). Fails when bytes are left over.
    pub fn finish(mut self) -> Result<i16> {
        while self.next_topic()?.is_some() {}
        let flexible = self.flexible();
        let c = &mut self.cursor;
        if (8..=10).contains(&self.version) {
            c.i32("cluster_authorized_operations")?;
        }
        let error_code = if self.version >= 13 {
            c.i16("error_code")?
        } else {
            0
        };
        c.skip_tags(flexible, "tagged fields")?;
        let left = c.bytes.len() - c.at;
        if left > 0 {
            return Err(c.error(format!("{left} bytes left over after the body")));
        }
        Ok(error_code)
    }
}
