//! State-machine tests against the in-memory store, on paused (virtual) time.

mod encode;
mod membership;
mod offsets;
mod rebalance;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{GroupId, JoinGroupResponse};

use super::consumer_protocol::test_bytes::{assignment, subscription};
use super::{GroupConfig, GroupCoordinator, MemoryOffsetStore};
use crate::metadata::str_bytes;

pub(crate) const SESSION_MS: i32 = 30_000;
pub(crate) const REBALANCE_MS: i32 = 10_000;

pub(crate) fn coordinator() -> (Arc<GroupCoordinator>, Arc<MemoryOffsetStore>) {
    coordinator_with(GroupConfig::default())
}

pub(crate) fn coordinator_with(
    config: GroupConfig,
) -> (Arc<GroupCoordinator>, Arc<MemoryOffsetStore>) {
    let store = Arc::new(MemoryOffsetStore::new());
    (GroupCoordinator::new(config, store.clone()), store)
}

pub(crate) fn join_req(
    group: &str,
    member: &str,
    instance: Option<&str>,
    topics: &[&str],
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_member_id(str_bytes(member))
        .with_group_instance_id(instance.map(str_bytes))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("range"))
            .with_metadata(subscription(topics))])
}

/// A member's view of the group, as a client keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub generation: i32,
    pub leader: bool,
    pub instance: Option<String>,
    pub join: JoinGroupResponse,
}

/// Joins (handling MEMBER_ID_REQUIRED like a v4+ client) and waits for the rebalance.
pub(crate) async fn join(
    c: &Arc<GroupCoordinator>,
    group: &str,
    member: &str,
    instance: Option<&str>,
) -> Member {
    let mut member_id = member.to_string();
    loop {
        let resp = c
            .join_group(
                join_req(group, &member_id, instance, &["t"]),
                9,
                "client",
                "/10.0.0.1",
            )
            .await;
        if resp.error_code == ResponseError::MemberIdRequired.code() {
            member_id = resp.member_id.to_string();
            continue;
        }
        assert_eq!(resp.error_code, 0, "join failed: {resp:?}");
        return Member {
            id: resp.member_id.to_string(),
            generation: resp.generation_id,
            leader: resp.leader == resp.member_id,
            instance: instance.map(str::to_string),
            join: resp,
        };
    }
}

/// Spawns `n` joins at once and waits for all of them.
pub(crate) async fn join_many(
    c: &Arc<GroupCoordinator>,
    group: &str,
    ids: &[String],
) -> Vec<Member> {
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let c = c.clone();
            let group = group.to_string();
            let id = id.clone();
            tokio::spawn(async move { join(&c, &group, &id, None).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

pub(crate) fn sync_req(
    group: &str,
    m: &Member,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id(m.generation)
        .with_member_id(str_bytes(&m.id))
        .with_group_instance_id(m.instance.as_deref().map(str_bytes))
        .with_protocol_type(Some(str_bytes("consumer")))
        .with_protocol_name(Some(str_bytes("range")))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(id, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(str_bytes(&id))
                        .with_assignment(a)
                })
                .collect(),
        )
}

/// Every member syncs; the leader gives partition i of "t" to the i-th member (round robin over
/// `partitions`; members beyond them get nothing). Returns each member's assignment bytes.
pub(crate) async fn sync_all(
    c: &Arc<GroupCoordinator>,
    group: &str,
    members: &[Member],
    partitions: i32,
) -> Vec<Bytes> {
    let leader = members.iter().find(|m| m.leader).expect("a leader").clone();
    let mut ids: Vec<String> = leader
        .join
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    ids.sort();
    let plan: Vec<(String, Bytes)> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as i32) < partitions)
        .map(|(i, id)| (id.clone(), assignment(&[("t", &[i as i32])])))
        .collect();
    let tasks: Vec<_> = members
        .iter()
        .map(|m| {
            let c = c.clone();
            let req = sync_req(group, m, if m.leader { plan.clone() } else { vec![] });
            tokio::spawn(async move { c.sync_group(req, 5).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        let resp = t.await.unwrap();
        assert_eq!(resp.error_code, 0, "sync failed: {resp:?}");
        out.push(resp.assignment);
    }
    out
}

pub(crate) async fn heartbeat(c: &Arc<GroupCoordinator>, group: &str, m: &Member) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id(m.generation)
        .with_member_id(str_bytes(&m.id))
        .with_group_instance_id(m.instance.as_deref().map(str_bytes));
    c.heartbeat(req, 4).await.error_code
}

pub(crate) async fn leave(c: &Arc<GroupCoordinator>, group: &str, member: &str) -> i16 {
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_members(vec![
            MemberIdentity::default().with_member_id(str_bytes(member))
        ]);
    let resp = c.leave_group(req, 5).await;
    assert_eq!(resp.error_code, 0);
    resp.members[0].error_code
}
