//! Arbitrary bytes as request frames to `keel sim-cluster`: the frame decoder, then the
//! simulator's whole decode path (`keel::sim_cluster::dispatch::decode_request`: request
//! header, the allocation guard for every served API and version, then `kafka-protocol`'s
//! body decoder). Nothing may panic, and no input may make the decoder allocate far beyond
//! its size (run with a low `-rss_limit_mb`).
//!
//! The first two input bytes choose a served API and version and are written as a request
//! header in front of the rest, so most runs reach the body decoders.
//!
//!     cargo +nightly fuzz run sim_request -- -max_total_time=180 -rss_limit_mb=512
#![no_main]

use keel::sim_cluster::dispatch::decode_request;
use keel::sim_cluster::guard::{SERVED, advertised};
use keel_wire::frame::{Frame, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[pick, raw], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Raw frames through the frame decoder.
    if raw & 1 == 1 {
        let mut decoder = FrameDecoder::with_max_frame_size(1 << 16);
        decoder.push(rest);
        while let Ok(Some(frame)) = decoder.next_frame() {
            let _ = decode_request(&frame);
        }
        return;
    }
    let key = SERVED[usize::from(pick) % SERVED.len()];
    let Some(range) = advertised(key) else { return };
    let span = (range.end() - range.start() + 1) as u8;
    let version = range.start() + i16::from(raw / 2 % span);
    let mut payload = Vec::with_capacity(rest.len() + 11);
    payload.extend_from_slice(&(key as i16).to_be_bytes());
    payload.extend_from_slice(&version.to_be_bytes());
    payload.extend_from_slice(&1i32.to_be_bytes());
    payload.extend_from_slice(&(-1i16).to_be_bytes());
    if key.request_header_version(version) >= 2 {
        payload.push(0);
    }
    payload.extend_from_slice(rest);
    let _ = decode_request(&Frame::new(payload));
});
