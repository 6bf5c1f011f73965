//! Golden tests for `keel_wire::frame`: exact bytes of known requests and responses, header
//! versions the Kafka protocol specifies, and correlation-id matching.

// Test helpers outside #[test] fns unwrap and panic too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    api_versions_response::ApiVersion,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::frame::{
    Frame, FrameDecoder, InFlightRequests, decode_api_versions_response, decode_request_frame,
    decode_response_frame, encode_request_frame, encode_response_frame, request_header,
    request_header_version, response_header_version, retry_version,
};

#[test]
fn header_versions_follow_the_flexible_versions_of_each_api() {
    // Facts of the Kafka protocol: Metadata became flexible in v9, ApiVersions in v3, Fetch in v12.
    let metadata = ApiKey::Metadata as i16;
    let api_versions = ApiKey::ApiVersions as i16;
    let fetch = ApiKey::Fetch as i16;
    assert_eq!(request_header_version(metadata, 8).unwrap(), 1);
    assert_eq!(request_header_version(metadata, 9).unwrap(), 2);
    assert_eq!(response_header_version(metadata, 8).unwrap(), 0);
    assert_eq!(response_header_version(metadata, 9).unwrap(), 1);
    assert_eq!(request_header_version(api_versions, 2).unwrap(), 1);
    assert_eq!(request_header_version(api_versions, 3).unwrap(), 2);
    // ApiVersions responses keep header v0 even when flexible, so any client can read them.
    assert_eq!(response_header_version(api_versions, 3).unwrap(), 0);
    assert_eq!(request_header_version(fetch, 11).unwrap(), 1);
    assert_eq!(request_header_version(fetch, 12).unwrap(), 2);
    assert_eq!(response_header_version(fetch, 12).unwrap(), 1);
    let err = request_header_version(9999, 0).unwrap_err().to_string();
    assert!(err.contains("unknown API key 9999"), "{err}");
}

#[test]
fn api_versions_v3_request_has_these_exact_bytes() {
    let header = request_header::<ApiVersionsRequest>(3, 0x0102_0304, Some("ab"));
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("keel"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let frame = encode_request_frame(&header, &body).unwrap();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 0, 0, 21,            // size
        0, 18,                  // api key 18 (ApiVersions)
        0, 3,                   // api version 3
        1, 2, 3, 4,             // correlation id
        0, 2, b'a', b'b',       // client id: a non-compact nullable string even in header v2
        0,                      // header tagged fields
        5, b'k', b'e', b'e', b'l', // client software name (compact string: length + 1)
        2, b'1',                // client software version
        0,                      // body tagged fields
    ];
    assert_eq!(&frame[..], expected);

    let decoded = decode_request_frame(&Frame::new(frame.slice(4..))).unwrap();
    assert_eq!(decoded.header, header);
    assert_eq!(decoded.body_position, 17);
    assert_eq!(decoded.body_as::<ApiVersionsRequest>().unwrap(), body);
}

#[test]
fn metadata_v1_request_uses_header_v1_without_tagged_fields() {
    let header = request_header::<MetadataRequest>(1, 7, None);
    let frame =
        encode_request_frame(&header, &MetadataRequest::default().with_topics(None)).unwrap();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 0, 0, 14,
        0, 3, 0, 1,             // Metadata v1
        0, 0, 0, 7,             // correlation id
        0xff, 0xff,             // null client id
        0xff, 0xff, 0xff, 0xff, // null topic array: all topics
    ];
    assert_eq!(&frame[..], expected);
}

#[test]
fn api_versions_response_v3_has_header_v0() {
    let body = ApiVersionsResponse::default().with_api_keys(vec![
        ApiVersion::default()
            .with_api_key(3)
            .with_min_version(0)
            .with_max_version(12),
    ]);
    let frame = encode_response_frame::<ApiVersionsRequest>(42, 3, &body).unwrap();
    // size, correlation id, then the body right away: no header tagged-field byte.
    assert_eq!(&frame[4..8], &42i32.to_be_bytes());
    assert_eq!(
        &frame[8..10],
        &0i16.to_be_bytes(),
        "error code starts the body"
    );
    let mut in_flight = InFlightRequests::starting_at(42);
    in_flight.register(ApiKey::ApiVersions as i16, 3);
    let decoded = in_flight.complete(&Frame::new(frame.slice(4..))).unwrap();
    assert_eq!(decoded.body_position, 8);
    assert_eq!(decode_api_versions_response(&decoded).unwrap(), body);
}

#[test]
fn unsupported_version_answer_in_v0_format_is_understood() {
    // What a broker sends for an ApiVersions version it does not know: error 35 and a v0 body.
    #[rustfmt::skip]
    let payload: &[u8] = &[
        0, 0, 0, 9,             // correlation id
        0, 35,                  // error code UNSUPPORTED_VERSION
        0, 0, 0, 1,             // one api key entry (v0: INT32 array length)
        0, 18, 0, 0, 0, 3,      // ApiVersions 0..=3
    ];
    let decoded = decode_response_frame(&Frame::new(Bytes::from_static(payload)), 18, 4).unwrap();
    let response = decode_api_versions_response(&decoded).unwrap();
    assert_eq!(response.error_code, 35);
    assert_eq!(retry_version(&response), Some(3));
}

#[test]
fn responses_must_arrive_in_request_order() {
    let mut in_flight = InFlightRequests::new();
    let first = in_flight.register(ApiKey::Metadata as i16, 12);
    let second = in_flight.register(ApiKey::Metadata as i16, 12);
    assert_eq!((first, second), (0, 1));
    let response =
        encode_response_frame::<MetadataRequest>(second, 12, &MetadataResponse::default()).unwrap();
    let mut decoder = FrameDecoder::new();
    decoder.push(&response);
    let frame = decoder.next_frame().unwrap().unwrap();
    match in_flight.complete(&frame).unwrap_err() {
        WireError::Frame { position, reason } => {
            assert_eq!(position, 4);
            assert!(reason.contains("correlation id 1, expected 0"), "{reason}");
            assert!(reason.contains("Metadata v12"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(in_flight.len(), 2, "a refused response completes nothing");
}

#[test]
fn response_without_request_in_flight_is_refused() {
    let frame =
        encode_response_frame::<MetadataRequest>(5, 1, &MetadataResponse::default()).unwrap();
    let err = InFlightRequests::new()
        .complete(&Frame::new(frame.slice(4..)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no request in flight"), "{err}");
}

#[test]
fn correlation_ids_wrap_to_zero() {
    let mut in_flight = InFlightRequests::starting_at(i32::MAX);
    assert_eq!(in_flight.register(3, 1), i32::MAX);
    assert_eq!(in_flight.register(3, 1), 0);
}

#[test]
fn body_of_another_api_or_with_leftover_bytes_is_refused() {
    let header = request_header::<MetadataRequest>(1, 1, None);
    let frame =
        encode_request_frame(&header, &MetadataRequest::default().with_topics(None)).unwrap();
    let decoded = decode_request_frame(&Frame::new(frame.slice(4..))).unwrap();
    let err = decoded
        .body_as::<ApiVersionsRequest>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected a ApiVersions request, the header says Metadata"),
        "{err}"
    );

    let mut padded = frame.slice(4..).to_vec();
    padded.extend_from_slice(&[9, 9, 9]);
    let decoded = decode_request_frame(&Frame::new(padded)).unwrap();
    let err = decoded
        .body_as::<MetadataRequest>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 bytes left over"), "{err}");
}

#[test]
fn mismatched_header_and_body_do_not_encode() {
    let header = request_header::<ApiVersionsRequest>(0, 1, None);
    let err = encode_request_frame(&header, &MetadataRequest::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("names ApiVersions but the body is a Metadata request"),
        "{err}"
    );
    let header = request_header::<MetadataRequest>(99, 1, None);
    let err = encode_request_frame(&header, &MetadataRequest::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("Metadata v99 is outside"), "{err}");
}

#[test]
fn short_or_unknown_request_frames_are_errors_with_positions() {
    let err = decode_request_frame(&Frame {
        position: 100,
        payload: Bytes::from_static(&[0, 3, 0]),
    })
    .unwrap_err();
    assert!(
        matches!(err, WireError::Frame { position: 104, .. }),
        "{err:?}"
    );
    let err = decode_request_frame(&Frame::new(Bytes::from_static(&[
        0x7f, 0, 0, 1, 0, 0, 0, 1,
    ])))
    .unwrap_err();
    assert!(err.to_string().contains("unknown API key 32512"), "{err}");
}
