//! JoinGroup (Kafka's `handleJoinGroup` and friends) and the end of the join barrier
//! (`onCompleteJoin`).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::info;

use super::group::{Group, GroupState, Member};
use super::group_coordinator::{session_timeout, GroupCoordinator, NEW_MEMBER_JOIN_TIMEOUT};
use super::response::{join_error, join_success, join_success_with_leader};
use super::store::{is_znode_safe, MAX_ID_BYTES, MAX_MEMBER_ID_BYTES};
use crate::clock::now_ms;

/// What the locked part of JoinGroup decided.
enum Outcome {
    Now(JoinGroupResponse),
    Wait(String, oneshot::Receiver<JoinGroupResponse>),
}

/// The parts of a JoinGroup request the state machine keeps.
struct Join<'a> {
    version: i16,
    member_id: &'a str,
    instance_id: Option<&'a str>,
    client_id: &'a str,
    client_host: &'a str,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: &'a str,
    protocols: Vec<(String, Bytes)>,
}

impl GroupCoordinator {
    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let join = Join {
            version,
            member_id: req.member_id.as_str(),
            instance_id: req.group_instance_id.as_deref(),
            client_id,
            client_host,
            session_timeout_ms: req.session_timeout_ms,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version == 0 {
                req.session_timeout_ms
            } else {
                req.rebalance_timeout_ms
            },
            protocol_type: req.protocol_type.as_str(),
            protocols: req
                .protocols
                .iter()
                .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
                .collect(),
        };
        self.ensure_group_loaded(req.group_id.0.as_str()).await;
        match self.join_locked(req.group_id.0.as_str(), &join) {
            Outcome::Now(resp) => resp,
            Outcome::Wait(member_id, rx) => rx.await.unwrap_or_else(|_| {
                join_error(version, ResponseError::UnknownMemberId, &member_id)
            }),
        }
    }

    fn join_locked(&self, group_id: &str, join: &Join<'_>) -> Outcome {
        let err = |e| Outcome::Now(join_error(join.version, e, join.member_id));
        if self.is_shut_down() {
            return err(ResponseError::NotCoordinator);
        }
        if !is_znode_safe(group_id) {
            return err(ResponseError::InvalidGroupId);
        }
        // Only a member id this coordinator generated can be known, and those are bounded.
        if join.member_id.len() > MAX_MEMBER_ID_BYTES {
            return err(ResponseError::UnknownMemberId);
        }
        // The prefix of the member id to generate.
        if join.client_id.len() > MAX_ID_BYTES
            || join.instance_id.is_some_and(|i| i.len() > MAX_ID_BYTES)
        {
            return err(ResponseError::InvalidRequest);
        }
        if join.session_timeout_ms < self.config.min_session_timeout_ms
            || join.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return err(ResponseError::InvalidSessionTimeout);
        }
        let unknown_member = join.member_id.is_empty();
        let mut groups = self.lock();
        if !groups.contains_key(group_id) {
            if !unknown_member {
                return err(ResponseError::UnknownMemberId);
            }
            groups.insert(group_id.to_string(), Group::new(group_id));
        }
        let Some(group) = groups.get_mut(group_id) else {
            return err(ResponseError::CoordinatorNotAvailable);
        };
        if !self.accept_joining_member(group, join.member_id) {
            // Kafka drops the refused member, so a group whose max size was lowered shrinks.
            group.pending_members.remove(join.member_id);
            self.remove_member_and_update_group(group, join.member_id, "group.max.size reached");
            return Outcome::Now(join_error(
                join.version,
                ResponseError::GroupMaxSizeReached,
                "",
            ));
        }
        if group.state == GroupState::Dead {
            return err(ResponseError::CoordinatorNotAvailable);
        }
        if !group.supports_protocols(join.protocol_type, &join.protocols) {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        let outcome = if unknown_member {
            self.join_new_member(group, join)
        } else {
            self.join_known_member(group, join)
        };
        if group.state == GroupState::PreparingRebalance {
            group.join_progress.notify_one();
        }
        outcome
    }

    /// Kafka's `acceptJoiningMember`: `group.max.size` counts members (or, while preparing a
    /// rebalance, members that already rejoined).
    fn accept_joining_member(&self, group: &Group, member_id: &str) -> bool {
        let max = usize::try_from(self.config.max_size).unwrap_or(0);
        match group.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                let joined = group
                    .members
                    .values()
                    .filter(|m| m.awaiting_join.is_some())
                    .count();
                group
                    .members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || joined < max
            }
            _ => group.members.contains_key(member_id) || group.members.len() < max,
        }
    }

    fn join_new_member(&self, group: &mut Group, join: &Join<'_>) -> Outcome {
        let prefix = join.instance_id.unwrap_or(join.client_id);
        let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance) = join.instance_id {
            if let Some(old_id) = group.static_members.get(instance).cloned() {
                return self.replace_static_member(group, join, &old_id, &new_id);
            }
            return self.add_member_and_rebalance(group, join, &new_id);
        }
        if join.version >= 4 {
            // KIP-394: hand out the id first, so a client that times out rejoins as the same member.
            group.pending_members.insert(new_id.clone());
            self.spawn_pending_member_timer(
                &group.id,
                &new_id,
                session_timeout(join.session_timeout_ms),
            );
            return Outcome::Now(join_error(
                join.version,
                ResponseError::MemberIdRequired,
                &new_id,
            ));
        }
        self.add_member_and_rebalance(group, join, &new_id)
    }

    fn join_known_member(&self, group: &mut Group, join: &Join<'_>) -> Outcome {
        let err = |e| Outcome::Now(join_error(join.version, e, join.member_id));
        if group.pending_members.contains(join.member_id) {
            return self.add_member_and_rebalance(group, join, join.member_id);
        }
        if group.is_static_member_fenced(join.member_id, join.instance_id) {
            return err(ResponseError::FencedInstanceId);
        }
        let instance_unknown = join
            .instance_id
            .is_some_and(|i| !group.static_members.contains_key(i));
        let Some(member) = group.members.get(join.member_id) else {
            return err(ResponseError::UnknownMemberId);
        };
        if instance_unknown {
            return err(ResponseError::UnknownMemberId);
        }
        let unchanged = member.matches(&join.protocols);
        let is_leader = group.is_leader(join.member_id);
        match group.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(group, join),
            GroupState::CompletingRebalance if unchanged => {
                Outcome::Now(join_success(join.version, group, join.member_id, is_leader))
            }
            GroupState::Stable if unchanged && !is_leader => {
                Outcome::Now(join_success(join.version, group, join.member_id, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(group, join)
            }
            GroupState::Empty | GroupState::Dead => err(ResponseError::UnknownMemberId),
        }
    }

    fn add_member_and_rebalance(
        &self,
        group: &mut Group,
        join: &Join<'_>,
        member_id: &str,
    ) -> Outcome {
        let (tx, rx) = oneshot::channel();
        let incarnation = self.next_incarnation();
        let member = Member {
            member_id: member_id.to_string(),
            group_instance_id: join.instance_id.map(str::to_string),
            client_id: join.client_id.to_string(),
            client_host: join.client_host.to_string(),
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            session_timeout_ms: join.session_timeout_ms,
            protocols: join.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some((join.version, tx)),
            awaiting_sync: None,
            heartbeat_deadline: Instant::now() + NEW_MEMBER_JOIN_TIMEOUT,
            incarnation,
            is_new: true,
            joined_at_ms: now_ms(),
        };
        if group.state == GroupState::PreparingRebalance && group.generation == 0 {
            group.new_member_added = true;
        }
        if group.members.is_empty() {
            group.protocol_type = Some(join.protocol_type.to_string());
        }
        if group.leader.is_none() {
            group.leader = Some(member_id.to_string());
        }
        if let Some(instance) = join.instance_id {
            group
                .static_members
                .insert(instance.to_string(), member_id.to_string());
        }
        group.pending_members.remove(member_id);
        group.members.insert(member_id.to_string(), member);
        info!(group = %group.id, generation = group.generation, member = member_id, "member joined");
        self.spawn_heartbeat_timer(&group.id, member_id, incarnation);
        self.maybe_prepare_rebalance(group, member_id, "new member joined");
        Outcome::Wait(member_id.to_string(), rx)
    }

    fn update_member_and_rebalance(&self, group: &mut Group, join: &Join<'_>) -> Outcome {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = group.members.get_mut(join.member_id) {
            m.protocols = join.protocols.clone();
            m.rebalance_timeout_ms = join.rebalance_timeout_ms;
            m.session_timeout_ms = join.session_timeout_ms;
            m.awaiting_join = Some((join.version, tx));
        }
        self.maybe_prepare_rebalance(group, join.member_id, "member rejoined");
        Outcome::Wait(join.member_id.to_string(), rx)
    }

    /// A static member came back under a new member id (KIP-345): the old id is fenced, the
    /// assignment is kept, and a Stable group does not rebalance unless the protocol would change.
    fn replace_static_member(
        &self,
        group: &mut Group,
        join: &Join<'_>,
        old_id: &str,
        new_id: &str,
    ) -> Outcome {
        let Some(mut member) = group.members.remove(old_id) else {
            return Outcome::Now(join_error(
                join.version,
                ResponseError::UnknownMemberId,
                join.member_id,
            ));
        };
        if let Some((v, tx)) = member.awaiting_join.take() {
            let _ = tx.send(join_error(v, ResponseError::FencedInstanceId, old_id));
        }
        if let Some((_, tx)) = member.awaiting_sync.take() {
            let _ = tx.send(super::response::sync_error(ResponseError::FencedInstanceId));
        }
        let previous_leader = group.leader.clone();
        if group.is_leader(old_id) {
            group.leader = Some(new_id.to_string());
        }
        if group.pending_sync.remove(old_id) {
            group.pending_sync.insert(new_id.to_string());
        }
        let (tx, rx) = oneshot::channel();
        member.member_id = new_id.to_string();
        member.incarnation = self.next_incarnation();
        member.protocols = join.protocols.clone();
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.session_timeout_ms = join.session_timeout_ms;
        member.client_id = join.client_id.to_string();
        member.client_host = join.client_host.to_string();
        member.heartbeat_deadline = Instant::now() + session_timeout(join.session_timeout_ms);
        member.awaiting_join = Some((join.version, tx));
        let incarnation = member.incarnation;
        if let Some(instance) = join.instance_id {
            group
                .static_members
                .insert(instance.to_string(), new_id.to_string());
        }
        group.members.insert(new_id.to_string(), member);
        info!(group = %group.id, generation = group.generation, member = new_id, old_member = old_id,
            "static member replaced");
        self.spawn_heartbeat_timer(&group.id, new_id, incarnation);
        match group.state {
            GroupState::Stable => {
                if group.select_protocol() == group.protocol_name {
                    let resp = if join.version >= 9 {
                        // v9+: a rejoining leader is told it leads but must skip the assignor
                        // (a Stable group would never distribute a new assignment).
                        let leader = group.is_leader(new_id);
                        join_success(join.version, group, new_id, leader)
                            .with_skip_assignment(leader)
                    } else {
                        // Before v9 the old leader id is returned, so a rejoining leader does not
                        // believe it leads and computes nothing.
                        join_success_with_leader(
                            join.version,
                            group,
                            new_id,
                            false,
                            previous_leader.as_deref(),
                        )
                    };
                    if let Some(m) = group.members.get_mut(new_id) {
                        m.awaiting_join = None;
                    }
                    self.publish_mirror(group);
                    self.spawn_store_group(group);
                    return Outcome::Now(resp);
                }
                self.maybe_prepare_rebalance(group, new_id, "static member changed protocols");
            }
            GroupState::CompletingRebalance => {
                self.prepare_rebalance(group, new_id, "static member rejoined")
            }
            _ => {}
        }
        Outcome::Wait(new_id.to_string(), rx)
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation and answer every parked JoinGroup. Returns false when members exist but none
    /// rejoined (the caller waits another rebalance timeout).
    pub(crate) fn complete_join(&self, group: &mut Group) -> bool {
        let missing: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            group.members.remove(&id);
            group.pending_sync.remove(&id);
            info!(group = %group.id, generation = group.generation, member = %id, "member removed: did not rejoin");
        }
        group.elect_leader_if_needed();
        let leader_joined = group
            .leader
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if !group.members.is_empty() && !leader_joined {
            tracing::warn!(group = %group.id, "rebalance could not complete: no member rejoined");
            return false;
        }
        group.generation += 1;
        let leader = group.leader.clone().unwrap_or_default();
        if group.members.is_empty() {
            group.protocol_name = None;
            Self::transition(
                group,
                GroupState::Empty,
                "",
                "rebalance completed with no members",
            );
            self.spawn_store_group(group);
        } else {
            group.protocol_name = group.select_protocol();
            Self::transition(
                group,
                GroupState::CompletingRebalance,
                &leader,
                "rebalance completed",
            );
        }
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in &ids {
            let is_leader = group.is_leader(id);
            let parked = group
                .members
                .get_mut(id)
                .and_then(|m| m.awaiting_join.take());
            if let Some((version, tx)) = parked {
                let _ = tx.send(join_success(version, group, id, is_leader));
            }
            Self::touch(group, id);
            // A new member's timer sleeps until the long new-member deadline; its session is now
            // the (shorter) session timeout, so it gets a fresh timer (the old one exits).
            let renewed = group.members.get_mut(id).and_then(|m| {
                let was_new = std::mem::replace(&mut m.is_new, false);
                was_new.then(|| {
                    m.incarnation = self.next_incarnation();
                    m.incarnation
                })
            });
            if let Some(incarnation) = renewed {
                self.spawn_heartbeat_timer(&group.id, id, incarnation);
            }
            group.pending_sync.insert(id.clone());
        }
        if !group.members.is_empty() {
            let timeout =
                std::time::Duration::from_millis(group.rebalance_timeout_ms().max(0) as u64);
            self.spawn_sync_timer(group, timeout);
        }
        self.publish_mirror(group);
        true
    }
}
