//! Kafka's `ConnectionQuotas`: `max.connections` and `max.connections.per.ip` (with
//! `max.connections.per.ip.overrides`), checked when a connection is accepted.
//!
//! A connection over a limit is closed at once, as Kafka closes one over its per-address limit.
//! Kafka's acceptor instead waits for a free slot when the broker-wide limit is reached; zkafka
//! closes there too, so a client sees the refusal instead of a connection that never answers
//! (docs/differences.md). Connections on the inter-broker listener are not held to
//! `max.connections` (Kafka lets them through too, so replication and the controller keep
//! working), but are to the per-address limits.
//!
//! Each accepted connection holds a [`Slot`] that gives its counts back when dropped, whether the
//! connection ends, its task panics or the server shuts down, so counts cannot leak.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The configured limits (`usize::MAX` = unlimited, Kafka's `Int.MAX` default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimits {
    /// `max.connections`: connections on every listener but `unlimited_listener`.
    pub max_connections: usize,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`, resolved to addresses.
    pub per_ip_overrides: BTreeMap<IpAddr, usize>,
    /// The inter-broker listener, exempt from `max_connections`.
    pub unlimited_listener: Option<String>,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        QuotaLimits {
            max_connections: usize::MAX,
            max_connections_per_ip: usize::MAX,
            per_ip_overrides: BTreeMap::new(),
            unlimited_listener: None,
        }
    }
}

/// Why a connection was refused, for the log line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QuotaExceeded {
    #[error("address {ip} already has the configured maximum of {limit} connections (max.connections.per.ip)")]
    PerIp { ip: IpAddr, limit: usize },
    #[error(
        "the broker already has the configured maximum of {limit} connections (max.connections)"
    )]
    Broker { limit: usize },
}

/// Live connection counts, shared by every listener's acceptor.
#[derive(Debug)]
pub(crate) struct ConnectionQuotas {
    /// Replaced when a dynamic broker config changes them; connections already open stay.
    limits: RwLock<QuotaLimits>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Connections counted against `max_connections`.
    total: usize,
    /// Connections per address (entries removed at zero).
    per_ip: HashMap<IpAddr, usize>,
}

/// One accepted connection's place in the counts; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
    counts_toward_total: bool,
}

impl ConnectionQuotas {
    pub(crate) fn new(limits: QuotaLimits) -> Arc<Self> {
        Arc::new(ConnectionQuotas {
            limits: RwLock::new(limits),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `ip` on `listener`, or says which limit is reached.
    /// IPv4 clients of a listener bound to `[::]` appear as `::ffff:a.b.c.d`; they are counted
    /// (and matched against overrides) as the IPv4 address, as Kafka sees them.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        listener: &str,
        ip: IpAddr,
    ) -> Result<Slot, QuotaExceeded> {
        let ip = ip.to_canonical();
        let (counts_toward_total, per_ip_limit, max_connections) = {
            let limits = self.limits.read().unwrap_or_else(PoisonError::into_inner);
            (
                limits.unlimited_listener.as_deref() != Some(listener),
                limits
                    .per_ip_overrides
                    .get(&ip)
                    .copied()
                    .unwrap_or(limits.max_connections_per_ip),
                limits.max_connections,
            )
        };
        // The counts stay consistent even if a holder panicked: every update is one statement.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= per_ip_limit {
            return Err(QuotaExceeded::PerIp {
                ip,
                limit: per_ip_limit,
            });
        }
        if counts_toward_total && counts.total >= max_connections {
            return Err(QuotaExceeded::Broker {
                limit: max_connections,
            });
        }
        *counts.per_ip.entry(ip).or_default() += 1;
        if counts_toward_total {
            counts.total += 1;
        }
        Ok(Slot {
            quotas: self.clone(),
            ip,
            counts_toward_total,
        })
    }

    /// New limits for the connections accepted from now on (Kafka's dynamic `max.connections*`).
    pub(crate) fn set_limits(&self, limits: QuotaLimits) {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    #[cfg(test)]
    fn live(&self) -> (usize, usize) {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        (counts.total, counts.per_ip.len())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .quotas
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.counts_toward_total {
            counts.total = counts.total.saturating_sub(1);
        }
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_limit_with_overrides_and_slots_given_back() {
        let q = ConnectionQuotas::new(QuotaLimits {
            max_connections_per_ip: 2,
            per_ip_overrides: [(ip("10.0.0.9"), 0), (ip("10.0.0.8"), 3)].into(),
            ..QuotaLimits::default()
        });
        let a = q.acquire("PLAINTEXT", ip("10.0.0.1")).unwrap();
        // An IPv4 client of a dual-stack listener counts as its IPv4 address.
        let b = q.acquire("PLAINTEXT", ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(
            q.acquire("PLAINTEXT", ip("10.0.0.1")).unwrap_err(),
            QuotaExceeded::PerIp {
                ip: ip("10.0.0.1"),
                limit: 2
            }
        );
        assert!(q.acquire("PLAINTEXT", ip("10.0.0.9")).is_err());
        let more: Vec<Slot> = (0..3)
            .map(|_| q.acquire("PLAINTEXT", ip("10.0.0.8")).unwrap())
            .collect();
        assert!(q.acquire("PLAINTEXT", ip("10.0.0.8")).is_err());
        drop(a);
        let c = q.acquire("PLAINTEXT", ip("10.0.0.1")).unwrap();
        drop((b, c, more));
        assert_eq!(
            q.live(),
            (0, 0),
            "every count given back, no empty entries left"
        );
    }

    #[test]
    fn broker_limit_spares_the_inter_broker_listener() {
        let q = ConnectionQuotas::new(QuotaLimits {
            max_connections: 2,
            unlimited_listener: Some("INTERNAL".into()),
            ..QuotaLimits::default()
        });
        let a = q.acquire("CLIENT", ip("10.0.0.1")).unwrap();
        let b = q.acquire("CLIENT", ip("10.0.0.2")).unwrap();
        assert_eq!(
            q.acquire("CLIENT", ip("10.0.0.3")).unwrap_err(),
            QuotaExceeded::Broker { limit: 2 }
        );
        let internal = q.acquire("INTERNAL", ip("10.0.0.4")).unwrap();
        assert_eq!(q.live(), (2, 3));
        drop(b);
        let c = q.acquire("CLIENT", ip("10.0.0.3")).unwrap();
        drop((a, c, internal));
        assert_eq!(q.live(), (0, 0));
    }

    #[test]
    fn new_limits_apply_to_new_connections_only() {
        let q = ConnectionQuotas::new(QuotaLimits::default());
        let open = q.acquire("PLAINTEXT", ip("10.0.0.1")).unwrap();
        q.set_limits(QuotaLimits {
            max_connections_per_ip: 1,
            ..QuotaLimits::default()
        });
        assert!(q.acquire("PLAINTEXT", ip("10.0.0.1")).is_err());
        assert!(q.acquire("PLAINTEXT", ip("10.0.0.2")).is_ok());
        drop(open);
        assert!(q.acquire("PLAINTEXT", ip("10.0.0.1")).is_ok());
    }
}
