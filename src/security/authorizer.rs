//! Kafka's `AclAuthorizer` (`authorizer.class.name=kafka.security.authorizer.AclAuthorizer`): an
//! in-memory copy of the ACLs stored in ZooKeeper (`src/zk/acls.rs`), loaded at start-up and kept
//! current from the change notifications every writer (Kafka's `kafka-acls`, CreateAcls on any
//! broker) leaves, and the decision Kafka makes from it:
//!
//! - a principal in `super.users` may do everything;
//! - the ACLs that apply to a resource are those on its literal name, on the wildcard `*` and on
//!   every PREFIXED name that starts it; with none at all, `allow.everyone.if.no.acl.found`
//!   decides (default false: deny);
//! - a DENY matching the principal (or `User:*`), the host (or `*`) and the operation (or `All`)
//!   wins over any ALLOW;
//! - an ALLOW of Read, Write, Delete or Alter implies Describe, and AlterConfigs implies
//!   DescribeConfigs.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::acl::{
    AclBindingFilter, AclEntry, AclOperation, AclPermissionType, PatternType, ResourcePattern,
    ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use super::KafkaPrincipal;
use crate::zk::{acl_change_sequence, KafkaZkClient, ZkError};

/// The only authorizer class zkafka implements.
pub const ACL_AUTHORIZER: &str = "kafka.security.authorizer.AclAuthorizer";

/// Pause before re-arming the watches after a ZooKeeper error.
const RETRY: Duration = Duration::from_secs(1);

type AclMap = BTreeMap<ResourcePattern, Vec<AclEntry>>;

/// The decisions and the cache they are made from.
#[derive(Debug)]
pub struct Authorizer {
    super_users: HashSet<String>,
    allow_everyone_if_no_acl_found: bool,
    acls: RwLock<AclMap>,
}

impl Authorizer {
    /// `super_users` as `super.users` lists them (`User:a;User:b`).
    pub fn new(super_users: &str, allow_everyone_if_no_acl_found: bool) -> Self {
        Authorizer {
            super_users: super_users
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            allow_everyone_if_no_acl_found,
            acls: RwLock::new(AclMap::new()),
        }
    }

    fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        !self.super_users.is_empty() && self.super_users.iter().any(|s| principal_is(s, principal))
    }

    /// Whether `principal` connecting from `host` may do `op` on the resource.
    pub fn authorize(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        op: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let acls = self.acls.read().unwrap_or_else(|e| e.into_inner());
        let mut any = false;
        let mut allowed = false;
        for entry in matching_acls(&acls, resource_type, name) {
            any = true;
            if !principal_is(&entry.principal, principal) || !host_is(&entry.host, host) {
                continue;
            }
            let op_matches = entry.operation == AclOperation::All || entry.operation == op;
            match entry.permission {
                AclPermissionType::Deny if op_matches => return false,
                AclPermissionType::Allow if op_matches || implies(entry.operation, op) => {
                    allowed = true
                }
                _ => {}
            }
        }
        allowed || (!any && self.allow_everyone_if_no_acl_found)
    }

    /// Kafka's `authorizeByResourceType`, simplified to what InitProducerId asks: may the principal
    /// do `op` on *some* resource of the type (an ALLOW for it on any name, not overridden by a DENY
    /// on the wildcard or on the empty prefix).
    pub fn authorize_any(
        &self,
        principal: &KafkaPrincipal,
        host: IpAddr,
        op: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let acls = self.acls.read().unwrap_or_else(|e| e.into_inner());
        let mine = |e: &AclEntry| {
            principal_is(&e.principal, principal)
                && host_is(&e.host, host)
                && (e.operation == op || e.operation == AclOperation::All)
        };
        let mut any = false;
        let mut allowed = false;
        for (pattern, entries) in acls
            .iter()
            .filter(|(p, _)| p.resource_type == resource_type)
        {
            any = true;
            let everything = (pattern.pattern_type == PatternType::Literal
                && pattern.name == WILDCARD)
                || (pattern.pattern_type == PatternType::Prefixed && pattern.name.is_empty());
            for e in entries.iter().filter(|e| mine(e)) {
                match e.permission {
                    AclPermissionType::Deny if everything => return false,
                    AclPermissionType::Allow => allowed = true,
                    _ => {}
                }
            }
        }
        allowed || (!any && self.allow_everyone_if_no_acl_found)
    }

    /// The stored ACLs the filter matches, by resource (DescribeAcls).
    pub fn describe(&self, filter: &AclBindingFilter) -> Vec<(ResourcePattern, Vec<AclEntry>)> {
        let acls = self.acls.read().unwrap_or_else(|e| e.into_inner());
        acls.iter()
            .filter(|(p, _)| filter.matches_pattern(p))
            .map(|(p, entries)| {
                let entries: Vec<AclEntry> = entries
                    .iter()
                    .filter(|e| filter.matches_entry(e))
                    .cloned()
                    .collect();
                (p.clone(), entries)
            })
            .filter(|(_, entries)| !entries.is_empty())
            .collect()
    }

    /// Adds `entries` to the resource's ACLs in ZooKeeper (read, merge, conditional write,
    /// retried when another writer got there first), then to the cache.
    pub async fn add_acls(
        &self,
        zk: &KafkaZkClient,
        pattern: &ResourcePattern,
        entries: &[AclEntry],
    ) -> Result<(), ZkError> {
        self.update_acls(zk, pattern, |current| {
            for e in entries {
                if !current.contains(e) {
                    current.push(e.clone());
                }
            }
        })
        .await
    }

    /// Removes the entries `filter` matches from the resource's ACLs; returns those removed.
    pub async fn remove_acls(
        &self,
        zk: &KafkaZkClient,
        pattern: &ResourcePattern,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclEntry>, ZkError> {
        let mut removed = Vec::new();
        self.update_acls(zk, pattern, |current| {
            removed.clear();
            current.retain(|e| {
                let hit = filter.matches_entry(e);
                if hit {
                    removed.push(e.clone());
                }
                !hit
            });
        })
        .await?;
        Ok(removed)
    }

    async fn update_acls(
        &self,
        zk: &KafkaZkClient,
        pattern: &ResourcePattern,
        mut change: impl FnMut(&mut Vec<AclEntry>),
    ) -> Result<(), ZkError> {
        const ATTEMPTS: usize = 10;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let mut current = zk.get_resource_acls(pattern).await?;
            let before = current.entries.clone();
            change(&mut current.entries);
            if current.entries == before {
                self.set_cached(pattern.clone(), current.entries);
                return Ok(());
            }
            match zk
                .set_resource_acls(pattern, &current.entries, current.version)
                .await
            {
                Ok(()) => {
                    self.set_cached(pattern.clone(), current.entries);
                    return Ok(());
                }
                Err(e @ (ZkError::BadVersion(_) | ZkError::NodeExists(_) | ZkError::NoNode(_))) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ZkError::BadVersion(format!("{pattern:?}"))))
    }

    /// The stored resources (for DeleteAcls to find what a filter names).
    pub fn patterns(&self) -> Vec<ResourcePattern> {
        let acls = self.acls.read().unwrap_or_else(|e| e.into_inner());
        acls.keys().cloned().collect()
    }

    fn set_cached(&self, pattern: ResourcePattern, entries: Vec<AclEntry>) {
        let mut acls = self.acls.write().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            acls.remove(&pattern);
        } else {
            acls.insert(pattern, entries);
        }
    }

    /// Reads every stored ACL (creating the stores' znodes first, as Kafka's authorizer does).
    pub async fn load(&self, zk: &KafkaZkClient) -> Result<(), ZkError> {
        zk.create_acl_paths().await?;
        let all: AclMap = zk.get_all_acls().await?.into_iter().collect();
        let resources = all.len();
        *self.acls.write().unwrap_or_else(|e| e.into_inner()) = all;
        info!(resources, "ACLs loaded");
        Ok(())
    }

    async fn reload_resource(&self, zk: &KafkaZkClient, pattern: ResourcePattern) {
        match zk.get_resource_acls(&pattern).await {
            Ok(read) => {
                info!(resource = ?pattern, acls = read.entries.len(), "ACLs changed");
                self.set_cached(pattern, read.entries);
            }
            Err(e) => warn!(resource = ?pattern, error = %e, "cannot read changed ACLs"),
        }
    }
}

/// The authorizer `config` asks for, with every stored ACL loaded and a task keeping it current
/// until shutdown; `None` without `authorizer.class.name`.
pub async fn start(
    config: &crate::config::KafkaConfig,
    zk: &KafkaZkClient,
    zk_rx: &watch::Receiver<KafkaZkClient>,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<Arc<Authorizer>>, ZkError> {
    let Some(authorizer) = config.authorizer() else {
        return Ok(None);
    };
    let authorizer = Arc::new(authorizer);
    authorizer.load(zk).await?;
    tokio::spawn(run_acl_changes(
        authorizer.clone(),
        zk_rx.clone(),
        shutdown.clone(),
    ));
    Ok(Some(authorizer))
}

/// Watches both change paths until shutdown and applies each new notification to the cache; a new
/// ZooKeeper session reloads everything (notifications may have come and gone meanwhile).
pub async fn run_acl_changes(
    authorizer: Arc<Authorizer>,
    mut zk: watch::Receiver<KafkaZkClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stores = [PatternType::Literal, PatternType::Prefixed];
    let mut done: [Option<Option<u64>>; 2] = [None, None];
    let mut reloaded = false;
    loop {
        let client = zk.borrow_and_update().clone();
        let mut watchers = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            match client.get_acl_changes_and_watch(*store).await {
                Ok((children, watcher)) => {
                    let newest = children.iter().filter_map(|c| acl_change_sequence(c)).max();
                    if let Some(seen) = done[i] {
                        for child in children.iter().filter(|c| acl_change_sequence(c) > seen) {
                            match client.get_acl_change(*store, child).await {
                                Ok(Some(p)) => authorizer.reload_resource(&client, p).await,
                                Ok(None) => {}
                                Err(e) => {
                                    warn!(change = %child, error = %e, "cannot read ACL change")
                                }
                            }
                        }
                    }
                    done[i] = Some(done[i].flatten().max(newest));
                    watchers.push(watcher);
                }
                Err(e) => warn!(error = %e, "cannot watch ACL changes; retrying"),
            }
        }
        if !reloaded {
            // Covers notifications written between start-up's load (or a session change) and
            // this first listing.
            reloaded = match authorizer.load(&client).await {
                Ok(()) => true,
                Err(e) => {
                    warn!(error = %e, "cannot read ACLs; retrying");
                    false
                }
            };
        }
        let rearm = watchers.len() < stores.len() || !reloaded;
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            changed = zk.changed() => {
                if changed.is_err() { return }
                // A new session: everything is read again once its watches are set.
                reloaded = false;
                done = [None, None];
            }
            _ = async {
                if rearm {
                    tokio::time::sleep(RETRY).await;
                } else {
                    futures::future::select_all(watchers.into_iter().map(|w| Box::pin(w.changed()))).await;
                }
            } => {}
        }
    }
}

/// The ACLs that apply to `name`: its literal entry, the literal wildcard, every prefix of it.
fn matching_acls<'a>(
    acls: &'a AclMap,
    resource_type: ResourceType,
    name: &'a str,
) -> impl Iterator<Item = &'a AclEntry> + 'a {
    let literal = |n: &str| ResourcePattern {
        resource_type,
        name: n.to_string(),
        pattern_type: PatternType::Literal,
    };
    let exact = acls.get(&literal(name)).into_iter().flatten();
    let wildcard = acls.get(&literal(WILDCARD)).into_iter().flatten();
    let prefixed = acls
        .range(
            ResourcePattern {
                resource_type,
                name: String::new(),
                pattern_type: PatternType::Any,
            }..,
        )
        .take_while(move |(p, _)| p.resource_type == resource_type)
        .filter(move |(p, _)| p.pattern_type == PatternType::Prefixed && name.starts_with(&p.name))
        .flat_map(|(_, e)| e);
    exact.chain(wildcard).chain(prefixed)
}

/// Whether an ACL's principal (`User:alice`, `User:*`) names `p`.
fn principal_is(acl_principal: &str, p: &KafkaPrincipal) -> bool {
    acl_principal == WILDCARD_PRINCIPAL
        || acl_principal
            .split_once(':')
            .is_some_and(|(t, n)| t == p.principal_type && n == p.name)
}

/// Whether an ACL's host (`*` or an address) is `host`.
fn host_is(acl_host: &str, host: IpAddr) -> bool {
    acl_host == WILDCARD || acl_host.parse::<IpAddr>().is_ok_and(|h| h == host)
}

/// Kafka's implied operations: Describe by Read/Write/Delete/Alter, DescribeConfigs by AlterConfigs.
fn implies(granted: AclOperation, wanted: AclOperation) -> bool {
    use AclOperation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(principal: &str, host: &str, op: AclOperation, perm: AclPermissionType) -> AclEntry {
        AclEntry {
            principal: principal.into(),
            host: host.into(),
            operation: op,
            permission: perm,
        }
    }

    fn pattern(name: &str, pt: PatternType) -> ResourcePattern {
        ResourcePattern {
            resource_type: ResourceType::Topic,
            name: name.into(),
            pattern_type: pt,
        }
    }

    #[test]
    fn decisions_follow_kafkas_rules() {
        use AclOperation::*;
        use AclPermissionType::*;
        let a = Authorizer::new("User:admin; User:ops", false);
        a.set_cached(
            pattern("orders", PatternType::Literal),
            vec![entry("User:alice", "*", Read, Allow)],
        );
        a.set_cached(
            pattern("logs-", PatternType::Prefixed),
            vec![
                entry("User:*", "*", Write, Allow),
                entry("User:alice", "10.0.0.9", All, Deny),
            ],
        );
        a.set_cached(
            pattern("*", PatternType::Literal),
            vec![entry("User:bob", "*", Describe, Allow)],
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "10.0.0.9".parse().unwrap();
        let alice = KafkaPrincipal::user("alice");
        let bob = KafkaPrincipal::user("bob");
        let t = ResourceType::Topic;
        assert!(a.authorize(&alice, local, Read, t, "orders"));
        assert!(a.authorize(&alice, local, Describe, t, "orders"), "implied");
        assert!(!a.authorize(&alice, local, Write, t, "orders"));
        assert!(
            a.authorize(&bob, local, Describe, t, "orders"),
            "wildcard resource"
        );
        assert!(
            a.authorize(&alice, local, Write, t, "logs-app"),
            "prefix, User:*"
        );
        assert!(
            !a.authorize(&alice, far, Write, t, "logs-app"),
            "deny wins, by host"
        );
        assert!(!a.authorize(&alice, local, Write, t, "log"), "not a prefix");
        assert!(
            !a.authorize(&alice, local, Read, ResourceType::Group, "g"),
            "no ACL: deny"
        );
        let admin = KafkaPrincipal::user("ops");
        assert!(a.authorize(
            &admin,
            far,
            ClusterAction,
            ResourceType::Cluster,
            "kafka-cluster"
        ));
        let open = Authorizer::new("", true);
        assert!(
            open.authorize(&alice, local, Read, t, "x"),
            "allow.everyone.if.no.acl.found"
        );
        open.set_cached(
            pattern("x", PatternType::Literal),
            vec![entry("User:bob", "*", Read, Allow)],
        );
        assert!(
            !open.authorize(&alice, local, Read, t, "x"),
            "an ACL exists: it decides"
        );
        assert!(a.authorize_any(&alice, local, Write, t));
        assert!(!a.authorize_any(&alice, far, IdempotentWrite, ResourceType::Cluster));
    }
}
