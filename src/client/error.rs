//! Errors of the client, typed so callers can tell a dead connection (reconnect) from a Kafka
//! error code (maybe refresh metadata) from a bug in what we sent (give up).

use kafka_protocol::error::ResponseError;

/// Everything that can go wrong while talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect or socket I/O failed.
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// Nothing answered within the connect timeout.
    #[error("connecting to {addr} timed out after {timeout_ms} ms")]
    ConnectTimeout { addr: String, timeout_ms: u128 },
    /// The connection's reader or writer stopped (peer closed, I/O error, bad frame); every
    /// request in flight on it fails with this, and so does every later one.
    #[error("connection to {addr} is closed: {reason}")]
    Closed { addr: String, reason: String },
    /// No response arrived within the request timeout.
    #[error(
        "request {api} (correlation id {correlation_id}) to {addr} timed out after {timeout_ms} ms"
    )]
    RequestTimeout {
        addr: String,
        api: i16,
        correlation_id: i32,
        timeout_ms: u128,
    },
    /// kafka-protocol refused to encode our request (e.g. a field the version does not have).
    #[error("cannot encode request api {api} v{version}: {message}")]
    Encode {
        api: i16,
        version: i16,
        message: String,
    },
    /// The broker's response did not decode as the version we asked for.
    #[error("cannot decode response to api {api} v{version}: {message}")]
    Decode {
        api: i16,
        version: i16,
        message: String,
    },
    /// The broker answered a frame we cannot use (too big, too short).
    #[error("bad frame from {addr}: {message}")]
    BadFrame { addr: String, message: String },
    /// Broker and client share no version of this API.
    #[error("broker {addr} supports no version of api {api} that this client speaks")]
    UnsupportedApi { addr: String, api: i16 },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {error} (error code {})", error.code())]
    Kafka {
        context: String,
        error: ResponseError,
    },
    /// Metadata does not know the topic/partition or its leader.
    #[error("no leader known for {topic}-{partition}")]
    NoLeader { topic: String, partition: i32 },
    /// None of the bootstrap servers could be reached.
    #[error("could not reach any bootstrap server of {servers}: {last}")]
    Bootstrap { servers: String, last: String },
}

impl ClientError {
    /// Whether the error means "the metadata we used is stale or the broker is gone", so
    /// refreshing metadata and retrying on a (possibly new) leader may succeed.
    pub fn is_retriable_metadata(&self) -> bool {
        match self {
            ClientError::Kafka { error, .. } => matches!(
                error,
                ResponseError::NotLeaderOrFollower
                    | ResponseError::LeaderNotAvailable
                    | ResponseError::UnknownTopicOrPartition
                    | ResponseError::FencedLeaderEpoch
                    | ResponseError::NotController
            ),
            // A broker that died: its connection breaks, or connecting to it hangs or is refused.
            ClientError::NoLeader { .. }
            | ClientError::Closed { .. }
            | ClientError::Io { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::RequestTimeout { .. }
            | ClientError::Bootstrap { .. } => true,
            _ => false,
        }
    }
}

/// Turns a Kafka error code into `Ok(())` or a [`ClientError::Kafka`] naming `context`.
pub fn check_code(code: i16, context: impl FnOnce() -> String) -> Result<(), ClientError> {
    use kafka_protocol::error::ParseResponseErrorCode;
    match code.err() {
        None => Ok(()),
        Some(error) => Err(ClientError::Kafka {
            context: context(),
            error,
        }),
    }
}
