//! `/metrics` (Prometheus text format) and `/healthz` (JSON per-loop status; 200 when every
//! loop is alive, 503 otherwise), bound to 127.0.0.1 by default.
//!
//! A small hand-rolled HTTP/1.1 responder on tokio rather than hyper: the server answers two
//! GET paths with `Connection: close`, so it needs no keep-alive, chunking or body parsing,
//! and hyper 1's server side would also need `hyper-util` (not a dependency) for the
//! connection plumbing. The request head is capped at 8 KiB and must arrive within 5 s;
//! anything else gets 400/404/405, and a slow or bad client never blocks another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::health::Health;

const MAX_HEAD: usize = 8 * 1024;

/// What the server answers with.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Loop status.
    pub health: Health,
    /// The Prometheus recorder's handle (renders `/metrics`).
    pub metrics: Option<PrometheusHandle>,
}

/// The response for a request head (pure): status, content type, body.
pub fn respond(head: &[u8], ep: &Endpoints) -> (u16, &'static str, String) {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method.is_empty() || target.is_empty() || !parts.next().unwrap_or("").starts_with("HTTP/1.")
    {
        return (400, "text/plain", "bad request\n".into());
    }
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return (405, "text/plain", "only GET\n".into());
    }
    match path {
        "/metrics" => (
            200,
            "text/plain; version=0.0.4",
            ep.metrics.as_ref().map(|m| m.render()).unwrap_or_default(),
        ),
        "/healthz" => {
            let (code, body) = ep.health.healthz();
            (code, "application/json", body)
        }
        _ => (
            404,
            "text/plain",
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

async fn serve_one(mut sock: TcpStream, ep: Arc<Endpoints>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
        }
    })
    .await
    .unwrap_or(Ok(false))?;
    let (code, ctype, body) = if complete {
        respond(&head, &ep)
    } else {
        (400, "text/plain", "bad request\n".to_owned())
    };
    let is_head = head.starts_with(b"HEAD ");
    let msg = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    sock.write_all(msg.as_bytes()).await?;
    if !is_head {
        sock.write_all(body.as_bytes()).await?;
    }
    sock.shutdown().await
}

/// Binds `addr` (fails with the address in the error).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the metrics/health server to {addr}: {e}"))
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, ep: Endpoints) {
    let ep = Arc::new(ep);
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                let ep = ep.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_one(sock, ep).await {
                        tracing::debug!(error = %e, "http client went away");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_bad_requests() {
        let ep = Endpoints {
            health: Health::new(),
            metrics: None,
        };
        assert_eq!(respond(b"GET /metrics HTTP/1.1\r\n\r\n", &ep).0, 200);
        assert_eq!(
            respond(b"GET /healthz HTTP/1.1\r\n\r\n", &ep).0,
            503,
            "no loops registered"
        );
        assert_eq!(respond(b"GET /nope HTTP/1.1\r\n\r\n", &ep).0, 404);
        assert_eq!(respond(b"POST /metrics HTTP/1.1\r\n\r\n", &ep).0, 405);
        assert_eq!(respond(b"garbage\r\n\r\n", &ep).0, 400);
        assert_eq!(respond(b"\xff\xfe\r\n\r\n", &ep).0, 400);
    }
}
