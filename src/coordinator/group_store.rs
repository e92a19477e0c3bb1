//! Groups kept in the store (`offsets.storage=kafka`/`dual`): what is written when, and how a
//! stored group is brought back (Kafka's `GroupMetadataManager.storeGroup` and `loadGroup`).
//!
//! Kafka writes a group metadata record when the leader's SyncGroup completes a generation
//! (before anyone is told the assignment), when a rebalance ends with no members, and when a
//! static member is replaced without a rebalance. A coordinator that becomes leader of the
//! group's `__consumer_offsets` partition rebuilds the group from the last record: Stable with
//! its members and their sessions restarted, or Empty. So a group keeps its generation, members
//! and assignment when its coordinator moves, between zkafka brokers or to and from Kafka.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{info, warn};

use super::group::{Group, GroupState, Member};
use super::group_coordinator::{session_timeout, GroupCoordinator};
use super::group_records::{GroupMetadataValue, StoredMember};
use crate::clock::now_ms;

/// The record for `group`, with `assignments` (the leader's SyncGroup) in place of the members'
/// current assignments when given.
pub(crate) fn stored_value(
    group: &Group,
    assignments: Option<&HashMap<String, Bytes>>,
) -> GroupMetadataValue {
    let protocol = group.protocol_name.clone();
    let members = group
        .members
        .values()
        .map(|m| StoredMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            session_timeout_ms: m.session_timeout_ms,
            subscription: protocol
                .as_deref()
                .map(|p| m.metadata_for(p))
                .unwrap_or_default(),
            assignment: match assignments {
                Some(a) => a.get(&m.member_id).cloned().unwrap_or_default(),
                None => m.assignment.clone(),
            },
        })
        .collect();
    GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation,
        protocol,
        leader: group.leader.clone(),
        current_state_timestamp: now_ms(),
        members,
    }
}

impl GroupCoordinator {
    /// Writes the group's record in the background, for the writes no request waits on (a
    /// rebalance that emptied the group, a static member replaced in place).
    pub(crate) fn spawn_store_group(&self, group: &Group) {
        let value = stored_value(group, None);
        let store = self.store.clone();
        let id = group.id.clone();
        tokio::spawn(async move {
            let generation = value.generation;
            if let Err(e) = store.store_group(&id, value).await {
                warn!(group = %id, generation, error = %e, "cannot store group metadata");
            }
        });
    }

    /// Makes sure a group the store knows is in the table before a request looks at it: the
    /// request may arrive before the background load of its partition installed it.
    pub(crate) async fn ensure_group_loaded(&self, group_id: &str) {
        if self.is_shut_down() || self.lock().contains_key(group_id) {
            return;
        }
        match self.store.stored_group(group_id).await {
            Ok(Some(value)) => self.install_stored(group_id, value),
            Ok(None) => {}
            // Not the coordinator (yet): the request answers from the empty table, as before.
            Err(e) => tracing::debug!(group = %group_id, error = %e, "group not loaded"),
        }
    }

    /// Installs stored groups after their partition was loaded (Kafka's `onGroupLoaded`).
    pub(crate) fn install_loaded(&self, groups: Vec<(String, GroupMetadataValue)>) {
        for (id, value) in groups {
            self.install_stored(&id, value);
        }
    }

    /// Kafka's `GroupMetadata.loadGroup` plus `onGroupLoaded`: members get a fresh session, and
    /// a group already in the table (a request got there first) is left alone.
    fn install_stored(&self, group_id: &str, value: GroupMetadataValue) {
        if self.is_shut_down() {
            return;
        }
        let mut groups = self.lock();
        if groups.contains_key(group_id) {
            return;
        }
        let mut group = Group::new(group_id);
        group.generation = value.generation;
        group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        group.protocol_name = value.protocol.clone();
        group.leader = value.leader;
        let mut timers = Vec::new();
        for m in value.members {
            let incarnation = self.next_incarnation();
            let protocols = value
                .protocol
                .iter()
                .map(|p| (p.clone(), m.subscription.clone()))
                .collect();
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            timers.push((m.member_id.clone(), incarnation));
            group.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols,
                    assignment: m.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    heartbeat_deadline: Instant::now() + session_timeout(m.session_timeout_ms),
                    incarnation,
                    is_new: false,
                    joined_at_ms: now_ms(),
                },
            );
        }
        if !group.members.is_empty() {
            group.state = GroupState::Stable;
        }
        info!(group = %group_id, generation = group.generation, state = %group.state,
            members = group.members.len(), "group loaded from __consumer_offsets");
        for (member, incarnation) in timers {
            self.spawn_heartbeat_timer(group_id, &member, incarnation);
        }
        self.publish_mirror(&group);
        groups.insert(group_id.to_string(), group);
    }
}
