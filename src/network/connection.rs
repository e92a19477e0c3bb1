//! One client connection: a reader that frames and decodes requests and hands them to the handler
//! in arrival order, and an ordered writer (see [`super::writer`]), joined in one task. The stream
//! is a TCP socket (PLAINTEXT, SASL_PLAINTEXT: file ranges go out with `sendfile`) or a TLS stream
//! (SSL, SASL_SSL: file ranges are read into memory and encrypted); on a SASL listener the reader
//! authenticates the connection first (see [`super::sasl_authenticator`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use super::frame::{FrameError, FrameReader};
use super::header::{decode_request_header, response_header_version};
use super::sasl_authenticator::{SaslAuthenticator, SaslReply};
use super::security::ListenerSecurity;
use super::server::stopped;
use super::sink::ResponseSink;
use super::writer::{write_responses, Body, LaterTask, Pending, WriteError};
use super::{NetworkConfig, Reply, RequestContext, RequestHandler};
use crate::security::KafkaPrincipal;

/// What each connection needs from [`NetworkConfig`] (copied into every connection task).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    max_request_bytes: usize,
    max_in_flight: usize,
    max_idle: Option<Duration>,
}

impl From<&NetworkConfig> for ConnectionSettings {
    fn from(cfg: &NetworkConfig) -> Self {
        ConnectionSettings {
            max_request_bytes: cfg.max_request_bytes,
            max_in_flight: cfg.max_in_flight,
            max_idle: cfg.connections_max_idle,
        }
    }
}

/// What `connections.max.idle.ms` looks at, shared by the reader and the writer: requests handed
/// to the writer whose responses are not written yet, and when a response was last written.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `start` of the last write.
    last_write_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_write_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn request_queued(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// Called by the writer after `n` queued requests were answered (or needed no answer).
    pub(crate) fn responses_written(&self, n: usize) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_write_ms.store(ms, Ordering::SeqCst);
        self.in_flight.fetch_sub(n, Ordering::SeqCst);
    }

    /// When the connection becomes idle for `max_idle`: `max_idle` after the later of the last
    /// request read and the last response written; while a request is in flight, not before
    /// `max_idle` from now (checked again then).
    fn idle_deadline(&self, last_read: Instant, max_idle: Duration) -> Instant {
        let now = Instant::now();
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return now + max_idle;
        }
        let last_write =
            self.start + Duration::from_millis(self.last_write_ms.load(Ordering::SeqCst));
        last_read.max(last_write) + max_idle
    }
}

/// Serves `stream` until the peer closes, an invalid frame or header arrives, the handler says
/// [`Reply::Close`], or `shutdown` fires; responses already owed are written first, except to a
/// peer that closed the connection: its pending requests are cancelled and the socket closed.
pub(crate) async fn serve_connection<H: RequestHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    security: Arc<ListenerSecurity>,
    handler: Arc<H>,
    cfg: ConnectionSettings,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "could not set TCP_NODELAY");
    }
    let sasl = security.sasl.clone().map(SaslAuthenticator::new);
    let Some(acceptor) = &security.tls else {
        let (read_half, write_half) = stream.into_split();
        let conn = Conn {
            peer,
            listener,
            principal: KafkaPrincipal::anonymous(),
            sasl,
        };
        return serve_stream(read_half, write_half, conn, handler, cfg, shutdown).await;
    };
    // The handshake is bounded like an idle connection: a peer that never completes it is dropped.
    let limit = cfg.max_idle.unwrap_or(Duration::from_secs(600));
    let tls = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            info!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let principal = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        Some(cert) => match crate::security::tls::subject_rfc2253(cert) {
            Ok(dn) => KafkaPrincipal::user(dn),
            Err(e) => {
                warn!(%peer, error = %e, "closing connection");
                return;
            }
        },
        None => KafkaPrincipal::anonymous(),
    };
    if sasl.is_none() {
        info!(%peer, %principal, "TLS connection authenticated");
    }
    let (read_half, write_half) = tokio::io::split(tls);
    let conn = Conn {
        peer,
        listener,
        principal,
        sasl,
    };
    serve_stream(read_half, write_half, conn, handler, cfg, shutdown).await
}

/// Who is connected, before the first request.
struct Conn {
    peer: SocketAddr,
    listener: Arc<str>,
    /// From the TLS client certificate, else `User:ANONYMOUS` (replaced by the SASL login).
    principal: KafkaPrincipal,
    sasl: Option<SaslAuthenticator>,
}

async fn serve_stream<H, R, W>(
    read_half: R,
    write_half: W,
    conn: Conn,
    handler: Arc<H>,
    cfg: ConnectionSettings,
    shutdown: watch::Receiver<bool>,
) where
    H: RequestHandler,
    R: AsyncRead + Unpin + Send,
    W: ResponseSink,
{
    let Conn {
        peer,
        listener,
        principal,
        sasl,
    } = conn;
    let (tx, rx) = mpsc::channel(cfg.max_in_flight.max(1));
    let activity = Activity::default();
    let reader = read_requests(
        FrameReader::new(read_half, cfg.max_request_bytes),
        Peer {
            addr: peer,
            listener,
            max_idle: cfg.max_idle,
            max_request_bytes: cfg.max_request_bytes,
            activity: &activity,
            principal,
            sasl,
        },
        handler,
        tx,
        shutdown,
    );
    let writer = async {
        match write_responses(write_half, rx, &activity).await {
            Ok(()) => {}
            // The peer went away: routine.
            Err(WriteError::Io(e)) => debug!(error = %e, "closing connection: write failed"),
            // A handler's deferred reply panicked or was cancelled: a bug worth seeing.
            Err(e @ WriteError::Task { .. }) => warn!(%peer, error = %e, "closing connection"),
        }
    };
    tokio::pin!(reader, writer);
    tokio::select! {
        end = &mut reader => {
            if end == ReadEnd::PeerGone {
                // Kafka closes a channel whose peer disconnected and drops the responses it still
                // owed: dropping the writer here drops the queued replies, which aborts the
                // requests still waiting (long-poll fetch, acks=all produce, admin waits) and
                // closes the socket now rather than when the longest wait ends.
                debug!("peer closed the connection; responses still owed are dropped");
                return;
            }
            writer.await;
        }
        () = &mut writer => {
            // The writer stopped (write failed, or a Close was written): the reader notices its
            // queue closing and stops too.
            reader.await;
        }
    }
    debug!("connection closed");
}

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// Shutdown, idle timeout, a Close queued, or the writer gone: responses owed are written.
    Orderly,
    /// The peer closed the connection (or the socket failed): nobody reads responses any more.
    PeerGone,
}

/// Who the reader serves and what its idle timer watches.
struct Peer<'a> {
    addr: SocketAddr,
    listener: Arc<str>,
    max_idle: Option<Duration>,
    max_request_bytes: usize,
    activity: &'a Activity,
    principal: KafkaPrincipal,
    sasl: Option<SaslAuthenticator>,
}

/// The reading half: one request at a time through the handler, outcomes queued in order. With
/// `connections.max.idle.ms`, a connection idle that long with nothing in flight is closed, as
/// Kafka's selector closes it (the peer sees EOF; clients reconnect when they need to).
async fn read_requests<H: RequestHandler, R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    peer: Peer<'_>,
    handler: Arc<H>,
    tx: mpsc::Sender<Pending>,
    mut shutdown: watch::Receiver<bool>,
) -> ReadEnd {
    let Peer {
        addr: peer,
        listener,
        max_idle,
        max_request_bytes,
        activity,
        principal,
        mut sasl,
    } = peer;
    let mut principal = Arc::new(principal);
    if let Some(s) = &sasl {
        frames.set_max(s.max_receive_size().min(max_request_bytes));
    }
    let mut last_read = Instant::now();
    loop {
        let idle_at = max_idle.map(|d| activity.idle_deadline(last_read, d));
        let next = tokio::select! {
            biased;
            // A dropped sender also means nobody will keep this server running.
            () = stopped(&mut shutdown) => {
                debug!("shutting down: no more requests read");
                return ReadEnd::Orderly;
            }
            _ = tx.closed() => return ReadEnd::Orderly,
            // `next_frame` reads into its own buffer, so a partial frame survives this branch.
            () = sleep_until(idle_at) => {
                if max_idle.is_some_and(|d| activity.idle_deadline(last_read, d) <= Instant::now()) {
                    debug!(%peer, "closing idle connection (connections.max.idle.ms)");
                    return ReadEnd::Orderly;
                }
                continue;
            }
            next = frames.next_frame() => next,
        };
        last_read = Instant::now();
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => return ReadEnd::PeerGone,
            Err(FrameError::InvalidSize { size, max }) => {
                // Kafka's InvalidReceiveException: one line, this connection only.
                warn!(%peer, size, max, "closing connection: invalid request size (socket.request.max.bytes)");
                let _ = tx.send(Pending::Close).await;
                return ReadEnd::Orderly;
            }
            Err(e) => {
                debug!(error = %e, "connection ended");
                return ReadEnd::PeerGone;
            }
        };
        let (header, api_key, body) = match decode_request_header(frame) {
            Ok(parts) => parts,
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: cannot decode request header");
                let _ = tx.send(Pending::Close).await;
                return ReadEnd::Orderly;
            }
        };
        if let Some(auth) = sasl.as_mut() {
            if matches!(api_key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
                let (correlation_id, version) = (header.correlation_id, header.request_api_version);
                let (body, close_after) = match auth.on_request(api_key, version, &body).await {
                    SaslReply::Respond(b) => (b, None),
                    SaslReply::Fail(b, delay) => (b, Some(delay)),
                    SaslReply::Close(reason) => {
                        info!(%peer, %reason, "closing connection");
                        let _ = tx.send(Pending::Close).await;
                        return ReadEnd::Orderly;
                    }
                };
                if let Some(p) = auth.authenticated() {
                    if *principal != *p {
                        principal = Arc::new(p.clone());
                        frames.set_max(max_request_bytes);
                    }
                }
                activity.request_queued();
                let pending = Pending::Response {
                    correlation_id,
                    header_version: response_header_version(api_key, version),
                    body: Body::Ready(Some(body.into())),
                };
                if tx.send(pending).await.is_err() {
                    return ReadEnd::Orderly;
                }
                if let Some(delay) = close_after {
                    // Kafka's delayed close after a failed authentication, against brute force.
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(Pending::Close).await;
                    return ReadEnd::Orderly;
                }
                continue;
            }
            if let Some(reason) = auth.refuse(api_key) {
                info!(%peer, api = ?api_key, %reason, "closing connection");
                let _ = tx.send(Pending::Close).await;
                return ReadEnd::Orderly;
            }
        }
        // Before start-up completes only what the handler admits is handled; the rest waits here.
        // An admitted request is handled even if its peer has closed since (acks=0 produce
        // requests followed by a close must still be appended), so admission is polled first.
        tokio::select! {
            biased;
            () = handler.admitted(api_key) => {}
            () = stopped(&mut shutdown) => {
                debug!("shutting down before this request could be handled");
                return ReadEnd::Orderly;
            }
            () = frames.peer_gone() => return ReadEnd::PeerGone,
        }
        let api_version = header.request_api_version;
        let correlation_id = header.correlation_id;
        let span = tracing::debug_span!(
            "request",
            api = ?api_key,
            version = api_version,
            correlation_id,
            client_id = header.client_id.as_deref().unwrap_or(""),
        );
        let ctx = RequestContext {
            header,
            api_key,
            api_version,
            peer,
            listener: listener.clone(),
            principal: principal.clone(),
            body,
        };
        // Kafka's RequestMetrics, from the frame's arrival to the response being ready.
        let (received, key) = (last_read.into_std(), api_key as i16);
        let body = match handler.handle(ctx).instrument(span.clone()).await {
            Reply::Now(body) => {
                crate::metrics::request_done(key, api_version, received);
                Body::Ready(body)
            }
            Reply::Later(fut) => Body::Later(LaterTask::spawn(
                async move {
                    let body = fut.await;
                    crate::metrics::request_done(key, api_version, received);
                    body
                }
                .instrument(span),
            )),
            Reply::Close(reason) => {
                info!(%peer, api = ?api_key, version = api_version, correlation_id, %reason, "closing connection");
                let _ = tx.send(Pending::Close).await;
                return ReadEnd::Orderly;
            }
        };
        activity.request_queued();
        let pending = Pending::Response {
            correlation_id,
            header_version: response_header_version(api_key, api_version),
            body,
        };
        if tx.send(pending).await.is_err() {
            return ReadEnd::Orderly;
        }
    }
}

/// Sleeps until `at`, or forever without a deadline.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
