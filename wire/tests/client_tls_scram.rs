//! TLS (rustls) and SASL/SCRAM against in-process fake brokers: certificate and host-name
//! verification, the `insecure` escape hatch, and a full SCRAM-SHA-256 / SHA-512 exchange
//! checked by a server-side implementation written from RFC 5802 §3.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "client_support/fake_broker.rs"]
mod fake_broker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use fake_broker::{Handler, Reply, answer, basics, default_apis, start, start_with_tls};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use keel_wire::WireError;
use keel_wire::client::{
    ClientConfig, KafkaClient, RetryPolicy, SaslConfig, SaslMechanism, Secret, TlsConfig,
};
use ring::{digest, hmac, pbkdf2};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn acceptor() -> tokio_rustls::TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A TLS acceptor that requires a client certificate signed by `client-ca.pem`.
fn mutual_acceptor() -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(fixture("client-ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn plain_handler() -> Handler {
    Arc::new(|_, req, state| match basics(req, state, &default_apis()) {
        Some(b) => Reply::Now(b),
        None => Reply::Close,
    })
}

fn config(bootstrap: &str, tls: Option<TlsConfig>) -> ClientConfig {
    let mut c = ClientConfig::new(bootstrap);
    c.request_timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(5);
    c.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    c.tls = tls;
    c
}

#[tokio::test]
async fn tls_with_the_signing_ca_connects_and_checks_the_ip_name() {
    let cluster = start_with_tls(2, plain_handler(), Some(acceptor())).await;
    let tls = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        ..TlsConfig::default()
    };
    let client = KafkaClient::connect(config(&cluster.bootstrap(), Some(tls)))
        .await
        .unwrap();
    let meta = client.cluster_metadata().await.unwrap();
    assert_eq!(meta.brokers.len(), 2);
}

#[tokio::test]
async fn tls_rejects_a_certificate_from_another_ca() {
    let cluster = start_with_tls(1, plain_handler(), Some(acceptor())).await;
    let tls = TlsConfig {
        ca_file: Some(fixture("other-ca.pem")),
        ..TlsConfig::default()
    };
    let err = KafkaClient::connect(config(&cluster.bootstrap(), Some(tls)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Network {
                op: "TLS handshake",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn tls_rejects_a_host_name_the_certificate_does_not_cover() {
    let cluster = start_with_tls(1, plain_handler(), Some(acceptor())).await;
    let tls = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        server_name: Some("kafka.example.com".into()),
        ..TlsConfig::default()
    };
    let err = KafkaClient::connect(config(&cluster.bootstrap(), Some(tls)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Network {
                op: "TLS handshake",
                ..
            }
        ),
        "{err}"
    );
    // The certificate does name `localhost`.
    let tls = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        server_name: Some("localhost".into()),
        ..TlsConfig::default()
    };
    KafkaClient::connect(config(&cluster.bootstrap(), Some(tls)))
        .await
        .unwrap();
}

#[tokio::test]
async fn tls_insecure_accepts_any_certificate_and_a_missing_ca_is_a_config_error() {
    let cluster = start_with_tls(1, plain_handler(), Some(acceptor())).await;
    let insecure = TlsConfig {
        insecure: true,
        ..TlsConfig::default()
    };
    KafkaClient::connect(config(&cluster.bootstrap(), Some(insecure)))
        .await
        .unwrap();
    let err =
        KafkaClient::new(config(&cluster.bootstrap(), Some(TlsConfig::default()))).unwrap_err();
    assert!(
        matches!(
            err,
            WireError::ClientConfig {
                field: "tls.ca_file",
                ..
            }
        ),
        "{err}"
    );
    let missing = TlsConfig {
        ca_file: Some(fixture("no-such.pem")),
        ..TlsConfig::default()
    };
    let err = KafkaClient::new(config(&cluster.bootstrap(), Some(missing))).unwrap_err();
    assert!(err.to_string().contains("no-such.pem"), "{err}");
}

#[tokio::test]
async fn a_plaintext_client_does_not_hang_on_a_tls_broker() {
    let cluster = start_with_tls(1, plain_handler(), Some(acceptor())).await;
    let mut cfg = config(&cluster.bootstrap(), None);
    cfg.connect_timeout = Duration::from_millis(500);
    let err = KafkaClient::connect(cfg).await.unwrap_err();
    assert!(
        matches!(err, WireError::Timeout { .. } | WireError::Network { .. }),
        "{err}"
    );
}

/// Server-side SCRAM state for one exchange.
#[derive(Default)]
struct ScramServer {
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

const SALT: &[u8] = b"keel-salt-123456";

fn keys(
    sha512: bool,
    password: &str,
) -> (
    hmac::Key,
    Vec<u8>,
    hmac::Algorithm,
    &'static digest::Algorithm,
) {
    let (palg, halg, dalg, len) = if sha512 {
        (
            pbkdf2::PBKDF2_HMAC_SHA512,
            hmac::HMAC_SHA512,
            &digest::SHA512,
            64,
        )
    } else {
        (
            pbkdf2::PBKDF2_HMAC_SHA256,
            hmac::HMAC_SHA256,
            &digest::SHA256,
            32,
        )
    };
    let mut salted = vec![0u8; len];
    pbkdf2::derive(
        palg,
        std::num::NonZeroU32::new(4096).unwrap(),
        SALT,
        password.as_bytes(),
        &mut salted,
    );
    let sk = hmac::Key::new(halg, &salted);
    let client_key = hmac::sign(&sk, b"Client Key");
    let stored = digest::digest(dalg, client_key.as_ref()).as_ref().to_vec();
    (sk, stored, halg, dalg)
}

/// A broker that speaks SCRAM (`sha512` picks the hash) for user `alice` / `password`.
fn scram_handler(sha512: bool, password: &'static str, server: Arc<Mutex<ScramServer>>) -> Handler {
    let mechanism = if sha512 {
        "SCRAM-SHA-512"
    } else {
        "SCRAM-SHA-256"
    };
    Arc::new(move |_, req, state| {
        let mut apis = default_apis();
        apis.extend([ApiKey::SaslHandshake, ApiKey::SaslAuthenticate]);
        if let Some(b) = basics(req, state, &apis) {
            return Reply::Now(b);
        }
        match req.api_key() {
            Some(ApiKey::SaslHandshake) => {
                let body = req.body_as::<SaslHandshakeRequest>().unwrap();
                let code = if body.mechanism.as_str() == mechanism {
                    0
                } else {
                    33
                };
                Reply::Now(answer::<SaslHandshakeRequest>(
                    req,
                    &SaslHandshakeResponse::default()
                        .with_error_code(code)
                        .with_mechanisms(vec![StrBytes::from_static_str(mechanism)]),
                ))
            }
            Some(ApiKey::SaslAuthenticate) => {
                let body = req.body_as::<SaslAuthenticateRequest>().unwrap();
                let msg = String::from_utf8(body.auth_bytes.to_vec()).unwrap();
                let mut s = server.lock().unwrap();
                let response = if let Some(bare) = msg.strip_prefix("n,,") {
                    assert!(bare.starts_with("n=alice,r="), "{bare}");
                    let cnonce = &bare["n=alice,r=".len()..];
                    s.client_first_bare = bare.to_owned();
                    s.nonce = format!("{cnonce}srv-nonce");
                    s.server_first = format!("r={},s={},i=4096", s.nonce, B64.encode(SALT));
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(Bytes::from(s.server_first.clone().into_bytes()))
                } else {
                    let (without_proof, proof) = msg.rsplit_once(",p=").unwrap();
                    assert_eq!(without_proof, format!("c=biws,r={}", s.nonce));
                    let auth = format!(
                        "{},{},{}",
                        s.client_first_bare, s.server_first, without_proof
                    );
                    let (sk, stored, halg, dalg) = keys(sha512, password);
                    let sig = hmac::sign(&hmac::Key::new(halg, &stored), auth.as_bytes());
                    let proof = B64.decode(proof).unwrap();
                    let client_key: Vec<u8> =
                        proof.iter().zip(sig.as_ref()).map(|(a, b)| a ^ b).collect();
                    if digest::digest(dalg, &client_key).as_ref() == stored.as_slice() {
                        let server_key = hmac::sign(&sk, b"Server Key");
                        let v =
                            hmac::sign(&hmac::Key::new(halg, server_key.as_ref()), auth.as_bytes());
                        SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(
                            format!("v={}", B64.encode(v.as_ref())).into_bytes(),
                        ))
                    } else {
                        SaslAuthenticateResponse::default()
                            .with_error_code(58)
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Authentication failed during authentication due to invalid credentials with SASL mechanism",
                            )))
                    }
                };
                Reply::Now(answer::<SaslAuthenticateRequest>(req, &response))
            }
            _ => Reply::Close,
        }
    })
}

fn scram_config(bootstrap: &str, mechanism: SaslMechanism, password: &str) -> ClientConfig {
    let mut c = config(bootstrap, None);
    c.sasl = Some(SaslConfig {
        mechanism,
        username: "alice".into(),
        password: Secret::new(password),
    });
    c
}

#[tokio::test]
async fn scram_sha256_and_sha512_authenticate_against_a_scram_broker() {
    for (sha512, mechanism) in [
        (false, SaslMechanism::ScramSha256),
        (true, SaslMechanism::ScramSha512),
    ] {
        let server = Arc::new(Mutex::new(ScramServer::default()));
        let cluster = start(1, scram_handler(sha512, "correct horse", server)).await;
        let client = KafkaClient::connect(scram_config(
            &cluster.bootstrap(),
            mechanism,
            "correct horse",
        ))
        .await
        .unwrap();
        assert_eq!(client.cluster_metadata().await.unwrap().brokers.len(), 1);
        assert_eq!(
            cluster.seen(0, ApiKey::SaslAuthenticate),
            2,
            "two SCRAM round trips"
        );
    }
}

#[tokio::test]
async fn scram_with_a_wrong_password_fails_without_leaking_it() {
    let server = Arc::new(Mutex::new(ScramServer::default()));
    let cluster = start(1, scram_handler(false, "correct horse", server)).await;
    let wrong = "battery staple";
    let err = KafkaClient::connect(scram_config(
        &cluster.bootstrap(),
        SaslMechanism::ScramSha256,
        wrong,
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Auth {
                mechanism: "SCRAM-SHA-256",
                ..
            }
        ),
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid credentials"), "{text}");
    assert!(!text.contains(wrong), "{text}");
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let cluster = start_with_tls(1, plain_handler(), Some(mutual_acceptor())).await;
    let with_cert = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        client_cert_file: Some(fixture("client.pem")),
        client_key_file: Some(fixture("client.key")),
        ..TlsConfig::default()
    };
    let client = KafkaClient::connect(config(&cluster.bootstrap(), Some(with_cert)))
        .await
        .unwrap();
    assert_eq!(client.cluster_metadata().await.unwrap().brokers.len(), 1);

    // Without a certificate the broker refuses the connection.
    let without = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        ..TlsConfig::default()
    };
    let err = KafkaClient::connect(config(&cluster.bootstrap(), Some(without)))
        .await
        .unwrap_err();
    assert!(matches!(err, WireError::Network { .. }), "{err}");

    // A certificate without its key is a configuration error.
    let half = TlsConfig {
        ca_file: Some(fixture("ca.pem")),
        client_cert_file: Some(fixture("client.pem")),
        ..TlsConfig::default()
    };
    let err = KafkaClient::new(config(&cluster.bootstrap(), Some(half))).unwrap_err();
    assert!(matches!(err, WireError::ClientConfig { .. }), "{err}");
}
