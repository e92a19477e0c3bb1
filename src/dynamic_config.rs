//! Topic config changes made while the broker runs (Kafka's `ZkConfigManager` with its
//! `TopicConfigHandler`).
//!
//! Tools change `/config/topics/<t>` and then create a sequential `/config/changes/config_change_`
//! notification naming `topics/<t>`. Every broker watches `/config/changes`, and for each new
//! notification re-reads the topic's overrides and applies them to the replicas it hosts: the log
//! settings (retention, segment size, flush, `max.message.bytes`) and `min.insync.replicas`. When
//! the change enables `unclean.leader.election.enable` and this broker is the controller, the
//! controller is told, so a partition that has been leaderless since its last in-sync replica died
//! gets a leader now rather than at the next broker change (Kafka's
//! `enableTopicUncleanLeaderElection`).
//!
//! Broker config changes (Kafka's `BrokerConfigHandler`) name `brokers/<id>` or
//! `brokers/<default>`: this broker re-reads both znodes when the notification is about itself or
//! the default, rebuilds its configuration ([`DynamicBrokerConfig`]) and then every hosted log's
//! config, since the broker keys it applies are topic-config defaults.
//!
//! Notifications present at start-up are not replayed: the topic configs are read when the
//! partitions are opened, and the broker configs before that ([`load_broker_configs`]), so they
//! are already in effect.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{DynamicBrokerConfig, KafkaConfig, TopicConfig};
use crate::controller::{ControllerEvent, ControllerHandle};
use crate::log::cleaner::{CleanerConfig, ReconfigurableCleaner};
use crate::log::manager::log_config;
use crate::network::QuotaLimits;
use crate::replica::ReplicaManager;
use crate::zk::{KafkaZkClient, ZkError};

/// Pause before re-arming the watch after a ZooKeeper error.
const RETRY: Duration = Duration::from_secs(1);

/// What a config change touches on this broker.
pub struct ConfigTargets {
    pub broker_id: i32,
    pub dynamic: Arc<DynamicBrokerConfig>,
    pub cleaner: Arc<ReconfigurableCleaner>,
    /// The socket server's connection quotas (`max.connections*`).
    pub connection_quotas: watch::Sender<QuotaLimits>,
    pub replicas: Arc<ReplicaManager>,
    pub controller: ControllerHandle,
}

/// Watches `/config/changes` until shutdown; `zk` always holds the current session's client.
pub async fn run_config_changes(
    targets: ConfigTargets,
    mut zk: watch::Receiver<KafkaZkClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    // The first listing only records where the changes stand; `done` is the highest sequence
    // handled (None: no notification existed).
    let mut listed = false;
    let mut done: Option<u64> = None;
    loop {
        let client = zk.borrow_and_update().clone();
        let watcher = match client.get_config_changes_and_watch().await {
            Ok((children, watcher)) => {
                let newest = children.iter().filter_map(|c| sequence(c)).max();
                if listed {
                    for child in children.iter().filter(|c| sequence(c) > done) {
                        if let Err(e) = apply(&targets, &client, child).await {
                            warn!(change = %child, error = %e, "cannot apply config change");
                        }
                    }
                }
                listed = true;
                done = done.max(newest);
                Some(watcher)
            }
            Err(e) => {
                warn!(error = %e, "cannot watch /config/changes; retrying");
                None
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            changed = zk.changed() => if changed.is_err() { return },
            _ = async {
                match watcher {
                    Some(w) => { w.changed().await; }
                    None => tokio::time::sleep(RETRY).await,
                }
            } => {}
        }
    }
}

/// `config_change_0000000042` → 42.
fn sequence(child: &str) -> Option<u64> {
    child.strip_prefix("config_change_")?.parse().ok()
}

/// The entity name of the cluster-wide dynamic broker configs (Kafka's `ConfigEntityName.Default`).
pub const DEFAULT_BROKER_ENTITY: &str = "<default>";

/// Reads `/config/brokers/<default>` and `/config/brokers/<broker_id>` into `dynamic` (Kafka's
/// `DynamicBrokerConfig.initialize`); an invalid combination is logged and the static
/// configuration stays in force.
pub async fn load_broker_configs(
    zk: &KafkaZkClient,
    broker_id: i32,
    dynamic: &DynamicBrokerConfig,
) -> Result<Arc<KafkaConfig>, ZkError> {
    let default = zk
        .get_entity_config("brokers", DEFAULT_BROKER_ENTITY)
        .await?;
    let own = zk
        .get_entity_config("brokers", &broker_id.to_string())
        .await?;
    match dynamic.update(&default, &own) {
        Ok(c) => {
            info!(
                broker_id,
                default = ?default,
                broker = ?own,
                "dynamic broker configs in force"
            );
            Ok(c)
        }
        Err(e) => {
            warn!(broker_id, error = %e, "invalid dynamic broker configs; keeping the current ones");
            Ok(dynamic.current())
        }
    }
}

/// Whether a notification's `brokers/<name>` is about this broker or the default.
fn concerns_broker(entity_path: &str, broker_id: i32) -> bool {
    entity_path
        .strip_prefix("brokers/")
        .is_some_and(|name| name == DEFAULT_BROKER_ENTITY || name == broker_id.to_string())
}

/// The topic a notification names, if it is about a topic (`topics/<t>`).
fn changed_topic(entity_path: &str) -> Option<&str> {
    entity_path
        .strip_prefix("topics/")
        .filter(|t| !t.is_empty())
}

async fn apply(targets: &ConfigTargets, zk: &KafkaZkClient, child: &str) -> Result<(), ZkError> {
    let Some(change) = zk.get_config_change(child).await? else {
        return Ok(()); // purged meanwhile: nothing left to apply
    };
    if concerns_broker(&change.entity_path, targets.broker_id) {
        return apply_broker_change(targets, zk, child).await;
    }
    let Some(topic) = changed_topic(&change.entity_path) else {
        return Ok(()); // client, user and ip quotas are not kept here
    };
    let overrides = zk.get_entity_config("topics", topic).await?;
    let config = match TopicConfig::new(&targets.dynamic.current(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            warn!(topic, error = %e, "invalid topic config change; keeping the current one");
            return Ok(());
        }
    };
    let partitions: Vec<_> = targets
        .replicas
        .all_partitions()
        .into_iter()
        .filter(|p| p.topic == topic)
        .collect();
    for p in &partitions {
        p.with_log(|log| log.update_config(log_config(&config)));
        p.set_min_insync_replicas(config.min_insync_replicas);
    }
    targets
        .replicas
        .quotas()
        .apply_topic(topic, &config, targets.broker_id);
    info!(topic, change = %child, partitions = partitions.len(), overrides = overrides.len(),
        "applied topic config change");
    if config.unclean_leader_election_enable && targets.controller.is_active() {
        targets
            .controller
            .send(ControllerEvent::UncleanLeaderElectionEnabled(
                topic.to_string(),
            ));
    }
    Ok(())
}

/// Re-reads the dynamic broker configs and rebuilds the config of every hosted log from them and
/// its topic's overrides.
async fn apply_broker_change(
    targets: &ConfigTargets,
    zk: &KafkaZkClient,
    child: &str,
) -> Result<(), ZkError> {
    let broker = load_broker_configs(zk, targets.broker_id, &targets.dynamic).await?;
    let partitions = targets.replicas.all_partitions();
    let mut topics: Vec<String> = partitions.iter().map(|p| p.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let overrides = zk.get_topic_configs(&topics).await?;
    for p in &partitions {
        let o = overrides.get(&p.topic).cloned().unwrap_or_default();
        let config = match TopicConfig::new(&broker, &o) {
            Ok(c) => c,
            Err(e) => {
                warn!(topic = %p.topic, error = %e, "invalid topic config; keeping the current one");
                continue;
            }
        };
        p.with_log(|log| log.update_config(log_config(&config)));
        p.set_min_insync_replicas(config.min_insync_replicas);
    }
    targets.replicas.quotas().apply_broker(&broker, false);
    targets
        .replicas
        .resize_fetchers(broker.num_replica_fetchers);
    targets.connection_quotas.send_if_modified(|limits| {
        let next = broker.network_config().quotas;
        let changed = *limits != next;
        *limits = next;
        changed
    });
    let cleaner = targets.cleaner.clone();
    let settings = CleanerConfig::from_broker(&broker);
    if tokio::task::spawn_blocking(move || cleaner.reconfigure(settings))
        .await
        .is_err()
    {
        warn!("the log cleaner's reconfiguration panicked");
    }
    info!(change = %child, partitions = partitions.len(), "applied broker config change");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_ordered_by_their_sequence() {
        assert_eq!(sequence("config_change_0000000042"), Some(42));
        assert_eq!(sequence("config_change_"), None);
        assert_eq!(sequence("other_0000000001"), None);
    }

    #[test]
    fn only_topic_entities_are_applied() {
        assert_eq!(changed_topic("topics/orders"), Some("orders"));
        assert_eq!(changed_topic("topics/"), None);
        assert_eq!(changed_topic("clients/app"), None);
        assert_eq!(changed_topic("brokers/1"), None);
    }

    #[test]
    fn broker_changes_about_this_broker_or_the_default_are_applied() {
        assert!(concerns_broker("brokers/1", 1));
        assert!(concerns_broker("brokers/<default>", 1));
        assert!(!concerns_broker("brokers/2", 1));
        assert!(!concerns_broker("topics/1", 1));
    }
}
