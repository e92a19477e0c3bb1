//! The less frequent [`ZkOffsetStore`] operations: deleting groups and offsets, listing groups,
//! and mirroring members and owners for legacy tools.

use std::collections::{BTreeMap, BTreeSet};

use zookeeper_client::{Client, Error as ZkError, MultiWriteError};

use super::store::{MemberMirror, StoreError, TopicPartition};
use super::zk_nodes::{
    check_name, encode_member, extra_group_path, extra_path, group_path, ids_path, offset_path,
    owners_path, CONSUMERS,
};
use super::zk_store::{zk_err, ZkOffsetStore, EPHEMERAL, MULTI_BYTES, OP_OVERHEAD, PERSISTENT};

const DELETE_ATTEMPTS: usize = 3;

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

/// Lists children, treating a missing znode as having none.
async fn children(client: &Client, path: &str) -> Result<Vec<String>, StoreError> {
    match client.list_children(path).await {
        Ok(c) => Ok(c),
        Err(ZkError::NoNode) => Ok(Vec::new()),
        Err(e) => Err(zk_err(e)),
    }
}

/// Every znode of the subtrees at `roots` (roots included), parents before children; each
/// level's listings are pipelined.
async fn subtree(client: &Client, roots: &[String]) -> Result<Vec<String>, StoreError> {
    let mut all = Vec::new();
    let exists: Vec<_> = roots.iter().map(|r| client.check_stat(r)).collect();
    let mut level = Vec::new();
    for (root, e) in roots.iter().zip(exists) {
        if e.await.map_err(zk_err)?.is_some() {
            level.push(root.clone());
        }
    }
    while !level.is_empty() {
        let listings: Vec<_> = level.iter().map(|p| client.list_children(p)).collect();
        let mut next = Vec::new();
        for (path, listing) in level.iter().zip(listings) {
            match listing.await {
                Ok(kids) => next.extend(kids.into_iter().map(|k| format!("{path}/{k}"))),
                Err(ZkError::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        all.append(&mut level);
        level = next;
    }
    Ok(all)
}

impl ZkOffsetStore {
    /// Deletes `paths` in order, in as few `multi`s as the request size limit allows.
    async fn delete_in_multis(
        &self,
        client: &Client,
        paths: &[&str],
    ) -> Result<(), MultiWriteError> {
        for chunk in chunk_by_bytes(paths) {
            let mut multi = client.new_multi_writer();
            for path in chunk {
                multi.add_delete(path, None)?;
            }
            self.count_multi();
            multi.commit().await?;
        }
        Ok(())
    }

    pub(crate) async fn delete_group_impl(&self, group: &str) -> Result<bool, StoreError> {
        check_name("group", group)?;
        let offsets_prefix = format!("{}/offsets/", group_path(group));
        for attempt in 1..=DELETE_ATTEMPTS {
            let client = self.client();
            let nodes = subtree(&client, &[group_path(group), extra_group_path(group)]).await?;
            if nodes.is_empty() {
                return Ok(false);
            }
            // An offset znode is /consumers/<g>/offsets/<topic>/<partition>.
            let had_offsets = nodes.iter().any(|p| {
                p.strip_prefix(&offsets_prefix)
                    .is_some_and(|rest| rest.contains('/'))
            });
            let deepest_first: Vec<&str> = nodes.iter().rev().map(String::as_str).collect();
            match self.delete_in_multis(&client, &deepest_first).await {
                Ok(()) => return Ok(had_offsets),
                Err(MultiWriteError::OperationFailed {
                    source: ZkError::NotEmpty | ZkError::NoNode,
                    ..
                }) if attempt < DELETE_ATTEMPTS => {}
                Err(e) => return Err(zk_err(e.into())),
            }
        }
        Err(StoreError::Failed(format!(
            "group {group} kept changing while being deleted"
        )))
    }

    pub(crate) async fn delete_offsets_impl(
        &self,
        group: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        let client = self.client();
        let paths: Vec<String> = partitions
            .iter()
            .filter(|tp| check_name("topic", &tp.topic).is_ok())
            .flat_map(|tp| {
                [
                    offset_path(group, &tp.topic, tp.partition),
                    extra_path(group, &tp.topic, tp.partition),
                ]
            })
            .collect();
        let checks: Vec<_> = paths.iter().map(|p| client.check_stat(p)).collect();
        let mut existing = Vec::new();
        for (path, check) in paths.iter().zip(checks) {
            if check.await.map_err(zk_err)?.is_some() {
                existing.push(path.as_str());
            }
        }
        match self.delete_in_multis(&client, &existing).await {
            // Someone else deleted one first: the outcome is the same.
            Ok(_)
            | Err(MultiWriteError::OperationFailed {
                source: ZkError::NoNode,
                ..
            }) => Ok(()),
            Err(e) => Err(zk_err(e.into())),
        }
    }

    pub(crate) async fn list_groups_impl(&self) -> Result<Vec<String>, StoreError> {
        let client = self.client();
        let groups = children(&client, CONSUMERS).await?;
        let listings: Vec<_> = groups
            .iter()
            .map(|g| client.list_children(&format!("{CONSUMERS}/{g}/offsets")))
            .collect();
        let mut out = Vec::new();
        for (g, listing) in groups.into_iter().zip(listings) {
            match listing.await {
                Ok(topics) if !topics.is_empty() => out.push(g),
                Ok(_) | Err(ZkError::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        out.sort();
        Ok(out)
    }

    pub(crate) async fn mirror_members_impl(
        &self,
        group: &str,
        members: Vec<MemberMirror>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        let client = self.client();
        let dir = ids_path(group);
        // Nothing to show: only clear what exists, so that mirroring an emptied (and perhaps
        // just deleted) group never re-creates its znodes.
        if !members.is_empty() {
            client.mkdir(&dir, &PERSISTENT).await.map_err(zk_err)?;
        }
        let existing: BTreeSet<String> = children(&client, &dir).await?.into_iter().collect();
        let wanted: BTreeSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
        let mut ops = Vec::new();
        for stale in existing.iter().filter(|e| !wanted.contains(e.as_str())) {
            ops.push(client.delete(&format!("{dir}/{stale}"), None));
        }
        let mut to_create = Vec::new();
        for m in members.iter().filter(|m| !existing.contains(&m.member_id)) {
            if check_name("member", &m.member_id).is_ok() {
                to_create.push((
                    format!("{dir}/{}", m.member_id),
                    encode_member(&m.topics, m.timestamp_ms)?,
                ));
            }
        }
        let creates: Vec<_> = to_create
            .iter()
            .map(|(p, d)| client.create(p, d, &EPHEMERAL))
            .collect();
        for op in ops {
            match op.await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        for op in creates {
            match op.await {
                Ok(_) | Err(ZkError::NodeExists) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        Ok(())
    }

    pub(crate) async fn mirror_owners_impl(
        &self,
        group: &str,
        owners: Vec<(TopicPartition, String)>,
    ) -> Result<(), StoreError> {
        check_name("group", group)?;
        let client = self.client();
        let dir = owners_path(group);
        if !owners.is_empty() {
            client.mkdir(&dir, &PERSISTENT).await.map_err(zk_err)?;
        }
        let topics = children(&client, &dir).await?;
        let listings: Vec<_> = topics
            .iter()
            .map(|t| client.list_children(&format!("{dir}/{t}")))
            .collect();
        let mut existing = BTreeSet::new();
        for (t, listing) in topics.iter().zip(listings) {
            match listing.await {
                Ok(ps) => existing.extend(ps.into_iter().map(|p| format!("{dir}/{t}/{p}"))),
                Err(ZkError::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        let mut wanted: BTreeMap<String, &str> = BTreeMap::new();
        for (tp, member) in &owners {
            if check_name("topic", &tp.topic).is_ok() {
                wanted.insert(
                    format!("{dir}/{}/{}", tp.topic, tp.partition),
                    member.as_str(),
                );
            }
        }
        let new_topics: BTreeSet<&str> = owners.iter().map(|(tp, _)| tp.topic.as_str()).collect();
        for t in new_topics
            .iter()
            .filter(|t| !topics.iter().any(|e| e == *t))
        {
            if check_name("topic", t).is_ok() {
                client
                    .mkdir(&format!("{dir}/{t}"), &PERSISTENT)
                    .await
                    .map_err(zk_err)?;
            }
        }
        let deletes: Vec<_> = existing
            .iter()
            .filter(|p| !wanted.contains_key(*p))
            .map(|p| client.delete(p, None))
            .collect();
        let writes: Vec<_> = wanted
            .iter()
            .map(|(p, m)| {
                let set = existing
                    .contains(p)
                    .then(|| client.set_data(p, m.as_bytes(), None));
                let create =
                    (!existing.contains(p)).then(|| client.create(p, m.as_bytes(), &EPHEMERAL));
                (set, create)
            })
            .collect();
        for d in deletes {
            match d.await {
                Ok(()) | Err(ZkError::NoNode) => {}
                Err(e) => return Err(zk_err(e)),
            }
        }
        for (set, create) in writes {
            if let Some(f) = set {
                f.await.map_err(zk_err)?;
            }
            if let Some(f) = create {
                match f.await {
                    Ok(_) | Err(ZkError::NodeExists) => {}
                    Err(e) => return Err(zk_err(e)),
                }
            }
        }
        Ok(())
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
