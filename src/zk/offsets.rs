//! Consumer offsets on Kafka's "with ZooKeeper" path: `/consumers/<group>/offsets/<topic>/<p>`
//! holding the next offset to consume as bare decimal text, all partitions of a commit in one `multi`.

use std::collections::BTreeSet;

use zookeeper_client::{Error as E, MultiWriteError};

use super::error::{parse_decimal, ZkError};
use super::paths;
use super::session::reread;
use super::KafkaZkClient;

/// A commit racing another creator of the same offset znode is retried this many times.
const COMMIT_ATTEMPTS: usize = 3;

impl KafkaZkClient {
    /// Sets or creates every offset znode of the commit in one `multi`: existence is read first
    /// (pipelined), missing parents are created once, then setData/create go in one request.
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ZkError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let topic_dirs: BTreeSet<String> = offsets
            .iter()
            .map(|(t, _, _)| paths::consumer_offsets_topic(group, t))
            .collect();
        let dirs: Vec<&str> = topic_dirs.iter().map(String::as_str).collect();
        self.create_with_parents(&dirs).await?;
        let paths: Vec<String> = offsets
            .iter()
            .map(|(t, p, _)| paths::consumer_offset(group, t, *p))
            .collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let checks: Vec<_> = paths.iter().map(|p| self.client.check_stat(p)).collect();
            let mut exists = Vec::with_capacity(checks.len());
            for (path, check) in paths.iter().zip(checks) {
                exists.push(
                    reread(check, || self.client.check_stat(path))
                        .await
                        .map_err(|e| ZkError::at(path, e))?
                        .is_some(),
                );
            }
            let mut writer = self.client.new_multi_writer();
            for ((path, (_, _, offset)), exists) in paths.iter().zip(offsets).zip(&exists) {
                let data = offset.to_string();
                if *exists {
                    writer.add_set_data(path, data.as_bytes(), None)
                } else {
                    writer.add_create(path, data.as_bytes(), &self.persistent(path))
                }
                .map_err(|e| ZkError::at(path, e))?;
            }
            match writer.commit().await {
                Ok(_) => {
                    tracing::debug!(group, partitions = offsets.len(), "committed offsets");
                    return Ok(());
                }
                // Someone created or deleted one of them in between: read again.
                Err(MultiWriteError::OperationFailed {
                    index,
                    source: source @ (E::NodeExists | E::NoNode),
                }) => {
                    if attempt >= COMMIT_ATTEMPTS {
                        return Err(ZkError::at(
                            paths.get(index).map(String::as_str).unwrap_or(""),
                            source,
                        ));
                    }
                }
                Err(MultiWriteError::OperationFailed { index, source }) => {
                    return Err(ZkError::at(
                        paths.get(index).map(String::as_str).unwrap_or(""),
                        source,
                    ))
                }
                Err(MultiWriteError::RequestFailed { source }) => {
                    return Err(ZkError::session(source))
                }
            }
        }
    }

    /// Pipelined read of committed offsets; `None` where nothing was committed.
    pub async fn fetch_offsets(
        &self,
        group: &str,
        tps: &[(String, i32)],
    ) -> Result<Vec<Option<i64>>, ZkError> {
        let pending: Vec<_> = tps
            .iter()
            .map(|(t, p)| {
                let path = paths::consumer_offset(group, t, *p);
                let read = self.client.get_data(&path);
                (path, read)
            })
            .collect();
        let mut found = Vec::with_capacity(pending.len());
        for (path, read) in pending {
            match reread(read, || self.client.get_data(&path)).await {
                Ok((data, _)) => found.push(Some(parse_decimal(&path, &data)?)),
                Err(E::NoNode) => found.push(None),
                Err(e) => return Err(ZkError::at(&path, e)),
            }
        }
        Ok(found)
    }

    /// Every committed offset of a group, sorted by topic and partition (each level pipelined).
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<Vec<(String, i32, i64)>, ZkError> {
        let root = paths::consumer_offsets(group);
        let topics = match self.client.list_children(&root).await {
            Ok(topics) => topics,
            Err(E::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(ZkError::at(&root, e)),
        };
        let listings: Vec<_> = topics
            .iter()
            .map(|t| {
                let path = paths::consumer_offsets_topic(group, t);
                let listing = self.client.list_children(&path);
                (t, path, listing)
            })
            .collect();
        let mut tps = Vec::new();
        for (topic, path, listing) in listings {
            match reread(listing, || self.client.list_children(&path)).await {
                Ok(partitions) => tps.extend(
                    partitions
                        .iter()
                        .filter_map(|p| p.parse().ok())
                        .map(|p| (topic.clone(), p)),
                ),
                Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(&path, e)),
            }
        }
        tps.sort();
        let offsets = self.fetch_offsets(group, &tps).await?;
        Ok(tps
            .into_iter()
            .zip(offsets)
            .filter_map(|((t, p), o)| o.map(|o| (t, p, o)))
            .collect())
    }
}
