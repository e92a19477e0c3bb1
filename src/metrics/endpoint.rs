//! The HTTP endpoint Prometheus scrapes: `GET /metrics` on `metrics.host:metrics.port`. Scrapes are
//! a few per minute, so this is a minimal HTTP/1.1 server on the broker's runtime (one response per
//! connection, then close) rather than a web framework: it reads the request head, answers, and
//! stops with the broker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::render::{render, BrokerState};

/// A request head larger than this is refused (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8192;
/// A client that has not sent its request head by then is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The bound endpoint, before it serves.
pub struct MetricsEndpoint {
    listener: TcpListener,
}

impl MetricsEndpoint {
    /// Binds `host:port` (port 0: any free port).
    pub async fn bind(host: &str, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind((host, port)).await?;
        Ok(MetricsEndpoint { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Serves scrapes until `shutdown` turns true.
pub async fn serve(
    endpoint: MetricsEndpoint,
    state: Arc<dyn BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Ok(addr) = endpoint.local_addr() {
        info!(%addr, "metrics endpoint listening (GET /metrics)");
    }
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            accepted = endpoint.listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, state).await {
                        debug!(%peer, error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "metrics endpoint cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    info!("metrics endpoint closed");
}

async fn answer(mut stream: TcpStream, state: Arc<dyn BrokerState>) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let response = match head {
        None => status("413 Payload Too Large", "request head too large\n"),
        Some(head) => respond(&head, state),
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// Reads up to the blank line ending the request head; `None` if it is too large.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The response to a request head: the page for `GET /metrics` (query strings ignored), 404 for
/// other paths, 405 for other methods.
pub(crate) fn respond(head: &str, state: Arc<dyn BrokerState>) -> Vec<u8> {
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render(state);
            let mut out = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            if method == "GET" {
                out.extend_from_slice(body.as_bytes());
            }
            out
        }
        ("GET" | "HEAD", _) => status("404 Not Found", "only /metrics is served here\n"),
        _ => status(
            "405 Method Not Allowed",
            "only GET /metrics is served here\n",
        ),
    }
}

fn status(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
