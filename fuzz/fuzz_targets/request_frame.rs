//! Arbitrary bytes as a stream of Kafka request/response frames: the sans-IO frame decoder
//! (fed in pieces whose sizes come from the input), then the request header decoder and the
//! response header decoder with correlation matching on every frame, and ApiVersions bodies.
//!
//! Bodies of other APIs are left out on purpose: `kafka-protocol` 0.18 pre-allocates arrays
//! from their claimed length, so hostile bytes make it attempt huge allocations (an upstream
//! limitation, see wire/src/frame/mod.rs). This target found it in the ApiVersions response,
//! which keel now guards (wire/src/frame/guard.rs); since then 1M runs (180 s) find nothing.
//!
//!     cargo +nightly fuzz run request_frame -- -max_total_time=180 -rss_limit_mb=2048
#![no_main]

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use keel_wire::frame::{
    FrameDecoder, InFlightRequests, decode_api_versions_response, decode_request_frame,
    encode_request_frame,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let max_frame_size = usize::from(control) * 64;
    let piece = usize::from(control % 13) + 1;
    let mut decoder = FrameDecoder::with_max_frame_size(max_frame_size);
    let mut in_flight = InFlightRequests::new();
    let mut position = 0u64;
    for chunk in stream.chunks(piece) {
        decoder.push(chunk);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => return,
            };
            assert_eq!(frame.position, position);
            assert!(frame.payload.len() <= max_frame_size);
            position += 4 + frame.payload.len() as u64;

            if let Ok(request) = decode_request_frame(&frame) {
                assert!(request.body_position >= frame.position + 4);
                if request.api_key() == Some(ApiKey::ApiVersions) {
                    if let Ok(body) = request.body_as::<ApiVersionsRequest>() {
                        // What decodes must encode again and decode to the same thing.
                        if let Ok(wire) = encode_request_frame(&request.header, &body) {
                            let mut again = FrameDecoder::new();
                            again.push(&wire);
                            let frame = again.next_frame().ok().flatten();
                            let decoded = frame.and_then(|f| decode_request_frame(&f).ok());
                            let body_again = decoded
                                .as_ref()
                                .and_then(|d| d.body_as::<ApiVersionsRequest>().ok());
                            assert_eq!(body_again.as_ref(), Some(&body));
                        }
                    }
                }
            }
            // The same frame as the answer to an ApiVersions request of a version from the input.
            in_flight.register(ApiKey::ApiVersions as i16, i16::from(control % 5));
            if let Ok(response) = in_flight.complete(&frame) {
                let _ = decode_api_versions_response(&response);
            } else {
                in_flight = InFlightRequests::new();
            }
        }
    }
    let _ = decoder.finish();
});
