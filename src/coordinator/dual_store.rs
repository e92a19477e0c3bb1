//! [`OffsetStore`] for `offsets.storage=dual`: Kafka 0.8.2's dual commit (`offsets.storage=kafka`
//! with `dual.commit.enabled=true` on its consumer). Every commit and deletion goes to both
//! `__consumer_offsets` and ZooKeeper; a read asks both and, per partition, answers the larger
//! offset, as 0.8.2's consumer did while a group moved from one storage to the other. The member
//! mirror stays in ZooKeeper, where legacy tools look for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::group_records::GroupMetadataValue;
use super::store::{
    CommittedOffset, MemberMirror, OffsetStore, OffsetWrite, StoreFuture, TopicPartition,
};

/// Both storages: `kafka` is written first, so a commit ZooKeeper has is always in Kafka too.
pub struct DualOffsetStore {
    kafka: Arc<dyn OffsetStore>,
    zookeeper: Arc<dyn OffsetStore>,
}

impl DualOffsetStore {
    pub fn new(kafka: Arc<dyn OffsetStore>, zookeeper: Arc<dyn OffsetStore>) -> Self {
        Self { kafka, zookeeper }
    }
}

/// Per partition, the larger of two committed offsets (either may be missing).
fn larger(a: Option<CommittedOffset>, b: Option<CommittedOffset>) -> Option<CommittedOffset> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.offset > a.offset { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl OffsetStore for DualOffsetStore {
    fn commit<'a>(&'a self, group: &'a str, writes: Vec<OffsetWrite>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.kafka.commit(group, writes.clone()).await?;
            self.zookeeper.commit(group, writes).await
        })
    }

    fn fetch<'a>(
        &'a self,
        group: &'a str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'a, Vec<(TopicPartition, Option<CommittedOffset>)>> {
        Box::pin(async move {
            let k = self.kafka.fetch(group, partitions.clone()).await?;
            let z = self.zookeeper.fetch(group, partitions.clone()).await?;
            let mut merged: BTreeMap<TopicPartition, Option<CommittedOffset>> = BTreeMap::new();
            for (tp, c) in k.into_iter().chain(z) {
                let slot = merged.entry(tp).or_insert(None);
                *slot = larger(slot.take(), c);
            }
            Ok(match partitions {
                // Keep the caller's order, one entry per requested partition.
                Some(tps) => tps
                    .into_iter()
                    .map(|tp| {
                        let c = merged.get(&tp).cloned().flatten();
                        (tp, c)
                    })
                    .collect(),
                None => merged.into_iter().filter(|(_, c)| c.is_some()).collect(),
            })
        })
    }

    fn delete_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let k = self.kafka.delete_group(group).await?;
            let z = self.zookeeper.delete_group(group).await?;
            Ok(k || z)
        })
    }

    fn delete_offsets<'a>(
        &'a self,
        group: &'a str,
        partitions: Vec<TopicPartition>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.kafka.delete_offsets(group, partitions.clone()).await?;
            self.zookeeper.delete_offsets(group, partitions).await
        })
    }

    fn list_groups_with_offsets(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut all = self.kafka.list_groups_with_offsets().await?;
            all.extend(self.zookeeper.list_groups_with_offsets().await?);
            all.sort();
            all.dedup();
            Ok(all)
        })
    }

    fn load_partition(&self, partition: i32) -> StoreFuture<'_, Vec<(String, GroupMetadataValue)>> {
        self.kafka.load_partition(partition)
    }

    fn store_group<'a>(&'a self, group: &'a str, value: GroupMetadataValue) -> StoreFuture<'a, ()> {
        self.kafka.store_group(group, value)
    }

    fn stored_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, Option<GroupMetadataValue>> {
        self.kafka.stored_group(group)
    }

    fn mirror_members<'a>(
        &'a self,
        group: &'a str,
        members: Vec<MemberMirror>,
    ) -> StoreFuture<'a, ()> {
        self.zookeeper.mirror_members(group, members)
    }

    fn mirror_owners<'a>(
        &'a self,
        group: &'a str,
        owners: Vec<(TopicPartition, String)>,
    ) -> StoreFuture<'a, ()> {
        self.zookeeper.mirror_owners(group, owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::MemoryOffsetStore;

    fn w(topic: &str, p: i32, offset: i64) -> OffsetWrite {
        OffsetWrite {
            tp: TopicPartition::new(topic, p),
            offset,
            extra: None,
        }
    }

    #[tokio::test]
    async fn writes_both_and_reads_the_larger() {
        let kafka = Arc::new(MemoryOffsetStore::default());
        let zk = Arc::new(MemoryOffsetStore::default());
        let dual = DualOffsetStore::new(kafka.clone(), zk.clone());
        dual.commit("g", vec![w("t", 0, 10)]).await.unwrap();
        assert_eq!(
            kafka.fetch("g", None).await.unwrap()[0]
                .1
                .as_ref()
                .unwrap()
                .offset,
            10
        );
        assert_eq!(
            zk.fetch("g", None).await.unwrap()[0]
                .1
                .as_ref()
                .unwrap()
                .offset,
            10
        );
        // An old consumer moved ZooKeeper ahead; a newer one moved Kafka ahead elsewhere.
        zk.commit("g", vec![w("t", 0, 15), w("t", 1, 3)])
            .await
            .unwrap();
        kafka.commit("g", vec![w("t", 2, 7)]).await.unwrap();
        let wanted = vec![
            TopicPartition::new("t", 2),
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1),
            TopicPartition::new("t", 9),
        ];
        let got: Vec<Option<i64>> = dual
            .fetch("g", Some(wanted))
            .await
            .unwrap()
            .into_iter()
            .map(|(_, c)| c.map(|c| c.offset))
            .collect();
        assert_eq!(got, vec![Some(7), Some(15), Some(3), None]);
        assert_eq!(dual.fetch("g", None).await.unwrap().len(), 3);
        assert!(dual.delete_group("g").await.unwrap());
        assert!(kafka.fetch("g", None).await.unwrap().is_empty());
        assert!(zk.fetch("g", None).await.unwrap().is_empty());
    }
}
