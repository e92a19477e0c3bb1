//! ListGroups, DescribeGroups and DeleteGroups.
//!
//! A group that exists only as committed offsets in the store (a simple consumer, an old
//! ZooKeeper consumer, or a group from before a broker restart) is shown as Empty, as Kafka shows
//! groups it loaded from `__consumer_offsets`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};

use super::group::GroupState;
use super::group_coordinator::GroupCoordinator;
use super::response::opt_s;
use super::store::StoreError;
use crate::metadata::str_bytes;

pub(crate) fn store_error_code(e: &StoreError) -> ResponseError {
    match e {
        StoreError::Unavailable(_) => ResponseError::CoordinatorNotAvailable,
        StoreError::Failed(_) => ResponseError::UnknownServerError,
    }
}

impl GroupCoordinator {
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        // group id → (protocol type, state)
        let mut groups: BTreeMap<String, (String, GroupState)> = self
            .lock()
            .values()
            .filter(|g| g.state != GroupState::Dead && self.listed(&g.id))
            .map(|g| {
                (
                    g.id.clone(),
                    (g.protocol_type.clone().unwrap_or_default(), g.state),
                )
            })
            .collect();
        let mut error = 0;
        match self.store.list_groups_with_offsets().await {
            Ok(stored) => {
                for g in stored.into_iter().filter(|g| self.listed(g)) {
                    groups
                        .entry(g)
                        .or_insert((String::new(), GroupState::Empty));
                }
            }
            Err(e) => error = store_error_code(&e).code(),
        }
        let states: Vec<String> = if version >= 4 {
            req.states_filter
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        // Every group here is a classic group, so a types filter without "classic" matches none.
        let classic_wanted = version < 5
            || req.types_filter.is_empty()
            || req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case("classic"));
        let listed = groups
            .into_iter()
            .filter(|(_, (_, st))| {
                states.is_empty() || states.contains(&st.as_str().to_ascii_lowercase())
            })
            .filter(|_| classic_wanted)
            .map(|(id, (ptype, st))| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(&id)))
                    .with_protocol_type(str_bytes(&ptype))
                    .with_group_state(str_bytes(st.as_str()))
                    .with_group_type(str_bytes("classic"))
            })
            .collect();
        ListGroupsResponse::default()
            .with_error_code(error)
            .with_groups(listed)
    }

    pub async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        _version: i16,
    ) -> DescribeGroupsResponse {
        let mut described = Vec::with_capacity(req.groups.len());
        for id in &req.groups {
            self.ensure_group_loaded(id.0.as_str()).await;
            let from_memory = {
                let groups = self.lock();
                groups
                    .get(id.0.as_str())
                    .filter(|g| g.state != GroupState::Dead)
                    .map(|g| {
                        let stable = g.state == GroupState::Stable;
                        let protocol = if stable {
                            g.protocol_name.clone().unwrap_or_default()
                        } else {
                            String::new()
                        };
                        let members = g
                            .members
                            .values()
                            .map(|m| {
                                let member = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_group_instance_id(opt_s(m.group_instance_id.as_deref()))
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host));
                                // Kafka shows metadata and assignment only once they are settled.
                                if stable {
                                    member
                                        .with_member_metadata(m.metadata_for(&protocol))
                                        .with_member_assignment(m.assignment.clone())
                                } else {
                                    member
                                }
                            })
                            .collect();
                        DescribedGroup::default()
                            .with_group_id(id.clone())
                            .with_group_state(str_bytes(g.state.as_str()))
                            .with_protocol_type(str_bytes(
                                g.protocol_type.as_deref().unwrap_or_default(),
                            ))
                            .with_protocol_data(str_bytes(&protocol))
                            .with_members(members)
                    })
            };
            let group = match from_memory {
                Some(g) => g,
                None => {
                    let (state, code) = match self.store.fetch(id.0.as_str(), None).await {
                        Ok(offsets) if !offsets.is_empty() => (GroupState::Empty, 0),
                        Ok(_) => (GroupState::Dead, 0),
                        Err(e) => (GroupState::Dead, store_error_code(&e).code()),
                    };
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(str_bytes(state.as_str()))
                        .with_error_code(code)
                }
            };
            described.push(group);
        }
        DescribeGroupsResponse::default().with_groups(described)
    }

    pub async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        let mut results = Vec::with_capacity(req.groups_names.len());
        for id in &req.groups_names {
            let code = self
                .delete_one_group(id.0.as_str())
                .await
                .map(|e| e.code())
                .unwrap_or(0);
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code),
            );
        }
        DeleteGroupsResponse::default().with_results(results)
    }

    async fn delete_one_group(&self, id: &str) -> Option<ResponseError> {
        if self.is_shut_down() {
            return Some(ResponseError::NotCoordinator);
        }
        let known = {
            let mut groups = self.lock();
            match groups.get_mut(id) {
                Some(g) if g.state == GroupState::Dead => {
                    return Some(ResponseError::GroupIdNotFound)
                }
                Some(g) if g.state != GroupState::Empty => {
                    return Some(ResponseError::NonEmptyGroup)
                }
                Some(g) => {
                    Self::transition(g, GroupState::Dead, "", "group deleted");
                    groups.remove(id);
                    true
                }
                None => false,
            }
        };
        self.forget_mirror(id);
        match self.store.delete_group(id).await {
            Ok(had_offsets) if known || had_offsets => None,
            Ok(_) => Some(ResponseError::GroupIdNotFound),
            Err(e) => Some(store_error_code(&e)),
        }
    }
}
