//! Request handlers: each takes the cluster state (already advanced to now), the connection's
//! context and a decoded request, and returns the response. Injected request failures
//! ([`Ctx::fail`]) are answered by putting the error code in every error field.

pub(super) mod cluster;
pub(super) mod configs;
pub(super) mod logs;
pub(super) mod quotas;
pub(super) mod reassign;
pub(super) mod records;

use std::net::SocketAddr;

use bytes::Bytes;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::model::BrokerId;

/// UNKNOWN_TOPIC_OR_PARTITION.
pub(super) const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// LEADER_NOT_AVAILABLE.
pub(super) const LEADER_NOT_AVAILABLE: i16 = 5;
/// NOT_LEADER_OR_FOLLOWER.
pub(super) const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// INVALID_REQUEST.
pub(super) const INVALID_REQUEST: i16 = 42;

/// What a handler knows about the connection a request came in on.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    /// The broker this connection is to.
    pub broker: BrokerId,
    /// Advertised address of every broker, by index.
    pub addrs: &'a [SocketAddr],
    /// Request version.
    pub version: i16,
    /// An injected failure: answer with this error code.
    pub fail: Option<i16>,
}

/// A `StrBytes` from a string.
pub(super) fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A topic name from a string.
pub(super) fn tn(s: &str) -> TopicName {
    TopicName(sb(s))
}

/// A carrier of the `kafka-protocol` UUID of 16 bytes: read its `.topic_id` (decoded from a
/// Metadata v10 topic entry, so this crate need not depend on `uuid` itself).
pub(super) fn uuid_of(bytes: &[u8; 16]) -> MetadataRequestTopic {
    let mut buf = Vec::with_capacity(18);
    buf.extend_from_slice(bytes);
    buf.extend_from_slice(&[0xff, 0xff]); // null name
    MetadataRequestTopic::decode(&mut Bytes::from(buf), 10).unwrap_or_default()
}
