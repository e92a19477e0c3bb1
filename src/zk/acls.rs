//! ACLs as Kafka's `AclAuthorizer` keeps them in ZooKeeper (`ZkAclStore`): LITERAL resources at
//! `/kafka-acl/<Type>/<name>` with notifications `/kafka-acl-changes/acl_changes_N` holding
//! `TOPIC:<name>`, PREFIXED ones at `/kafka-acl-extended/prefixed/<Type>/<name>` with
//! notifications `/kafka-acl-extended-changes/acl_changes_N` holding a small JSON object. Each
//! resource znode holds `{"version":1,"acls":[...]}`, written conditionally on its dataVersion.

use zookeeper_client::Error as E;

use super::error::{parse_or_skip, ZkError};
use super::znodes::to_json;
use super::{KafkaZkClient, OneshotWatcher};
use crate::security::acl::{
    AclEntry, AclZnode, ExtendedAclChange, PatternType, ResourcePattern, ResourceType,
};

const LITERAL_ROOT: &str = "/kafka-acl";
const LITERAL_CHANGES: &str = "/kafka-acl-changes";
const PREFIXED_ROOT: &str = "/kafka-acl-extended/prefixed";
const PREFIXED_CHANGES: &str = "/kafka-acl-extended-changes";
const CHANGE_PREFIX: &str = "acl_changes_";

/// The resource types that have a directory under each store (all but ANY).
fn stored_types() -> impl Iterator<Item = ResourceType> {
    ResourceType::ALL
        .iter()
        .copied()
        .filter(|t| *t != ResourceType::Any)
}

fn root(pattern_type: PatternType) -> &'static str {
    if pattern_type == PatternType::Prefixed {
        PREFIXED_ROOT
    } else {
        LITERAL_ROOT
    }
}

fn changes(pattern_type: PatternType) -> &'static str {
    if pattern_type == PatternType::Prefixed {
        PREFIXED_CHANGES
    } else {
        LITERAL_CHANGES
    }
}

fn resource_path(p: &ResourcePattern) -> String {
    format!(
        "{}/{}/{}",
        root(p.pattern_type),
        p.resource_type.name(),
        p.name
    )
}

/// The stored ACLs of one resource and the znode's dataVersion (-1: no znode).
pub struct VersionedAcls {
    pub entries: Vec<AclEntry>,
    pub version: i32,
}

impl KafkaZkClient {
    /// Creates the stores' directories and change paths, as `AclAuthorizer.configure` does.
    pub async fn create_acl_paths(&self) -> Result<(), ZkError> {
        let mut paths: Vec<String> = vec![LITERAL_CHANGES.into(), PREFIXED_CHANGES.into()];
        for t in stored_types() {
            paths.push(format!("{LITERAL_ROOT}/{}", t.name()));
            paths.push(format!("{PREFIXED_ROOT}/{}", t.name()));
        }
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        self.create_with_parents(&refs).await
    }

    /// Every stored resource with its ACLs; a resource znode that does not parse is skipped with
    /// a warning (as Kafka logs and skips it), never stopping the others.
    pub async fn get_all_acls(&self) -> Result<Vec<(ResourcePattern, Vec<AclEntry>)>, ZkError> {
        let mut dirs = Vec::new();
        for pattern_type in [PatternType::Literal, PatternType::Prefixed] {
            for t in stored_types() {
                dirs.push((pattern_type, t));
            }
        }
        let dir_paths: Vec<String> = dirs
            .iter()
            .map(|(pt, t)| format!("{}/{}", root(*pt), t.name()))
            .collect();
        let listings = self.children_of_each(&dir_paths).await?;
        let mut patterns = Vec::new();
        for ((pattern_type, resource_type), names) in dirs.into_iter().zip(listings) {
            for name in names.unwrap_or_default() {
                patterns.push(ResourcePattern {
                    resource_type,
                    name,
                    pattern_type,
                });
            }
        }
        let paths: Vec<String> = patterns.iter().map(resource_path).collect();
        let read = self.get_data_many(&paths).await?;
        let mut out = Vec::with_capacity(patterns.len());
        for ((pattern, path), found) in patterns.into_iter().zip(&paths).zip(read) {
            let Some((data, _)) = found else { continue };
            if let Some(entries) = parse_entries(path, &data) {
                out.push((pattern, entries));
            }
        }
        Ok(out)
    }

    /// One resource's ACLs (none, version -1, if it has no znode).
    pub async fn get_resource_acls(&self, p: &ResourcePattern) -> Result<VersionedAcls, ZkError> {
        let path = resource_path(p);
        match self.read(&path).await? {
            Some((data, stat)) => Ok(VersionedAcls {
                entries: parse_entries(&path, &data).unwrap_or_default(),
                version: stat.version,
            }),
            None => Ok(VersionedAcls {
                entries: Vec::new(),
                version: -1,
            }),
        }
    }

    /// Replaces a resource's ACLs if its znode still has `version` (-1: must not exist), deleting
    /// the znode when `entries` is empty, then notifies every broker.
    /// [`ZkError::BadVersion`] / [`ZkError::NodeExists`]: someone else changed it; re-read.
    pub async fn set_resource_acls(
        &self,
        p: &ResourcePattern,
        entries: &[AclEntry],
        version: i32,
    ) -> Result<(), ZkError> {
        let path = resource_path(p);
        let data = to_json(&AclZnode::new(entries));
        let written = match (entries.is_empty(), version) {
            (true, -1) => Ok(()),
            (true, v) => self.client.delete(&path, Some(v)).await,
            (false, -1) => self
                .client
                .create(&path, &data, &self.persistent(&path))
                .await
                .map(|_| ()),
            (false, v) => self
                .client
                .set_data(&path, &data, Some(v))
                .await
                .map(|_| ()),
        };
        match written {
            Ok(()) => {}
            Err(E::NoNode) if entries.is_empty() => {}
            Err(e) => return Err(ZkError::at(&path, e)),
        }
        let change = match p.pattern_type {
            PatternType::Prefixed => to_json(&ExtendedAclChange {
                version: 1,
                resource_type: p.resource_type.upper().to_string(),
                name: p.name.clone(),
                pattern_type: p.pattern_type.upper().to_string(),
            }),
            _ => format!("{}:{}", p.resource_type.upper(), p.name).into_bytes(),
        };
        let prefix = format!("{}/{CHANGE_PREFIX}", changes(p.pattern_type));
        self.client
            .create(&prefix, &change, &self.persistent_sequential())
            .await
            .map_err(|e| ZkError::at(&prefix, e))?;
        tracing::info!(resource = ?p, acls = entries.len(), "changed ACLs");
        Ok(())
    }

    /// The pending notifications of the LITERAL (`prefixed == false`) or PREFIXED store, sorted,
    /// with a child watch.
    pub async fn get_acl_changes_and_watch(
        &self,
        pattern_type: PatternType,
    ) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        self.children_and_watch(changes(pattern_type)).await
    }

    /// The resource a notification names; `None` if it is gone or unreadable (logged).
    pub async fn get_acl_change(
        &self,
        pattern_type: PatternType,
        child: &str,
    ) -> Result<Option<ResourcePattern>, ZkError> {
        let path = format!("{}/{child}", changes(pattern_type));
        let Some((data, _)) = self.read(&path).await? else {
            return Ok(None);
        };
        let parsed = if pattern_type == PatternType::Prefixed {
            parse_or_skip::<ExtendedAclChange>(&path, &data).and_then(|c| {
                Some(ResourcePattern {
                    resource_type: ResourceType::parse(&c.resource_type)?,
                    name: c.name,
                    pattern_type: PatternType::parse(&c.pattern_type)?,
                })
            })
        } else {
            std::str::from_utf8(&data)
                .ok()
                .and_then(|s| s.split_once(':'))
                .and_then(|(t, name)| {
                    Some(ResourcePattern {
                        resource_type: ResourceType::parse(t)?,
                        name: name.to_string(),
                        pattern_type: PatternType::Literal,
                    })
                })
        };
        if parsed.is_none() {
            tracing::warn!(%path, "ignoring an ACL change notification that does not parse");
        }
        Ok(parsed)
    }
}

/// `acl_changes_0000000042` → 42.
pub fn acl_change_sequence(child: &str) -> Option<u64> {
    child.strip_prefix(CHANGE_PREFIX)?.parse().ok()
}

fn parse_entries(path: &str, data: &[u8]) -> Option<Vec<AclEntry>> {
    match parse_or_skip::<AclZnode>(path, data)?.entries() {
        Ok(entries) => Some(entries),
        Err(e) => {
            tracing::warn!(%path, error = %e, "ignoring an ACL znode");
            None
        }
    }
}
