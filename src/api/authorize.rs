//! Where `KafkaApis` asks the authorizer (Kafka's `AuthHelper`): one [`Access`] per request, made
//! from the connection's principal and address, that the handlers ask about each resource with the
//! operation Kafka 3.9's `KafkaApis` uses. Without `authorizer.class.name` every answer is yes and
//! nothing is looked up.
//!
//! The control plane (LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown,
//! AlterPartition, AllocateProducerIds) needs CLUSTER ClusterAction and is refused as a whole here,
//! before the handler runs, with Kafka's CLUSTER_AUTHORIZATION_FAILED.

use std::net::IpAddr;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::AlterPartitionResponse;
use kafka_protocol::messages::{
    AllocateProducerIdsResponse, ApiKey, ControlledShutdownResponse, LeaderAndIsrResponse,
    StopReplicaResponse, UpdateMetadataResponse,
};

use super::{encode, KafkaApis};
use crate::network::{Reply, RequestContext};
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::{Authorizer, KafkaPrincipal};

/// Who asks, from where, and the authorizer to ask (none: everything is allowed).
pub(crate) struct Access<'a> {
    authorizer: Option<&'a Authorizer>,
    principal: &'a KafkaPrincipal,
    host: IpAddr,
}

impl Access<'_> {
    pub(crate) fn allows(&self, op: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorize(self.principal, self.host, op, resource_type, name))
    }

    pub(crate) fn topic(&self, op: AclOperation, name: &str) -> bool {
        self.allows(op, ResourceType::Topic, name)
    }

    pub(crate) fn group(&self, op: AclOperation, name: &str) -> bool {
        self.allows(op, ResourceType::Group, name)
    }

    pub(crate) fn cluster(&self, op: AclOperation) -> bool {
        self.allows(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// May the principal do `op` on some resource of the type (InitProducerId's TOPIC Write).
    pub(crate) fn any(&self, op: AclOperation, resource_type: ResourceType) -> bool {
        self.authorizer
            .is_none_or(|a| a.authorize_any(self.principal, self.host, op, resource_type))
    }

    /// A config resource (DescribeConfigs, AlterConfigs): TOPIC `op` on a topic, CLUSTER `op` for
    /// a broker; other types are left to the handler to refuse.
    pub(crate) fn config_resource(
        &self,
        op: AclOperation,
        resource_type: i8,
        name: &str,
    ) -> Result<(), ResponseError> {
        match resource_type {
            super::alter_configs::RESOURCE_TOPIC if !self.topic(op, name) => {
                Err(ResponseError::TopicAuthorizationFailed)
            }
            super::alter_configs::RESOURCE_BROKER if !self.cluster(op) => {
                Err(ResponseError::ClusterAuthorizationFailed)
            }
            _ => Ok(()),
        }
    }

    /// Whether an authorizer is configured (the ACL APIs answer SECURITY_DISABLED without one).
    pub(crate) fn authorizer(&self) -> Option<&Authorizer> {
        self.authorizer
    }
}

impl KafkaApis {
    pub(crate) fn access<'a>(&'a self, ctx: &'a RequestContext) -> Access<'a> {
        Access {
            authorizer: self.authorizer.as_deref(),
            principal: &ctx.principal,
            host: ctx.peer.ip(),
        }
    }

    /// The control plane's ClusterAction check: `Err` carries Kafka's whole-request error answer.
    pub(super) fn check_cluster_action(&self, ctx: &RequestContext) -> Result<(), Reply> {
        let control = matches!(
            ctx.api_key,
            ApiKey::LeaderAndIsr
                | ApiKey::UpdateMetadata
                | ApiKey::StopReplica
                | ApiKey::ControlledShutdown
                | ApiKey::AlterPartition
                | ApiKey::AllocateProducerIds
        );
        if !control || self.access(ctx).cluster(AclOperation::ClusterAction) {
            return Ok(());
        }
        tracing::info!(
            api = ?ctx.api_key, principal = %ctx.principal, peer = %ctx.peer,
            "refused: no ClusterAction on the cluster"
        );
        let code = ResponseError::ClusterAuthorizationFailed.code();
        let v = ctx.api_version;
        Err(match ctx.api_key {
            ApiKey::LeaderAndIsr => {
                encode(&LeaderAndIsrResponse::default().with_error_code(code), v)
            }
            ApiKey::UpdateMetadata => {
                encode(&UpdateMetadataResponse::default().with_error_code(code), v)
            }
            ApiKey::StopReplica => encode(&StopReplicaResponse::default().with_error_code(code), v),
            ApiKey::ControlledShutdown => encode(
                &ControlledShutdownResponse::default().with_error_code(code),
                v,
            ),
            ApiKey::AlterPartition => {
                encode(&AlterPartitionResponse::default().with_error_code(code), v)
            }
            _ => encode(
                &AllocateProducerIdsResponse::default().with_error_code(code),
                v,
            ),
        })
    }
}
