//! Property tests for `keel_wire::frame`: frames, requests and responses round-trip through
//! keel's encoder and the sans-IO decoder whatever way the stream is split, and arbitrary bytes
//! never make the decoder or the header decoders panic.

// Test helpers outside #[test] fns unwrap and panic too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::frame::{
    Frame, FrameDecoder, InFlightRequests, decode_api_versions_response, decode_request_frame,
    decode_response_frame, encode_request_frame, encode_response_frame, request_header,
};
use proptest::prelude::*;

/// Pushes `stream` into a decoder in pieces cut at `cuts` (positions, any order, any count) and
/// returns the frames and the final result of `finish`.
fn decode_in_pieces(
    decoder: &mut FrameDecoder,
    stream: &[u8],
    cuts: &[usize],
) -> (Vec<Frame>, Result<(), WireError>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.push(0);
    cuts.push(stream.len());
    cuts.sort_unstable();
    let mut frames = Vec::new();
    for pair in cuts.windows(2) {
        decoder.push(&stream[pair[0]..pair[1]]);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Err(e)),
            }
        }
    }
    let end = decoder.finish();
    (frames, end)
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,40}"
}

proptest! {
    #[test]
    fn frames_round_trip_whatever_the_stream_split(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut positions = Vec::new();
        for payload in &payloads {
            positions.push(stream.len() as u64);
            stream.extend_from_slice(&Frame::new(payload.clone()).to_wire(1 << 20).unwrap());
        }
        let (frames, end) = decode_in_pieces(&mut FrameDecoder::new(), &stream, &cuts);
        prop_assert!(end.is_ok());
        prop_assert_eq!(frames.len(), payloads.len());
        for ((frame, payload), position) in frames.iter().zip(&payloads).zip(&positions) {
            prop_assert_eq!(&frame.payload[..], &payload[..]);
            prop_assert_eq!(frame.position, *position);
        }
    }

    #[test]
    fn truncated_stream_ends_in_an_error_at_the_partial_frame(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..5),
        cut_back in 1usize..300,
    ) {
        let mut stream = Vec::new();
        let mut last_start = 0;
        for payload in &payloads {
            last_start = stream.len();
            stream.extend_from_slice(&Frame::new(payload.clone()).to_wire(1 << 20).unwrap());
        }
        // Cut between 1 byte and all but 1 byte of the last frame.
        let last_len = stream.len() - last_start;
        let keep = stream.len() - (1 + cut_back % (last_len - 1));
        let (frames, end) = decode_in_pieces(&mut FrameDecoder::new(), &stream[..keep], &[]);
        prop_assert_eq!(frames.len(), payloads.len() - 1);
        match end {
            Err(WireError::Truncated { position, .. }) => prop_assert_eq!(position, last_start as u64),
            other => prop_assert!(false, "expected Truncated, got {:?}", other),
        }
    }

    #[test]
    fn metadata_requests_round_trip_at_every_version(
        version in 1i16..=13,
        correlation_id in any::<i32>(),
        client_id in prop::option::of(name()),
        topics in prop::option::of(prop::collection::vec(name(), 0..6)),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let body = MetadataRequest::default().with_topics(topics.map(|names| {
            names
                .into_iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(n)))))
                .collect()
        }));
        let header = request_header::<MetadataRequest>(version, correlation_id, client_id.as_deref());
        let wire = encode_request_frame(&header, &body).unwrap();
        let (frames, end) = decode_in_pieces(&mut FrameDecoder::new(), &wire, &cuts);
        prop_assert!(end.is_ok());
        prop_assert_eq!(frames.len(), 1);
        let decoded = decode_request_frame(&frames[0]).unwrap();
        prop_assert_eq!(&decoded.header, &header);
        prop_assert_eq!(decoded.api_key(), Some(ApiKey::Metadata));
        prop_assert_eq!(decoded.body_as::<MetadataRequest>().unwrap(), body);
    }

    #[test]
    fn api_versions_requests_round_trip_with_header_tagged_fields(
        version in 0i16..=4,
        correlation_id in any::<i32>(),
        client_id in prop::option::of(name()),
        software in ("[a-z]{1,10}", "[0-9.]{1,8}"),
        tagged in prop::collection::btree_map(0i32..50, prop::collection::vec(any::<u8>(), 0..20), 0..4),
    ) {
        let flexible = version >= 3;
        let mut header = request_header::<ApiVersionsRequest>(version, correlation_id, client_id.as_deref());
        let mut body = ApiVersionsRequest::default();
        if flexible {
            // Header v2 and flexible bodies carry tagged fields and the client software.
            header = header.with_unknown_tagged_fields(tagged.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect());
            body = body
                .with_client_software_name(StrBytes::from_string(software.0))
                .with_client_software_version(StrBytes::from_string(software.1));
        }
        let wire = encode_request_frame(&header, &body).unwrap();
        let mut decoder = FrameDecoder::new();
        decoder.push(&wire);
        let decoded = decode_request_frame(&decoder.next_frame().unwrap().unwrap()).unwrap();
        prop_assert_eq!(&decoded.header, &header);
        prop_assert_eq!(decoded.body_as::<ApiVersionsRequest>().unwrap(), body);
    }

    #[test]
    fn metadata_responses_round_trip_and_match_their_requests(
        version in 1i16..=12,
        first_correlation_id in 0i32..i32::MAX,
        brokers in prop::collection::vec((0i32..5000, name(), 1i32..65536, prop::option::of(name())), 0..6),
    ) {
        let body = MetadataResponse::default().with_brokers(
            brokers
                .into_iter()
                .map(|(id, host, port, rack)| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port)
                        .with_rack(rack.map(StrBytes::from_string))
                })
                .collect(),
        );
        let mut in_flight = InFlightRequests::starting_at(first_correlation_id);
        let correlation_id = in_flight.register(ApiKey::Metadata as i16, version);
        let wire = encode_response_frame::<MetadataRequest>(correlation_id, version, &body).unwrap();
        let (frames, end) = decode_in_pieces(&mut FrameDecoder::new(), &wire, &[]);
        prop_assert!(end.is_ok());
        let decoded = in_flight.complete(&frames[0]).unwrap();
        prop_assert_eq!(decoded.header.correlation_id, correlation_id);
        prop_assert!(in_flight.is_empty());
        prop_assert_eq!(decoded.body_as::<MetadataRequest>().unwrap(), body);
    }

    /// The frame decoder, fed arbitrary bytes in arbitrary pieces with an arbitrary size limit,
    /// returns frames or an error, never panics, and every position it reports lies inside the
    /// stream. Every frame it yields then goes through the request and response header decoders.
    #[test]
    fn frame_decoding_arbitrary_bytes_never_panics(
        stream in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max_frame_size in 0usize..4096,
        api_key in -2i16..100,
        api_version in -2i16..20,
    ) {
        let mut decoder = FrameDecoder::with_max_frame_size(max_frame_size);
        let (frames, end) = decode_in_pieces(&mut decoder, &stream, &cuts);
        let mut consumed = 0u64;
        for frame in &frames {
            prop_assert_eq!(frame.position, consumed);
            prop_assert!(frame.payload.len() <= max_frame_size);
            consumed += 4 + frame.payload.len() as u64;
            let _ = decode_request_frame(frame);
            let _ = decode_response_frame(frame, api_key, api_version);
            let mut in_flight = InFlightRequests::new();
            in_flight.register(api_key, api_version);
            let _ = in_flight.complete(frame);
        }
        match end {
            Ok(()) => prop_assert_eq!(consumed, stream.len() as u64),
            Err(WireError::Frame { position, .. }) | Err(WireError::Truncated { position, .. }) => {
                prop_assert_eq!(position, consumed);
                prop_assert!(position < stream.len() as u64);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    /// Arbitrary bytes as an ApiVersions response body at every version: an error or a
    /// value, never a panic, and never a huge allocation from a claimed array length.
    #[test]
    fn api_versions_response_decoding_arbitrary_bytes_never_panics(
        mut body in prop::collection::vec(any::<u8>(), 0..512),
        version in 0i16..=4,
        big_count in any::<bool>(),
    ) {
        if big_count && body.len() >= 6 {
            // Make the api_keys array claim far more elements than there are bytes.
            if version >= 3 {
                body[2..6].copy_from_slice(&[0xff, 0xff, 0xff, 0x0f]);
            } else {
                body[2..6].copy_from_slice(&0x7fff_ffffi32.to_be_bytes());
            }
        }
        let mut payload = 7i32.to_be_bytes().to_vec();
        payload.extend_from_slice(&body);
        let frame = Frame::new(payload);
        let decoded = decode_response_frame(&frame, ApiKey::ApiVersions as i16, version).unwrap();
        let _ = decode_api_versions_response(&decoded);
    }

    /// Arbitrary payloads go straight into the request and response header decoders.
    #[test]
    fn header_decoding_arbitrary_payloads_never_panics(
        payload in prop::collection::vec(any::<u8>(), 0..256),
        position in 0u64..1_000_000,
        api_key in any::<i16>(),
        api_version in any::<i16>(),
    ) {
        let frame = Frame { position, payload: Bytes::from(payload) };
        if let Err(WireError::Frame { position: at, .. }) = decode_request_frame(&frame) {
            prop_assert!(at >= position + 4 && at <= position + 4 + frame.payload.len() as u64);
        }
        let _ = decode_response_frame(&frame, api_key, api_version);
    }
}
