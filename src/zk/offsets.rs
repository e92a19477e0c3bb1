//! Consumer offsets on Kafka's "with ZooKeeper" path: `/consumers/<group>/offsets/<topic>/<p>`
//! holding the next offset to consume as bare decimal text, plus zkafka's extras beside them
//! under `/zkafka/consumers/...` ([`OffsetExtrasZnode`]).
//!
//! A commit is normally ONE round trip: a `multi` of setData on every offset and extras znode.
//! Only when a znode is missing (a partition's first commit) are existence checks sent (all
//! pipelined: one round trip) and a second `multi` creates what is missing. Only a commit too
//! large for one ZooKeeper request (over [`MULTI_BYTES`], thousands of partitions) is split into
//! several multis, each partition's offset and extras always in the same one. An extras znode is
//! written in the same transaction as its offset znode, so both carry the same `mzxid`; a reader
//! trusts the extras only when the zxids agree, which detects offsets rewritten by OffsetCommit v0
//! or by a legacy tool that knows nothing of them.
//!
//! Group, topic and member names are used as znode names as they are: the caller (the group
//! coordinator) refuses names that are not one znode name.

use crate::topic_partition::TopicPartition;
use std::collections::BTreeSet;

use zookeeper_client::{Error as E, MultiWriteError};

use super::error::ZkError;
use super::paths;
use super::znodes::{to_json, OffsetExtrasZnode};
use super::KafkaZkClient;

/// How often a commit is retried when a concurrent writer created or deleted a znode between
/// the existence reads and the multi.
const COMMIT_ATTEMPTS: usize = 3;

/// Byte budget of one `multi`, well under ZooKeeper's default 1 MiB `jute.maxbuffer`.
pub(super) const MULTI_BYTES: usize = 512 * 1024;
/// Per-operation framing in a multi (header, lengths, ACL, flags), rounded up.
pub(super) const OP_OVERHEAD: usize = 64;

/// One partition of an offset commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitEntry<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// `None` for OffsetCommit v0, which follows Kafka's ZooKeeper rules: no extras znode.
    pub extras: Option<OffsetExtrasZnode>,
}

/// A committed offset as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffsetZnode {
    pub offset: i64,
    /// `None` when there are none, or they are stale: not written with this offset.
    pub extras: Option<OffsetExtrasZnode>,
}

/// A znode write inside a commit: its path, data, and whether it exists (setData) or not (create).
type Write<'a> = (&'a str, &'a [u8], bool);

impl KafkaZkClient {
    /// Writes every offset (and its extras) of one commit, atomically unless it is too large
    /// for one request. Returns how many `multi`s it committed.
    pub async fn commit_consumer_offsets(
        &self,
        group: &str,
        entries: &[OffsetCommitEntry<'_>],
    ) -> Result<usize, ZkError> {
        let mut parents = BTreeSet::new();
        // (path, data, whether it starts a unit: an extras znode joins its offset's unit)
        let mut leaves: Vec<(String, Vec<u8>, bool)> = Vec::new();
        for e in entries {
            let path = paths::consumer_offset(group, e.topic, e.partition);
            parents.extend(paths::ancestors(&path).map(str::to_string));
            leaves.push((path, e.offset.to_string().into_bytes(), true));
            if let Some(extras) = &e.extras {
                let path = paths::offset_extras(group, e.topic, e.partition);
                parents.extend(paths::ancestors(&path).map(str::to_string));
                leaves.push((path, to_json(extras), false));
            }
        }
        let mut multis = 0;
        // Steady state: every znode exists already, so one multi of setData is the whole commit
        // (one ZooKeeper round trip). Only a first commit of some partition pays for the
        // existence checks and creates below.
        let mut fast: Vec<Vec<Write>> = Vec::new();
        for (p, data, starts_unit) in &leaves {
            push_op(&mut fast, (p.as_str(), data.as_slice(), true), *starts_unit);
        }
        match self.write_units(&fast, &mut multis).await {
            Ok(()) => return Ok(multis),
            Err(MultiWriteError::OperationFailed {
                source: E::NoNode, ..
            }) => {}
            Err(e) => return Err(ZkError::session(e.into())),
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Pipelined: every request is sent before the first reply is awaited.
            let checks: Vec<_> = parents
                .iter()
                .chain(leaves.iter().map(|(p, _, _)| p))
                .map(|p| (p, self.client.check_stat(p)))
                .collect();
            let mut exists = Vec::with_capacity(checks.len());
            for (path, check) in checks {
                exists.push(check.await.map_err(|e| ZkError::at(path, e))?.is_some());
            }
            let (parent_exists, leaf_exists) = exists.split_at(parents.len());
            // Units that must share a transaction: each missing parent alone, and each offset
            // with its extras (so both get the same mzxid).
            let mut units: Vec<Vec<Write>> = parents
                .iter()
                .zip(parent_exists)
                .filter(|(_, e)| !**e)
                .map(|(p, _)| vec![(p.as_str(), &[][..], false)])
                .collect();
            for ((p, data, starts_unit), e) in leaves.iter().zip(leaf_exists) {
                push_op(&mut units, (p.as_str(), data.as_slice(), *e), *starts_unit);
            }
            match self.write_units(&units, &mut multis).await {
                Ok(()) => return Ok(multis),
                Err(MultiWriteError::OperationFailed {
                    source: E::NodeExists | E::NoNode,
                    ..
                }) if attempt < COMMIT_ATTEMPTS => continue,
                Err(e) => return Err(ZkError::session(e.into())),
            }
        }
    }

    /// Sends the units as few `multi`s as possible: normally one; more only when one would exceed
    /// [`MULTI_BYTES`] (ZooKeeper drops the connection on requests over `jute.maxbuffer`).
    /// Counts each committed multi in `multis`.
    async fn write_units(
        &self,
        units: &[Vec<Write<'_>>],
        multis: &mut usize,
    ) -> Result<(), MultiWriteError> {
        let mut multi = self.client.new_multi_writer();
        let mut bytes = 0;
        let mut pending = false;
        for unit in units {
            let size: usize = unit
                .iter()
                .map(|(p, d, _)| p.len() + d.len() + OP_OVERHEAD)
                .sum();
            if pending && bytes + size > MULTI_BYTES {
                crate::metrics::zk_timed(multi.commit()).await?;
                *multis += 1;
                multi = self.client.new_multi_writer();
                bytes = 0;
            }
            for (path, data, exists) in unit {
                if *exists {
                    multi.add_set_data(path, data, None)?;
                } else {
                    multi.add_create(path, data, &self.persistent(path))?;
                }
            }
            bytes += size;
            pending = true;
        }
        if pending {
            crate::metrics::zk_timed(multi.commit()).await?;
            *multis += 1;
        }
        Ok(())
    }

    /// The committed offset of each `(topic, partition)`, `None` where nothing (readable) was
    /// committed. Every offset and extras read is sent before the first answer is awaited.
    pub async fn fetch_consumer_offsets(
        &self,
        group: &str,
        partitions: &[(&str, i32)],
    ) -> Result<Vec<Option<CommittedOffsetZnode>>, ZkError> {
        let reads: Vec<_> = partitions
            .iter()
            .map(|(topic, partition)| {
                let offset_path = paths::consumer_offset(group, topic, *partition);
                let extras_path = paths::offset_extras(group, topic, *partition);
                let offset = self.client.get_data(&offset_path);
                let extras = self.client.get_data(&extras_path);
                (offset_path, offset, extras_path, extras)
            })
            .collect();
        let mut out = Vec::with_capacity(partitions.len());
        for (offset_path, offset, extras_path, extras) in reads {
            let offset = match offset.await {
                Ok(v) => Some(v),
                Err(E::NoNode) => None,
                Err(e) => return Err(ZkError::at(&offset_path, e)),
            };
            let extras = match extras.await {
                Ok(v) => Some(v),
                Err(E::NoNode) => None,
                Err(e) => return Err(ZkError::at(&extras_path, e)),
            };
            out.push(offset.and_then(|(data, stat)| {
                let Some(value) = decode_offset(&data) else {
                    tracing::warn!(path = %offset_path, "offset znode is not a decimal number");
                    return None;
                };
                let extras = extras
                    .filter(|(_, s)| s.mzxid == stat.mzxid)
                    .and_then(|(d, _)| serde_json::from_slice(&d).ok());
                Some(CommittedOffsetZnode {
                    offset: value,
                    extras,
                })
            }));
        }
        Ok(out)
    }

    /// Every `(topic, partition)` under the group's offsets, sorted (two pipelined rounds of
    /// listing); partitions whose name is not a number are not Kafka's and are left out.
    pub async fn consumer_offset_partitions(
        &self,
        group: &str,
    ) -> Result<Vec<TopicPartition>, ZkError> {
        let root = paths::consumer_offsets(group);
        let topics = match self.client.list_children(&root).await {
            Ok(t) => t,
            Err(E::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(ZkError::at(&root, e)),
        };
        let topic_dirs: Vec<String> = topics
            .iter()
            .map(|t| paths::consumer_offsets_topic(group, t))
            .collect();
        let mut out = Vec::new();
        for (topic, partitions) in topics.iter().zip(self.children_of_each(&topic_dirs).await?) {
            out.extend(
                partitions
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .map(|p| TopicPartition::new(topic.clone(), p)),
            );
        }
        out.sort();
        Ok(out)
    }

    /// Every group with at least one topic under `/consumers/<group>/offsets`, sorted.
    pub async fn consumer_groups_with_offsets(&self) -> Result<Vec<String>, ZkError> {
        let groups = self.children(paths::CONSUMERS).await?;
        let offset_dirs: Vec<String> = groups.iter().map(|g| paths::consumer_offsets(g)).collect();
        let topics = self.children_of_each(&offset_dirs).await?;
        let mut out: Vec<String> = groups
            .into_iter()
            .zip(topics)
            .filter(|(_, topics)| topics.as_ref().is_some_and(|t| !t.is_empty()))
            .map(|(g, _)| g)
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Appends `op` to the last unit, or as a new unit when it starts one (an offset starts a unit,
/// its extras join it).
fn push_op<'a>(units: &mut Vec<Vec<Write<'a>>>, op: Write<'a>, starts_unit: bool) {
    match units.last_mut() {
        Some(unit) if !starts_unit => unit.push(op),
        _ => units.push(vec![op]),
    }
}

/// Kafka's offset znode is bare decimal text; whitespace around it is tolerated.
fn decode_offset(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::decode_offset;
    use crate::zk::znodes::{to_json, OffsetExtrasZnode};

    #[test]
    fn codecs() {
        assert_eq!(decode_offset(b"42"), Some(42));
        assert_eq!(decode_offset(b" 42\n"), Some(42));
        assert_eq!(decode_offset(b"x"), None);
        let extras = OffsetExtrasZnode {
            version: 1,
            metadata: Some("m\"1".into()),
            leader_epoch: 3,
            commit_timestamp: "17".into(),
        };
        let bytes = to_json(&extras);
        assert_eq!(
            bytes,
            br#"{"version":1,"metadata":"m\"1","leader_epoch":3,"commit_timestamp":"17"}"#
        );
        assert_eq!(
            serde_json::from_slice::<OffsetExtrasZnode>(&bytes).ok(),
            Some(extras)
        );
    }
}
