//! Response frames: `[size][response header][response body]`, and matching responses to the
//! requests they answer.
//!
//! The response header is v0 (correlation id) or, for flexible versions, v1 (plus tagged
//! fields); ApiVersions responses always use v0 so that a client that does not yet know the
//! broker's versions can read them. A response does not say which API it answers: the header
//! version and body schema follow from the request, which [`InFlightRequests`] remembers per
//! correlation id.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request};

use super::decoder::{Frame, SIZE_PREFIX_LEN, seal_frame};
use super::request::{decode_body, request_header};
use super::{DEFAULT_MAX_FRAME_SIZE, api_name};
use crate::{Result, WireError};

/// The response header version for an API key and version: 1 for flexible versions (except
/// ApiVersions), else 0. Fails for an API key `kafka-protocol` does not know.
pub fn response_header_version(api_key: i16, api_version: i16) -> Result<i16> {
    let key = ApiKey::try_from(api_key).map_err(|()| WireError::Protocol {
        reason: format!("unknown API key {api_key} (version {api_version})"),
    })?;
    Ok(key.response_header_version(api_version))
}

/// Encodes the response to an `R` request at `api_version` into one frame (length prefix
/// included). This is the broker side, used by keel's simulated cluster and by tests.
pub fn encode_response_frame<R: Request>(
    correlation_id: i32,
    api_version: i16,
    body: &R::Response,
) -> Result<Bytes> {
    let name = api_name(R::KEY);
    if api_version < R::VERSIONS.min || api_version > R::VERSIONS.max {
        return Err(WireError::Protocol {
            reason: format!(
                "{name} v{api_version} is outside the versions keel can encode ({})",
                R::VERSIONS
            ),
        });
    }
    let header_version = <R::Response as HeaderVersion>::header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let encode_error = |what: &str, e: &dyn std::fmt::Display| WireError::Protocol {
        reason: format!("cannot encode {name} v{api_version} {what}: {e}"),
    };
    let header_len = header
        .compute_size(header_version)
        .map_err(|e| encode_error("response header", &e))?;
    let body_len = body
        .compute_size(api_version)
        .map_err(|e| encode_error("response body", &e))?;
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX_LEN + header_len + body_len);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error("response header", &e))?;
    body.encode(&mut buf, api_version)
        .map_err(|e| encode_error("response body", &e))?;
    seal_frame(buf, DEFAULT_MAX_FRAME_SIZE)
}

/// A response frame split into its decoded header and its still-encoded body, with the API it
/// answers.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedResponse {
    /// API key of the request this answers.
    pub api_key: i16,
    /// Version of the request this answers (and of this response).
    pub api_version: i16,
    /// The response header.
    pub header: ResponseHeader,
    /// The body bytes, decoded with [`DecodedResponse::body_as`].
    pub body: Bytes,
    /// Stream position of the first body byte.
    pub body_position: u64,
}

impl DecodedResponse {
    /// Decodes the body as the response to an `R` request. Fails when this response answers
    /// another API, the body is malformed, or bytes are left over after it.
    pub fn body_as<R: Request>(&self) -> Result<R::Response> {
        if self.api_key != R::KEY {
            return Err(WireError::Frame {
                position: self.body_position,
                reason: format!(
                    "this response answers {}, not {}",
                    api_name(self.api_key),
                    api_name(R::KEY)
                ),
            });
        }
        decode_body::<R::Response>(&self.body, self.api_version, self.body_position, "response")
    }
}

/// Splits a response frame to an `api_key` request at `api_version` into its header and body.
pub fn decode_response_frame(
    frame: &Frame,
    api_key: i16,
    api_version: i16,
) -> Result<DecodedResponse> {
    let position = frame.payload_position();
    let header_version = response_header_version(api_key, api_version)?;
    let mut cursor = frame.payload.clone();
    let header =
        ResponseHeader::decode(&mut cursor, header_version).map_err(|e| WireError::Frame {
            position,
            reason: format!(
                "cannot decode response header v{header_version} of {} v{api_version}: {e}",
                api_name(api_key)
            ),
        })?;
    let header_len = frame.payload.len() - cursor.len();
    Ok(DecodedResponse {
        api_key,
        api_version,
        header,
        body: cursor,
        body_position: position + header_len as u64,
    })
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRequest {
    pub correlation_id: i32,
    pub api_key: i16,
    pub api_version: i16,
}

/// Correlation ids for one connection: hands them out, remembers which API and version each
/// request was, and matches every response to the oldest request still in flight, since a
/// Kafka broker answers the requests of one connection in order.
///
/// Requests that get no response (Produce with `acks=0`) must not be registered.
#[derive(Debug, Default)]
pub struct InFlightRequests {
    next_correlation_id: i32,
    pending: VecDeque<PendingRequest>,
}

impl InFlightRequests {
    /// No request in flight; correlation ids start at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts correlation ids at `first` (wrapping back to 0 after `i32::MAX`).
    pub fn starting_at(first: i32) -> Self {
        InFlightRequests {
            next_correlation_id: first.max(0),
            pending: VecDeque::new(),
        }
    }

    /// Registers a request about to be sent and returns its correlation id.
    pub fn register(&mut self, api_key: i16, api_version: i16) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = if correlation_id == i32::MAX {
            0
        } else {
            correlation_id + 1
        };
        self.pending.push_back(PendingRequest {
            correlation_id,
            api_key,
            api_version,
        });
        correlation_id
    }

    /// Registers an `R` request at `api_version` and encodes it into a frame.
    pub fn encode<R: Request>(
        &mut self,
        api_version: i16,
        client_id: Option<&str>,
        body: &R,
    ) -> Result<Bytes> {
        let correlation_id = self.next_correlation_id;
        let header = request_header::<R>(api_version, correlation_id, client_id);
        let frame = super::request::encode_request_frame(&header, body)?;
        self.register(R::KEY, api_version);
        Ok(frame)
    }

    /// Requests sent and not yet answered.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no request is waiting for a response.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The oldest request in flight: the one the next response must answer.
    pub fn oldest(&self) -> Option<&PendingRequest> {
        self.pending.front()
    }

    /// Matches a response frame to the oldest request in flight and decodes its header.
    /// Fails when nothing is in flight, or when the correlation id is not the expected one
    /// (the connection is then out of step and should be closed).
    pub fn complete(&mut self, frame: &Frame) -> Result<DecodedResponse> {
        let position = frame.payload_position();
        let payload = &frame.payload;
        if payload.len() < 4 {
            return Err(WireError::Frame {
                position,
                reason: format!(
                    "response frame of {} bytes has no room for a correlation id",
                    payload.len()
                ),
            });
        }
        let correlation_id = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        let Some(expected) = self.pending.front().copied() else {
            return Err(WireError::Frame {
                position,
                reason: format!(
                    "response with correlation id {correlation_id} but no request in flight"
                ),
            });
        };
        if correlation_id != expected.correlation_id {
            return Err(WireError::Frame {
                position,
                reason: format!(
                    "response with correlation id {correlation_id}, expected {} (the oldest request in flight, {} v{})",
                    expected.correlation_id,
                    api_name(expected.api_key),
                    expected.api_version
                ),
            });
        }
        let decoded = decode_response_frame(frame, expected.api_key, expected.api_version)?;
        self.pending.pop_front();
        Ok(decoded)
    }
}
