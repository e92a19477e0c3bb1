//! The znodes this coordinator reads and writes: paths and data codecs.
//!
//! Kafka's paths (`/consumers/...`) keep exactly Kafka's content; what newer OffsetCommit
//! versions add lives under `/zkafka/consumers/...` (schemas in `zk-schema/`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::store::{OffsetExtra, StoreError};

pub(crate) const CONSUMERS: &str = "/consumers";
pub(crate) const ZKAFKA_CONSUMERS: &str = "/zkafka/consumers";

/// Rejects names that would escape their place in the tree (ZooKeeper has no escaping).
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), StoreError> {
    if !super::store::is_znode_safe(name) {
        return Err(StoreError::Failed(format!(
            "{kind} name {name:?} cannot be a znode name"
        )));
    }
    Ok(())
}

pub(crate) fn group_path(group: &str) -> String {
    format!("{CONSUMERS}/{group}")
}
pub(crate) fn offsets_path(group: &str) -> String {
    format!("{CONSUMERS}/{group}/offsets")
}
pub(crate) fn offset_path(group: &str, topic: &str, partition: i32) -> String {
    format!("{CONSUMERS}/{group}/offsets/{topic}/{partition}")
}
pub(crate) fn extra_group_path(group: &str) -> String {
    format!("{ZKAFKA_CONSUMERS}/{group}")
}
pub(crate) fn extra_path(group: &str, topic: &str, partition: i32) -> String {
    format!("{ZKAFKA_CONSUMERS}/{group}/offsets/{topic}/{partition}")
}
pub(crate) fn ids_path(group: &str) -> String {
    format!("{CONSUMERS}/{group}/ids")
}
pub(crate) fn owners_path(group: &str) -> String {
    format!("{CONSUMERS}/{group}/owners")
}

/// Every ancestor of `path` below the root, shortest first (`/a/b/c` → `/a`, `/a/b`).
pub(crate) fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut end = 0;
    while let Some(i) = path[end + 1..].find('/') {
        end += 1 + i;
        out.push(path[..end].to_string());
    }
    out
}

/// Kafka's offset znode: bare decimal text, nothing else.
pub(crate) fn encode_offset(offset: i64) -> Vec<u8> {
    offset.to_string().into_bytes()
}

pub(crate) fn decode_offset(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.trim().parse().ok()
}

/// `/zkafka/consumers/<group>/offsets/<topic>/<partition>`, version 1.
#[derive(Debug, Serialize, Deserialize)]
struct ExtraJson {
    version: i32,
    metadata: Option<String>,
    leader_epoch: i32,
    commit_timestamp: String,
}

pub(crate) fn encode_extra(extra: &OffsetExtra) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&ExtraJson {
        version: 1,
        metadata: extra.metadata.clone(),
        leader_epoch: extra.leader_epoch,
        commit_timestamp: extra.commit_timestamp_ms.to_string(),
    })
    .map_err(|e| StoreError::Failed(format!("encoding offset extras: {e}")))
}

pub(crate) fn decode_extra(data: &[u8]) -> Option<OffsetExtra> {
    let json: ExtraJson = serde_json::from_slice(data).ok()?;
    Some(OffsetExtra {
        metadata: json.metadata,
        leader_epoch: json.leader_epoch,
        commit_timestamp_ms: json.commit_timestamp.parse().unwrap_or(-1),
    })
}

/// `/consumers/<group>/ids/<member>`: the old high-level consumer's registration.
#[derive(Debug, Serialize)]
struct MemberJson<'a> {
    version: i32,
    subscription: BTreeMap<&'a str, i32>,
    pattern: &'a str,
    timestamp: String,
}

pub(crate) fn encode_member(topics: &[String], timestamp_ms: i64) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&MemberJson {
        version: 1,
        subscription: topics.iter().map(|t| (t.as_str(), 1)).collect(),
        pattern: "static",
        timestamp: timestamp_ms.to_string(),
    })
    .map_err(|e| StoreError::Failed(format!("encoding member registration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs() {
        assert_eq!(
            ancestors("/a/b/c"),
            vec!["/a".to_string(), "/a/b".to_string()]
        );
        assert_eq!(encode_offset(42), b"42");
        assert_eq!(decode_offset(b"42"), Some(42));
        assert_eq!(decode_offset(b"x"), None);
        let x = OffsetExtra {
            metadata: Some("m\"1".into()),
            leader_epoch: 3,
            commit_timestamp_ms: 17,
        };
        let bytes = encode_extra(&x).unwrap();
        assert_eq!(
            bytes,
            br#"{"version":1,"metadata":"m\"1","leader_epoch":3,"commit_timestamp":"17"}"#
        );
        assert_eq!(decode_extra(&bytes), Some(x));
        assert_eq!(
            encode_member(&["t".into()], 5).unwrap(),
            br#"{"version":1,"subscription":{"t":1},"pattern":"static","timestamp":"5"}"#
        );
        assert!(check_name("group", "a/b").is_err());
        assert!(check_name("group", "..").is_err());
        assert!(check_name("group", "ok.group-1").is_ok());
    }
}
