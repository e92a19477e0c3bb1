//! An in-memory [`OffsetStore`], for unit tests and for running without ZooKeeper.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::group_records::GroupMetadataValue;
use super::store::{
    select_committed, CommittedOffset, MemberMirror, OffsetStore, OffsetWrite, StoreError,
    StoreFuture, TopicPartition,
};

/// Keeps offsets and mirrors in maps; every call also counts as one "round trip".
#[derive(Default)]
pub struct MemoryOffsetStore {
    inner: Mutex<Inner>,
    /// Keep group metadata as Kafka's storage does ([`MemoryOffsetStore::keeping_groups`]).
    keep_groups: bool,
}

#[derive(Default)]
struct Inner {
    offsets: HashMap<String, BTreeMap<TopicPartition, CommittedOffset>>,
    members: HashMap<String, Vec<MemberMirror>>,
    owners: HashMap<String, Vec<(TopicPartition, String)>>,
    groups: HashMap<String, GroupMetadataValue>,
    commits: u64,
}

impl MemoryOffsetStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that also keeps group metadata (like `offsets.storage=kafka`), so that a second
    /// coordinator on it loads the groups the first one stored.
    pub fn keeping_groups() -> Self {
        Self {
            keep_groups: true,
            ..Self::default()
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Result<T, StoreError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        Ok(f(&mut inner))
    }

    /// The last mirrored members of a group (for tests).
    pub fn mirrored_members(&self, group: &str) -> Vec<MemberMirror> {
        self.with(|i| i.members.get(group).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The last mirrored owners of a group (for tests).
    pub fn mirrored_owners(&self, group: &str) -> Vec<(TopicPartition, String)> {
        self.with(|i| i.owners.get(group).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// How many commit calls were made (for tests).
    pub fn commit_calls(&self) -> u64 {
        self.with(|i| i.commits).unwrap_or_default()
    }
}

impl OffsetStore for MemoryOffsetStore {
    fn commit<'a>(&'a self, group: &'a str, writes: Vec<OffsetWrite>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with(|i| {
                i.commits += 1;
                let offsets = i.offsets.entry(group.to_string()).or_default();
                for w in writes {
                    offsets.insert(
                        w.tp,
                        CommittedOffset {
                            offset: w.offset,
                            extra: w.extra,
                        },
                    );
                }
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        group: &'a str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'a, Vec<(TopicPartition, Option<CommittedOffset>)>> {
        Box::pin(async move { self.with(|i| select_committed(i.offsets.get(group), partitions)) })
    }

    fn delete_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.with(|i| {
                i.members.remove(group);
                i.owners.remove(group);
                i.offsets.remove(group).is_some_and(|o| !o.is_empty())
            })
        })
    }

    fn delete_offsets<'a>(
        &'a self,
        group: &'a str,
        partitions: Vec<TopicPartition>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with(|i| {
                if let Some(o) = i.offsets.get_mut(group) {
                    for tp in &partitions {
                        o.remove(tp);
                    }
                }
            })
        })
    }

    fn list_groups_with_offsets(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.with(|i| {
                let mut groups: Vec<String> = i
                    .offsets
                    .iter()
                    .filter(|(_, o)| !o.is_empty())
                    .map(|(g, _)| g.clone())
                    .collect();
                groups.sort();
                groups
            })
        })
    }

    fn mirror_members<'a>(
        &'a self,
        group: &'a str,
        members: Vec<MemberMirror>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with(|i| {
                i.members.insert(group.to_string(), members);
            })
        })
    }

    fn mirror_owners<'a>(
        &'a self,
        group: &'a str,
        owners: Vec<(TopicPartition, String)>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.with(|i| {
                i.owners.insert(group.to_string(), owners);
            })
        })
    }

    fn load_partition(&self, _: i32) -> StoreFuture<'_, Vec<(String, GroupMetadataValue)>> {
        Box::pin(async move {
            self.with(|i| {
                i.groups
                    .iter()
                    .map(|(g, v)| (g.clone(), v.clone()))
                    .collect()
            })
        })
    }

    fn store_group<'a>(&'a self, group: &'a str, value: GroupMetadataValue) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if self.keep_groups {
                self.with(|i| {
                    i.groups.insert(group.to_string(), value);
                })?;
            }
            Ok(())
        })
    }

    fn stored_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, Option<GroupMetadataValue>> {
        Box::pin(async move { self.with(|i| i.groups.get(group).cloned()) })
    }
}
