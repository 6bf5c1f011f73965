//! Request frames: `[size][request header][request body]`.
//!
//! The request header is v1 (api key, api version, correlation id, nullable client id) or,
//! for flexible API versions, v2 (v1 plus tagged fields). Which one follows from the API key and
//! version, as the `kafka-protocol` crate's generated `request_header_version` says.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

use super::decoder::{Frame, SIZE_PREFIX_LEN, seal_frame};
use super::{DEFAULT_MAX_FRAME_SIZE, api_name};
use crate::{Result, WireError};

/// Bytes of the fixed part every request header version starts with: api key (i16),
/// api version (i16), correlation id (i32).
const FIXED_HEADER_LEN: usize = 8;

/// The request header version for an API key and version: 2 for flexible versions, else 1
/// (0 only for ControlledShutdown v0). Fails for an API key `kafka-protocol` does not know.
pub fn request_header_version(api_key: i16, api_version: i16) -> Result<i16> {
    let key = ApiKey::try_from(api_key).map_err(|()| WireError::Protocol {
        reason: format!("unknown API key {api_key} (version {api_version})"),
    })?;
    Ok(key.request_header_version(api_version))
}

/// A request header for `R` at `api_version`.
pub fn request_header<R: Request>(
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|id| StrBytes::from_string(id.to_owned())))
}

/// Encodes `header` and `body` into one frame (length prefix included), ready to write to a
/// socket. Fails when the header's API key is not `R`'s, the version is outside what
/// `kafka-protocol` can encode for `R`, a field does not fit the version, or the frame exceeds
/// [`DEFAULT_MAX_FRAME_SIZE`].
pub fn encode_request_frame<R: Request>(header: &RequestHeader, body: &R) -> Result<Bytes> {
    let version = header.request_api_version;
    let name = api_name(R::KEY);
    if header.request_api_key != R::KEY {
        return Err(WireError::Protocol {
            reason: format!(
                "request header names {} but the body is a {name} request",
                api_name(header.request_api_key)
            ),
        });
    }
    if version < R::VERSIONS.min || version > R::VERSIONS.max {
        return Err(WireError::Protocol {
            reason: format!(
                "{name} v{version} is outside the versions keel can encode ({})",
                R::VERSIONS
            ),
        });
    }
    let header_version = R::header_version(version);
    let encode_error = |what: &str, e: &dyn std::fmt::Display| WireError::Protocol {
        reason: format!("cannot encode {name} v{version} {what}: {e}"),
    };
    let header_len = header
        .compute_size(header_version)
        .map_err(|e| encode_error("request header", &e))?;
    let body_len = body
        .compute_size(version)
        .map_err(|e| encode_error("request body", &e))?;
    let mut buf = BytesMut::with_capacity(SIZE_PREFIX_LEN + header_len + body_len);
    buf.put_i32(0);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error("request header", &e))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error("request body", &e))?;
    seal_frame(buf, DEFAULT_MAX_FRAME_SIZE)
}

/// A request frame split into its decoded header and its still-encoded body.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The request header (its version chosen from the API key and version it carries).
    pub header: RequestHeader,
    /// The body bytes, decoded with [`DecodedRequest::body_as`].
    pub body: Bytes,
    /// Stream position of the first body byte.
    pub body_position: u64,
}

impl DecodedRequest {
    /// The API key, when `kafka-protocol` knows it.
    pub fn api_key(&self) -> Option<ApiKey> {
        ApiKey::try_from(self.header.request_api_key).ok()
    }

    /// Decodes the body as an `R` request at the header's version. Fails when the header is
    /// for another API, the version is one `R` does not have, the body is malformed, or bytes
    /// are left over after it.
    pub fn body_as<R: Request>(&self) -> Result<R> {
        let version = self.header.request_api_version;
        if self.header.request_api_key != R::KEY {
            return Err(WireError::Frame {
                position: self.body_position,
                reason: format!(
                    "expected a {} request, the header says {}",
                    api_name(R::KEY),
                    api_name(self.header.request_api_key)
                ),
            });
        }
        decode_body::<R>(&self.body, version, self.body_position, "request")
    }
}

/// Decodes `body` as a `T` at `version`, requiring that it uses every byte.
pub(crate) fn decode_body<T: Decodable>(
    body: &Bytes,
    version: i16,
    position: u64,
    what: &str,
) -> Result<T> {
    let mut cursor = body.clone();
    let value = T::decode(&mut cursor, version).map_err(|e| WireError::Frame {
        position,
        reason: format!("cannot decode {what} body v{version}: {e}"),
    })?;
    if !cursor.is_empty() {
        return Err(WireError::Frame {
            position: position + (body.len() - cursor.len()) as u64,
            reason: format!(
                "{} bytes left over after the {what} body v{version} ({} bytes used)",
                cursor.len(),
                body.len() - cursor.len()
            ),
        });
    }
    Ok(value)
}

/// Splits a request frame into its header and body. The header version is chosen from the API
/// key and version at the start of the frame; an unknown API key, a frame shorter than the
/// fixed header fields, or a malformed header is an error naming the position.
pub fn decode_request_frame(frame: &Frame) -> Result<DecodedRequest> {
    let payload = &frame.payload;
    let position = frame.payload_position();
    if payload.len() < FIXED_HEADER_LEN {
        return Err(WireError::Frame {
            position,
            reason: format!(
                "request frame of {} bytes is shorter than the {FIXED_HEADER_LEN}-byte header start",
                payload.len()
            ),
        });
    }
    let api_key = i16::from_be_bytes([payload[0], payload[1]]);
    let api_version = i16::from_be_bytes([payload[2], payload[3]]);
    let header_version =
        request_header_version(api_key, api_version).map_err(|_| WireError::Frame {
            position,
            reason: format!("unknown API key {api_key} (version {api_version})"),
        })?;
    let mut cursor = payload.clone();
    let header =
        RequestHeader::decode(&mut cursor, header_version).map_err(|e| WireError::Frame {
            position,
            reason: format!(
                "cannot decode request header v{header_version} of {} v{api_version}: {e}",
                api_name(api_key)
            ),
        })?;
    let header_len = payload.len() - cursor.len();
    Ok(DecodedRequest {
        header,
        body: cursor,
        body_position: position + header_len as u64,
    })
}
