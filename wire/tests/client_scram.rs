//! SCRAM client against the RFC 7677 test vector, plus a round trip against a server-side
//! computation for SHA-512, and rejection of tampered server messages.

// Test code: helpers outside #[test] fns unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keel_wire::client::Secret;
use keel_wire::client::scram::{ScramClient, ScramMechanism};
use ring::{digest, hmac, pbkdf2};

#[test]
fn scram_sha256_matches_rfc7677_test_vector() {
    let mut c = ScramClient::with_nonce(
        ScramMechanism::Sha256,
        "user",
        &Secret::new("pencil"),
        "rOprNGfwEbeRWgbNEkqO",
    );
    assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = c.client_final(server_first.as_bytes()).unwrap();
    assert_eq!(
        client_final,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap();
    assert!(c.is_done());
}

#[test]
fn scram_rejects_a_wrong_server_signature() {
    let mut c = ScramClient::with_nonce(
        ScramMechanism::Sha256,
        "user",
        &Secret::new("pencil"),
        "rOprNGfwEbeRWgbNEkqO",
    );
    c.client_final(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    )
    .unwrap();
    let err = c
        .verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(!c.is_done());
}

#[test]
fn scram_rejects_a_nonce_that_does_not_extend_the_clients() {
    let mut c = ScramClient::with_nonce(ScramMechanism::Sha256, "u", &Secret::new("p"), "abc");
    let err = c
        .client_final(b"r=xyzabc123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        .unwrap_err();
    assert!(err.to_string().contains("nonce"), "{err}");
}

#[test]
fn scram_rejects_too_few_iterations_and_server_errors() {
    let mut c = ScramClient::with_nonce(ScramMechanism::Sha512, "u", &Secret::new("p"), "abc");
    assert!(c.client_final(b"r=abcdef,s=c2FsdA==,i=1").is_err());
    let mut c = ScramClient::with_nonce(ScramMechanism::Sha512, "u", &Secret::new("p"), "abc");
    let err = c.client_final(b"e=unknown-user").unwrap_err();
    assert!(err.to_string().contains("unknown-user"), "{err}");
}

#[test]
fn scram_errors_never_contain_the_password() {
    let password = "s3cr3t-pa55word";
    let mut c = ScramClient::with_nonce(ScramMechanism::Sha256, "u", &Secret::new(password), "n");
    let e1 = c.client_final(b"r=nX,s=!!!,i=4096").unwrap_err();
    assert!(!format!("{e1} {e1:?} {c:?}").contains(password));
}

/// The server side of SCRAM written out from RFC 5802 §3, used to check a SHA-512 round trip.
fn server_proof_check(
    mechanism: ScramMechanism,
    password: &str,
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
    proof_b64: &str,
) -> (bool, String) {
    let (palg, halg, dalg, len) = match mechanism {
        ScramMechanism::Sha256 => (
            pbkdf2::PBKDF2_HMAC_SHA256,
            hmac::HMAC_SHA256,
            &digest::SHA256,
            32,
        ),
        ScramMechanism::Sha512 => (
            pbkdf2::PBKDF2_HMAC_SHA512,
            hmac::HMAC_SHA512,
            &digest::SHA512,
            64,
        ),
    };
    let mut salted = vec![0u8; len];
    pbkdf2::derive(
        palg,
        std::num::NonZeroU32::new(iterations).unwrap(),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let sk = hmac::Key::new(halg, &salted);
    let client_key = hmac::sign(&sk, b"Client Key");
    let stored = digest::digest(dalg, client_key.as_ref());
    let sig = hmac::sign(
        &hmac::Key::new(halg, stored.as_ref()),
        auth_message.as_bytes(),
    );
    let proof = B64.decode(proof_b64).unwrap();
    let recovered: Vec<u8> = proof.iter().zip(sig.as_ref()).map(|(a, b)| a ^ b).collect();
    let ok = digest::digest(dalg, &recovered).as_ref() == stored.as_ref();
    let server_key = hmac::sign(&sk, b"Server Key");
    let server_sig = hmac::sign(
        &hmac::Key::new(halg, server_key.as_ref()),
        auth_message.as_bytes(),
    );
    (ok, format!("v={}", B64.encode(server_sig.as_ref())))
}

#[test]
fn scram_sha512_round_trip_with_escaped_username() {
    let mut c = ScramClient::new(ScramMechanism::Sha512, "a=b,c", &Secret::new("pw")).unwrap();
    let first = c.client_first();
    assert!(first.starts_with("n,,n=a=3Db=2Cc,r="), "{first}");
    let bare = &first[3..];
    let cnonce = bare.split(",r=").nth(1).unwrap();
    let salt = b"0123456789abcdef";
    let server_first = format!("r={cnonce}SERVER,s={},i=4096", B64.encode(salt));
    let client_final = c.client_final(server_first.as_bytes()).unwrap();
    let (without_proof, proof) = client_final.rsplit_once(",p=").unwrap();
    let auth = format!("{bare},{server_first},{without_proof}");
    let (ok, server_final) =
        server_proof_check(ScramMechanism::Sha512, "pw", salt, 4096, &auth, proof);
    assert!(ok, "server rejected the client proof");
    let (wrong, _) = server_proof_check(ScramMechanism::Sha512, "other", salt, 4096, &auth, proof);
    assert!(!wrong, "proof must depend on the password");
    c.verify_server_final(server_final.as_bytes()).unwrap();
}

proptest::proptest! {
    #[test]
    fn scram_client_never_panics_on_arbitrary_server_messages(
        first in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        last in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        iterations in 0u32..10_000,
    ) {
        let mut c = ScramClient::with_nonce(ScramMechanism::Sha256, "u", &Secret::new("p"), "abc");
        let _ = c.client_final(&first);
        let mut c = ScramClient::with_nonce(ScramMechanism::Sha512, "u", &Secret::new("p"), "abc");
        // Well-formed server-first with arbitrary iterations, then an arbitrary server-final.
        let msg = format!("r=abcXYZ,s=c2FsdA==,i={iterations}");
        if c.client_final(msg.as_bytes()).is_ok() {
            proptest::prop_assert!(iterations >= 4096);
            proptest::prop_assert!(c.verify_server_final(&last).is_err() || last.starts_with(b"v="));
        }
    }
}
