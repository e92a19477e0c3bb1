//! LeaveGroup: v0–2 name one member, v3+ a batch (KIP-345, static members leave by instance id).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::group::{Group, GroupState};
use super::group_coordinator::GroupCoordinator;
use super::response::opt_s;
use crate::metadata::str_bytes;

impl GroupCoordinator {
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        self.ensure_group_loaded(req.group_id.0.as_str()).await;
        let leaving: Vec<(String, Option<String>)> = if version < 3 {
            vec![(req.member_id.as_str().to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.as_str().to_string(),
                        m.group_instance_id.as_deref().map(str::to_string),
                    )
                })
                .collect()
        };
        let results: Vec<(String, Option<String>, Option<ResponseError>)> = if self.is_shut_down() {
            leaving
                .into_iter()
                .map(|(m, i)| (m, i, Some(ResponseError::NotCoordinator)))
                .collect()
        } else {
            let mut groups = self.lock();
            match groups.get_mut(req.group_id.0.as_str()) {
                None => leaving
                    .into_iter()
                    .map(|(m, i)| (m, i, Some(ResponseError::UnknownMemberId)))
                    .collect(),
                Some(group) if group.state == GroupState::Dead => leaving
                    .into_iter()
                    .map(|(m, i)| (m, i, Some(ResponseError::CoordinatorNotAvailable)))
                    .collect(),
                Some(group) => leaving
                    .into_iter()
                    .map(|(m, i)| {
                        let e = self.leave_one(group, &m, i.as_deref());
                        (m, i, e)
                    })
                    .collect(),
            }
        };
        let code = |e: &Option<ResponseError>| e.map(|e| e.code()).unwrap_or(0);
        if version < 3 {
            // The single member's error is the top-level error.
            let top = results.first().map(|(_, _, e)| code(e)).unwrap_or(0);
            return LeaveGroupResponse::default().with_error_code(top);
        }
        LeaveGroupResponse::default().with_members(
            results
                .iter()
                .map(|(m, i, e)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(m))
                        .with_group_instance_id(opt_s(i.as_deref()))
                        .with_error_code(code(e))
                })
                .collect(),
        )
    }

    fn leave_one(
        &self,
        group: &mut Group,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<ResponseError> {
        let target = match instance_id {
            Some(instance) => match group.static_members.get(instance) {
                // An unknown member id ("") means "whoever holds this instance id".
                Some(current) if !member_id.is_empty() && current != member_id => {
                    return Some(ResponseError::FencedInstanceId)
                }
                Some(current) => current.clone(),
                None => return Some(ResponseError::UnknownMemberId),
            },
            None => member_id.to_string(),
        };
        if group.pending_members.remove(&target) {
            if group.state == GroupState::PreparingRebalance {
                group.join_progress.notify_one();
            }
            return None;
        }
        if !group.members.contains_key(&target) {
            return Some(ResponseError::UnknownMemberId);
        }
        self.remove_member_and_update_group(group, &target, "member left the group");
        None
    }
}
