//! Kafka's request handlers (Kafka's `KafkaApis`): each file turns one family of typed requests into
//! typed responses. This file hands the body to [`request_decode`] (which checks the version against
//! what we advertise and decodes it), calls the handler, and encodes the response.

mod admin;
mod alter_configs;
mod alter_partition;
mod controlled_shutdown;
mod controller_fence;
mod delete_records;
mod describe_configs;
mod describe_log_dirs;
mod down_convert;
mod elect_leaders;
mod fetch;
mod fetch_encode;
mod follower_epochs;
mod groups;
mod inter_broker;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod partition_reassignments;
mod produce;
mod producer_id;
mod replica_assignment;
pub mod request_decode;
mod request_processing;
pub mod versions;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::Encodable;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::config::{DynamicBrokerConfig, KafkaConfig};
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
pub use request_decode::{decode_request, RequestDecodeError};
pub use request_processing::RequestProcessing;

/// Everything a request handler may need.
pub struct KafkaApis {
    pub broker_id: i32,
    pub config: Arc<KafkaConfig>,
    /// The configuration in force with the dynamic broker configs (topic defaults come from it).
    pub dynamic: Arc<DynamicBrokerConfig>,
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

/// The partition-wise APIs (ListOffsets, OffsetForLeaderEpoch, DeleteRecords) answer each
/// requested partition of each topic, in request order: `partitions` takes a topic's partitions
/// out, `answer` answers one (given the topic's name), `topic_result` wraps a topic's answers.
pub(crate) fn by_partition<T, P, R, U>(
    topics: Vec<T>,
    partitions: impl Fn(&mut T) -> (String, Vec<P>),
    mut answer: impl FnMut(&str, P) -> R,
    topic_result: impl Fn(T, Vec<R>) -> U,
) -> Vec<U> {
    topics
        .into_iter()
        .map(|mut t| {
            let (name, requested) = partitions(&mut t);
            let answers = requested.into_iter().map(|p| answer(&name, p)).collect();
            topic_result(t, answers)
        })
        .collect()
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
        if let Err(reply) = self.check_control_listener(&ctx) {
            return reply;
        }
        let req = match decode_request(ctx.api_key, v, &ctx.body) {
            Ok(req) => req,
            // Kafka cannot answer a request it cannot parse, so it closes the connection.
            Err(e) => return Reply::Close(format!("{e} from {} ({:?})", ctx.peer, e.error())),
        };
        match req {
            RequestKind::Produce(req) => self.produce(req, v).await,
            RequestKind::Fetch(req) => self.fetch(req, v, &ctx.listener).await,
            RequestKind::ListOffsets(req) => self.list_offsets(req, v).await,
            RequestKind::Metadata(req) => self.metadata(req, v, &ctx.listener).await,
            RequestKind::LeaderAndIsr(req) => self.leader_and_isr(req, v).await,
            RequestKind::UpdateMetadata(req) => self.update_metadata(req, v).await,
            RequestKind::StopReplica(req) => self.stop_replica(req, v).await,
            RequestKind::CreateTopics(req) => self.create_topics(req, v).await,
            RequestKind::DeleteTopics(req) => self.delete_topics(req, v).await,
            RequestKind::CreatePartitions(req) => self.create_partitions(req, v).await,
            RequestKind::DescribeConfigs(req) => self.describe_configs(req, v).await,
            RequestKind::AlterConfigs(req) => self.alter_configs(req, v).await,
            RequestKind::ElectLeaders(req) => self.elect_leaders(req, v).await,
            RequestKind::DeleteRecords(req) => self.delete_records(req, v).await,
            RequestKind::DescribeLogDirs(req) => self.describe_log_dirs(req, v).await,
            RequestKind::AlterPartitionReassignments(req) => {
                self.alter_partition_reassignments(req, v).await
            }
            RequestKind::ListPartitionReassignments(req) => {
                self.list_partition_reassignments(req, v).await
            }
            RequestKind::IncrementalAlterConfigs(req) => {
                self.incremental_alter_configs(req, v).await
            }
            RequestKind::InitProducerId(req) => self.init_producer_id(req, v).await,
            RequestKind::AllocateProducerIds(req) => self.allocate_producer_ids(req, v).await,
            RequestKind::FindCoordinator(req) => self.find_coordinator(req, v, &ctx.listener).await,
            RequestKind::JoinGroup(req) => {
                let client_id = ctx.header.client_id.as_deref().unwrap_or("").to_string();
                let host = format!("/{}", ctx.peer.ip());
                self.join_group(req, v, &client_id, &host).await
            }
            RequestKind::SyncGroup(req) => self.sync_group(req, v).await,
            RequestKind::Heartbeat(req) => self.heartbeat(req, v).await,
            RequestKind::LeaveGroup(req) => self.leave_group(req, v).await,
            RequestKind::ListGroups(req) => self.list_groups(req, v).await,
            RequestKind::DescribeGroups(req) => self.describe_groups(req, v).await,
            RequestKind::DeleteGroups(req) => self.delete_groups(req, v).await,
            RequestKind::OffsetCommit(req) => self.offset_commit(req, v).await,
            RequestKind::OffsetFetch(req) => self.offset_fetch(req, v).await,
            RequestKind::OffsetDelete(req) => self.offset_delete(req, v).await,
            RequestKind::AlterPartition(req) => self.alter_partition(req, v).await,
            RequestKind::ControlledShutdown(req) => self.controlled_shutdown(req, v).await,
            RequestKind::OffsetForLeaderEpoch(req) => self.offset_for_leader_epoch(req, v).await,
            // decode_request only decodes the APIs in versions::SUPPORTED, all matched above.
            _ => Reply::Close(format!("unsupported request {:?}", ctx.api_key)),
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
