//! Kafka's `SocketServer`: listeners, one task per connection, 4-byte length framing, request header
//! decoding, size limits, and responses written in request order.
//!
//! The network layer knows nothing about API bodies: it decodes the request header (needed for the
//! correlation id and to pick the response header version), hands the rest of the frame to a
//! [`RequestHandler`] as a zero-copy [`bytes::Bytes`] slice, and writes whatever encoded body comes
//! back behind a length prefix and a response header. A body may include ranges of open files
//! ([`ResponseBody`]), which go to the socket with `sendfile(2)`.

mod body;
mod connection;
mod connection_quotas;
mod frame;
mod header;
mod sasl_authenticator;
mod security;
mod server;
mod sink;
mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};

pub use body::{BodyBuilder, BodyPart, FileRange, ResponseBody};
pub use connection_quotas::QuotaLimits;
pub use frame::FrameError;
pub use header::{
    decode_request_header, encode_response_header, request_header_version, response_header_version,
    HeaderError,
};
pub use security::ListenerSecurity;
pub use server::{bind, serve, serve_with_quotas, BoundListener};

/// One decoded request, as handed to the [`RequestHandler`].
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request header, decoded with the header version the API key and version call for.
    pub header: RequestHeader,
    /// The API key from the header (already checked to be one kafka-protocol knows).
    pub api_key: ApiKey,
    /// The API version from the header; *not* checked against what the broker supports: answering
    /// UNSUPPORTED_VERSION is the API layer's job.
    pub api_version: i16,
    /// The client's address, for logs and quotas.
    pub peer: SocketAddr,
    /// The name of the listener the request arrived on (e.g. `PLAINTEXT`), so inter-broker requests
    /// can be told apart and Metadata can advertise the matching listener. Shared, not copied per
    /// request.
    pub listener: std::sync::Arc<str>,
    /// Who the connection authenticated as (`User:ANONYMOUS` on PLAINTEXT); shared per connection.
    pub principal: std::sync::Arc<crate::security::KafkaPrincipal>,
    /// The bytes after the header: a slice of the frame buffer, never copied.
    pub body: Bytes,
}

/// A boxed future completing with an encoded response body (or none).
pub type LaterReply = Pin<Box<dyn Future<Output = Option<ResponseBody>> + Send>>;

/// What the handler wants done with a request.
pub enum Reply {
    /// Encoded response *body* (the network layer writes length + response header (correlation id,
    /// and tagged fields when the response header version is 1) in front), or `None` for acks=0
    /// produce.
    Now(Option<ResponseBody>),
    /// Completes later (acks=all, long-poll fetch): the connection keeps reading requests; responses
    /// are still written in request order. The future is spawned at once, so its timers run even
    /// while earlier responses are still pending.
    Later(LaterReply),
    /// Kafka closes the connection here (e.g. a request it cannot parse); the string goes in the log
    /// line. Responses to earlier requests are still written first.
    Close(String),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Now(b) => f
                .debug_tuple("Now")
                .field(&b.as_ref().map(ResponseBody::len))
                .finish(),
            Reply::Later(_) => f.write_str("Later(..)"),
            Reply::Close(reason) => f.debug_tuple("Close").field(reason).finish(),
        }
    }
}

/// The API layer: turns a request into a [`Reply`].
pub trait RequestHandler: Send + Sync + 'static {
    /// Called in arrival order; the next request of this connection is not handed over until this
    /// returns, so per-connection appends keep their order.
    fn handle(&self, ctx: RequestContext) -> impl Future<Output = Reply> + Send;

    /// Resolves once a request with `api_key` may be handled: Kafka's
    /// `SocketServer.enableRequestProcessing`, which a broker calls only at the end of its
    /// start-up. Until then the connection holds the request (the client just waits for its
    /// answer) while it still notices the peer leaving and a shutdown. A handler ready from the
    /// start keeps this default.
    fn admitted(&self, api_key: ApiKey) -> impl Future<Output = ()> + Send {
        let _ = api_key;
        std::future::ready(())
    }
}

/// Limits of the socket server (Kafka's `socket.request.max.bytes`, `connections.max.idle.ms`,
/// the connection quotas, and a pipelining bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `socket.request.max.bytes`: a frame larger than this closes the connection.
    pub max_request_bytes: usize,
    /// How many requests of one connection may wait for their responses to be written before the
    /// connection stops reading (back-pressure instead of unbounded memory).
    pub max_in_flight: usize,
    /// `connections.max.idle.ms`: a connection with no request in flight that has neither read a
    /// request nor written a response for this long is closed (`None`: never).
    pub connections_max_idle: Option<Duration>,
    /// `max.connections`, `max.connections.per.ip` and its overrides.
    pub quotas: QuotaLimits,
}

impl Default for NetworkConfig {
    /// Kafka's defaults (`socket.request.max.bytes` 100 MiB, `connections.max.idle.ms` 10 minutes,
    /// no connection limits) and a pipelining depth well above what clients use (librdkafka's
    /// `max.in.flight` defaults to 1000000 but is capped per broker by socket buffers; the Java
    /// client uses 5).
    fn default() -> Self {
        NetworkConfig {
            max_request_bytes: 104_857_600,
            max_in_flight: 128,
            connections_max_idle: Some(Duration::from_millis(600_000)),
            quotas: QuotaLimits::default(),
        }
    }
}
