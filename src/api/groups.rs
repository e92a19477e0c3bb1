//! Consumer group requests: FindCoordinator places each group on the leader of its
//! `__consumer_offsets` partition (as Kafka does); the rest are answered by the
//! [`GroupCoordinator`](crate::coordinator::GroupCoordinator) when this broker is that leader, and
//! with NOT_COORDINATOR otherwise.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::warn;

use super::authorize::Access;
use super::metadata::CONSUMER_OFFSETS;
use super::{encode, KafkaApis};
use crate::coordinator::partition_for;
use crate::metadata::str_bytes;
use crate::network::Reply;
use crate::security::acl::{AclOperation, ResourceType};

const NOT_COORDINATOR: i16 = 16;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

impl KafkaApis {
    fn offsets_partition(&self, group: &str) -> i32 {
        partition_for(group, self.config.offsets_topic_num_partitions)
    }

    /// This broker coordinates `group` when it leads the group's `__consumer_offsets` partition.
    pub(crate) fn is_coordinator(&self, group: &str) -> bool {
        self.replicas
            .partition(CONSUMER_OFFSETS, self.offsets_partition(group))
            .is_some_and(|p| p.is_leader())
    }

    /// Creates `__consumer_offsets` on first use, its replication factor capped by the live brokers.
    async fn create_offsets_topic(&self) {
        let live = self.metadata.snapshot().brokers.len().max(1);
        let wanted = self.config.offsets_topic_replication_factor.max(1) as usize;
        if wanted > live {
            warn!(
                wanted,
                live,
                "offsets.topic.replication.factor is larger than the live brokers; using {live}"
            );
        }
        let rf = wanted.min(live) as i16;
        let mut configs = std::collections::BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert(
            "segment.bytes".to_string(),
            self.config.offsets_topic_segment_bytes.to_string(),
        );
        let partitions = self.config.offsets_topic_num_partitions;
        if let Err(e) = self
            .create_topic_znodes(CONSUMER_OFFSETS, partitions, rf, None, &configs)
            .await
        {
            if e.code != ResponseError::TopicAlreadyExists {
                warn!(error = %e.message, "cannot create __consumer_offsets");
            }
        }
    }

    async fn coordinator_of(&self, key: &str, key_type: i8, listener: &str) -> Coordinator {
        let mut c = Coordinator::default()
            .with_key(str_bytes(key.to_string()))
            .with_node_id(BrokerId(-1));
        if key_type != 0 {
            // Transactions are not supported: there is no transaction coordinator.
            c.error_code = COORDINATOR_NOT_AVAILABLE;
            return c;
        }
        let view = self.metadata.snapshot();
        let Some(topic) = view.topics.get(CONSUMER_OFFSETS) else {
            self.create_offsets_topic().await;
            c.error_code = COORDINATOR_NOT_AVAILABLE;
            return c;
        };
        let leader = topic
            .partitions
            .get(&self.offsets_partition(key))
            .map(|p| p.leader)
            .unwrap_or(-1);
        match view.brokers.get(&leader) {
            Some(b) => {
                c.node_id = BrokerId(b.id);
                let (host, port) = b.on(listener);
                c.host = str_bytes(host.to_string());
                c.port = port;
            }
            None => c.error_code = COORDINATOR_NOT_AVAILABLE,
        }
        c
    }

    /// Kafka's: Describe on the group (key type 0) or transactional id (1) before the lookup.
    async fn authorized_coordinator(
        &self,
        key: &StrBytes,
        key_type: i8,
        listener: &str,
        access: &Access<'_>,
    ) -> Coordinator {
        let (resource, refusal) = if key_type == 1 {
            (
                ResourceType::TransactionalId,
                ResponseError::TransactionalIdAuthorizationFailed,
            )
        } else {
            (ResourceType::Group, ResponseError::GroupAuthorizationFailed)
        };
        if access.allows(AclOperation::Describe, resource, key.as_str()) {
            self.coordinator_of(key, key_type, listener).await
        } else {
            Coordinator::default()
                .with_key(key.clone())
                .with_node_id(kafka_protocol::messages::BrokerId(-1))
                .with_error_code(refusal.code())
        }
    }

    pub(super) async fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
        listener: &str,
        access: &Access<'_>,
    ) -> Reply {
        let mut resp = FindCoordinatorResponse::default();
        if version >= 4 {
            for key in &req.coordinator_keys {
                resp.coordinators.push(
                    self.authorized_coordinator(key, req.key_type, listener, access)
                        .await,
                );
            }
        } else {
            let c = self
                .authorized_coordinator(&req.key, req.key_type, listener, access)
                .await;
            resp.error_code = c.error_code;
            resp.node_id = c.node_id;
            resp.host = c.host;
            resp.port = c.port;
            if version >= 1 && c.error_code != crate::errors::NONE {
                resp.error_message =
                    ResponseError::try_from_code(c.error_code).map(|e| str_bytes(e.to_string()));
            }
        }
        encode(&resp, version)
    }

    pub(super) async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client_id: &str,
        host: &str,
        access: &Access<'_>,
    ) -> Reply {
        if !access.group(AclOperation::Read, &req.group_id) {
            let resp = JoinGroupResponse::default()
                .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                .with_generation_id(-1)
                .with_member_id(req.member_id);
            return encode(&resp, version);
        }
        if !self.is_coordinator(&req.group_id) {
            let resp = JoinGroupResponse::default()
                .with_error_code(NOT_COORDINATOR)
                .with_generation_id(-1)
                .with_member_id(req.member_id);
            return encode(&resp, version);
        }
        encode(
            &self.groups.join_group(req, version, client_id, host).await,
            version,
        )
    }

    pub(super) async fn sync_group(
        &self,
        req: SyncGroupRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.group(AclOperation::Read, &req.group_id) {
            return encode(
                &SyncGroupResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                version,
            );
        }
        if !self.is_coordinator(&req.group_id) {
            return encode(
                &SyncGroupResponse::default().with_error_code(NOT_COORDINATOR),
                version,
            );
        }
        encode(&self.groups.sync_group(req, version).await, version)
    }

    pub(super) async fn heartbeat(
        &self,
        req: HeartbeatRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.group(AclOperation::Read, &req.group_id) {
            return encode(
                &HeartbeatResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                version,
            );
        }
        if !self.is_coordinator(&req.group_id) {
            return encode(
                &HeartbeatResponse::default().with_error_code(NOT_COORDINATOR),
                version,
            );
        }
        encode(&self.groups.heartbeat(req, version).await, version)
    }

    pub(super) async fn leave_group(
        &self,
        req: LeaveGroupRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.group(AclOperation::Read, &req.group_id) {
            return encode(
                &LeaveGroupResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                version,
            );
        }
        if !self.is_coordinator(&req.group_id) {
            return encode(
                &LeaveGroupResponse::default().with_error_code(NOT_COORDINATOR),
                version,
            );
        }
        encode(&self.groups.leave_group(req, version).await, version)
    }

    pub(super) async fn list_groups(
        &self,
        req: ListGroupsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut resp = self.groups.list_groups(req, version).await;
        // Kafka's: CLUSTER Describe lists every group, else those the principal may Describe.
        if !access.cluster(AclOperation::Describe) {
            resp.groups
                .retain(|g| access.group(AclOperation::Describe, &g.group_id));
        }
        encode(&resp, version)
    }

    pub(super) async fn describe_groups(
        &self,
        req: DescribeGroupsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut groups = Vec::with_capacity(req.groups.len());
        for group in &req.groups {
            if !access.group(AclOperation::Describe, group) {
                groups.push(
                    DescribedGroup::default()
                        .with_group_id(group.clone())
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                );
            } else if self.is_coordinator(group) {
                let one = req.clone().with_groups(vec![group.clone()]);
                groups.extend(self.groups.describe_groups(one, version).await.groups);
            } else {
                groups.push(
                    DescribedGroup::default()
                        .with_group_id(group.clone())
                        .with_error_code(NOT_COORDINATOR),
                );
            }
        }
        encode(
            &DescribeGroupsResponse::default().with_groups(groups),
            version,
        )
    }

    pub(super) async fn delete_groups(
        &self,
        req: DeleteGroupsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut results = Vec::with_capacity(req.groups_names.len());
        for group in &req.groups_names {
            if !access.group(AclOperation::Delete, group) {
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(group.clone())
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                );
            } else if self.is_coordinator(group) {
                let one = req.clone().with_groups_names(vec![group.clone()]);
                results.extend(self.groups.delete_groups(one, version).await.results);
            } else {
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(group.clone())
                        .with_error_code(NOT_COORDINATOR),
                );
            }
        }
        encode(
            &DeleteGroupsResponse::default().with_results(results),
            version,
        )
    }

    pub(super) async fn offset_commit(
        &self,
        mut req: OffsetCommitRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let error_for_all = |req: &OffsetCommitRequest, code: i16| {
            req.topics
                .iter()
                .map(|t| {
                    OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    OffsetCommitResponsePartition::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect::<Vec<_>>()
        };
        if !access.group(AclOperation::Read, &req.group_id) {
            return encode(
                &OffsetCommitResponse::default().with_topics(error_for_all(
                    &req,
                    ResponseError::GroupAuthorizationFailed.code(),
                )),
                version,
            );
        }
        // Version 0 is Kafka's "ZooKeeper" commit: any broker writes it, no coordinator involved.
        if version > 0 && !self.is_coordinator(&req.group_id) {
            return encode(
                &OffsetCommitResponse::default().with_topics(error_for_all(&req, NOT_COORDINATOR)),
                version,
            );
        }
        // Kafka's request layer answers unknown topics and partitions itself; the coordinator
        // would store any name and any partition number (a znode each).
        let view = self.metadata.snapshot();
        let mut known = Vec::with_capacity(req.topics.len());
        let mut unknown = Vec::new();
        let mut denied = Vec::new();
        for mut t in req.topics.drain(..) {
            if !access.topic(AclOperation::Read, t.name.as_str()) {
                denied.push(t);
                continue;
            }
            let Some(topic) = view.topics.get(t.name.as_str()) else {
                unknown.push(t);
                continue;
            };
            let (present, absent): (Vec<_>, Vec<_>) = t
                .partitions
                .drain(..)
                .partition(|p| topic.partitions.contains_key(&p.partition_index));
            if !absent.is_empty() {
                unknown.push(t.clone().with_partitions(absent));
            }
            if !present.is_empty() {
                known.push(t.with_partitions(present));
            }
        }
        let unknown_req = req.clone().with_topics(unknown);
        let denied_req = req.clone().with_topics(denied);
        req.topics = known;
        let mut resp = if req.topics.is_empty() {
            OffsetCommitResponse::default()
        } else {
            self.groups.offset_commit(req, version).await
        };
        resp.topics.extend(error_for_all(
            &unknown_req,
            ResponseError::UnknownTopicOrPartition.code(),
        ));
        resp.topics.extend(error_for_all(
            &denied_req,
            ResponseError::TopicAuthorizationFailed.code(),
        ));
        encode(&resp, version)
    }

    pub(super) async fn offset_fetch(
        &self,
        req: OffsetFetchRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if version >= 8 {
            let mut groups = Vec::with_capacity(req.groups.len());
            for g in &req.groups {
                if !access.group(AclOperation::Describe, &g.group_id) {
                    groups.push(
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                    );
                } else if self.is_coordinator(&g.group_id) {
                    let one = req.clone().with_groups(vec![g.clone()]);
                    let mut answer = self.groups.offset_fetch(one, version).await.groups;
                    let all = g.topics.is_none();
                    for group in &mut answer {
                        for t in &mut group.topics {
                            if !access.topic(AclOperation::Describe, t.name.as_str()) {
                                for p in &mut t.partitions {
                                    p.committed_offset = -1;
                                    p.error_code = ResponseError::TopicAuthorizationFailed.code();
                                }
                            }
                        }
                        if all {
                            group
                                .topics
                                .retain(|t| access.topic(AclOperation::Describe, t.name.as_str()));
                        }
                    }
                    groups.extend(answer);
                } else {
                    groups.push(
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(NOT_COORDINATOR),
                    );
                }
            }
            return encode(&OffsetFetchResponse::default().with_groups(groups), version);
        }
        let allowed = access.group(AclOperation::Describe, &req.group_id);
        // Version 0 reads ZooKeeper on any broker, as Kafka does.
        if allowed && (version == 0 || self.is_coordinator(&req.group_id)) {
            let all = req.topics.is_none();
            let mut resp = self.groups.offset_fetch(req, version).await;
            for t in &mut resp.topics {
                if !access.topic(AclOperation::Describe, t.name.as_str()) {
                    for p in &mut t.partitions {
                        p.committed_offset = -1;
                        p.error_code = ResponseError::TopicAuthorizationFailed.code();
                    }
                }
            }
            if all {
                resp.topics
                    .retain(|t| access.topic(AclOperation::Describe, t.name.as_str()));
            }
            return encode(&resp, version);
        }
        let refusal = if allowed {
            NOT_COORDINATOR
        } else {
            ResponseError::GroupAuthorizationFailed.code()
        };
        let mut resp = OffsetFetchResponse::default();
        if version >= 2 {
            resp.error_code = refusal;
        } else {
            // v0/v1 carry errors per partition only.
            resp.topics = req
                .topics
                .iter()
                .flatten()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(-1)
                                        .with_metadata(Some(StrBytes::default()))
                                        .with_error_code(refusal)
                                })
                                .collect(),
                        )
                })
                .collect();
        }
        encode(&resp, version)
    }

    pub(super) async fn offset_delete(
        &self,
        req: OffsetDeleteRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.group(AclOperation::Delete, &req.group_id) {
            return encode(
                &OffsetDeleteResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                version,
            );
        }
        if !self.is_coordinator(&req.group_id) {
            return encode(
                &OffsetDeleteResponse::default().with_error_code(NOT_COORDINATOR),
                version,
            );
        }
        encode(&self.groups.offset_delete(req, version).await, version)
    }

    /// Groups whose offsets partition this broker just stopped leading are unloaded (Kafka's
    /// `onResignation`); members then find the new coordinator. Partitions it leads are loaded
    /// (Kafka's `onElection`; only the Kafka offset store has anything to load).
    pub(super) fn load_or_unload_groups(&self, partitions: &[i32]) {
        let n = self.config.offsets_topic_num_partitions;
        for p in partitions {
            let leading = self
                .replicas
                .partition(CONSUMER_OFFSETS, *p)
                .is_some_and(|x| x.is_leader());
            if leading {
                self.groups.load_partition(*p);
            } else {
                self.groups.unload_partition(*p, n);
            }
        }
    }
}
