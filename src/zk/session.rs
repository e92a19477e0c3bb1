//! Connecting (with chroot creation), session-expiry detection, ACL choice and small znode helpers
//! shared by the other files of this module.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use zookeeper_client::{
    Acl, Acls, Client, CreateMode, CreateOptions, Permission, SessionInfo, SessionState, Stat,
};

use super::error::ZkError;
use super::{KafkaZkClient, ZkSettings};

/// `zookeeper.set.acl=true`: the creator may do everything, the world may read (Kafka's
/// `CREATOR_ALL_ACL ++ READ_ACL_UNSAFE`).
static SECURE_ACLS: [Acl; 2] = [
    Acl::new_const(Permission::ALL, "auth", ""),
    Acl::new_const(Permission::READ, "world", "anyone"),
];

/// Splits `h1:2181,h2:2181/chroot` into the server list and the chroot (None for none or `/`).
pub(crate) fn split_chroot(connect: &str) -> (&str, Option<&str>) {
    match connect.find('/') {
        Some(i) if connect[i..].trim_end_matches('/').len() > 1 => {
            (&connect[..i], Some(connect[i..].trim_end_matches('/')))
        }
        Some(i) => (&connect[..i], None),
        None => (connect, None),
    }
}

fn connector(s: &ZkSettings) -> zookeeper_client::Connector {
    let connector = Client::connector()
        .with_session_timeout(s.session_timeout)
        .with_connection_timeout(s.connection_timeout);
    match &s.sasl {
        Some(c) => connector.with_sasl(zookeeper_client::SaslOptions::digest_md5(
            c.username.clone(),
            c.password.clone(),
        )),
        None => connector,
    }
}

/// Awaits a connection attempt for at most `connection_timeout`; nothing answering (in time) is
/// [`ZkError::Unreachable`], any other failure the session error it maps to.
async fn within_connection_timeout(
    s: &ZkSettings,
    attempt: impl Future<Output = Result<Client, zookeeper_client::Error>>,
) -> Result<Client, ZkError> {
    let unreachable = || ZkError::Unreachable {
        connect: s.connect.clone(),
        timeout: s.connection_timeout,
    };
    match tokio::time::timeout(s.connection_timeout, attempt).await {
        Err(_) => Err(unreachable()),
        Ok(Err(zookeeper_client::Error::Timeout | zookeeper_client::Error::NoHosts)) => {
            Err(unreachable())
        }
        Ok(Err(e)) => Err(ZkError::session(e)),
        Ok(Ok(client)) => Ok(client),
    }
}

impl KafkaZkClient {
    /// Creates a missing chroot (persistent, empty, via a client without chroot) then connects with
    /// it. Nothing answering within `connection_timeout` → [`ZkError::Unreachable`].
    pub async fn connect(s: &ZkSettings) -> Result<Self, ZkError> {
        if s.set_acl && s.sasl.is_none() {
            // Kafka refuses this too: creator-only ACLs need an authenticated creator, and ZooKeeper
            // rejects them (InvalidACL) from an anonymous session.
            return Err(ZkError::AclsNeedAuthentication);
        }
        let attempt = async {
            let (servers, chroot) = split_chroot(&s.connect);
            if let Some(chroot) = chroot {
                // Kafka does the same: the chroot must exist before a chrooted session can use it.
                let root = connector(s).connect(servers).await?;
                let opts = persistent_options(s.set_acl, chroot);
                root.mkdir(chroot, &opts).await?;
                drop(root);
            }
            connector(s).connect(&s.connect).await
        };
        let client = within_connection_timeout(s, attempt).await?;
        tracing::info!(
            session_id = format_args!("{:#x}", client.session_id().0),
            timeout_ms = client.session_timeout().as_millis() as u64,
            connect = %s.connect,
            "ZooKeeper session established"
        );
        Ok(KafkaZkClient {
            client: Arc::new(super::timed_client::TimedClient::new(client)),
            set_acl: s.set_acl,
        })
    }

    /// Reconnects to the session this client had, as Kafka's Java client keeps doing while
    /// ZooKeeper is away: a restarted ZooKeeper reloads its sessions and gives each a fresh
    /// timeout, so the session, its ephemeral znodes (registration, `/controller`) and the broker
    /// epoch survive an outage longer than the timeout. Only ZooKeeper decides that a session
    /// expired ([`ZkError::SessionLost`]); nothing answering within `connection_timeout` is
    /// [`ZkError::Unreachable`]. Watches are not carried over: the caller re-arms them.
    pub async fn resume(s: &ZkSettings, session: SessionInfo) -> Result<Self, ZkError> {
        let attempt = connector(s).with_session(session).connect(&s.connect);
        let client = within_connection_timeout(s, attempt).await?;
        tracing::info!(
            session_id = format_args!("{:#x}", client.session_id().0),
            "ZooKeeper session resumed"
        );
        Ok(KafkaZkClient {
            client: Arc::new(super::timed_client::TimedClient::new(client)),
            set_acl: s.set_acl,
        })
    }

    /// Resolves when this session has expired (or was closed): the caller then builds a new client,
    /// re-registers and re-arms its watches. A disconnection alone does not resolve it: the client
    /// reconnects and keeps the session (and its watches) while the server still has it.
    pub fn session_lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut watcher = self.client.state_watcher();
        let current = self.client.state();
        let session_id = self.session_id();
        async move {
            let mut state = current;
            while !state.is_terminated() {
                state = watcher.changed().await;
            }
            match state {
                SessionState::Expired => tracing::warn!(
                    session_id = format_args!("{session_id:#x}"),
                    "ZooKeeper session expired"
                ),
                other => {
                    tracing::info!(session_id = format_args!("{session_id:#x}"), state = %other, "ZooKeeper session ended")
                }
            }
        }
    }

    /// The session's state as ZooKeeper's Java client names it (Kafka's `SessionState` gauge):
    /// a client reconnecting to its session is CONNECTING, an expired or closed one CLOSED.
    pub fn state_name(&self) -> &'static str {
        match self.client.state() {
            SessionState::SyncConnected => "CONNECTED",
            SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
            SessionState::Disconnected => "CONNECTING",
            SessionState::AuthFailed => "AUTH_FAILED",
            _ => "CLOSED",
        }
    }

    pub fn session_id(&self) -> i64 {
        self.client.session_id().0
    }

    /// Session id and password: what [`KafkaZkClient::resume`] takes (tests take sessions over too).
    pub fn session_info(&self) -> SessionInfo {
        self.client.session().clone()
    }

    /// Closes the session (its ephemerals vanish at once) if this is the last clone of the client;
    /// otherwise only drops this handle.
    pub async fn close(self) {
        let session_id = self.session_id();
        if let Ok(client) = Arc::try_unwrap(self.client) {
            if client.state().is_terminated() {
                return;
            }
            let mut watcher = client.state_watcher();
            drop(client);
            let closed = async { while !watcher.changed().await.is_terminated() {} };
            let _ = tokio::time::timeout(Duration::from_secs(5), closed).await;
            tracing::info!(
                session_id = format_args!("{session_id:#x}"),
                "ZooKeeper session closed"
            );
        }
    }

    /// Options for a persistent znode at `path`.
    pub(crate) fn persistent(&self, path: &str) -> CreateOptions<'static> {
        persistent_options(self.set_acl, path)
    }

    pub(crate) fn persistent_sequential(&self) -> CreateOptions<'static> {
        CreateMode::PersistentSequential.with_acls(self.acls_for(""))
    }

    pub(crate) fn ephemeral(&self, path: &str) -> CreateOptions<'static> {
        CreateMode::Ephemeral.with_acls(self.acls_for(path))
    }

    fn acls_for(&self, path: &str) -> Acls<'static> {
        acls(self.set_acl, path)
    }

    /// Reads a znode; `None` if it does not exist.
    pub(crate) async fn read(&self, path: &str) -> Result<Option<(Vec<u8>, Stat)>, ZkError> {
        match reread(self.client.get_data(path), || self.client.get_data(path)).await {
            Ok(found) => Ok(Some(found)),
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }

    /// Creates a persistent znode unless it exists; true if this call created it.
    pub(crate) async fn create_if_missing(&self, path: &str, data: &[u8]) -> Result<bool, ZkError> {
        match self.client.create(path, data, &self.persistent(path)).await {
            Ok(_) => Ok(true),
            Err(zookeeper_client::Error::NodeExists) => Ok(false),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }

    /// Lists children, treating a missing znode as having none.
    pub(crate) async fn children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        match self.client.list_children(path).await {
            Ok(c) => Ok(c),
            Err(zookeeper_client::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }

    /// The children of each of `paths` (`None` where it does not exist), every listing sent
    /// before the first answer is awaited.
    pub(crate) async fn children_of_each(
        &self,
        paths: &[String],
    ) -> Result<Vec<Option<Vec<String>>>, ZkError> {
        let listings: Vec<_> = paths.iter().map(|p| self.client.list_children(p)).collect();
        let mut out = Vec::with_capacity(paths.len());
        for (path, listing) in paths.iter().zip(listings) {
            match listing.await {
                Ok(children) => out.push(Some(children)),
                Err(zookeeper_client::Error::NoNode) => out.push(None),
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        Ok(out)
    }

    /// Creates `path` and its missing ancestors (persistent, empty), all requests pipelined.
    pub(crate) async fn create_with_parents(&self, paths: &[&str]) -> Result<(), ZkError> {
        let mut all: Vec<String> = Vec::new();
        for path in paths {
            all.extend(super::paths::ancestors(path).map(str::to_string));
            all.push(path.to_string());
        }
        all.sort_by_key(|p| p.matches('/').count());
        all.dedup();
        let pending: Vec<_> = all
            .iter()
            .map(|p| {
                (
                    p,
                    self.client
                        .create(p, &[], &persistent_options(self.set_acl, p)),
                )
            })
            .collect();
        for (path, created) in pending {
            match created.await {
                Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        Ok(())
    }
}

/// Reads are retried this many times when the connection drops under them.
const READ_RETRIES: usize = 5;

/// Awaits a read sent earlier; if the connection dropped while it was in flight, sends it again.
/// Reads are idempotent and the client queues new requests while it reconnects to the same
/// session, so a ZooKeeper server failing over does not surface as an error to the caller.
pub(crate) async fn reread<T, Fut>(
    first: Fut,
    again: impl Fn() -> Fut,
) -> Result<T, zookeeper_client::Error>
where
    Fut: Future<Output = Result<T, zookeeper_client::Error>>,
{
    let mut result = first.await;
    for _ in 0..READ_RETRIES {
        match result {
            Err(zookeeper_client::Error::ConnectionLoss) => {
                tracing::debug!("ZooKeeper connection lost under a read, sending it again");
                result = again().await;
            }
            _ => break,
        }
    }
    result
}

/// `zookeeper.set.acl=true`, under Kafka's sensitive paths (`ZkData.sensitiveRootPaths`: SCRAM
/// credentials, broker configs with passwords, delegation tokens): the creator only, no world read.
static SENSITIVE_ACLS: [Acl; 1] = [Acl::new_const(Permission::ALL, "auth", "")];

/// Kafka's `ZkData.defaultAcls`.
fn acls(set_acl: bool, path: &str) -> Acls<'static> {
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    // Kafka leaves /consumers open even on a secured cluster: old consumers write there themselves.
    if !set_acl || under("/consumers") {
        Acls::anyone_all()
    } else if [
        "/config/users",
        "/config/brokers",
        "/delegation_token/tokens",
    ]
    .iter()
    .any(|root| under(root))
    {
        Acls::new(&SENSITIVE_ACLS)
    } else {
        Acls::new(&SECURE_ACLS)
    }
}

fn persistent_options(set_acl: bool, path: &str) -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(acls(set_acl, path))
}

#[cfg(test)]
mod tests {
    use super::split_chroot;

    #[test]
    fn chroot_is_split_off() {
        assert_eq!(
            split_chroot("h1:2181,h2:2181/kafka"),
            ("h1:2181,h2:2181", Some("/kafka"))
        );
        assert_eq!(split_chroot("h1:2181/a/b/"), ("h1:2181", Some("/a/b")));
        assert_eq!(split_chroot("h1:2181/"), ("h1:2181", None));
        assert_eq!(split_chroot("h1:2181"), ("h1:2181", None));
    }
}
