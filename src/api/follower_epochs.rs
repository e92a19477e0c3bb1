//! Which follower fetches a leader believes. A Fetch with a replica id >= 0 moves that replica's log
//! end on the leader, and so the high watermark and the ISR: a client claiming to be a paused
//! follower could otherwise get an acks=all record acknowledged that only the leader holds. So a
//! follower fetch counts only when it comes from a broker in the partition's replica set, in a
//! Fetch version carrying the broker epoch (v15+, `ReplicaState`), naming that broker's current
//! registration (its `/brokers/ids/<id>` czxid, Kafka's broker epoch), on the inter-broker
//! listener.
//!
//! The leader remembers each follower's epoch as last read from ZooKeeper; an epoch above it (a
//! follower that registered again) is read once more, one below it is stale without a read.

use std::collections::HashMap;
use std::sync::Mutex;

use kafka_protocol::error::ResponseError;
use tracing::{info, warn};

use super::KafkaApis;

/// The first Fetch version with `ReplicaState` (replica id and broker epoch).
pub(super) const FETCH_REPLICA_STATE_VERSION: i16 = 15;

/// Broker epochs of the followers that fetched from this broker, as ZooKeeper last gave them.
#[derive(Debug, Default)]
pub struct FollowerEpochs {
    known: Mutex<HashMap<i32, i64>>,
}

impl FollowerEpochs {
    fn get(&self, broker: i32) -> Option<i64> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&broker)
            .copied()
    }

    fn set(&self, broker: i32, epoch: Option<i64>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match epoch {
            Some(e) => known.insert(broker, e),
            None => known.remove(&broker),
        };
    }
}

impl KafkaApis {
    /// Ok when a follower fetch from `replica` at `version` with `broker_epoch` may move replica
    /// state; else the error every partition of the request gets (logged once per request).
    pub(super) async fn authorize_follower_fetch(
        &self,
        replica: i32,
        version: i16,
        broker_epoch: i64,
        listener: &str,
    ) -> Result<(), ResponseError> {
        if listener != self.config.inter_broker_listener_name {
            warn!(replica, listener, inter_broker_listener = %self.config.inter_broker_listener_name,
                "refusing a follower Fetch that did not come on the inter-broker listener");
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if version < FETCH_REPLICA_STATE_VERSION {
            warn!(
                replica,
                version, "refusing a follower Fetch without a broker epoch (before v15)"
            );
            return Err(ResponseError::StaleBrokerEpoch);
        }
        let known = self.follower_epochs.get(replica);
        if known == Some(broker_epoch) {
            return Ok(());
        }
        let current = match known {
            Some(k) if broker_epoch < k => Some(k),
            _ => {
                let read = self.zk().get_broker_epoch(replica).await.map_err(|e| {
                    warn!(replica, error = %e, "cannot read a follower's registration");
                    ResponseError::StaleBrokerEpoch
                })?;
                if read != known {
                    info!(replica, broker_epoch = ?read, "follower broker epoch read from ZooKeeper");
                    self.follower_epochs.set(replica, read);
                }
                read
            }
        };
        if current == Some(broker_epoch) {
            return Ok(());
        }
        warn!(replica, broker_epoch, registered = ?current,
            "refusing a follower Fetch for another registration of that broker");
        Err(ResponseError::StaleBrokerEpoch)
    }
}
