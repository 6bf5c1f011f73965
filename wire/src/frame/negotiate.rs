//! Version negotiation from an ApiVersions response
//! ([KIP-35](https://cwiki.apache.org/confluence/display/KAFKA/KIP-35+-+Retrieving+protocol+version)):
//! for each API, use the highest version that both keel and the broker support.
//!
//! When a broker gets an ApiVersions request of a version it does not know, it answers with
//! error `UNSUPPORTED_VERSION` (35) and a **v0** body listing its versions, so the client can
//! retry with a version it has;
//! [`decode_api_versions_response`] reads that answer too.

use std::ops::RangeInclusive;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Message, Request};

use super::api_name;
use super::guard::check_api_versions_response;
use super::request::decode_body;
use super::response::DecodedResponse;
use crate::{Result, WireError};

/// Kafka's `UNSUPPORTED_VERSION` error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// The versions of `api_key` the broker lists in its ApiVersions response, if any.
pub fn supported_range(api_key: i16, theirs: &ApiVersionsResponse) -> Option<RangeInclusive<i16>> {
    theirs
        .api_keys
        .iter()
        .find(|entry| entry.api_key == api_key)
        .map(|entry| entry.min_version..=entry.max_version)
}

/// The highest version in both ranges, if they overlap.
pub fn common_version(ours: &RangeInclusive<i16>, theirs: &RangeInclusive<i16>) -> Option<i16> {
    let low = (*ours.start()).max(*theirs.start());
    let high = (*ours.end()).min(*theirs.end());
    (low <= high).then_some(high)
}

/// The highest version of `api_key` that keel (`ours`) and the broker (`theirs`) both support.
/// Fails with an error naming the API when the broker does not list it or the ranges do not
/// overlap.
pub fn negotiate_version(
    api_key: ApiKey,
    ours: RangeInclusive<i16>,
    theirs: &ApiVersionsResponse,
) -> Result<i16> {
    let key = api_key as i16;
    let name = api_name(key);
    let Some(their_range) = supported_range(key, theirs) else {
        return Err(WireError::Protocol {
            reason: format!(
                "the broker does not support {name} (API key {key}); keel speaks versions {}..={}",
                ours.start(),
                ours.end()
            ),
        });
    };
    common_version(&ours, &their_range).ok_or_else(|| WireError::Protocol {
        reason: format!(
            "no common version for {name} (API key {key}): keel speaks {}..={}, the broker {}..={}",
            ours.start(),
            ours.end(),
            their_range.start(),
            their_range.end()
        ),
    })
}

/// [`negotiate_version`] for request type `R`, with every version `kafka-protocol` can encode
/// for it as keel's range.
pub fn negotiate<R: Request>(theirs: &ApiVersionsResponse) -> Result<i16> {
    let key = ApiKey::try_from(R::KEY).map_err(|()| WireError::Protocol {
        reason: format!("unknown API key {}", R::KEY),
    })?;
    negotiate_version(key, R::VERSIONS.min..=R::VERSIONS.max, theirs)
}

/// Decodes an ApiVersions response, including the v0-format answer a broker gives (with error
/// code 35, `UNSUPPORTED_VERSION`) to a request version it does not know. The caller then
/// retries with [`retry_version`] when the error code is 35.
///
/// Arrays claiming more elements than the body could hold are refused before decoding (see
/// `frame/guard.rs`): a hostile peer cannot make keel attempt a huge allocation here.
pub fn decode_api_versions_response(response: &DecodedResponse) -> Result<ApiVersionsResponse> {
    let first_try =
        check_api_versions_response(&response.body, response.api_version, response.body_position)
            .and_then(|()| response.body_as::<ApiVersionsRequest>());
    match first_try {
        Ok(decoded) => Ok(decoded),
        Err(err) => {
            let error_code = (response.body.len() >= 2)
                .then(|| i16::from_be_bytes([response.body[0], response.body[1]]));
            if response.api_version > 0 && error_code == Some(UNSUPPORTED_VERSION) {
                check_api_versions_response(&response.body, 0, response.body_position)?;
                decode_body::<ApiVersionsResponse>(
                    &response.body,
                    0,
                    response.body_position,
                    "ApiVersions v0 fallback response",
                )
            } else {
                Err(err)
            }
        }
    }
}

/// The ApiVersions version to retry with after an `UNSUPPORTED_VERSION` answer: the highest
/// both sides know, or `None` when the broker listed no usable ApiVersions range.
pub fn retry_version(theirs: &ApiVersionsResponse) -> Option<i16> {
    let ours = ApiVersionsRequest::VERSIONS.min..=ApiVersionsRequest::VERSIONS.max;
    common_version(&ours, &supported_range(ApiKey::ApiVersions as i16, theirs)?)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    use super::*;

    fn broker(ranges: &[(i16, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            ranges
                .iter()
                .map(|&(key, min, max)| {
                    ApiVersion::default()
                        .with_api_key(key)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
    }

    #[test]
    fn picks_the_highest_common_version() {
        let theirs = broker(&[(3, 0, 12), (18, 0, 3)]);
        assert_eq!(
            negotiate_version(ApiKey::Metadata, 4..=13, &theirs).unwrap(),
            12
        );
        assert_eq!(
            negotiate_version(ApiKey::Metadata, 0..=7, &theirs).unwrap(),
            7
        );
        assert_eq!(
            negotiate_version(ApiKey::ApiVersions, 3..=3, &theirs).unwrap(),
            3
        );
    }

    #[test]
    fn no_overlap_names_the_api_and_both_ranges() {
        let theirs = broker(&[(3, 0, 12)]);
        let err = negotiate_version(ApiKey::Metadata, 13..=13, &theirs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Metadata") && err.contains("13..=13") && err.contains("0..=12"),
            "{err}"
        );
    }

    #[test]
    fn missing_api_names_the_api() {
        let theirs = broker(&[(3, 0, 12)]);
        let err = negotiate_version(ApiKey::DescribeLogDirs, 0..=4, &theirs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not support DescribeLogDirs (API key 35)"),
            "{err}"
        );
    }

    #[test]
    fn negotiate_uses_the_crates_range() {
        use kafka_protocol::messages::MetadataRequest;
        let theirs = broker(&[(3, 0, 12)]);
        assert_eq!(
            negotiate::<MetadataRequest>(&theirs).unwrap(),
            12.min(MetadataRequest::VERSIONS.max)
        );
    }
}
