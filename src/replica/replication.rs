//! Replication wiring of the [`ReplicaManager`]: the fetchers of followed partitions, the
//! AlterPartition queue, and the periodic ISR shrink check (Kafka's `isr-expiration` task, every
//! `replica.lag.time.max.ms / 2`). Started once by [`ReplicaManager::start_replication`].

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrLiveLeader;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::alter_partition::{self, AlterPartitionSender};
use super::fetcher::FetcherConfig;
use super::fetcher_manager::ReplicaFetcherManager;
use super::partition::Partition;
use super::{ReplicaManager, TopicPartition};
use crate::config::KafkaConfig;
use crate::metadata::MetadataCache;

/// What replication needs, set once at start-up.
pub(super) struct Replication {
    pub metadata: Arc<MetadataCache>,
    /// `inter.broker.listener.name`: where a leader is fetched from when LeaderAndIsr named no
    /// address for it.
    pub inter_broker_listener: String,
    pub fetchers: ReplicaFetcherManager,
    pub alter: AlterPartitionSender,
}

use crate::clock::now_ms;

impl ReplicaManager {
    /// Turns replication on: followers fetch from their leaders, leaders manage their ISR. Call once,
    /// before the first LeaderAndIsr is served (later calls do nothing). The returned task ends after
    /// `shutdown` turns true, once the fetchers and the AlterPartition task have stopped.
    pub fn start_replication(
        self: &Arc<Self>,
        config: &KafkaConfig,
        metadata: Arc<MetadataCache>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let fetcher_config = FetcherConfig {
            broker_id: self.broker_id(),
            broker_epoch: self.broker_epoch.clone(),
            max_wait_ms: config.replica_fetch_wait_max_ms,
            min_bytes: config.replica_fetch_min_bytes,
            response_max_bytes: config.replica_fetch_response_max_bytes,
            partition_max_bytes: config.replica_fetch_max_bytes,
            backoff: Duration::from_millis(config.replica_fetch_backoff_ms.max(0) as u64),
            socket_timeout: Duration::from_millis(config.replica_socket_timeout_ms.max(1) as u64),
            quota: self.quotas.clone(),
        };
        self.quotas.apply_broker(config, true);
        let (alter, rx) = alter_partition::channel();
        let replication = Replication {
            metadata: metadata.clone(),
            inter_broker_listener: config.inter_broker_listener_name.clone(),
            fetchers: ReplicaFetcherManager::new(
                fetcher_config,
                config.num_replica_fetchers,
                shutdown.clone(),
            ),
            alter,
        };
        if self.replication.set(replication).is_err() {
            warn!("replication was already started");
            return tokio::spawn(async {});
        }
        let lag_ms = config.replica_lag_time_max_ms.max(1);
        let alter_task = tokio::spawn(alter_partition::run(
            self.clone(),
            metadata,
            config.control_listener_name().to_string(),
            rx,
            shutdown.clone(),
        ));
        let me = self.clone();
        tokio::spawn(async move {
            me.run_isr_expiration(lag_ms, shutdown).await;
            if let Some(r) = me.replication.get() {
                r.fetchers.shutdown().await;
            }
            let _ = alter_task.await;
        })
    }

    /// Every `lag_ms / 2`, proposes removing lagging followers from the ISR of every led partition.
    async fn run_isr_expiration(&self, lag_ms: i64, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from_millis((lag_ms / 2).max(1) as u64);
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = timer.tick() => {}
            }
            let now = now_ms();
            for p in self.all_partitions() {
                if let Some(proposal) = p.maybe_shrink_isr(now, lag_ms) {
                    self.submit_isr(proposal, p);
                }
            }
        }
    }

    fn submit_isr(&self, proposal: super::partition::IsrProposal, p: Arc<Partition>) {
        match self.replication.get() {
            Some(r) => r.alter.submit(proposal, p),
            None => p.apply_isr_update(
                proposal.leader_epoch,
                Err(kafka_protocol::error::ResponseError::NotController),
            ),
        }
    }

    /// A follower fetched `partition` from `fetch_offset` (the fetch path calls this): moves its LEO
    /// and the high watermark, and sends an ISR expansion if it has caught up.
    pub fn follower_fetched(
        &self,
        partition: &Arc<Partition>,
        replica: i32,
        fetch_offset: i64,
        log_start_offset: i64,
        broker_epoch: i64,
    ) {
        if let Some(proposal) = partition.record_follower_fetch(
            replica,
            fetch_offset,
            log_start_offset,
            broker_epoch,
            now_ms(),
        ) {
            self.submit_isr(proposal, partition.clone());
        }
    }

    /// Applies a dynamic `num.replica.fetchers`.
    pub fn resize_fetchers(&self, num_fetchers: i32) {
        if let Some(r) = self.replication.get() {
            r.fetchers.resize(num_fetchers);
        }
    }

    /// After LeaderAndIsr: a leader stops fetching; a follower of a new leader or leader epoch
    /// restarts its fetcher (which truncates first). `live_leaders` comes with the request.
    pub(super) fn update_fetcher(
        &self,
        partition: &Arc<Partition>,
        changed: bool,
        live_leaders: &[LeaderAndIsrLiveLeader],
    ) {
        let Some(r) = self.replication.get() else {
            return;
        };
        let tp: TopicPartition = (partition.topic.clone(), partition.index);
        let role = partition.role();
        if role.leader == self.broker_id() || role.leader < 0 {
            r.fetchers.remove_partition(&tp);
            return;
        }
        if !changed && r.fetchers.is_fetching(&tp) {
            return;
        }
        let addr = live_leaders
            .iter()
            .find(|l| l.broker_id.0 == role.leader)
            .map(|l| format!("{}:{}", l.host_name, l.port))
            .or_else(|| {
                let view = r.metadata.snapshot();
                view.brokers
                    .get(&role.leader)
                    .map(|b| b.address_on(&r.inter_broker_listener))
            });
        match addr {
            Some(addr) => {
                r.fetchers
                    .add_partition(partition.clone(), role.leader, addr, role.leader_epoch)
            }
            None => {
                r.fetchers.remove_partition(&tp);
                warn!(topic = %tp.0, partition = tp.1, leader = role.leader,
                    "no address known for the leader; not fetching until the next LeaderAndIsr");
            }
        }
    }

    /// Stops fetching a partition that is no longer hosted here.
    pub(super) fn stop_fetching(&self, tp: &TopicPartition) {
        if let Some(r) = self.replication.get() {
            if r.fetchers.remove_partition(tp) {
                debug!(topic = %tp.0, partition = tp.1, "stopped fetching");
            }
        }
    }

    /// Signals every fetcher to stop (used by the synchronous shutdown path).
    pub(super) fn stop_all_fetchers(&self) {
        if let Some(r) = self.replication.get() {
            r.fetchers.stop_all();
        }
    }
}
