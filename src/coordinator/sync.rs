//! SyncGroup (the leader hands out the assignment) and Heartbeat.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, SyncGroupRequest, SyncGroupResponse,
};
use tokio::sync::oneshot;
use tracing::warn;

use super::group::{Group, GroupState};
use super::group_coordinator::GroupCoordinator;
use super::group_records::GroupMetadataValue;
use super::group_store::stored_value;
use super::response::{heartbeat, sync_error, sync_success};
use super::store::StoreError;

enum Outcome {
    Now(SyncGroupResponse),
    Wait(oneshot::Receiver<SyncGroupResponse>),
    /// The leader's assignment: store the group, then hand it out (Kafka's `doSyncGroup`).
    Store {
        rx: oneshot::Receiver<SyncGroupResponse>,
        value: GroupMetadataValue,
        assignments: HashMap<String, Bytes>,
    },
}

impl GroupCoordinator {
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        self.ensure_group_loaded(req.group_id.0.as_str()).await;
        let rx = match self.sync_locked(&req, version) {
            Outcome::Now(resp) => return resp,
            Outcome::Wait(rx) => rx,
            Outcome::Store {
                rx,
                value,
                assignments,
            } => {
                let group_id = req.group_id.0.as_str();
                let generation = value.generation;
                let stored = self.store.store_group(group_id, value).await;
                self.after_store(
                    group_id,
                    generation,
                    req.member_id.as_str(),
                    &assignments,
                    stored,
                );
                rx
            }
        };
        rx.await
            .unwrap_or_else(|_| sync_error(ResponseError::UnknownMemberId))
    }

    /// The group's record is written (or not): hand out the assignment, or fail the generation
    /// and rebalance, as Kafka's `storeGroup` callback does. Nothing happens when the group
    /// moved on meanwhile (its parked SyncGroups were already answered).
    fn after_store(
        &self,
        group_id: &str,
        generation: i32,
        leader: &str,
        assignments: &HashMap<String, Bytes>,
        stored: Result<(), StoreError>,
    ) {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return;
        };
        if group.generation != generation || group.state != GroupState::CompletingRebalance {
            return;
        }
        match stored {
            Ok(()) => self.set_and_propagate_assignment(group, assignments, leader),
            Err(e) => {
                warn!(group = %group_id, generation, error = %e, "cannot store group assignment");
                let error = match e {
                    StoreError::Unavailable(_) => ResponseError::CoordinatorNotAvailable,
                    StoreError::Failed(_) => ResponseError::UnknownServerError,
                };
                Self::reset_and_propagate_assignment_error(group, error);
                self.maybe_prepare_rebalance(group, leader, "cannot store group assignment");
            }
        }
    }

    fn sync_locked(&self, req: &SyncGroupRequest, version: i16) -> Outcome {
        let err = |e| Outcome::Now(sync_error(e));
        if self.is_shut_down() {
            return err(ResponseError::NotCoordinator);
        }
        let member_id = req.member_id.as_str();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(req.group_id.0.as_str()) else {
            return err(ResponseError::UnknownMemberId);
        };
        if group.state == GroupState::Dead {
            return err(ResponseError::CoordinatorNotAvailable);
        }
        if let Some(e) = validate_member(
            group,
            member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        ) {
            return err(e);
        }
        // v5+: the client states the protocol it was told in JoinGroup; it must match.
        let type_mismatch = req
            .protocol_type
            .as_deref()
            .is_some_and(|t| group.protocol_type.as_deref() != Some(t));
        let name_mismatch = req
            .protocol_name
            .as_deref()
            .is_some_and(|n| group.protocol_name.as_deref() != Some(n));
        if type_mismatch || name_mismatch {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        group.pending_sync.remove(member_id);
        match group.state {
            GroupState::Empty | GroupState::Dead => err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => err(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                Self::touch(group, member_id);
                let assignment = group
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Outcome::Now(sync_success(group, assignment))
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(member_id) {
                    m.awaiting_sync = Some((version, tx));
                }
                Self::touch(group, member_id);
                if group.is_leader(member_id) {
                    let assignments: HashMap<String, Bytes> = req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
                        .collect();
                    let value = stored_value(group, Some(&assignments));
                    return Outcome::Store {
                        rx,
                        value,
                        assignments,
                    };
                }
                Outcome::Wait(rx)
            }
        }
    }

    /// The leader's assignment arrived: store every member's share (members the leader left out
    /// get an empty one and stay in the group), answer parked SyncGroups, become Stable.
    fn set_and_propagate_assignment(
        &self,
        group: &mut Group,
        assignments: &HashMap<String, Bytes>,
        leader: &str,
    ) {
        for m in group.members.values_mut() {
            m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
        }
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let parked = group
                .members
                .get_mut(&id)
                .and_then(|m| m.awaiting_sync.take().map(|p| (p, m.assignment.clone())));
            if let Some(((_, tx), assignment)) = parked {
                let _ = tx.send(sync_success(group, assignment));
            }
        }
        Self::transition(
            group,
            GroupState::Stable,
            leader,
            "leader sent the assignment",
        );
        self.publish_mirror(group);
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        self.ensure_group_loaded(req.group_id.0.as_str()).await;
        if self.is_shut_down() {
            return heartbeat(Some(ResponseError::NotCoordinator));
        }
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(req.group_id.0.as_str()) else {
            return heartbeat(Some(ResponseError::UnknownMemberId));
        };
        if group.state == GroupState::Dead {
            return heartbeat(Some(ResponseError::CoordinatorNotAvailable));
        }
        let member_id = req.member_id.as_str();
        if let Some(e) = validate_member(
            group,
            member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        ) {
            return heartbeat(Some(e));
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => heartbeat(Some(ResponseError::UnknownMemberId)),
            GroupState::CompletingRebalance | GroupState::Stable => {
                Self::touch(group, member_id);
                heartbeat(None)
            }
            GroupState::PreparingRebalance => {
                Self::touch(group, member_id);
                heartbeat(Some(ResponseError::RebalanceInProgress))
            }
        }
    }
}

/// The checks SyncGroup, Heartbeat and OffsetCommit share: fenced static member, unknown member,
/// wrong generation.
pub(crate) fn validate_member(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Option<ResponseError> {
    if group.is_static_member_fenced(member_id, instance_id) {
        Some(ResponseError::FencedInstanceId)
    } else if !group.members.contains_key(member_id) {
        Some(ResponseError::UnknownMemberId)
    } else if generation != group.generation {
        Some(ResponseError::IllegalGeneration)
    } else {
        None
    }
}
