//! Topics: `/brokers/topics/<t>` assignments, creation, deletion requests and fenced deletion.

use std::collections::BTreeMap;

use zookeeper_client::{Error as E, MultiWriteError};

use super::batch::WriteOp;
use super::error::{parse_or_skip, ZkError};
use super::paths::{self, BROKER_TOPICS, DELETE_TOPICS};
use super::session::reread;
use super::znodes::{to_json, TopicConfigZnode, TopicZnode};
use super::{ControllerEpoch, KafkaZkClient, OneshotWatcher};

/// Topic znodes read with a data watch each: the parsed ones (znode, dataVersion, watch) and the
/// malformed ones (name, watch).
#[derive(Default)]
pub struct TopicReads {
    pub found: BTreeMap<String, (TopicZnode, i32, OneshotWatcher)>,
    pub malformed: Vec<(String, OneshotWatcher)>,
}

/// A topic znode Kafka could have written: JSON of a version this broker reads (1 to 3).
fn parse_topic(path: &str, data: &[u8]) -> Option<TopicZnode> {
    let znode: TopicZnode = parse_or_skip(path, data)?;
    if !(1..=3).contains(&znode.version) {
        tracing::warn!(
            path,
            version = znode.version,
            "skipping a topic znode of an unknown version"
        );
        return None;
    }
    Some(znode)
}

impl KafkaZkClient {
    /// Topic names (sorted) and a child watch on `/brokers/topics`. Children that are not legal
    /// topic names (written by hand or by a tool) are left out with one log line: such a name
    /// would become a log directory on every broker.
    pub async fn get_topics_and_watch(&self) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        let (mut names, watcher) = self.children_and_watch(BROKER_TOPICS).await?;
        let before = names.len();
        let mut example = None;
        names.retain(|n| {
            let ok = crate::topic::is_valid(n);
            if !ok && example.is_none() {
                example = Some(n.clone());
            }
            ok
        });
        if let Some(example) = example {
            tracing::warn!(
                skipped = before - names.len(),
                example,
                "skipping znodes under /brokers/topics whose names are not legal topic names"
            );
        }
        Ok((names, watcher))
    }

    /// Pipelined: topic → (assignment znode, its dataVersion); missing topics are absent.
    pub async fn get_topics(
        &self,
        topics: &[String],
    ) -> Result<BTreeMap<String, (TopicZnode, i32)>, ZkError> {
        let pending: Vec<_> = topics
            .iter()
            .map(|t| {
                let path = paths::topic(t);
                let read = self.client.get_data(&path);
                (t, path, read)
            })
            .collect();
        let mut found = BTreeMap::new();
        for (topic, path, read) in pending {
            match reread(read, || self.client.get_data(&path)).await {
                Ok((data, stat)) => {
                    if let Some(znode) = parse_topic(&path, &data) {
                        found.insert(topic.clone(), (znode, stat.version));
                    }
                }
                Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(&path, e)),
            }
        }
        Ok(found)
    }

    /// Pipelined like [`Self::get_topics`], arming a data watch on each topic znode so that the
    /// controller hears of added partitions and assigned topic ids. Malformed topic znodes come
    /// back apart, each with its watch, so the controller can leave them alone until they change.
    pub async fn get_topics_and_watch_each(
        &self,
        topics: &[String],
    ) -> Result<TopicReads, ZkError> {
        let pending: Vec<_> = topics
            .iter()
            .map(|t| {
                let path = paths::topic(t);
                let read = self.client.get_and_watch_data(&path);
                (t, path, read)
            })
            .collect();
        let mut reads = TopicReads::default();
        for (topic, path, read) in pending {
            match reread(read, || self.client.get_and_watch_data(&path)).await {
                Ok((data, stat, watcher)) => match parse_topic(&path, &data) {
                    Some(znode) => {
                        reads
                            .found
                            .insert(topic.clone(), (znode, stat.version, watcher));
                    }
                    None => reads.malformed.push((topic.clone(), watcher)),
                },
                Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(&path, e)),
            }
        }
        Ok(reads)
    }

    /// One multi: `/config/topics/<t>` (created, or overwritten if a leftover exists) then
    /// `/brokers/topics/<t>` (version 3 with `topic_id`). Exists → [`ZkError::TopicExists`].
    pub async fn create_topic(
        &self,
        topic: &str,
        assignment: &BTreeMap<i32, Vec<i32>>,
        topic_id: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ZkError> {
        let topic_path = paths::topic(topic);
        let config_path = paths::topic_config(topic);
        let topic_exists = self.client.check_stat(&topic_path);
        let config_exists = self.client.check_stat(&config_path);
        if topic_exists
            .await
            .map_err(|e| ZkError::at(&topic_path, e))?
            .is_some()
        {
            return Err(ZkError::TopicExists(topic.to_string()));
        }
        let config_exists = config_exists
            .await
            .map_err(|e| ZkError::at(&config_path, e))?
            .is_some();
        let config_data = to_json(&TopicConfigZnode::new(config.clone()));
        let topic_data = to_json(&TopicZnode::new(assignment.clone(), topic_id));
        let mut writer = self.client.new_multi_writer();
        if config_exists {
            writer.add_set_data(&config_path, &config_data, None)
        } else {
            writer.add_create(&config_path, &config_data, &self.persistent(&config_path))
        }
        .map_err(|e| ZkError::at(&config_path, e))?;
        writer
            .add_create(&topic_path, &topic_data, &self.persistent(&topic_path))
            .map_err(|e| ZkError::at(&topic_path, e))?;
        match crate::metrics::zk_timed(writer.commit()).await {
            Ok(_) => {
                tracing::info!(
                    topic,
                    topic_id,
                    partitions = assignment.len(),
                    "created topic"
                );
                Ok(())
            }
            Err(MultiWriteError::OperationFailed {
                index: 1,
                source: E::NodeExists,
            }) => Err(ZkError::TopicExists(topic.to_string())),
            Err(MultiWriteError::OperationFailed { index: 0, source }) => {
                Err(ZkError::at(&config_path, source))
            }
            Err(e) => Err(ZkError::at(&topic_path, e.into())),
        }
    }

    /// Conditional overwrite of a topic's assignment (added partitions, a missing `topic_id`).
    /// Returns the new dataVersion.
    pub async fn set_topic_assignment(
        &self,
        topic: &str,
        znode: &TopicZnode,
        expected_version: i32,
    ) -> Result<i32, ZkError> {
        let path = paths::topic(topic);
        let stat = self
            .client
            .set_data(&path, &to_json(znode), Some(expected_version))
            .await
            .map_err(|e| ZkError::at(&path, e))?;
        tracing::info!(
            topic,
            partitions = znode.partitions.len(),
            zk_version = stat.version,
            "updated topic assignment"
        );
        Ok(stat.version)
    }

    /// The controller's variant of [`Self::set_topic_assignment`] (assigning a missing `topic_id`,
    /// reassignment progress): conditional on `expected_version` and fenced by `epoch`.
    pub async fn set_topic_assignment_fenced(
        &self,
        epoch: &ControllerEpoch,
        topic: &str,
        znode: &TopicZnode,
        expected_version: i32,
    ) -> Result<i32, ZkError> {
        let op = WriteOp::SetData {
            path: paths::topic(topic),
            data: to_json(znode),
            version: Some(expected_version),
        };
        let outcome = self
            .fenced_writes(epoch, &[op])
            .await?
            .pop()
            .unwrap_or(Err(ZkError::ControllerMoved))?;
        tracing::info!(
            topic,
            partitions = znode.partitions.len(),
            zk_version = outcome,
            "controller updated topic assignment"
        );
        Ok(outcome)
    }

    /// Topics marked for deletion and a child watch on `/admin/delete_topics`.
    pub async fn get_delete_topics_and_watch(
        &self,
    ) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        self.children_and_watch(DELETE_TOPICS).await
    }

    /// Marks a topic for deletion. Already marked → [`ZkError::NodeExists`].
    pub async fn request_topic_deletion(&self, topic: &str) -> Result<(), ZkError> {
        let path = paths::delete_topic(topic);
        self.client
            .create(&path, &[], &self.persistent(&path))
            .await
            .map_err(|e| ZkError::at(&path, e))?;
        tracing::info!(topic, "topic marked for deletion");
        Ok(())
    }

    /// Fenced: deletes `/brokers/topics/<t>` with everything under it, `/config/topics/<t>`, then
    /// `/admin/delete_topics/<t>`. Znodes already gone are fine.
    pub async fn delete_topic(&self, epoch: &ControllerEpoch, topic: &str) -> Result<(), ZkError> {
        let topic_path = paths::topic(topic);
        let mut ops = Vec::new();
        self.collect_subtree_deletes(&topic_path, &mut ops).await?;
        ops.push(WriteOp::Delete {
            path: paths::topic_config(topic),
            version: None,
        });
        ops.push(WriteOp::Delete {
            path: paths::delete_topic(topic),
            version: None,
        });
        for outcome in self.fenced_writes(epoch, &ops).await? {
            match outcome {
                Ok(_) | Err(ZkError::NoNode(_)) => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(topic, znodes = ops.len(), "deleted topic znodes");
        Ok(())
    }

    /// Removes a deletion marker without deleting the topic (`delete.topic.enable=false`).
    pub async fn remove_deletion_marker(&self, topic: &str) -> Result<(), ZkError> {
        let path = paths::delete_topic(topic);
        match self.client.delete(&path, None).await {
            Ok(()) | Err(E::NoNode) => Ok(()),
            Err(e) => Err(ZkError::at(&path, e)),
        }
    }

    /// Appends deletes for `root` and its descendants, children before parents. Each level's
    /// listings are pipelined.
    async fn collect_subtree_deletes(
        &self,
        root: &str,
        ops: &mut Vec<WriteOp>,
    ) -> Result<(), ZkError> {
        let mut levels: Vec<Vec<String>> = vec![vec![root.to_string()]];
        while let Some(level) = levels.last() {
            let pending: Vec<_> = level
                .iter()
                .map(|p| (p, self.client.list_children(p)))
                .collect();
            let mut next = Vec::new();
            for (parent, listing) in pending {
                match reread(listing, || self.client.list_children(parent)).await {
                    Ok(children) => {
                        next.extend(children.into_iter().map(|c| format!("{parent}/{c}")))
                    }
                    Err(E::NoNode) => {}
                    Err(e) => return Err(ZkError::at(parent, e)),
                }
            }
            if next.is_empty() {
                break;
            }
            levels.push(next);
        }
        for level in levels.into_iter().rev() {
            ops.extend(level.into_iter().map(|path| WriteOp::Delete {
                path,
                version: None,
            }));
        }
        Ok(())
    }

    /// Sorted children of `path` and a child watch on it.
    pub(crate) async fn children_and_watch(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        let (mut children, watcher) = reread(self.client.list_and_watch_children(path), || {
            self.client.list_and_watch_children(path)
        })
        .await
        .map_err(|e| ZkError::at(path, e))?;
        children.sort_unstable();
        Ok((children, watcher))
    }
}
