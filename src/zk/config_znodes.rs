//! Dynamic config: `/config/<entity_type>/<name>` and the `/config/changes` notifications brokers
//! watch to apply config changes.

use std::collections::BTreeMap;

use zookeeper_client::Error as E;

use super::error::{parse_json, parse_or_skip, ZkError};
use super::paths::{self, CONFIG_CHANGES, CONFIG_CHANGE_PREFIX};
use super::session::reread;
use super::znodes::{to_json, ConfigChangeZnode, TopicConfigZnode};
use super::{KafkaZkClient, OneshotWatcher};

impl KafkaZkClient {
    /// Batched (see `multi_read`): topic → its config overrides. A topic without a config znode
    /// maps to an empty config, as in Kafka (`getEntityConfigs`).
    pub async fn get_topic_configs(
        &self,
        topics: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, ZkError> {
        let paths: Vec<String> = topics.iter().map(|t| paths::topic_config(t)).collect();
        let read = self.get_data_many(&paths).await?;
        let mut configs = BTreeMap::new();
        for ((topic, path), found) in topics.iter().zip(&paths).zip(read) {
            let config = match found {
                // A malformed override znode counts as no overrides: the broker defaults apply.
                Some((data, _)) => parse_or_skip::<TopicConfigZnode>(path, &data)
                    .map(|z| z.config)
                    .unwrap_or_default(),
                None => BTreeMap::new(),
            };
            configs.insert(topic.clone(), config);
        }
        Ok(configs)
    }

    /// Replaces a topic's config overrides, then notifies brokers with a sequential
    /// `/config/changes/config_change_` znode (`{"version":2,"entity_path":"topics/<t>"}`).
    pub async fn set_topic_config(
        &self,
        topic: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        self.set_entity_config("topics", topic, config).await
    }

    /// Same as [`Self::set_topic_config`] for any entity type (`clients`, `users`, `brokers`, `ips`).
    pub async fn set_entity_config(
        &self,
        entity_type: &str,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        let path = paths::entity_config(entity_type, name);
        let data = to_json(&TopicConfigZnode::new(config.clone()));
        match self.client.set_data(&path, &data, None).await {
            Ok(_) => {}
            Err(E::NoNode) => {
                self.create_with_parents(&[&format!("/config/{entity_type}")])
                    .await?;
                self.client
                    .create(&path, &data, &self.persistent(&path))
                    .await
                    .map_err(|e| ZkError::at(&path, e))?;
            }
            Err(e) => return Err(ZkError::at(&path, e)),
        }
        let change = to_json(&ConfigChangeZnode::new(entity_type, name));
        let (_, sequence) = self
            .client
            .create(CONFIG_CHANGE_PREFIX, &change, &self.persistent_sequential())
            .await
            .map_err(|e| ZkError::at(CONFIG_CHANGE_PREFIX, e))?;
        tracing::info!(entity_type, name, keys = config.len(), sequence = %sequence, "changed config");
        Ok(())
    }

    /// Entity config overrides (empty if the znode is absent).
    pub async fn get_entity_config(
        &self,
        entity_type: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>, ZkError> {
        let path = paths::entity_config(entity_type, name);
        match self.read(&path).await? {
            Some((data, _)) => Ok(parse_json::<TopicConfigZnode>(&path, &data)?.config),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Names of the pending change notifications (sorted, i.e. in sequence order) and a child watch.
    pub async fn get_config_changes_and_watch(
        &self,
    ) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        self.children_and_watch(CONFIG_CHANGES).await
    }

    /// Reads one notification by its child name (`config_change_0000000003`); `None` if purged.
    pub async fn get_config_change(
        &self,
        name: &str,
    ) -> Result<Option<ConfigChangeZnode>, ZkError> {
        let path = format!("{CONFIG_CHANGES}/{name}");
        match self.read(&path).await? {
            Some((data, _)) => Ok(Some(parse_json(&path, &data)?)),
            None => Ok(None),
        }
    }

    /// Deletes change notifications created more than `older_than` ago (Kafka: 15 minutes, after
    /// every broker had time to apply them). Stats and deletes are pipelined. Returns how many went.
    pub async fn purge_config_changes(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, ZkError> {
        let children = self
            .client
            .list_children(CONFIG_CHANGES)
            .await
            .map_err(|e| ZkError::at(CONFIG_CHANGES, e))?;
        let cutoff = crate::clock::now_ms() - older_than.as_millis() as i64;
        let paths: Vec<String> = children
            .iter()
            .map(|c| format!("{CONFIG_CHANGES}/{c}"))
            .collect();
        let stats: Vec<_> = paths.iter().map(|p| self.client.check_stat(p)).collect();
        let mut old = Vec::new();
        for (path, stat) in paths.iter().zip(stats) {
            if let Some(stat) = reread(stat, || self.client.check_stat(path))
                .await
                .map_err(|e| ZkError::at(path, e))?
            {
                if stat.ctime < cutoff {
                    old.push(path);
                }
            }
        }
        let deletes: Vec<_> = old
            .iter()
            .map(|p| (p, self.client.delete(p, None)))
            .collect();
        let mut purged = 0;
        for (path, deleted) in deletes {
            match deleted.await {
                Ok(()) => purged += 1,
                Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        if purged > 0 {
            tracing::info!(purged, "purged old config change notifications");
        }
        Ok(purged)
    }
}
