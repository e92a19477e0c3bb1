//! [`BrokerState`] of the running broker: partition gauges counted from the replica manager,
//! the controller's activity, and the ZooKeeper session's state, all read when scraped.

use std::sync::Arc;

use tokio::sync::watch;

use super::render::{BrokerState, PartitionCounts};
use crate::controller::ControllerHandle;
use crate::replica::ReplicaManager;
use crate::zk::KafkaZkClient;

pub struct LiveBroker {
    pub broker_id: i32,
    pub replicas: Arc<ReplicaManager>,
    pub controller: ControllerHandle,
    /// Always the current session's client (replaced after an expiry).
    pub zk: watch::Receiver<KafkaZkClient>,
}

impl BrokerState for LiveBroker {
    fn partition_counts(&self) -> PartitionCounts {
        let mut c = PartitionCounts::default();
        for p in self.replicas.all_partitions() {
            c.partitions += 1;
            let role = p.role();
            if role.leader != self.broker_id {
                continue;
            }
            c.leaders += 1;
            if role.isr.len() < role.replicas.len() {
                c.under_replicated += 1;
            }
            if role.isr.len() < p.min_insync_replicas() {
                c.under_min_isr += 1;
            }
        }
        c
    }

    fn is_active_controller(&self) -> bool {
        self.controller.is_active()
    }

    fn zk_session_state(&self) -> &'static str {
        self.zk.borrow().state_name()
    }
}
