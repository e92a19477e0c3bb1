//! [`OffsetStore`] on ZooKeeper: offsets as Kafka lays them out, `/consumers/<group>/offsets/
//! <topic>/<partition>` = bare decimal text, plus zkafka's extras beside them.
//!
//! A commit first reads which znodes exist (all reads pipelined: one round trip), then writes
//! every parent, offset and extra in ONE `multi`, so a commit is atomic and costs two round trips.
//! Only a commit too large for one ZooKeeper request (over 512 KiB, thousands of partitions) is
//! split into several multis, each partition's offset and extras always in the same one. The extras znode is written in the same transaction as its offset znode,
//! so both carry the same `mzxid`; a reader trusts the extras only when the zxids agree, which
//! detects offsets rewritten by OffsetCommit v0 or by a legacy tool that knows nothing of them.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions, MultiWriteError};

use super::store::{
    CommittedOffset, MemberMirror, OffsetStore, OffsetWrite, StoreError, StoreFuture,
    TopicPartition,
};
use super::zk_nodes::{
    ancestors, check_name, decode_extra, decode_offset, encode_extra, encode_offset, extra_path,
    offset_path, offsets_path,
};

/// How often a commit is retried when a concurrent writer created or deleted a znode between
/// the existence reads and the multi.
const COMMIT_ATTEMPTS: usize = 3;

/// Byte budget of one `multi`, well under ZooKeeper's default 1 MiB `jute.maxbuffer`.
pub(crate) const MULTI_BYTES: usize = 512 * 1024;
/// Per-operation framing in a multi (header, lengths, ACL, flags), rounded up.
pub(crate) const OP_OVERHEAD: usize = 64;

pub(crate) const PERSISTENT: CreateOptions<'static> =
    CreateMode::Persistent.with_acls(Acls::anyone_all());
pub(crate) const EPHEMERAL: CreateOptions<'static> =
    CreateMode::Ephemeral.with_acls(Acls::anyone_all());

/// Offsets in ZooKeeper through the broker's current session.
pub struct ZkOffsetStore {
    /// The broker replaces its client when a session expires; we always use the newest.
    client: watch::Receiver<Client>,
    /// Keeps the channel open when built from a single client.
    _owner: Option<watch::Sender<Client>>,
    multis: AtomicU64,
}

pub(crate) fn zk_err(e: zookeeper_client::Error) -> StoreError {
    use zookeeper_client::Error as E;
    match e {
        E::ConnectionLoss
        | E::SessionExpired
        | E::Timeout
        | E::ClientClosed
        | E::NoHosts
        | E::Throttled => StoreError::Unavailable(e.to_string()),
        other => StoreError::Failed(other.to_string()),
    }
}

impl ZkOffsetStore {
    /// Follows the broker's session: each operation uses the client currently in `client`.
    pub fn new(client: watch::Receiver<Client>) -> Self {
        Self {
            client,
            _owner: None,
            multis: AtomicU64::new(0),
        }
    }

    /// A store on one fixed client (tests, tools).
    pub fn with_client(client: Client) -> Self {
        let (tx, rx) = watch::channel(client);
        Self {
            client: rx,
            _owner: Some(tx),
            multis: AtomicU64::new(0),
        }
    }

    /// How many `multi` transactions this store has committed (a commit is one each).
    pub fn multi_count(&self) -> u64 {
        self.multis.load(Ordering::Relaxed)
    }

    pub(crate) fn client(&self) -> Client {
        self.client.borrow().clone()
    }

    pub(crate) fn count_multi(&self) {
        self.multis.fetch_add(1, Ordering::Relaxed);
    }

    async fn commit_impl(&self, group: &str, writes: &[OffsetWrite]) -> Result<(), StoreError> {
        check_name("group", group)?;
        let mut parents = BTreeSet::new();
        let mut leaves: Vec<(String, Vec<u8>, bool)> = Vec::new();
        for w in writes {
            check_name("topic", &w.tp.topic)?;
            let path = offset_path(group, &w.tp.topic, w.tp.partition);
            parents.extend(ancestors(&path));
            leaves.push((path, encode_offset(w.offset), true));
            if let Some(extra) = &w.extra {
                let path = extra_path(group, &w.tp.topic, w.tp.partition);
                parents.extend(ancestors(&path));
                leaves.push((path, encode_extra(extra)?, false));
            }
        }
        // Steady state: every znode exists already, so one multi of setData is the whole commit
        // (one ZooKeeper round trip). Only a first commit of some partition pays for the
        // existence checks and creates below.
        let client = self.client();
        let mut fast: Vec<Vec<(&str, &[u8], bool)>> = Vec::new();
        for (p, data, starts_unit) in &leaves {
            let op = (p.as_str(), data.as_slice(), true);
            match fast.last_mut() {
                Some(unit) if !*starts_unit => unit.push(op),
                _ => fast.push(vec![op]),
            }
        }
        match self.write_units(&client, &fast).await {
            Ok(()) => return Ok(()),
            Err(MultiWriteError::OperationFailed {
                source: zookeeper_client::Error::NoNode,
                ..
            }) => {}
            Err(e) => return Err(zk_err(e.into())),
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.client();
            // Pipelined: every request is sent before the first reply is awaited.
            let checks: Vec<_> = parents
                .iter()
                .chain(leaves.iter().map(|(p, _, _)| p))
                .map(|p| client.check_stat(p))
                .collect();
            let mut exists = Vec::with_capacity(checks.len());
            for c in checks {
                exists.push(c.await.map_err(zk_err)?.is_some());
            }
            let (parent_exists, leaf_exists) = exists.split_at(parents.len());
            // Units that must share a transaction: each missing parent alone, and each offset
            // with its extras (so both get the same mzxid).
            let mut units: Vec<Vec<(&str, &[u8], bool)>> = parents
                .iter()
                .zip(parent_exists)
                .filter(|(_, e)| !**e)
                .map(|(p, _)| vec![(p.as_str(), &[][..], false)])
                .collect();
            for ((p, data, starts_unit), e) in leaves.iter().zip(leaf_exists) {
                let op = (p.as_str(), data.as_slice(), *e);
                match units.last_mut() {
                    Some(unit) if !*starts_unit => unit.push(op),
                    _ => units.push(vec![op]),
                }
            }
            match self.write_units(&client, &units).await {
                Ok(()) => return Ok(()),
                Err(MultiWriteError::OperationFailed {
                    source: zookeeper_client::Error::NodeExists | zookeeper_client::Error::NoNode,
                    ..
                }) if attempt < COMMIT_ATTEMPTS => continue,
                Err(e) => return Err(zk_err(e.into())),
            }
        }
    }

    /// Sends the units as few `multi`s as possible: normally one; more only when one would exceed
    /// [`MULTI_BYTES`] (ZooKeeper drops the connection on requests over `jute.maxbuffer`).
    /// Creates are marked `false`, set-datas `true`.
    async fn write_units(
        &self,
        client: &Client,
        units: &[Vec<(&str, &[u8], bool)>],
    ) -> Result<(), MultiWriteError> {
        let mut multi = client.new_multi_writer();
        let mut bytes = 0;
        let mut pending = false;
        for unit in units {
            let size: usize = unit
                .iter()
                .map(|(p, d, _)| p.len() + d.len() + OP_OVERHEAD)
                .sum();
            if pending && bytes + size > MULTI_BYTES {
                multi.commit().await?;
                self.count_multi();
                multi = client.new_multi_writer();
                bytes = 0;
            }
            for (path, data, exists) in unit {
                if *exists {
                    multi.add_set_data(path, data, None)?;
                } else {
                    multi.add_create(path, data, &PERSISTENT)?;
                }
            }
            bytes += size;
            pending = true;
        }
        if pending {
            multi.commit().await?;
            self.count_multi();
        }
        Ok(())
    }

    async fn fetch_impl(
        &self,
        group: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<(TopicPartition, Option<CommittedOffset>)>, StoreError> {
        check_name("group", group)?;
        let client = self.client();
        let partitions = match partitions {
            Some(p) => p,
            None => self.all_partitions(&client, group).await?,
        };
        let mut reads = Vec::with_capacity(partitions.len());
        for tp in &partitions {
            if check_name("topic", &tp.topic).is_err() {
                reads.push(None);
                continue;
            }
            let offset = client.get_data(&offset_path(group, &tp.topic, tp.partition));
            let extra = client.get_data(&extra_path(group, &tp.topic, tp.partition));
            reads.push(Some((offset, extra)));
        }
        let mut out = Vec::with_capacity(partitions.len());
        for (tp, read) in partitions.into_iter().zip(reads) {
            let Some((offset, extra)) = read else {
                out.push((tp, None));
                continue;
            };
            let offset = match offset.await {
                Ok(v) => Some(v),
                Err(zookeeper_client::Error::NoNode) => None,
                Err(e) => return Err(zk_err(e)),
            };
            let extra = match extra.await {
                Ok(v) => Some(v),
                Err(zookeeper_client::Error::NoNode) => None,
                Err(e) => return Err(zk_err(e)),
            };
            let committed = offset.and_then(|(data, stat)| {
                let Some(value) = decode_offset(&data) else {
                    tracing::warn!(group, topic = %tp.topic, partition = tp.partition, "offset znode is not a decimal number");
                    return None;
                };
                let extra = extra.filter(|(_, s)| s.mzxid == stat.mzxid).and_then(|(d, _)| decode_extra(&d));
                Some(CommittedOffset { offset: value, extra })
            });
            out.push((tp, committed));
        }
        Ok(out)
    }

    /// Every `<topic>/<partition>` under the group's offsets (two pipelined rounds of listing).
    async fn all_partitions(
        &self,
        client: &Client,
        group: &str,
    ) -> Result<Vec<TopicPartition>, StoreError> {
        let topics = match client.list_children(&offsets_path(group)).await {
            Ok(t) => t,
            Err(zookeeper_client::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(zk_err(e)),
        };
        let listings: Vec<_> = topics
            .iter()
            .map(|t| client.list_children(&format!("{}/{t}", offsets_path(group))))
            .collect();
        let mut by_topic: HashMap<&str, Vec<i32>> = HashMap::new();
        for (topic, listing) in topics.iter().zip(listings) {
            let parts = match listing.await {
                Ok(p) => p,
                Err(zookeeper_client::Error::NoNode) => continue,
                Err(e) => return Err(zk_err(e)),
            };
            by_topic
                .entry(topic)
                .or_default()
                .extend(parts.iter().filter_map(|p| p.parse::<i32>().ok()));
        }
        let mut out: Vec<TopicPartition> = by_topic
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| TopicPartition::new(t, p)))
            .collect();
        out.sort();
        Ok(out)
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
