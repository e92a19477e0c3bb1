//! Kafka's request handlers (Kafka's `KafkaApis`): each file turns one family of typed requests into
//! typed responses. This file decodes the body for the request's API and version, checks the version
//! against what we advertise, and encodes the response.

mod admin;
mod alter_configs;
mod alter_partition;
mod controlled_shutdown;
mod controller_fence;
mod delete_records;
mod describe_configs;
mod describe_log_dirs;
mod elect_leaders;
mod fetch;
mod fetch_encode;
mod follower_epochs;
mod groups;
mod inter_broker;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod produce;
mod producer_id;
mod replica_assignment;
mod request_processing;
pub mod versions;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AlterConfigsRequest, AlterPartitionRequest, ApiKey,
    ControlledShutdownRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteGroupsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    DescribeLogDirsRequest, ElectLeadersRequest, FetchRequest, FindCoordinatorRequest,
    HeartbeatRequest, IncrementalAlterConfigsRequest, InitProducerIdRequest, JoinGroupRequest,
    LeaderAndIsrRequest, LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest, ProduceRequest,
    StopReplicaRequest, SyncGroupRequest, UpdateMetadataRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::config::KafkaConfig;
use crate::controller::ControllerHandle;
use crate::coordinator::GroupCoordinator;
use crate::metadata::MetadataCache;
use crate::network::{Reply, RequestContext, RequestHandler};
use crate::replica::ReplicaManager;
use crate::zk::KafkaZkClient;

pub use controller_fence::ControllerFence;
pub use follower_epochs::FollowerEpochs;
pub use metadata::CONSUMER_OFFSETS;
pub use producer_id::ProducerIdManager;
pub use request_processing::RequestProcessing;

/// Everything a request handler may need.
pub struct KafkaApis {
    pub broker_id: i32,
    pub config: Arc<KafkaConfig>,
    pub replicas: Arc<ReplicaManager>,
    pub metadata: Arc<MetadataCache>,
    pub zk: watch::Receiver<KafkaZkClient>,
    pub producer_ids: ProducerIdManager,
    pub groups: Arc<GroupCoordinator>,
    /// This broker's controller: AlterPartition and ControlledShutdown are handed to it.
    pub controller: ControllerHandle,
    /// The controller this broker obeys (see [`controller_fence`]).
    pub fence: ControllerFence,
    /// The followers' broker epochs (see [`follower_epochs`]).
    pub follower_epochs: FollowerEpochs,
    /// Held shut until start-up completes (see [`request_processing`]).
    pub request_processing: RequestProcessing,
}

/// Encodes a response body at `version`; an encoding failure (a field set that the version lacks)
/// is our bug, logged, and the connection is closed rather than sending garbage.
pub(crate) fn encode<R: Encodable>(resp: &R, version: i16) -> Reply {
    match encode_bytes(resp, version) {
        Ok(bytes) => Reply::Now(Some(bytes.into())),
        Err(e) => Reply::Close(format!("cannot encode response v{version}: {e}")),
    }
}

/// The body a [`Reply::Later`] ends with, from a reply built as if it were immediate.
pub(crate) fn reply_body(reply: Reply) -> Option<crate::network::ResponseBody> {
    match reply {
        Reply::Now(b) => b,
        _ => None,
    }
}

pub(crate) fn encode_bytes<R: Encodable>(resp: &R, version: i16) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(resp.compute_size(version)?);
    resp.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

fn decode<R: Decodable>(ctx: &RequestContext) -> Result<R, Reply> {
    let mut body = ctx.body.clone();
    R::decode(&mut body, ctx.api_version).map_err(|e| {
        Reply::Close(format!(
            "cannot decode {:?} v{} from {}: {e}",
            ctx.api_key, ctx.api_version, ctx.peer
        ))
    })
}

impl KafkaApis {
    pub(crate) fn zk(&self) -> KafkaZkClient {
        self.zk.borrow().clone()
    }

    async fn dispatch(&self, ctx: RequestContext) -> Reply {
        let v = ctx.api_version;
        if ctx.api_key == ApiKey::ApiVersions {
            return self.api_versions(v);
        }
        match versions::range(ctx.api_key) {
            Some((min, max)) if (min..=max).contains(&v) => {}
            // Kafka cannot parse such a request, so it closes the connection.
            _ => {
                return Reply::Close(format!(
                    "unsupported request {:?} v{} from {}",
                    ctx.api_key, v, ctx.peer
                ))
            }
        }
        if let Err(reply) = self.check_control_listener(&ctx) {
            return reply;
        }
        macro_rules! call {
            ($ty:ty, $method:ident) => {
                match decode::<$ty>(&ctx) {
                    Ok(req) => self.$method(req, v).await,
                    Err(reply) => reply,
                }
            };
            // Handlers whose answer depends on the listener the request came on.
            ($ty:ty, $method:ident, listener) => {
                match decode::<$ty>(&ctx) {
                    Ok(req) => self.$method(req, v, &ctx.listener).await,
                    Err(reply) => reply,
                }
            };
        }
        match ctx.api_key {
            ApiKey::Produce => call!(ProduceRequest, produce),
            ApiKey::Fetch => call!(FetchRequest, fetch, listener),
            ApiKey::ListOffsets => call!(ListOffsetsRequest, list_offsets),
            ApiKey::Metadata => call!(MetadataRequest, metadata, listener),
            ApiKey::LeaderAndIsr => call!(LeaderAndIsrRequest, leader_and_isr),
            ApiKey::UpdateMetadata => call!(UpdateMetadataRequest, update_metadata),
            ApiKey::StopReplica => call!(StopReplicaRequest, stop_replica),
            ApiKey::CreateTopics => call!(CreateTopicsRequest, create_topics),
            ApiKey::DeleteTopics => call!(DeleteTopicsRequest, delete_topics),
            ApiKey::CreatePartitions => call!(CreatePartitionsRequest, create_partitions),
            ApiKey::DescribeConfigs => call!(DescribeConfigsRequest, describe_configs),
            ApiKey::AlterConfigs => call!(AlterConfigsRequest, alter_configs),
            ApiKey::ElectLeaders => call!(ElectLeadersRequest, elect_leaders),
            ApiKey::DeleteRecords => call!(DeleteRecordsRequest, delete_records),
            ApiKey::DescribeLogDirs => call!(DescribeLogDirsRequest, describe_log_dirs),
            ApiKey::IncrementalAlterConfigs => {
                call!(IncrementalAlterConfigsRequest, incremental_alter_configs)
            }
            ApiKey::InitProducerId => call!(InitProducerIdRequest, init_producer_id),
            ApiKey::AllocateProducerIds => {
                call!(AllocateProducerIdsRequest, allocate_producer_ids)
            }
            ApiKey::FindCoordinator => call!(FindCoordinatorRequest, find_coordinator, listener),
            ApiKey::JoinGroup => match decode::<JoinGroupRequest>(&ctx) {
                Ok(req) => {
                    let client_id = ctx.header.client_id.as_deref().unwrap_or("").to_string();
                    let host = format!("/{}", ctx.peer.ip());
                    self.join_group(req, v, &client_id, &host).await
                }
                Err(reply) => reply,
            },
            ApiKey::SyncGroup => call!(SyncGroupRequest, sync_group),
            ApiKey::Heartbeat => call!(HeartbeatRequest, heartbeat),
            ApiKey::LeaveGroup => call!(LeaveGroupRequest, leave_group),
            ApiKey::ListGroups => call!(ListGroupsRequest, list_groups),
            ApiKey::DescribeGroups => call!(DescribeGroupsRequest, describe_groups),
            ApiKey::DeleteGroups => call!(DeleteGroupsRequest, delete_groups),
            ApiKey::OffsetCommit => call!(OffsetCommitRequest, offset_commit),
            ApiKey::OffsetFetch => call!(OffsetFetchRequest, offset_fetch),
            ApiKey::OffsetDelete => call!(OffsetDeleteRequest, offset_delete),
            ApiKey::AlterPartition => call!(AlterPartitionRequest, alter_partition),
            ApiKey::ControlledShutdown => call!(ControlledShutdownRequest, controlled_shutdown),
            ApiKey::OffsetForLeaderEpoch => call!(
                kafka_protocol::messages::OffsetForLeaderEpochRequest,
                offset_for_leader_epoch
            ),
            other => Reply::Close(format!("unsupported request {other:?}")),
        }
    }

    fn api_versions(&self, version: i16) -> Reply {
        let max = versions::range(ApiKey::ApiVersions)
            .map(|(_, max)| max)
            .unwrap_or(0);
        if version > max || version < 0 {
            debug!(
                version,
                "ApiVersions version too new; answering v0 with UNSUPPORTED_VERSION"
            );
            return encode(&versions::api_versions_response(35), 0);
        }
        encode(&versions::api_versions_response(0), version)
    }
}

impl RequestHandler for KafkaApis {
    async fn handle(&self, ctx: RequestContext) -> Reply {
        let span = tracing::debug_span!(
            "request", api = ?ctx.api_key, v = ctx.api_version,
            correlation = ctx.header.correlation_id, peer = %ctx.peer
        );
        let reply = tracing::Instrument::instrument(self.dispatch(ctx), span).await;
        if let Reply::Close(reason) = &reply {
            warn!(%reason, "closing connection");
        }
        reply
    }

    async fn admitted(&self, api_key: ApiKey) {
        self.request_processing.admitted(api_key).await
    }
}
