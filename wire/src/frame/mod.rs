//! # Kafka request/response framing
//!
//! Owns the bytes between a socket and the `kafka-protocol` crate's generated messages:
//!
//! - [`decoder`]: size-prefixed frames (a big-endian `i32` length, then that many bytes) with a
//!   maximum-size guard, and [`FrameDecoder`], a sans-IO decoder that takes bytes as they arrive
//!   from a socket, in any split, and yields whole [`Frame`]s. Errors carry the stream position.
//! - [`request`]: request headers v1/v2 (v2 for flexible versions,
//!   [KIP-482](https://cwiki.apache.org/confluence/display/KAFKA/KIP-482%3A+The+Kafka+Protocol+should+Support+Optional+Tagged+Fields)),
//!   encoding a header + body into a frame and decoding a frame back into a header + body.
//! - [`response`]: response headers v0/v1, encoding and decoding responses, and
//!   [`InFlightRequests`], which hands out correlation ids and matches each response to its
//!   request (Kafka answers the requests of one connection in order).
//! - [`negotiate`](mod@negotiate): picking the highest version both sides support from an ApiVersions response
//!   ([KIP-35](https://cwiki.apache.org/confluence/display/KAFKA/KIP-35+-+Retrieving+protocol+version),
//!   [KIP-511](https://cwiki.apache.org/confluence/display/KAFKA/KIP-511%3A+Collect+and+Expose+Client%27s+Name+and+Version+in+the+Brokers)
//!   for the v0 fallback answer to an ApiVersions version the broker does not know).
//!
//! The header version follows from the API key and version (`ApiKey::request_header_version`
//! and `ApiKey::response_header_version` in `kafka-protocol`), so callers never pick it.
//!
//! Bad bytes give a [`WireError::Frame`](crate::WireError::Frame) naming the byte position; the
//! framing and header layers never panic. Message bodies are decoded by `kafka-protocol` 0.18,
//! which pre-allocates each array from its claimed length before reading it: hostile bytes can
//! make it attempt a multi-gigabyte allocation (and abort). keel guards the ApiVersions response,
//! the first thing read from any peer (`guard`); other bodies should only be decoded from peers
//! that passed ApiVersions, and the proper fix is upstream (cap the capacity at the bytes left).

pub mod decoder;
mod guard;
pub mod negotiate;
pub mod request;
pub mod response;

pub use decoder::{DEFAULT_MAX_FRAME_SIZE, Frame, FrameDecoder, SIZE_PREFIX_LEN};
pub use negotiate::{
    common_version, decode_api_versions_response, negotiate, negotiate_version, retry_version,
    supported_range,
};
pub use request::{
    DecodedRequest, decode_request_frame, encode_request_frame, request_header,
    request_header_version,
};
pub use response::{
    DecodedResponse, InFlightRequests, PendingRequest, decode_response_frame,
    encode_response_frame, response_header_version,
};

/// The name of an API key for messages ("Metadata", "ApiVersions"), or `key N` when
/// `kafka-protocol` does not know it.
pub fn api_name(api_key: i16) -> String {
    match kafka_protocol::messages::ApiKey::try_from(api_key) {
        Ok(key) => format!("{key:?}"),
        Err(()) => format!("unknown API key {api_key}"),
    }
}
