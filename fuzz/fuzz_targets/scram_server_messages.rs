//! Feeds arbitrary bytes to the SCRAM client as server-first and server-final messages:
//! it must answer with an error or a client-final message, never panic.
#![no_main]

use keel_wire::client::Secret;
use keel_wire::client::scram::{ScramClient, ScramMechanism};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (first, last) = data.split_at(split);
    let mut client =
        ScramClient::with_nonce(ScramMechanism::Sha256, "user", &Secret::new("pw"), "nonce");
    if client.client_final(first).is_ok() {
        let _ = client.verify_server_final(last);
    }
});
