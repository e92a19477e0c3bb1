//! Binding listeners and accepting connections until shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

use super::connection::{serve_connection, ConnectionSettings};
use super::connection_quotas::ConnectionQuotas;
use super::{ListenerSecurity, NetworkConfig, QuotaLimits, RequestHandler};

/// A bound listener socket: what `listeners` asked for and the address the OS gave it.
#[derive(Debug)]
pub struct BoundListener {
    /// The listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    /// The bound address; with port 0 in the config this carries the port the OS picked, which is
    /// what the broker must advertise.
    pub local_addr: SocketAddr,
    listener: TcpListener,
    security: Arc<ListenerSecurity>,
}

impl BoundListener {
    /// Sets what the listener's connections must go through (TLS, SASL) before requests.
    pub fn set_security(&mut self, security: ListenerSecurity) {
        self.security = Arc::new(security);
    }
}

/// Binds every listener (port 0 → the OS picks; the bound addresses are returned so the broker can
/// advertise them). An empty host binds every interface, like Kafka: `[::]` (which also accepts
/// IPv4 on Linux) when IPv6 is available, else `0.0.0.0`.
pub async fn bind(listeners: &[(String, String, u16)]) -> io::Result<Vec<BoundListener>> {
    let mut bound = Vec::with_capacity(listeners.len());
    for (name, host, port) in listeners {
        let listener = if host.is_empty() {
            match TcpListener::bind(("::", *port)).await {
                Ok(l) => Ok(l),
                Err(_) => TcpListener::bind(("0.0.0.0", *port)).await,
            }
        } else {
            TcpListener::bind((host.as_str(), *port)).await
        }
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind listener {name} to {host}:{port}: {e}"),
            )
        })?;
        let local_addr = listener.local_addr()?;
        info!(listener = %name, address = %local_addr, "listening");
        bound.push(BoundListener {
            name: name.clone(),
            local_addr,
            listener,
            security: Arc::default(),
        });
    }
    Ok(bound)
}

/// Serves every listener until `shutdown` becomes `true` (or its sender is dropped): then stops
/// accepting, closes the listening sockets, stops reading new requests, lets requests already
/// handed to `handler` finish and their responses be written, and returns.
pub async fn serve<H: RequestHandler>(
    listeners: Vec<BoundListener>,
    handler: Arc<H>,
    cfg: NetworkConfig,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let (_fixed, quotas) = watch::channel(cfg.quotas.clone());
    serve_with_quotas(listeners, handler, cfg, quotas, shutdown).await
}

/// [`serve`], with connection quotas that change whenever `quotas` does (dynamic broker
/// configs): connections accepted afterwards are counted against the new limits.
pub async fn serve_with_quotas<H: RequestHandler>(
    listeners: Vec<BoundListener>,
    handler: Arc<H>,
    cfg: NetworkConfig,
    mut updates: watch::Receiver<QuotaLimits>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut acceptors = JoinSet::new();
    let quotas = ConnectionQuotas::new(updates.borrow_and_update().clone());
    let updated = quotas.clone();
    tokio::spawn(async move {
        while updates.changed().await.is_ok() {
            let limits = updates.borrow_and_update().clone();
            info!(
                max_connections = limits.max_connections,
                max_connections_per_ip = limits.max_connections_per_ip,
                overrides = limits.per_ip_overrides.len(),
                "connection quotas changed"
            );
            updated.set_limits(limits);
        }
    });
    let settings = ConnectionSettings::from(&cfg);
    for l in listeners {
        let span = tracing::info_span!("listener", name = %l.name, address = %l.local_addr);
        let acceptor = accept_loop(
            l,
            handler.clone(),
            settings,
            quotas.clone(),
            shutdown.clone(),
        );
        acceptors.spawn(acceptor.instrument(span));
    }
    while let Some(res) = acceptors.join_next().await {
        if let Err(e) = res {
            error!(error = %e, "listener task failed");
        }
    }
    info!("socket server stopped");
    Ok(())
}

/// Accepts on one listener, one task per connection (closing at once those over a connection
/// quota); on shutdown waits for those tasks.
async fn accept_loop<H: RequestHandler>(
    l: BoundListener,
    handler: Arc<H>,
    settings: ConnectionSettings,
    quotas: Arc<ConnectionQuotas>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name: Arc<str> = Arc::from(l.name.as_str());
    let mut conns = JoinSet::new();
    let conn_shutdown = shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            // Reap finished connections so the set does not grow with every connection ever made.
            Some(res) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = res {
                    error!(error = %e, "connection task failed");
                }
            }
            accepted = l.listener.accept() => match accepted {
                Ok((stream, peer)) => match quotas.acquire(&name, peer.ip()) {
                    Ok(slot) => {
                        let span = tracing::info_span!("connection", listener = %name, %peer);
                        let conn = serve_connection(stream, peer, name.clone(), l.security.clone(), handler.clone(), settings, conn_shutdown.clone());
                        conns.spawn(
                            async move {
                                conn.await;
                                drop(slot);
                            }
                            .instrument(span),
                        );
                    }
                    // Kafka's "Rejected connection from ..." (dropping the stream closes it).
                    Err(e) => info!(%peer, reason = %e, "rejected connection"),
                },
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning on the error.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(l.listener);
    info!(
        connections = conns.len(),
        "stopped accepting; waiting for in-flight requests"
    );
    while let Some(res) = conns.join_next().await {
        if let Err(e) = res {
            error!(error = %e, "connection task failed");
        }
    }
}

/// Resolves once shutdown is requested or the sender is gone (nobody can keep the server running
/// then). The watch guard is dropped here, so no read lock is held across a `select!` branch.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
