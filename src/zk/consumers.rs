//! Legacy group membership mirrors under `/consumers/<group>` (`ids/<member>`, `owners/<t>/<p>`),
//! kept by the group coordinator so that tools written for the old consumer see live groups.
//! Both are ephemeral: they vanish with this broker's session, like the old consumers' did.
//!
//! Each call makes the mirror equal to a whole picture (creating and deleting what differs), so a
//! newer picture simply replaces an older one; every level's requests are pipelined.

use std::collections::{BTreeMap, BTreeSet};

use zookeeper_client::Error as E;

use super::error::ZkError;
use super::paths;
use super::znodes::{to_json, ConsumerRegistration};
use super::KafkaZkClient;

impl KafkaZkClient {
    /// Makes `/consumers/<group>/ids` hold exactly `members` (member id → registration). An
    /// existing member's znode is left as it is. With no members only what exists is cleared, so
    /// that mirroring an emptied (and perhaps just deleted) group never re-creates its znodes.
    pub async fn set_group_members(
        &self,
        group: &str,
        members: &[(&str, ConsumerRegistration)],
    ) -> Result<(), ZkError> {
        let dir = paths::consumer_ids(group);
        if !members.is_empty() {
            self.ensure_dir(&dir).await?;
        }
        let existing: BTreeSet<String> = self.children(&dir).await?.into_iter().collect();
        let wanted: BTreeSet<&str> = members.iter().map(|(id, _)| *id).collect();
        let stale: Vec<String> = existing
            .iter()
            .filter(|e| !wanted.contains(e.as_str()))
            .map(|e| paths::consumer_id(group, e))
            .collect();
        let deletes: Vec<_> = stale
            .iter()
            .map(|p| (p, self.client.delete(p, None)))
            .collect();
        let to_create: Vec<(String, Vec<u8>)> = members
            .iter()
            .filter(|(id, _)| !existing.contains(*id))
            .map(|(id, registration)| (paths::consumer_id(group, id), to_json(registration)))
            .collect();
        let creates: Vec<_> = to_create
            .iter()
            .map(|(p, d)| (p, self.client.create(p, d, &self.ephemeral(p))))
            .collect();
        for (path, op) in deletes {
            match op.await {
                Ok(()) | Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        for (path, op) in creates {
            match op.await {
                Ok(_) | Err(E::NodeExists) => {}
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        Ok(())
    }

    /// Makes `/consumers/<group>/owners` hold exactly `owners` ((topic, partition) → member id).
    /// Like [`KafkaZkClient::set_group_members`], no owners only clears what exists.
    pub async fn set_partition_owners(
        &self,
        group: &str,
        owners: &[((&str, i32), &str)],
    ) -> Result<(), ZkError> {
        let dir = paths::consumer_owners(group);
        if !owners.is_empty() {
            self.ensure_dir(&dir).await?;
        }
        let topics = self.children(&dir).await?;
        let topic_dirs: Vec<String> = topics
            .iter()
            .map(|t| paths::consumer_owners_topic(group, t))
            .collect();
        let mut existing = BTreeSet::new();
        for (path, partitions) in topic_dirs
            .iter()
            .zip(self.children_of_each(&topic_dirs).await?)
        {
            existing.extend(
                partitions
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{path}/{p}")),
            );
        }
        let wanted: BTreeMap<String, &str> = owners
            .iter()
            .map(|((topic, partition), member)| {
                (paths::consumer_owner(group, topic, *partition), *member)
            })
            .collect();
        let new_topics: BTreeSet<&str> = owners.iter().map(|((t, _), _)| *t).collect();
        for t in new_topics
            .iter()
            .filter(|t| !topics.iter().any(|e| e == *t))
        {
            self.ensure_dir(&paths::consumer_owners_topic(group, t))
                .await?;
        }
        let deletes: Vec<_> = existing
            .iter()
            .filter(|p| !wanted.contains_key(*p))
            .map(|p| (p, self.client.delete(p, None)))
            .collect();
        let writes: Vec<_> = wanted
            .iter()
            .map(|(p, m)| {
                let set = existing
                    .contains(p)
                    .then(|| self.client.set_data(p, m.as_bytes(), None));
                let create = (!existing.contains(p))
                    .then(|| self.client.create(p, m.as_bytes(), &self.ephemeral(p)));
                (p, set, create)
            })
            .collect();
        for (path, d) in deletes {
            match d.await {
                Ok(()) | Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
        for (path, set, create) in writes {
            if let Some(f) = set {
                f.await.map_err(|e| ZkError::at(path, e))?;
            }
            if let Some(f) = create {
                match f.await {
                    Ok(_) | Err(E::NodeExists) => {}
                    Err(e) => return Err(ZkError::at(path, e)),
                }
            }
        }
        Ok(())
    }

    /// Creates `path` and its missing ancestors (persistent, empty) unless it exists.
    async fn ensure_dir(&self, path: &str) -> Result<(), ZkError> {
        self.client
            .mkdir(path, &self.persistent(path))
            .await
            .map_err(|e| ZkError::at(path, e))
    }
}
