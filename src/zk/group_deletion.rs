//! Deleting a consumer group's znodes (DeleteGroups) or some of its offsets (OffsetDelete):
//! everything goes in as few `multi`s as ZooKeeper's request size allows, so a small group
//! disappears atomically, and a group changing underneath is read again.

use zookeeper_client::{Error as E, MultiWriteError};

use super::error::ZkError;
use super::offsets::{MULTI_BYTES, OP_OVERHEAD};
use super::paths;
use super::KafkaZkClient;

/// A group deletion racing writers of the same group is retried this many times.
const DELETE_ATTEMPTS: usize = 3;

/// What deleting a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDeletion {
    /// Whether the group had committed offsets (Kafka answers GROUP_ID_NOT_FOUND otherwise).
    pub had_offsets: bool,
    /// How many `multi`s the deletion committed.
    pub multis: usize,
}

/// Consecutive runs of `paths` whose delete requests fit one multi.
fn chunk_by_bytes<'a>(paths: &'a [&'a str]) -> Vec<&'a [&'a str]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, p) in paths.iter().enumerate() {
        let size = p.len() + OP_OVERHEAD;
        if i > start && bytes + size > MULTI_BYTES {
            chunks.push(&paths[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < paths.len() {
        chunks.push(&paths[start..]);
    }
    chunks
}

impl KafkaZkClient {
    /// Deletes `/consumers/<group>` (offsets, member and owner mirrors) and the group's extras
    /// under `/zkafka/consumers`, deepest first.
    pub async fn delete_consumer_group(&self, group: &str) -> Result<GroupDeletion, ZkError> {
        let offsets_prefix = format!("{}/", paths::consumer_offsets(group));
        let roots = [
            paths::consumer_group(group),
            paths::offset_extras_group(group),
        ];
        for attempt in 1..=DELETE_ATTEMPTS {
            let nodes = self.subtree(&roots).await?;
            if nodes.is_empty() {
                return Ok(GroupDeletion {
                    had_offsets: false,
                    multis: 0,
                });
            }
            // An offset znode is /consumers/<g>/offsets/<topic>/<partition>.
            let had_offsets = nodes.iter().any(|p| {
                p.strip_prefix(&offsets_prefix)
                    .is_some_and(|rest| rest.contains('/'))
            });
            let deepest_first: Vec<&str> = nodes.iter().rev().map(String::as_str).collect();
            let mut multis = 0;
            match self.delete_in_multis(&deepest_first, &mut multis).await {
                Ok(()) => {
                    return Ok(GroupDeletion {
                        had_offsets,
                        multis,
                    })
                }
                Err(MultiWriteError::OperationFailed {
                    source: E::NotEmpty | E::NoNode,
                    ..
                }) if attempt < DELETE_ATTEMPTS => {}
                Err(e) => return Err(ZkError::session(e.into())),
            }
        }
        Err(ZkError::GroupKeptChanging(group.to_string()))
    }

    /// Deletes the offsets (and their extras) of `partitions`; missing ones are fine. Returns how
    /// many `multi`s it committed.
    pub async fn delete_consumer_offsets(
        &self,
        group: &str,
        partitions: &[(&str, i32)],
    ) -> Result<usize, ZkError> {
        let paths: Vec<String> = partitions
            .iter()
            .flat_map(|(topic, partition)| {
                [
                    paths::consumer_offset(group, topic, *partition),
                    paths::offset_extras(group, topic, *partition),
                ]
            })
            .collect();
        let checks: Vec<_> = paths.iter().map(|p| self.client.check_stat(p)).collect();
        let mut existing = Vec::new();
        for (path, check) in paths.iter().zip(checks) {
            if check.await.map_err(|e| ZkError::at(path, e))?.is_some() {
                existing.push(path.as_str());
            }
        }
        let mut multis = 0;
        match self.delete_in_multis(&existing, &mut multis).await {
            // Someone else deleted one first: the outcome is the same.
            Ok(_)
            | Err(MultiWriteError::OperationFailed {
                source: E::NoNode, ..
            }) => Ok(multis),
            Err(e) => Err(ZkError::session(e.into())),
        }
    }

    /// Deletes `paths` in order, in as few `multi`s as the request size limit allows, counting
    /// each one sent in `multis`.
    async fn delete_in_multis(
        &self,
        paths: &[&str],
        multis: &mut usize,
    ) -> Result<(), MultiWriteError> {
        for chunk in chunk_by_bytes(paths) {
            let mut multi = self.client.new_multi_writer();
            for path in chunk {
                multi.add_delete(path, None)?;
            }
            *multis += 1;
            crate::metrics::zk_timed(multi.commit()).await?;
        }
        Ok(())
    }

    /// Every znode of the subtrees at `roots` (roots included), parents before children; each
    /// level's requests are pipelined.
    async fn subtree(&self, roots: &[String]) -> Result<Vec<String>, ZkError> {
        let mut all = Vec::new();
        let exists: Vec<_> = roots.iter().map(|r| self.client.check_stat(r)).collect();
        let mut level = Vec::new();
        for (root, e) in roots.iter().zip(exists) {
            if e.await.map_err(|e| ZkError::at(root, e))?.is_some() {
                level.push(root.clone());
            }
        }
        while !level.is_empty() {
            let mut next = Vec::new();
            for (path, kids) in level.iter().zip(self.children_of_each(&level).await?) {
                next.extend(kids.into_iter().flatten().map(|k| format!("{path}/{k}")));
            }
            all.append(&mut level);
            level = next;
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_by_bytes;

    #[test]
    fn chunks_keep_order_and_cover_everything() {
        let long = "x".repeat(100_000);
        let paths: Vec<&str> = (0..12).map(|_| long.as_str()).collect();
        let chunks = chunk_by_bytes(&paths);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 12);
        assert!(chunk_by_bytes(&[]).is_empty());
        assert_eq!(chunk_by_bytes(&["/a", "/b"]).len(), 1);
    }
}
