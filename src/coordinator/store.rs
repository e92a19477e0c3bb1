//! Where committed offsets (and the mirror of live members) are kept.
//!
//! The coordinator's state machine is independent of ZooKeeper: it talks to this trait, so unit
//! tests run against [`crate::coordinator::MemoryOffsetStore`] and the broker against
//! [`crate::coordinator::ZkOffsetStore`]. The trait returns boxed futures so that it stays
//! object-safe (`Arc<dyn OffsetStore>`) without `async_trait`.

use std::future::Future;
use std::pin::Pin;

use super::group_records::GroupMetadataValue;

/// A boxed, `Send` future returned by every [`OffsetStore`] method.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store operation failed; the coordinator turns it into a Kafka error code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot be reached now (ZooKeeper connection loss, timeout, expired
    /// session). Clients retry: answered as COORDINATOR_NOT_AVAILABLE.
    #[error("offset store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (bad data, refused write): UNKNOWN_SERVER_ERROR.
    #[error("offset store failed: {0}")]
    Failed(String),
}

/// The longest group id, client id or group instance id accepted (bytes): a file name's limit.
/// Each becomes part of a znode path or of a member id kept per member, so a client's 32 KiB
/// string must not become one.
pub const MAX_ID_BYTES: usize = 255;

/// The longest member id: one this coordinator generates is `<client or instance id>-<uuid>`.
pub const MAX_MEMBER_ID_BYTES: usize = MAX_ID_BYTES + 1 + 36;

/// Whether a group or topic name can be one znode name. Kafka's topic names never contain `/`;
/// group ids may in Kafka, but not here, because offsets live at `/consumers/<group>/...`; and no
/// name is longer than [`MAX_ID_BYTES`].
pub fn is_znode_safe(name: &str) -> bool {
    !(name.is_empty()
        || name.len() > MAX_ID_BYTES
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0'))
}

/// A topic partition, by name (ZooKeeper's layout is by name, not topic id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// What OffsetCommit v1+ adds to the bare offset, kept beside it so that it round-trips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetExtra {
    /// The client's metadata string (`None` = the client sent null).
    pub metadata: Option<String>,
    /// The committed leader epoch, -1 when unknown.
    pub leader_epoch: i32,
    /// When the commit was made, epoch milliseconds.
    pub commit_timestamp_ms: i64,
}

/// One partition of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetWrite {
    pub tp: TopicPartition,
    pub offset: i64,
    /// `None` for OffsetCommit v0, which follows Kafka's ZooKeeper rules: metadata is dropped.
    pub extra: Option<OffsetExtra>,
}

/// A committed offset as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    /// `None` when the offset was written without extras (v0, legacy tools), or the extras are
    /// stale (the offset was rewritten by something that does not know about them).
    pub extra: Option<OffsetExtra>,
}

/// What OffsetFetch answers from a group's committed offsets: the asked partitions (`None` for a
/// partition never committed), or every committed one when `partitions` is `None` (all topics).
pub fn select_committed(
    offsets: Option<&std::collections::BTreeMap<TopicPartition, CommittedOffset>>,
    partitions: Option<Vec<TopicPartition>>,
) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
    match partitions {
        Some(tps) => tps
            .into_iter()
            .map(|tp| {
                let c = offsets.and_then(|o| o.get(&tp)).cloned();
                (tp, c)
            })
            .collect(),
        None => offsets
            .map(|o| {
                o.iter()
                    .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A live member as mirrored to `/consumers/<group>/ids/<member>` for legacy tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMirror {
    pub member_id: String,
    /// Topics the member subscribed to (decoded from its consumer-protocol metadata; empty when
    /// the group does not use the consumer protocol).
    pub topics: Vec<String>,
    /// When the member joined, epoch milliseconds.
    pub timestamp_ms: i64,
}

/// Durable storage of committed offsets, plus a best-effort mirror of group membership.
pub trait OffsetStore: Send + Sync {
    /// Stores every write of one commit request atomically (ZooKeeper: one `multi`).
    fn commit<'a>(&'a self, group: &'a str, writes: Vec<OffsetWrite>) -> StoreFuture<'a, ()>;

    /// With `Some(partitions)`: one entry per requested partition, `None` when nothing is
    /// committed. With `None`: every committed partition of the group.
    fn fetch<'a>(
        &'a self,
        group: &'a str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'a, Vec<(TopicPartition, Option<CommittedOffset>)>>;

    /// Removes everything stored for the group. Returns whether the group had any offsets.
    fn delete_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, bool>;

    /// Removes the committed offsets of the given partitions (missing ones are ignored).
    fn delete_offsets<'a>(
        &'a self,
        group: &'a str,
        partitions: Vec<TopicPartition>,
    ) -> StoreFuture<'a, ()>;

    /// Every group that has committed offsets.
    fn list_groups_with_offsets(&self) -> StoreFuture<'_, Vec<String>>;

    /// This broker became leader of `__consumer_offsets` partition `partition`: load what the
    /// store keeps there now rather than on the first request (Kafka's `onElection`), and return
    /// the groups stored there (Kafka's storage only). Stores that read on demand (ZooKeeper)
    /// have nothing to do.
    fn load_partition(
        &self,
        _partition: i32,
    ) -> StoreFuture<'_, Vec<(String, GroupMetadataValue)>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Stores the group's members, generation and assignment (a group metadata record of
    /// `__consumer_offsets`, Kafka's `storeGroup`); stores that keep no groups do nothing.
    fn store_group<'a>(
        &'a self,
        _group: &'a str,
        _value: GroupMetadataValue,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    /// The group as last stored by [`OffsetStore::store_group`] (or by a Kafka broker).
    fn stored_group<'a>(&'a self, _group: &'a str) -> StoreFuture<'a, Option<GroupMetadataValue>> {
        Box::pin(async { Ok(None) })
    }

    /// Makes the mirrored member list equal to `members` (creating and deleting as needed).
    fn mirror_members<'a>(
        &'a self,
        group: &'a str,
        members: Vec<MemberMirror>,
    ) -> StoreFuture<'a, ()>;

    /// Makes the mirrored partition owners equal to `owners` (partition → member id).
    fn mirror_owners<'a>(
        &'a self,
        group: &'a str,
        owners: Vec<(TopicPartition, String)>,
    ) -> StoreFuture<'a, ()>;
}
