//! SASL authentication on a fresh connection: SaslHandshake (v1) names the mechanism, then
//! SaslAuthenticate carries the tokens ([KIP-152](https://cwiki.apache.org/confluence/display/KAFKA/KIP-152+-+Improve+diagnostics+for+SASL+authentication+failures)).
//! PLAIN sends `\0user\0password` (RFC 4616); SCRAM runs [`super::scram::ScramClient`].
//! Errors name the broker and mechanism, never the password.

use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::config::{SaslConfig, SaslMechanism};
use super::connection::Connection;
use super::scram::{ScramClient, ScramMechanism};
use crate::error::{Result, WireError};

fn auth_error(conn: &Connection, mechanism: SaslMechanism, reason: impl Into<String>) -> WireError {
    WireError::Auth {
        broker: conn.label().to_owned(),
        mechanism: mechanism.name(),
        reason: reason.into(),
    }
}

/// Runs the SASL exchange for `cfg` on `conn`.
pub async fn authenticate(conn: &Connection, cfg: &SaslConfig) -> Result<()> {
    let mechanism = cfg.mechanism;
    let handshake_version = conn.version_for::<SaslHandshakeRequest>(None)?;
    if handshake_version < 1 {
        return Err(auth_error(
            conn,
            mechanism,
            "broker only supports SaslHandshake v0 (unframed SASL tokens), which keel does not speak",
        ));
    }
    let handshake = conn
        .send(
            handshake_version,
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_static_str(mechanism.name())),
        )
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(auth_error(
            conn,
            mechanism,
            format!(
                "broker rejected the mechanism (error code {}); it enables {enabled:?}",
                handshake.error_code
            ),
        ));
    }
    let version = conn.version_for::<SaslAuthenticateRequest>(None)?;
    match mechanism {
        SaslMechanism::Plain => {
            let mut token =
                Vec::with_capacity(cfg.username.len() + cfg.password.expose().len() + 2);
            token.push(0);
            token.extend_from_slice(cfg.username.as_bytes());
            token.push(0);
            token.extend_from_slice(cfg.password.expose().as_bytes());
            round_trip(conn, mechanism, version, Bytes::from(token)).await?;
            Ok(())
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let scram_mechanism = if mechanism == SaslMechanism::ScramSha256 {
                ScramMechanism::Sha256
            } else {
                ScramMechanism::Sha512
            };
            let relabel = |e: WireError| match e {
                WireError::Auth { reason, .. } => auth_error(conn, mechanism, reason),
                other => other,
            };
            let mut scram =
                ScramClient::new(scram_mechanism, &cfg.username, &cfg.password).map_err(relabel)?;
            let server_first = round_trip(
                conn,
                mechanism,
                version,
                Bytes::from(scram.client_first().into_bytes()),
            )
            .await?;
            let client_final = scram.client_final(&server_first).map_err(relabel)?;
            let server_final = round_trip(
                conn,
                mechanism,
                version,
                Bytes::from(client_final.into_bytes()),
            )
            .await?;
            scram.verify_server_final(&server_final).map_err(relabel)
        }
    }
}

async fn round_trip(
    conn: &Connection,
    mechanism: SaslMechanism,
    version: i16,
    token: Bytes,
) -> Result<Bytes> {
    let response = conn
        .send(
            version,
            &SaslAuthenticateRequest::default().with_auth_bytes(token),
        )
        .await?;
    if response.error_code != 0 {
        let message = response
            .error_message
            .as_ref()
            .map_or("no message", |m| m.as_str());
        return Err(auth_error(
            conn,
            mechanism,
            format!("error code {}: {message}", response.error_code),
        ));
    }
    Ok(response.auth_bytes)
}
