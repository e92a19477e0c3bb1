//! Building responses that depend on the request version (nullable fields, batch forms).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{HeartbeatResponse, JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::group::Group;
use crate::metadata::str_bytes;

pub(crate) fn opt_s(v: Option<&str>) -> Option<StrBytes> {
    v.map(str_bytes)
}

/// JoinGroup's `protocol_name` is nullable only from v7; before that an empty string stands for
/// "none" on the wire.
fn protocol_name(version: i16, name: Option<&str>) -> Option<StrBytes> {
    match name {
        Some(n) => Some(str_bytes(n)),
        None if version >= 7 => None,
        None => Some(StrBytes::default()),
    }
}

/// An error answer to JoinGroup, carrying `member_id` (MEMBER_ID_REQUIRED needs it).
pub(crate) fn join_error(version: i16, error: ResponseError, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_protocol_name(protocol_name(version, None))
        .with_member_id(str_bytes(member_id))
}

/// A successful JoinGroup answer for `member_id` from the group's current generation.
/// `with_members` is true for the leader (it computes the assignment).
pub(crate) fn join_success(
    version: i16,
    group: &Group,
    member_id: &str,
    with_members: bool,
) -> JoinGroupResponse {
    join_success_with_leader(
        version,
        group,
        member_id,
        with_members,
        group.leader.as_deref(),
    )
}

pub(crate) fn join_success_with_leader(
    version: i16,
    group: &Group,
    member_id: &str,
    with_members: bool,
    leader: Option<&str>,
) -> JoinGroupResponse {
    let members = if with_members {
        let protocol = group.protocol_name.as_deref().unwrap_or_default();
        group
            .members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_group_instance_id(opt_s(m.group_instance_id.as_deref()))
                    .with_metadata(m.metadata_for(protocol))
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinGroupResponse::default()
        .with_generation_id(group.generation)
        .with_protocol_type(opt_s(group.protocol_type.as_deref()))
        .with_protocol_name(protocol_name(version, group.protocol_name.as_deref()))
        .with_leader(str_bytes(leader.unwrap_or_default()))
        .with_member_id(str_bytes(member_id))
        .with_members(members)
}

pub(crate) fn sync_error(error: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(error.code())
        .with_assignment(Bytes::new())
}

pub(crate) fn sync_success(group: &Group, assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_protocol_type(opt_s(group.protocol_type.as_deref()))
        .with_protocol_name(opt_s(group.protocol_name.as_deref()))
        .with_assignment(assignment)
}

pub(crate) fn heartbeat(error: Option<ResponseError>) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(error.map(|e| e.code()).unwrap_or(0))
}
