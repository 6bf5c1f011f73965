//! Builds the rustls client configuration (ring provider) from [`TlsConfig`] and wraps TCP
//! streams in TLS. An `insecure` configuration accepts any certificate (tests only).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::config::TlsConfig;
use crate::error::{Result, WireError};

fn tls_err(what: impl Into<String>, reason: impl std::fmt::Display) -> WireError {
    WireError::Tls {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// Builds a rustls `ClientConfig` from `cfg`.
pub fn rustls_config(cfg: &TlsConfig) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?;
    let builder = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let Some(ca_file) = &cfg.ca_file else {
            return Err(WireError::ClientConfig {
                field: "tls.ca_file",
                reason: "a CA file is required unless tls.insecure is set".to_owned(),
            });
        };
        let what = format!("CA file {}", ca_file.display());
        let certs = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| tls_err(what.clone(), e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| tls_err(what.clone(), e))?;
        if certs.is_empty() {
            return Err(tls_err(what, "no certificates in file"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| tls_err(what.clone(), e))?;
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&cfg.client_cert_file, &cfg.client_key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert_file), Some(key_file)) => {
            let what = format!("client certificate {}", cert_file.display());
            let chain = CertificateDer::pem_file_iter(cert_file)
                .map_err(|e| tls_err(what.clone(), e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_err(what.clone(), e))?;
            // The key's parse error is reported without any key material.
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|_| {
                tls_err(
                    format!("client key {}", key_file.display()),
                    "no readable PEM private key",
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(what, e))?
        }
        _ => {
            return Err(WireError::ClientConfig {
                field: "tls.client_cert_file",
                reason: "client certificate and key must be given together".to_owned(),
            });
        }
    };
    Ok(Arc::new(config))
}

/// The server name to verify for a broker host.
pub fn server_name(cfg: &TlsConfig, host: &str) -> Result<ServerName<'static>> {
    let name = cfg.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_owned()).map_err(|e| tls_err(format!("server name {name:?}"), e))
}

/// Accepts every server certificate. Signatures are still checked so the handshake is
/// well-formed; the identity is not.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
