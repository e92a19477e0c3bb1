//! The group coordinator as the broker starts it (Kafka's `KafkaServer.startup` part that builds
//! `GroupCoordinator`): the offset store `offsets.storage` names, the v0 store, the ListGroups
//! filter and the offset expiry task.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

use super::{
    partition_for, DualOffsetStore, GroupConfig, GroupCoordinator, KafkaOffsetStore,
    KafkaStoreConfig, OffsetStore, ReplicaOffsetsLog, ZkOffsetStore,
};
use crate::api::CONSUMER_OFFSETS;
use crate::config::KafkaConfig;
use crate::replica::ReplicaManager;
use crate::zk::KafkaZkClient;

/// The group coordinator, storing offsets where `offsets.storage` says (ZooKeeper, the
/// `__consumer_offsets` partitions through the replica manager, or both); ListGroups lists only
/// the groups whose `__consumer_offsets` partition this broker leads.
pub fn start_group_coordinator(
    config: &KafkaConfig,
    zk: watch::Receiver<KafkaZkClient>,
    replicas: Arc<ReplicaManager>,
    shutdown: watch::Receiver<bool>,
) -> Arc<GroupCoordinator> {
    let zk_store: Arc<dyn OffsetStore> = Arc::new(ZkOffsetStore::new(zk));
    let kafka_store = (config.offsets_storage != "zookeeper").then(|| {
        let log = ReplicaOffsetsLog {
            replicas: replicas.clone(),
            commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms as u64),
        };
        Arc::new(KafkaOffsetStore::new(
            Arc::new(log),
            KafkaStoreConfig {
                partitions: config.offsets_topic_num_partitions,
                required_acks: config.offsets_commit_required_acks,
                retention_ms: i64::from(config.offsets_retention_minutes) * 60_000,
            },
        ))
    });
    let store: Arc<dyn OffsetStore> = match (&kafka_store, config.offsets_storage.as_str()) {
        (Some(k), "dual") => Arc::new(DualOffsetStore::new(k.clone(), zk_store.clone())),
        (Some(k), _) => k.clone(),
        (None, _) => zk_store.clone(),
    };
    info!(storage = %config.offsets_storage, "committed offsets storage");
    let groups = GroupCoordinator::new(
        GroupConfig {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            max_size: config.group_max_size,
        },
        store,
    );
    // OffsetCommit/OffsetFetch v0 stay in ZooKeeper, as in Kafka 3.x.
    groups.set_v0_store(zk_store);
    if let Some(k) = kafka_store.filter(|_| config.offsets_storage == "kafka") {
        let interval = Duration::from_millis(config.offsets_retention_check_interval_ms as u64);
        tokio::spawn(expire_offsets(
            k,
            Arc::downgrade(&groups),
            interval,
            shutdown,
        ));
    }
    let partitions = config.offsets_topic_num_partitions;
    groups.set_list_filter(move |group| {
        replicas
            .partition(CONSUMER_OFFSETS, partition_for(group, partitions))
            .is_some_and(|p| p.is_leader())
    });
    groups
}

/// Kafka's `offsets.retention.check.interval.ms` task: expires offsets of groups without members.
async fn expire_offsets(
    store: Arc<KafkaOffsetStore>,
    groups: std::sync::Weak<GroupCoordinator>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Some(g) = groups.upgrade() else { return };
        let now = crate::clock::now_ms();
        let active = move |group: &str| g.has_members(group);
        store.expire(now, &active).await;
    }
}
