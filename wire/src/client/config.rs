//! Client configuration: bootstrap servers, timeouts, retry policy, TLS and SASL settings.
//! `Debug` output never contains the SASL password (it is a [`Secret`]).

use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;
use crate::error::{Result, WireError};

/// Everything [`super::KafkaClient`] needs to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` bootstrap addresses, tried in order.
    pub bootstrap: Vec<String>,
    /// The `client.id` sent in every request header.
    pub client_id: String,
    /// How long one request may wait for its response.
    pub request_timeout: Duration,
    /// How long a TCP connect (plus TLS and SASL handshakes) may take.
    pub connect_timeout: Duration,
    /// Retries on retriable errors.
    pub retry: RetryPolicy,
    /// Cached metadata older than this is refreshed before routing.
    pub metadata_max_age: Duration,
    /// TLS settings; `None` means plaintext.
    pub tls: Option<TlsConfig>,
    /// SASL settings; `None` means no authentication.
    pub sasl: Option<SaslConfig>,
}

impl ClientConfig {
    /// A plaintext configuration with default timeouts for the given bootstrap list
    /// (comma-separated `host:port` entries are split).
    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            client_id: "keel".to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            metadata_max_age: Duration::from_secs(300),
            tls: None,
            sasl: None,
        }
    }

    /// Checks the configuration and returns the bootstrap addresses as `(host, port)`.
    pub fn validate(&self) -> Result<Vec<(String, u16)>> {
        if self.bootstrap.is_empty() {
            return Err(WireError::ClientConfig {
                field: "bootstrap",
                reason: "no bootstrap servers given".to_owned(),
            });
        }
        if self.request_timeout.is_zero() {
            return Err(WireError::ClientConfig {
                field: "request_timeout",
                reason: "must be above zero".to_owned(),
            });
        }
        if self.retry.max_attempts == 0 {
            return Err(WireError::ClientConfig {
                field: "retry.max_attempts",
                reason: "must be at least 1".to_owned(),
            });
        }
        if let Some(tls) = &self.tls
            && tls.ca_file.is_none()
            && !tls.insecure
        {
            return Err(WireError::ClientConfig {
                field: "tls.ca_file",
                reason: "a CA file is required unless tls.insecure is set".to_owned(),
            });
        }
        self.bootstrap.iter().map(|b| parse_host_port(b)).collect()
    }
}

/// Splits `host:port` (or `[v6]:port`).
pub fn parse_host_port(addr: &str) -> Result<(String, u16)> {
    let bad = |reason: &str| WireError::ClientConfig {
        field: "bootstrap",
        reason: format!("{addr:?}: {reason}"),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| bad("port is not a number in 1..=65535"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok((host.to_owned(), port))
}

/// Exponential backoff with jitter between retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Delays never exceed this.
    pub max_backoff: Duration,
    /// Jitter as a fraction: the delay is scaled by a random factor in `1 ± jitter`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0 = first retry), given `unit` uniform in
    /// `[0, 1)`. Pure: the caller supplies the randomness.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let base = self.initial_backoff.as_secs_f64() * 2f64.powi(retry.min(30) as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * factor).min(self.max_backoff.as_secs_f64()))
    }
}

/// TLS settings (rustls with the ring provider).
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// PEM file with the CA certificates that sign the brokers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate chain (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    /// PEM file with the client private key (mutual TLS).
    pub client_key_file: Option<PathBuf>,
    /// Server name for SNI and hostname verification; defaults to each broker's host.
    pub server_name: Option<String>,
    /// Skip certificate and hostname verification. For tests only.
    pub insecure: bool,
}

/// SASL mechanisms keel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616). Send only over TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The mechanism name as sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = WireError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            _ => Err(WireError::ClientConfig {
                field: "sasl.mechanism",
                reason: format!("{s:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            }),
        }
    }
}

/// SASL credentials.
#[derive(Debug, Clone)]
pub struct SaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: Secret,
}
