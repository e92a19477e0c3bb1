//! [`OffsetStore`] on ZooKeeper, through the broker's [`KafkaZkClient`] (which owns the layout,
//! the `multi`s and the pipelining: `zk/offsets.rs`, `zk/group_deletion.rs`, `zk/consumers.rs`).
//!
//! What stays here is the coordinator's side: which names it accepts as znode names, and the
//! translation between its types and the znodes'.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use super::store::{
    is_znode_safe, CommittedOffset, MemberMirror, OffsetExtra, OffsetStore, OffsetWrite,
    StoreError, StoreFuture, TopicPartition,
};
use crate::zk::{
    ConsumerRegistration, KafkaZkClient, OffsetCommitEntry, OffsetExtrasZnode, ZkError,
};

/// Offsets in ZooKeeper through the broker's current session.
pub struct ZkOffsetStore {
    /// The broker replaces its client when a session expires; we always use the newest.
    zk: watch::Receiver<KafkaZkClient>,
    /// Keeps the channel open when built from a single client.
    _owner: Option<watch::Sender<KafkaZkClient>>,
    multis: AtomicU64,
}

/// ZooKeeper out of reach is retriable (COORDINATOR_NOT_AVAILABLE); anything else is not.
fn store_err(e: ZkError) -> StoreError {
    if e.is_unavailable() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Failed(e.to_string())
    }
}

/// Rejects names that would escape their place in the tree (ZooKeeper has no escaping).
fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    if !is_znode_safe(name) {
        return Err(StoreError::Failed(format!(
            "{kind} name {name:?} cannot be a znode name"
        )));
    }
    Ok(())
}

/// The partitions whose topic can be a znode name, as the zk layer takes them.
fn znode_safe(partitions: &[TopicPartition]) -> Vec<(&str, i32)> {
    partitions
        .iter()
        .filter(|tp| is_znode_safe(&tp.topic))
        .map(|tp| (tp.topic.as_str(), tp.partition))
        .collect()
}

fn extras_znode(extra: &OffsetExtra) -> OffsetExtrasZnode {
    OffsetExtrasZnode {
        version: 1,
        metadata: extra.metadata.clone(),
        leader_epoch: extra.leader_epoch,
        commit_timestamp: extra.commit_timestamp_ms.to_string(),
    }
}

fn offset_extra(znode: OffsetExtrasZnode) -> OffsetExtra {
    OffsetExtra {
        metadata: znode.metadata,
        leader_epoch: znode.leader_epoch,
        commit_timestamp_ms: znode.commit_timestamp.parse().unwrap_or(-1),
    }
}

impl ZkOffsetStore {
    /// Follows the broker's session: each operation uses the client currently in `zk`.
    pub fn new(zk: watch::Receiver<KafkaZkClient>) -> Self {
        Self {
            zk,
            _owner: None,
            multis: AtomicU64::new(0),
        }
    }

    /// A store on one fixed client (tests, tools).
    pub fn with_client(zk: KafkaZkClient) -> Self {
        let (tx, rx) = watch::channel(zk);
        Self {
            zk: rx,
            _owner: Some(tx),
            multis: AtomicU64::new(0),
        }
    }

    /// How many `multi` transactions this store has committed (a commit is one each).
    pub fn multi_count(&self) -> u64 {
        self.multis.load(Ordering::Relaxed)
    }

    fn zk(&self) -> KafkaZkClient {
        self.zk.borrow().clone()
    }

    fn count_multis(&self, multis: usize) {
        self.multis.fetch_add(multis as u64, Ordering::Relaxed);
    }

    async fn commit_impl(&self, group: &str, writes: &[OffsetWrite]) -> Result<(), StoreError> {
        check_name("group", group)?;
        let mut entries = Vec::with_capacity(writes.len());
        for w in writes {
            check_name("topic", &w.tp.topic)?;
            entries.push(OffsetCommitEntry {
                topic: &w.tp.topic,
                partition: w.tp.partition,
                offset: w.offset,
                extras: w.extra.as_ref().map(extras_znode),
            });
        }
        let multis = self
            .zk()
            .commit_consumer_offsets(group, &entries)
            .await
            .map_err(store_err)?;
        self.count_multis(multis);
        Ok(())
    }

    async fn fetch_impl(
        &self,
        group: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<(TopicPartition, Option<CommittedOffset>)>, StoreError> {
        check_name("group", group)?;
        let zk = self.zk();
        let partitions = match partitions {
            Some(p) => p,
            None => zk
                .consumer_offset_partitions(group)
                .await
                .map_err(store_err)?
                .into_iter()
                .map(
                    |TopicPartition {
                         topic: t,
                         partition: p,
                     }| TopicPartition::new(t, p),
                )
                .collect(),
        };
        // A name that cannot be a znode was never committed: not read, answered as nothing.
        let mut found = zk
            .fetch_consumer_offsets(group, &znode_safe(&partitions))
            .await
            .map_err(store_err)?
            .into_iter();
        let out = partitions
            .into_iter()
            .map(|tp| {
                let committed = if is_znode_safe(&tp.topic) {
                    found.next().flatten().map(|c| CommittedOffset {
                        offset: c.offset,
                        extra: c.extras.map(offset_extra),
                    })
                } else {
                    None
                };
                (tp, committed)
            })
            .collect();
        Ok(out)
    }

    async fn delete_group_impl(&self, group: &str) -> Result<bool, StoreError> {
        check_name("group", group)?;
        let deleted = self
            .zk()
            .delete_consumer_group(group)
            .await
            .map_err(store_err)?;
        self.count_multis(deleted.multis);
        Ok(deleted.had_offsets)
    }

    async fn delete_offsets_impl(
        &self,
        group: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        let multis = self
            .zk()
            .delete_consumer_offsets(group, &znode_safe(&partitions))
            .await
            .map_err(store_err)?;
        self.count_multis(multis);
        Ok(())
    }

    async fn list_groups_impl(&self) -> Result<Vec<String>, StoreError> {
        self.zk()
            .consumer_groups_with_offsets()
            .await
            .map_err(store_err)
    }

    async fn mirror_members_impl(
        &self,
        group: &str,
        members: Vec<MemberMirror>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        // A member id that cannot be a znode name is left out of the mirror (never refused:
        // the mirror is best effort for legacy tools).
        let members: Vec<(&str, ConsumerRegistration)> = members
            .iter()
            .filter(|m| is_znode_safe(&m.member_id))
            .map(|m| {
                (
                    m.member_id.as_str(),
                    ConsumerRegistration::static_subscription(&m.topics, m.timestamp_ms),
                )
            })
            .collect();
        self.zk()
            .set_group_members(group, &members)
            .await
            .map_err(store_err)
    }

    async fn mirror_owners_impl(
        &self,
        group: &str,
        owners: Vec<(TopicPartition, String)>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        let owners: Vec<((&str, i32), &str)> = owners
            .iter()
            .filter(|(tp, _)| is_znode_safe(&tp.topic))
            .map(|(tp, member)| ((tp.topic.as_str(), tp.partition), member.as_str()))
            .collect();
        self.zk()
            .set_partition_owners(group, &owners)
            .await
            .map_err(store_err)
    }
}

impl OffsetStore for ZkOffsetStore {
    fn commit<'a>(&'a self, group: &'a str, writes: Vec<OffsetWrite>) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.commit_impl(group, &writes).await })
    }

    fn fetch<'a>(
        &'a self,
        group: &'a str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'a, Vec<(TopicPartition, Option<CommittedOffset>)>> {
        Box::pin(self.fetch_impl(group, partitions))
    }

    fn delete_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.delete_group_impl(group))
    }

    fn delete_offsets<'a>(
        &'a self,
        group: &'a str,
        partitions: Vec<TopicPartition>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_offsets_impl(group, partitions))
    }

    fn list_groups_with_offsets(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.list_groups_impl())
    }

    fn mirror_members<'a>(
        &'a self,
        group: &'a str,
        members: Vec<MemberMirror>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.mirror_members_impl(group, members))
    }

    fn mirror_owners<'a>(
        &'a self,
        group: &'a str,
        owners: Vec<(TopicPartition, String)>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.mirror_owners_impl(group, owners))
    }
}

#[cfg(test)]
mod tests {
    use super::{check_name, extras_znode, offset_extra};
    use crate::coordinator::OffsetExtra;

    #[test]
    fn extras_round_trip_and_names_are_checked() {
        let x = OffsetExtra {
            metadata: Some("m\"1".into()),
            leader_epoch: 3,
            commit_timestamp_ms: 17,
        };
        assert_eq!(offset_extra(extras_znode(&x)), x);
        let mut bad = extras_znode(&x);
        bad.commit_timestamp = "soon".into();
        assert_eq!(offset_extra(bad).commit_timestamp_ms, -1);
        assert!(check_name("group", "a/b").is_err());
        assert!(check_name("group", "..").is_err());
        assert!(check_name("group", "ok.group-1").is_ok());
    }
}
