//! One connection to one broker: connect (TCP, then TLS), ApiVersions negotiation, SASL, and
//! pipelined requests. Any number of requests may be in flight; a reader task matches each
//! response frame to its request by correlation id (so the order responses arrive in does
//! not matter) and wakes the caller. When the socket breaks, every waiting request fails with
//! [`WireError::Network`] and the connection reports itself dead so the pool reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Message, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::{SaslConfig, TlsConfig};
use super::context::{ErrorContext, check_code};
use super::stream::BrokerStream;
use super::{api_label, sasl, tls};
use crate::error::{Result, WireError};
use crate::frame::{
    DecodedResponse, Frame, FrameDecoder, common_version, decode_api_versions_response,
    decode_response_frame, encode_request_frame, request_header, retry_version,
};

/// Kafka's `UNSUPPORTED_VERSION` error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// What a connection needs besides the address.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// `client.id` in request headers.
    pub client_id: String,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Timeout for TCP connect plus the TLS, ApiVersions and SASL handshakes.
    pub connect_timeout: Duration,
    /// TLS, if any: the settings and the built rustls configuration.
    pub tls: Option<(TlsConfig, Arc<rustls::ClientConfig>)>,
    /// SASL, if any.
    pub sasl: Option<SaslConfig>,
}

type Waiter = oneshot::Sender<Result<Frame>>;

/// State shared between callers and the reader task.
#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<HashMap<i32, Waiter>>,
    closed: AtomicBool,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Waiter>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the connection dead and fails every waiting request.
    fn fail_all(&self, broker: &str, kind: std::io::ErrorKind, reason: &str) {
        self.closed.store(true, Ordering::SeqCst);
        let waiters: Vec<Waiter> = self.pending().drain().map(|(_, w)| w).collect();
        for waiter in waiters {
            let _ = waiter.send(Err(WireError::Network {
                broker: broker.to_owned(),
                op: "awaiting a response",
                source: std::io::Error::new(kind, reason.to_owned()),
            }));
        }
    }
}

/// A live connection to one broker.
#[derive(Debug)]
pub struct Connection {
    label: String,
    /// Node id, or -1 while unknown (bootstrap connections learn it from metadata).
    node_id: AtomicI32,
    settings: ConnectionSettings,
    writer: tokio::sync::Mutex<WriteHalf<BrokerStream>>,
    shared: Arc<Shared>,
    next_correlation_id: AtomicI32,
    versions: Mutex<HashMap<i16, (i16, i16)>>,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `"broker 1 at host:port"` or `"bootstrap host:port"`.
pub fn broker_label(node_id: Option<i32>, host: &str, port: u16) -> String {
    match node_id {
        Some(id) => format!("broker {id} at {host}:{port}"),
        None => format!("bootstrap server {host}:{port}"),
    }
}

impl Connection {
    /// Connects, negotiates API versions and authenticates, all within the connect timeout.
    pub async fn connect(
        host: &str,
        port: u16,
        node_id: Option<i32>,
        settings: &ConnectionSettings,
    ) -> Result<Arc<Connection>> {
        let label = broker_label(node_id, host, port);
        let after = settings.connect_timeout;
        match tokio::time::timeout(after, Self::connect_inner(host, port, node_id, settings)).await
        {
            Ok(result) => result,
            Err(_) => Err(WireError::Timeout {
                api: "connect",
                broker: label,
                after,
            }),
        }
    }

    async fn connect_inner(
        host: &str,
        port: u16,
        node_id: Option<i32>,
        settings: &ConnectionSettings,
    ) -> Result<Arc<Connection>> {
        let label = broker_label(node_id, host, port);
        let net = |op: &'static str| {
            let label = label.clone();
            move |source| WireError::Network {
                broker: label,
                op,
                source,
            }
        };
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(net("connect"))?;
        tcp.set_nodelay(true).map_err(net("set TCP_NODELAY"))?;
        let stream = match &settings.tls {
            None => BrokerStream::Plain(tcp),
            Some((tls_cfg, rustls_cfg)) => {
                let name = tls::server_name(tls_cfg, host)?;
                let tls_stream = tokio_rustls::TlsConnector::from(rustls_cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(net("TLS handshake"))?;
                BrokerStream::Tls(Box::new(tls_stream))
            }
        };
        let (read_half, write_half) = tokio::io::split(stream);
        let shared = Arc::new(Shared::default());
        let reader = tokio::spawn(read_loop(read_half, shared.clone(), label.clone()));
        let conn = Arc::new(Connection {
            label,
            node_id: AtomicI32::new(node_id.unwrap_or(-1)),
            settings: settings.clone(),
            writer: tokio::sync::Mutex::new(write_half),
            shared,
            next_correlation_id: AtomicI32::new(1),
            versions: Mutex::new(HashMap::new()),
            reader,
        });
        conn.negotiate_versions().await?;
        if let Some(sasl_cfg) = &settings.sasl {
            sasl::authenticate(&conn, sasl_cfg).await?;
        }
        Ok(conn)
    }

    /// `"broker 1 at host:port"`, for errors and logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The broker's node id, when known (not for bootstrap connections).
    pub fn node_id(&self) -> Option<i32> {
        let id = self.node_id.load(Ordering::Relaxed);
        (id >= 0).then_some(id)
    }

    /// Records the node id once metadata shows which broker this address is.
    pub fn learn_node_id(&self, id: i32) {
        self.node_id.store(id, Ordering::Relaxed);
    }

    /// Whether the socket is still usable.
    pub fn is_alive(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst) && !self.reader.is_finished()
    }

    /// Closes the connection: waiting requests fail, the pool will reconnect.
    pub fn close(&self) {
        self.shared.fail_all(
            &self.label,
            std::io::ErrorKind::ConnectionAborted,
            "connection closed by the client",
        );
        self.reader.abort();
    }

    /// Number of requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.shared.pending().len()
    }

    /// Sends ApiVersions (highest version first; on `UNSUPPORTED_VERSION` retries with the
    /// version the broker lists) and records the broker's version ranges.
    async fn negotiate_versions(&self) -> Result<()> {
        let mut version = <ApiVersionsRequest as Message>::VERSIONS.max;
        for _ in 0..2 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("keel"))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let request = if version >= 3 {
                request
            } else {
                ApiVersionsRequest::default()
            };
            let decoded = self
                .send_raw::<ApiVersionsRequest>(version, &request)
                .await?;
            let response: ApiVersionsResponse = decode_api_versions_response(&decoded)?;
            if response.error_code == UNSUPPORTED_VERSION {
                version = retry_version(&response).ok_or_else(|| WireError::Unsupported {
                    api: "ApiVersions",
                    broker: self.label.clone(),
                    detail: "no ApiVersions version in common".to_owned(),
                })?;
                continue;
            }
            check_code("ApiVersions", response.error_code, None, || {
                ErrorContext::default().resource(self.label.clone())
            })?;
            let mut versions = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in &response.api_keys {
                versions.insert(entry.api_key, (entry.min_version, entry.max_version));
            }
            return Ok(());
        }
        Err(WireError::Protocol {
            reason: format!(
                "{} kept answering ApiVersions with UNSUPPORTED_VERSION",
                self.label
            ),
        })
    }

    /// The broker's version range for an API key, if it advertises it.
    pub fn broker_versions(&self, api_key: i16) -> Option<(i16, i16)> {
        self.versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&api_key)
            .copied()
    }

    /// The highest version of `R` that both sides support, at most `cap`.
    /// [`WireError::Unsupported`] when the broker does not advertise the API or the ranges
    /// do not overlap.
    pub fn version_for<R: Request>(&self, cap: Option<i16>) -> Result<i16> {
        let api = api_label(R::KEY);
        let ours_max = cap.map_or(R::VERSIONS.max, |c| c.min(R::VERSIONS.max));
        let ours = R::VERSIONS.min..=ours_max;
        let Some((min, max)) = self.broker_versions(R::KEY) else {
            return Err(WireError::Unsupported {
                api,
                broker: self.label.clone(),
                detail: format!("API key {} is not advertised in ApiVersions", R::KEY),
            });
        };
        let theirs = min..=max;
        common_version(&ours, &theirs).ok_or_else(|| WireError::Unsupported {
            api,
            broker: self.label.clone(),
            detail: format!(
                "broker speaks versions {min}..={max}, keel {}..={ours_max}",
                R::VERSIONS.min
            ),
        })
    }

    /// Sends `body` as version `version` and decodes the typed response.
    pub async fn send<R: Request>(&self, version: i16, body: &R) -> Result<R::Response> {
        self.send_raw::<R>(version, body).await?.body_as::<R>()
    }

    /// Sends `body` and returns the response with its body still encoded.
    pub async fn send_raw<R: Request>(&self, version: i16, body: &R) -> Result<DecodedResponse> {
        let api = api_label(R::KEY);
        if !self.is_alive() {
            return Err(self.closed_error("sending a request"));
        }
        let correlation_id = self.next_correlation();
        let header = request_header::<R>(version, correlation_id, Some(&self.settings.client_id));
        let frame = encode_request_frame(&header, body)?;
        let (tx, rx) = oneshot::channel();
        self.shared.pending().insert(correlation_id, tx);
        let timeout = self.settings.request_timeout;
        let outcome = tokio::time::timeout(timeout, async {
            self.write_frame(&frame).await?;
            rx.await
                .map_err(|_| self.closed_error("awaiting a response"))?
        })
        .await;
        match outcome {
            Ok(Ok(frame)) => decode_response_frame(&frame, R::KEY, version),
            Ok(Err(e)) => {
                self.shared.pending().remove(&correlation_id);
                Err(e)
            }
            Err(_) => {
                self.shared.pending().remove(&correlation_id);
                tracing::debug!(broker = %self.label, api, correlation_id, "request timed out");
                Err(WireError::Timeout {
                    api,
                    broker: self.label.clone(),
                    after: timeout,
                })
            }
        }
    }

    async fn write_frame(&self, frame: &Bytes) -> Result<()> {
        let mut writer = self.writer.lock().await;
        let written = async {
            writer.write_all(frame).await?;
            writer.flush().await
        }
        .await;
        if let Err(source) = written {
            self.shared
                .fail_all(&self.label, source.kind(), "write to the socket failed");
            return Err(WireError::Network {
                broker: self.label.clone(),
                op: "sending a request",
                source,
            });
        }
        Ok(())
    }

    fn next_correlation(&self) -> i32 {
        // Wraps to 0 after i32::MAX; ids of timed-out requests are long gone by then.
        let id = self
            .next_correlation_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |id| {
                Some(if id == i32::MAX { 0 } else { id + 1 })
            });
        match id {
            Ok(id) | Err(id) => id,
        }
    }

    fn closed_error(&self, op: &'static str) -> WireError {
        WireError::Network {
            broker: self.label.clone(),
            op,
            source: std::io::Error::new(std::io::ErrorKind::NotConnected, "connection is closed"),
        }
    }
}

/// Bytes read from the socket at a time. Small on purpose: a pool holds one reader per
/// broker, and a 64 KiB buffer each (touched by the first large answer) cost 200 brokers
/// 12.8 MB for the life of the pool.
const READ_CHUNK: usize = 8 * 1024;

/// Reads frames until the socket ends, handing each to the request with its correlation id.
///
/// Between answers the frame decoder is replaced by an empty one, so an idle connection does
/// not keep the buffer of the largest answer it ever received (frame positions stay those of
/// the whole stream).
async fn read_loop(mut reader: ReadHalf<BrokerStream>, shared: Arc<Shared>, label: String) {
    let mut decoder = FrameDecoder::new();
    // Stream position of the current decoder's first byte.
    let mut base = 0u64;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(mut frame)) => {
                    frame.position += base;
                    dispatch(&shared, &label, frame);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(broker = %label, error = %e, stream_offset = base, "bad frame from broker; closing");
                    shared.fail_all(&label, std::io::ErrorKind::InvalidData, &e.to_string());
                    return;
                }
            }
        }
        if decoder.buffered_len() == 0 && decoder.position() > 0 {
            base += decoder.position();
            decoder = FrameDecoder::new();
        }
        match reader.read(&mut buf).await {
            Ok(0) => {
                shared.fail_all(
                    &label,
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the broker",
                );
                return;
            }
            Ok(n) => decoder.push(&buf[..n]),
            Err(e) => {
                shared.fail_all(&label, e.kind(), &e.to_string());
                return;
            }
        }
    }
}

/// Every response header version starts with the correlation id.
fn dispatch(shared: &Shared, label: &str, frame: Frame) {
    let Some(id_bytes) = frame.payload.get(..4) else {
        shared.fail_all(
            label,
            std::io::ErrorKind::InvalidData,
            "response frame shorter than a correlation id",
        );
        return;
    };
    let correlation_id = i32::from_be_bytes([id_bytes[0], id_bytes[1], id_bytes[2], id_bytes[3]]);
    let waiter = shared.pending().remove(&correlation_id);
    match waiter {
        Some(waiter) => {
            let _ = waiter.send(Ok(frame));
        }
        None => {
            tracing::debug!(broker = %label, correlation_id, "response to no waiting request (timed out?)");
        }
    }
}
