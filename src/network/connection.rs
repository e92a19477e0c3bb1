//! One client connection: a reader that frames and decodes requests and hands them to the handler
//! in arrival order, and an ordered writer (see [`super::writer`]), joined in one task.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn, Instrument};

use super::frame::{FrameError, FrameReader};
use super::header::{decode_request_header, response_header_version};
use super::server::stopped;
use super::writer::{write_responses, Body, Pending, WriteError};
use super::{NetworkConfig, Reply, RequestContext, RequestHandler};

/// Serves `stream` until the peer closes, an invalid frame or header arrives, the handler says
/// [`Reply::Close`], or `shutdown` fires; in every case responses already owed are written first.
pub(crate) async fn serve_connection<H: RequestHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    handler: Arc<H>,
    cfg: NetworkConfig,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "could not set TCP_NODELAY");
    }
    let (read_half, write_half) = stream.into_split();
    let (tx, rx) = mpsc::channel(cfg.max_in_flight.max(1));
    let reader = read_requests(
        FrameReader::new(read_half, cfg.max_request_bytes),
        peer,
        listener,
        handler,
        tx,
        shutdown,
    );
    let writer = async {
        match write_responses(write_half, rx).await {
            Ok(()) => {}
            // The peer went away: routine.
            Err(WriteError::Io(e)) => debug!(error = %e, "closing connection: write failed"),
            // A handler's deferred reply panicked or was cancelled: a bug worth seeing.
            Err(e @ WriteError::Task { .. }) => warn!(%peer, error = %e, "closing connection"),
        }
    };
    tokio::join!(reader, writer);
    debug!("connection closed");
}

/// The reading half: one request at a time through the handler, outcomes queued in order.
async fn read_requests<H: RequestHandler>(
    mut frames: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    peer: SocketAddr,
    listener: Arc<str>,
    handler: Arc<H>,
    tx: mpsc::Sender<Pending>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            biased;
            // A dropped sender also means nobody will keep this server running.
            () = stopped(&mut shutdown) => {
                debug!("shutting down: no more requests read");
                break;
            }
            _ = tx.closed() => break,
            next = frames.next_frame() => next,
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::InvalidSize { size, max }) => {
                // Kafka's InvalidReceiveException: one line, this connection only.
                warn!(%peer, size, max, "closing connection: invalid request size (socket.request.max.bytes)");
                let _ = tx.send(Pending::Close).await;
                break;
            }
            Err(e) => {
                debug!(error = %e, "connection ended");
                break;
            }
        };
        let (header, api_key, body) = match decode_request_header(frame) {
            Ok(parts) => parts,
            Err(e) => {
                warn!(%peer, error = %e, "closing connection: cannot decode request header");
                let _ = tx.send(Pending::Close).await;
                break;
            }
        };
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
            body,
        };
        let body = match handler.handle(ctx).instrument(span.clone()).await {
            Reply::Now(body) => Body::Ready(body),
            Reply::Later(fut) => Body::Later(tokio::spawn(fut.instrument(span))),
            Reply::Close(reason) => {
                info!(%peer, api = ?api_key, version = api_version, correlation_id, %reason, "closing connection");
                let _ = tx.send(Pending::Close).await;
                break;
            }
        };
        let pending = Pending::Response {
            correlation_id,
            header_version: response_header_version(api_key, api_version),
            body,
        };
        if tx.send(pending).await.is_err() {
            break;
        }
    }
}
