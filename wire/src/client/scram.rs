//! A sans-IO SCRAM client (RFC 5802) for SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 7677), as
//! Kafka uses it ([KIP-84](https://cwiki.apache.org/confluence/display/KAFKA/KIP-84%3A+Support+SASL+SCRAM+mechanisms)).
//!
//! The exchange: [`ScramClient::client_first`] → server-first →
//! [`ScramClient::client_final`] → server-final → [`ScramClient::verify_server_final`].
//! No channel binding (`n,,`); the password is used as UTF-8 bytes without SASLprep, like
//! Kafka's own client. Errors never carry the password or derived keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

use super::secret::Secret;
use crate::error::{Result, WireError};

/// Which hash SCRAM runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// The SASL mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2_alg(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn output_len(self) -> usize {
        self.digest_alg().output_len()
    }
}

/// Fewest PBKDF2 iterations accepted (Kafka's broker minimum, and RFC 7677's advice).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most PBKDF2 iterations accepted, so a hostile server cannot make the client spin.
pub const MAX_ITERATIONS: u32 = 1 << 20;

/// Where the exchange is.
#[derive(Clone)]
enum State {
    Initial,
    /// client-final sent; holds the expected server signature.
    AwaitingServerFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

/// One SCRAM exchange. `Debug` shows the user and mechanism only.
#[derive(Clone)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: Secret,
    client_nonce: String,
    state: State,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

fn auth_err(mechanism: ScramMechanism, reason: impl Into<String>) -> WireError {
    WireError::Auth {
        broker: "-".to_owned(),
        mechanism: mechanism.name(),
        reason: reason.into(),
    }
}

/// Compares two byte strings without an early exit on the first difference.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Escapes a SASL name: `=` → `=3D`, `,` → `=2C` (RFC 5802 §5.1).
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// A fresh printable client nonce from the system RNG (24 random bytes, base64).
pub fn random_nonce() -> Result<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| WireError::Protocol {
            reason: "system random number generator failed".to_owned(),
        })?;
    Ok(B64.encode(bytes))
}

/// Parses `k=v,k=v` into pairs, checking every attribute is one letter.
fn parse_attributes(mechanism: ScramMechanism, msg: &str) -> Result<Vec<(char, &str)>> {
    msg.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => Ok((k, &part[2..])),
                _ => Err(auth_err(
                    mechanism,
                    format!("malformed SCRAM attribute {part:?} from server"),
                )),
            }
        })
        .collect()
}

impl ScramClient {
    /// An exchange with a caller-chosen client nonce (tests use the RFC vector's nonce).
    pub fn with_nonce(
        mechanism: ScramMechanism,
        username: &str,
        password: &Secret,
        client_nonce: &str,
    ) -> Self {
        ScramClient {
            mechanism,
            username: username.to_owned(),
            password: password.clone(),
            client_nonce: client_nonce.to_owned(),
            state: State::Initial,
        }
    }

    /// An exchange with a random client nonce.
    pub fn new(mechanism: ScramMechanism, username: &str, password: &Secret) -> Result<Self> {
        Ok(Self::with_nonce(
            mechanism,
            username,
            password,
            &random_nonce()?,
        ))
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", escape_name(&self.username), self.client_nonce)
    }

    /// The client-first message (`n,,n=user,r=nonce`).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare())
    }

    /// Takes the server-first message and returns the client-final message (with proof).
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<String> {
        let m = self.mechanism;
        if !matches!(self.state, State::Initial) {
            return Err(auth_err(m, "server-first message received out of order"));
        }
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| auth_err(m, "server-first message is not UTF-8"))?;
        let attrs = parse_attributes(m, server_first)?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (k, v) in attrs {
            match k {
                'r' => nonce = Some(v),
                's' => salt = Some(v),
                'i' => iterations = Some(v),
                'e' => return Err(auth_err(m, format!("server error: {v}"))),
                'm' => return Err(auth_err(m, "server requires an unsupported extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or_else(|| auth_err(m, "server-first has no nonce (r=)"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(auth_err(m, "server nonce does not extend the client nonce"));
        }
        let salt = B64
            .decode(salt.ok_or_else(|| auth_err(m, "server-first has no salt (s=)"))?)
            .map_err(|_| auth_err(m, "server salt is not valid base64"))?;
        let iterations: u32 = iterations
            .ok_or_else(|| auth_err(m, "server-first has no iteration count (i=)"))?
            .parse()
            .map_err(|_| auth_err(m, "server iteration count is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(auth_err(
                m,
                format!(
                    "server iteration count {iterations} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
                ),
            ));
        }
        let iterations = std::num::NonZeroU32::new(iterations)
            .ok_or_else(|| auth_err(m, "server iteration count is zero"))?;

        let mut salted = vec![0u8; m.output_len()];
        pbkdf2::derive(
            m.pbkdf2_alg(),
            iterations,
            &salt,
            self.password.expose().as_bytes(),
            &mut salted,
        );
        let salted_key = hmac::Key::new(m.hmac_alg(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(m.digest_alg(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare(),
            server_first,
            without_proof
        );
        let client_signature = hmac::sign(
            &hmac::Key::new(m.hmac_alg(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(m.hmac_alg(), server_key.as_ref()),
            auth_message.as_bytes(),
        );
        self.state = State::AwaitingServerFinal {
            server_signature: server_signature.as_ref().to_vec(),
        };
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final message's signature (mutual authentication).
    pub fn verify_server_final(&mut self, server_final: &[u8]) -> Result<()> {
        let m = self.mechanism;
        let State::AwaitingServerFinal { server_signature } = &self.state else {
            return Err(auth_err(m, "server-final message received out of order"));
        };
        let text = std::str::from_utf8(server_final)
            .map_err(|_| auth_err(m, "server-final message is not UTF-8"))?;
        let attrs = parse_attributes(m, text)?;
        let mut verifier = None;
        for (k, v) in attrs {
            match k {
                'e' => return Err(auth_err(m, format!("server error: {v}"))),
                'v' => verifier = Some(v),
                _ => {}
            }
        }
        let verifier = B64
            .decode(verifier.ok_or_else(|| auth_err(m, "server-final has no verifier (v=)"))?)
            .map_err(|_| auth_err(m, "server verifier is not valid base64"))?;
        if !equal_in_constant_time(&verifier, server_signature) {
            return Err(auth_err(
                m,
                "server signature does not match: the server does not know the password",
            ));
        }
        self.state = State::Done;
        Ok(())
    }

    /// Whether the server's signature was verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}
