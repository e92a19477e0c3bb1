//! One pipelined connection to a broker: TCP, or TLS over TCP, optionally SASL-authenticated
//! (see [`super::security`]).
//!
//! A writer task drains a queue of encoded frames onto the socket (flushing only when the queue
//! is empty, so a burst of requests becomes few syscalls) and a reader task reads response frames
//! and hands each to the caller waiting on its correlation id. `send` therefore takes `&self` and
//! many tasks can keep requests in flight on one connection, as Kafka's producer does with
//! `max.in.flight.requests.per.connection`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::error::ClientError;
use super::frame::{decode_response, encode_request, peek_correlation_id, MAX_RESPONSE_FRAME};
use super::security::ClientSecurity;
use super::versions::ApiVersionTable;

/// Default time a request may wait for its response (Kafka's `request.timeout.ms`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Frames queued for the writer before `send` waits: bounds memory when the broker is slow.
const WRITE_QUEUE: usize = 1024;

/// What the writer task is asked to do.
enum Outgoing {
    /// Write one encoded request frame, given in pieces (see `produce_frame`).
    Frame(Vec<Bytes>),
    /// Tell the caller once everything queued before this is on the socket.
    Flush(oneshot::Sender<()>),
}

/// State shared by the caller side and the two I/O tasks.
#[derive(Default)]
struct State {
    /// Callers waiting for a response, by correlation id.
    pending: HashMap<i32, oneshot::Sender<Bytes>>,
    /// Set once either task stops; the reason is reported to every later caller.
    closed: Option<String>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding this lock leaves the map consistent (single inserts/removes).
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the connection closed and fails every request in flight (dropping their senders).
fn close(shared: &Shared, reason: String) {
    let mut state = lock(shared);
    if state.closed.is_none() {
        state.closed = Some(reason);
    }
    state.pending.clear();
}

/// Removes a pending entry when the waiting `send` ends for any reason (answered, timed out,
/// or its future dropped), so abandoned requests do not leak.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.shared).pending.remove(&self.id);
    }
}

/// A connection to one broker; cheap to share behind an `Arc`.
pub struct Connection {
    addr: String,
    client_id: String,
    next_correlation_id: AtomicI32,
    queue: mpsc::Sender<Outgoing>,
    shared: Shared,
    request_timeout: Duration,
    versions: RwLock<Option<ApiVersionTable>>,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens a TCP connection to `addr` ("host:port") within `timeout`.
    pub async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::connect_secured(addr, client_id, timeout, &ClientSecurity::default()).await
    }

    /// Connects to another broker's inter-broker listener with the security this broker was
    /// configured with (`super::set_inter_broker_security`; PLAINTEXT when never set).
    pub async fn connect_inter_broker(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let security = super::security::inter_broker_security();
        Self::connect_secured(addr, client_id, timeout, &security).await
    }

    /// Opens a connection to `addr` with TLS and/or SASL as `security` says; the TLS handshake and
    /// the SASL login complete within `timeout` or fail.
    pub async fn connect_secured(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Self, ClientError> {
        let conn = tokio::time::timeout(timeout, async {
            let conn = Self::open(addr, client_id, timeout, security).await?;
            if let Some(sasl) = &security.sasl {
                super::security::authenticate(&conn, sasl).await?;
            }
            Ok::<_, ClientError>(conn)
        })
        .await
        .map_err(|_| ClientError::ConnectTimeout {
            addr: addr.to_owned(),
            timeout_ms: timeout.as_millis(),
        })??;
        Ok(conn)
    }

    async fn open(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        security: &ClientSecurity,
    ) -> Result<Self, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::ConnectTimeout {
                addr: addr.to_owned(),
                timeout_ms: timeout.as_millis(),
            })?
            .map_err(|source| ClientError::Io {
                addr: addr.to_owned(),
                source,
            })?;
        // Requests are small and latency matters more than packet count.
        stream.set_nodelay(true).map_err(|source| ClientError::Io {
            addr: addr.to_owned(),
            source,
        })?;
        let shared: Shared = Arc::default();
        let (queue, rx) = mpsc::channel(WRITE_QUEUE);
        // The writer is not aborted on drop: it ends once the queue's sender is gone, after
        // writing what was queued (acks=0 requests must still reach the broker).
        let reader = match &security.tls {
            None => {
                let (read, write) = stream.into_split();
                tokio::spawn(write_loop(write, rx, shared.clone(), addr.to_owned()));
                tokio::spawn(read_loop(read, shared.clone(), addr.to_owned()))
            }
            Some(config) => {
                let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|e| ClientError::Io {
                    addr: addr.to_owned(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
                })?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, stream)
                    .await
                    .map_err(|source| ClientError::Io {
                        addr: addr.to_owned(),
                        source,
                    })?;
                let (read, write) = tokio::io::split(tls);
                tokio::spawn(write_loop(write, rx, shared.clone(), addr.to_owned()));
                tokio::spawn(read_loop(read, shared.clone(), addr.to_owned()))
            }
        };
        tracing::debug!(addr, client_id, "connected");
        Ok(Self {
            addr: addr.to_owned(),
            client_id: client_id.to_owned(),
            next_correlation_id: AtomicI32::new(0),
            queue,
            shared,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            versions: RwLock::new(None),
            reader,
        })
    }

    /// Sets how long `send` waits for a response before failing with `RequestTimeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The "host:port" this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the reader or writer has stopped; a closed connection never recovers.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed.is_some()
    }

    /// Closes the connection: requests in flight fail, later ones too, and [`Self::is_closed`]
    /// turns true so a pool opens a new one. Kafka's `NetworkClient` does this when a request
    /// times out, since a broker answers a connection's requests in order and everything queued
    /// behind the late one would time out as well.
    pub fn close(&self, reason: &str) {
        close(&self.shared, reason.to_owned());
        self.reader.abort();
    }

    fn closed_error(&self) -> ClientError {
        let reason = lock(&self.shared)
            .closed
            .clone()
            .unwrap_or_else(|| "connection dropped".to_owned());
        ClientError::Closed {
            addr: self.addr.clone(),
            reason,
        }
    }

    fn next_id(&self) -> i32 {
        // Wraps at i32::MAX like Kafka's clients; ids only need to be unique among requests in flight.
        self.next_correlation_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a typed request at `version` (header version from the request type) and awaits
    /// its response. Callable concurrently: each call gets its own correlation id.
    pub async fn send<R: Request>(&self, req: R, version: i16) -> Result<R::Response, ClientError> {
        self.send_framed::<R>(version, |id, client_id| {
            Ok(vec![encode_request(&req, version, id, client_id)?])
        })
        .await
    }

    /// Like [`Self::send`] for a request the caller frames itself: `frame(correlation id, client
    /// id)` returns the whole length-prefixed frame in pieces, written one after the other.
    pub async fn send_framed<R: Request>(
        &self,
        version: i16,
        frame: impl FnOnce(i32, &str) -> Result<Vec<Bytes>, ClientError>,
    ) -> Result<R::Response, ClientError> {
        let id = self.next_id();
        let frame = frame(id, &self.client_id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut state = lock(&self.shared);
            if state.closed.is_some() {
                drop(state);
                return Err(self.closed_error());
            }
            state.pending.insert(id, tx);
        }
        let _guard = PendingGuard {
            shared: &self.shared,
            id,
        };
        if self.queue.send(Outgoing::Frame(frame)).await.is_err() {
            return Err(self.closed_error());
        }
        let frame = match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(_)) => return Err(self.closed_error()),
            Err(_) => {
                return Err(ClientError::RequestTimeout {
                    addr: self.addr.clone(),
                    api: R::KEY,
                    correlation_id: id,
                    timeout_ms: self.request_timeout.as_millis(),
                })
            }
        };
        let (_header, body) = decode_response::<R>(frame, version)?;
        Ok(body)
    }

    /// Queues a request for which the broker sends no response (Produce with acks=0) and returns
    /// once it is handed to the writer.
    pub async fn send_without_response<R: Request>(
        &self,
        req: R,
        version: i16,
    ) -> Result<(), ClientError> {
        self.send_framed_without_response(|id, client_id| {
            Ok(vec![encode_request(&req, version, id, client_id)?])
        })
        .await
    }

    /// [`Self::send_without_response`] for a frame the caller makes (see [`Self::send_framed`]).
    pub async fn send_framed_without_response(
        &self,
        frame: impl FnOnce(i32, &str) -> Result<Vec<Bytes>, ClientError>,
    ) -> Result<(), ClientError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let frame = frame(self.next_id(), &self.client_id)?;
        self.queue
            .send(Outgoing::Frame(frame))
            .await
            .map_err(|_| self.closed_error())
    }

    /// Waits until every request queued so far has been written to the socket (what Kafka's
    /// `producer.flush()` guarantees for acks=0).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Outgoing::Flush(tx))
            .await
            .map_err(|_| self.closed_error())?;
        rx.await.map_err(|_| self.closed_error())
    }

    /// Asks the broker which API versions it serves and remembers them for [`Self::version_for`].
    /// Tries v3 first; a broker that does not know v3 answers UNSUPPORTED_VERSION in the v0
    /// layout, so we then ask again at v0, as Kafka's clients do.
    pub async fn api_versions(&self) -> Result<ApiVersionsResponse, ClientError> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("zkafka"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp = match self.send(req, 3).await {
            Ok(r) if r.error_code == crate::errors::NONE => r,
            Ok(_) | Err(ClientError::Decode { .. }) => {
                self.send(ApiVersionsRequest::default(), 0).await?
            }
            Err(e) => return Err(e),
        };
        super::error::check_code(resp.error_code, || format!("ApiVersions to {}", self.addr))?;
        let table = ApiVersionTable::from_response(&resp);
        *self
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(table);
        Ok(resp)
    }

    /// The version to use for `R`: the highest both we (capped at `max_wanted`) and the broker
    /// speak. Before [`Self::api_versions`] has run, assumes the broker speaks `max_wanted`.
    pub fn version_for<R: Request>(&self, max_wanted: i16) -> Result<i16, ClientError> {
        let ours = (R::VERSIONS.min, R::VERSIONS.max.min(max_wanted));
        let guard = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        let picked = match guard.as_ref() {
            Some(table) => table.pick(R::KEY, ours),
            None => (ours.0 <= ours.1).then_some(ours.1),
        };
        picked.ok_or_else(|| ClientError::UnsupportedApi {
            addr: self.addr.clone(),
            api: R::KEY,
        })
    }

    /// Sends at the negotiated version (see [`Self::version_for`]); returns the version used too,
    /// since response fields depend on it.
    pub async fn send_negotiated<R: Request>(
        &self,
        req: R,
        max_wanted: i16,
    ) -> Result<(i16, R::Response), ClientError> {
        let version = self.version_for::<R>(max_wanted)?;
        Ok((version, self.send(req, version).await?))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn write_loop(
    write: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Outgoing>,
    shared: Shared,
    addr: String,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, write);
    let result: std::io::Result<()> = async {
        while let Some(first) = rx.recv().await {
            let mut waiters = Vec::new();
            let mut next = Some(first);
            // Coalesce everything already queued before paying for a flush.
            while let Some(msg) = next {
                match msg {
                    Outgoing::Frame(pieces) => {
                        for piece in &pieces {
                            out.write_all(piece).await?;
                        }
                    }
                    Outgoing::Flush(tx) => waiters.push(tx),
                }
                next = rx.try_recv().ok();
            }
            out.flush().await?;
            for tx in waiters {
                let _ = tx.send(());
            }
        }
        out.shutdown().await
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(addr, error = %e, "write failed");
        close(&shared, format!("write failed: {e}"));
    }
}

async fn read_loop(mut read: impl AsyncRead + Unpin, shared: Shared, addr: String) {
    let reason = loop {
        let len = match read.read_u32().await {
            Ok(len) => len as usize,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break "closed by peer".to_owned()
            }
            Err(e) => break format!("read failed: {e}"),
        };
        if !(4..=MAX_RESPONSE_FRAME).contains(&len) {
            break format!("response frame length {len} out of range");
        }
        let mut buf = BytesMut::zeroed(len);
        if let Err(e) = read.read_exact(&mut buf).await {
            break format!("read failed mid-frame: {e}");
        }
        let frame = buf.freeze();
        let Some(id) = peek_correlation_id(&frame) else {
            break "response without correlation id".to_owned();
        };
        let waiter = lock(&shared).pending.remove(&id);
        match waiter {
            // The caller may have given up (timeout, cancelled); that is fine.
            Some(tx) => drop(tx.send(frame)),
            None => tracing::debug!(addr, correlation_id = id, "response nobody waits for"),
        }
    };
    tracing::debug!(addr, reason, "connection reader stopped");
    close(&shared, reason);
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
