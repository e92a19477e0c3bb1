//! Typed errors of the ZooKeeper layer: what a caller must tell apart to decide what to do next
//! (fail start-up, re-read and retry, resign as controller, rebuild the session).

use std::time::Duration;

/// An error from [`crate::zk::KafkaZkClient`].
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// No ZooKeeper server answered within the connection timeout.
    #[error("no ZooKeeper server at {connect} answered within {timeout:?}")]
    Unreachable { connect: String, timeout: Duration },
    /// `zookeeper.set.acl=true` needs an authenticated session (SASL or TLS client certificate)
    /// for creator-only ACLs; without a JAAS `Client` section zkafka's session is anonymous.
    #[error("zookeeper.set.acl is true, but no JAAS Client section (KAFKA_OPTS=-Djava.security.auth.login.config=...) gives the ZooKeeper session SASL credentials")]
    AclsNeedAuthentication,
    /// The session expired or the client was closed: build a new client, re-register, re-arm watches.
    #[error("ZooKeeper session expired or closed")]
    SessionLost,
    /// The connection dropped while the request was in flight; the session may still be alive
    /// (the client reconnects by itself). Whether the request took effect is unknown: re-read, retry.
    #[error("ZooKeeper connection lost (session still alive, reconnecting)")]
    ConnectionLoss,
    /// Another live session holds this broker id's registration.
    #[error(
        "broker id already registered at {0} (another broker with the same broker.id is running)"
    )]
    BrokerIdTaken(String),
    /// `/brokers/topics/<topic>` already exists.
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("znode {0} does not exist")]
    NoNode(String),
    #[error("znode {0} already exists")]
    NodeExists(String),
    /// A conditional write found another dataVersion: re-read and decide again.
    #[error("znode {0} has a different version than expected")]
    BadVersion(String),
    /// The `/controller_epoch` fencing check failed: another controller was elected; resign.
    #[error("controller moved: /controller_epoch no longer has our version")]
    ControllerMoved,
    /// Other writers kept changing a consumer group's znodes while it was being deleted.
    #[error("consumer group {0} kept changing while being deleted")]
    GroupKeptChanging(String),
    /// A znode's data does not parse as the kind expected at its path.
    #[error("znode {path} holds data that does not parse: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A znode holding decimal text (offsets, epochs) does not parse.
    #[error("znode {path} holds {data:?}, expected decimal text")]
    BadNumber { path: String, data: String },
    #[error("ZooKeeper: {0}")]
    Other(#[from] zookeeper_client::Error),
}

impl ZkError {
    /// Maps a ZooKeeper error on `path` to the variant a caller can act on.
    pub(crate) fn at(path: &str, err: zookeeper_client::Error) -> ZkError {
        use zookeeper_client::Error as E;
        match err {
            E::NoNode => ZkError::NoNode(path.to_string()),
            E::NodeExists => ZkError::NodeExists(path.to_string()),
            E::BadVersion => ZkError::BadVersion(path.to_string()),
            E::SessionExpired | E::ClientClosed => ZkError::SessionLost,
            E::ConnectionLoss => ZkError::ConnectionLoss,
            other => ZkError::Other(other),
        }
    }

    /// Whether ZooKeeper could not be reached now (rather than refusing the request): the same
    /// request may succeed later, so a client is told to retry.
    pub fn is_unavailable(&self) -> bool {
        use zookeeper_client::Error as E;
        matches!(
            self,
            ZkError::Unreachable { .. }
                | ZkError::SessionLost
                | ZkError::ConnectionLoss
                | ZkError::Other(
                    E::ConnectionLoss
                        | E::SessionExpired
                        | E::Timeout
                        | E::ClientClosed
                        | E::NoHosts
                        | E::Throttled
                )
        )
    }

    /// Maps an error that is not about one path (connection, session).
    pub(crate) fn session(err: zookeeper_client::Error) -> ZkError {
        use zookeeper_client::Error as E;
        match err {
            E::SessionExpired | E::ClientClosed => ZkError::SessionLost,
            E::ConnectionLoss => ZkError::ConnectionLoss,
            other => ZkError::Other(other),
        }
    }
}

/// Parses a znode's JSON, naming the path on failure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    path: &str,
    data: &[u8],
) -> Result<T, ZkError> {
    serde_json::from_slice(data).map_err(|source| ZkError::Json {
        path: path.to_string(),
        source,
    })
}

/// Parses a znode that is one entry among many (a topic, a registration, a config): a malformed
/// one is logged and skipped (`None`) rather than failing the whole read, so one bad znode written
/// by hand or by a tool cannot stop the controller from loading the cluster (it would resign and
/// be elected again in a loop).
pub(crate) fn parse_or_skip<T: serde::de::DeserializeOwned>(path: &str, data: &[u8]) -> Option<T> {
    match serde_json::from_slice(data) {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            tracing::warn!(path, error = %e, data = %String::from_utf8_lossy(&data[..data.len().min(100)]),
                "skipping a malformed znode");
            None
        }
    }
}

/// Parses a znode holding bare decimal text (`/controller_epoch`, consumer offsets).
pub(crate) fn parse_decimal<T: std::str::FromStr>(path: &str, data: &[u8]) -> Result<T, ZkError> {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ZkError::BadNumber {
            path: path.to_string(),
            data: String::from_utf8_lossy(data).into_owned(),
        })
}
