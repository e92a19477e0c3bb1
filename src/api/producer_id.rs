//! InitProducerId for idempotent producers. Producer ids come in blocks of 1000 reserved in
//! ZooKeeper's `/latest_producer_id_block`, as Kafka's ZooKeeper-mode `ProducerIdManager` does, so
//! ids stay unique across brokers and restarts.
//!
//! AllocateProducerIds is the same allocation done by the active controller for another broker:
//! Kafka 3.x brokers (`inter.broker.protocol.version` >= 3.0) never touch the znode themselves
//! but ask the controller for a block, so in a mixed cluster a zkafka controller must answer them.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{encode, KafkaApis};
use crate::network::Reply;

/// Ids reserved per ZooKeeper round trip.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// Hands out producer ids from the current block, reserving a new block when it runs out.
#[derive(Debug, Default)]
pub struct ProducerIdManager {
    /// (next id, last id of the block); empty until the first request.
    block: Mutex<Option<(i64, i64)>>,
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    async fn next_producer_id(&self) -> Result<i64, ResponseError> {
        let mut block = self.producer_ids.block.lock().await;
        if let Some((next, end)) = *block {
            if next <= end {
                *block = Some((next + 1, end));
                return Ok(next);
            }
        }
        let (start, end) = self
            .zk()
            .allocate_producer_id_block(self.broker_id, PRODUCER_ID_BLOCK_SIZE)
            .await
            .map_err(|e| {
                warn!(error = %e, "cannot reserve a producer id block");
                ResponseError::CoordinatorNotAvailable
            })?;
        info!(start, end, "reserved producer id block");
        *block = Some((start + 1, end));
        Ok(start)
    }

    pub(super) async fn init_producer_id(
        &self,
        req: InitProducerIdRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut resp = InitProducerIdResponse::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        // Kafka 3.9's: CLUSTER IdempotentWrite, or Write on some topic.
        if req.transactional_id.is_none()
            && !access.cluster(AclOperation::IdempotentWrite)
            && !access.any(
                AclOperation::Write,
                crate::security::acl::ResourceType::Topic,
            )
        {
            resp.error_code = ResponseError::ClusterAuthorizationFailed.code();
            return encode(&resp, version);
        }
        if req.transactional_id.is_some() {
            // Transactions need a transaction coordinator, which zkafka does not have.
            resp.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
            return encode(&resp, version);
        }
        // KIP-360: a producer that already has an id asks for an epoch bump instead of a new id.
        if version >= 3
            && req.producer_id.0 >= 0
            && req.producer_epoch >= 0
            && req.producer_epoch < i16::MAX - 1
        {
            resp.producer_id = req.producer_id;
            resp.producer_epoch = req.producer_epoch + 1;
            return encode(&resp, version);
        }
        match self.next_producer_id().await {
            Ok(id) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = 0;
            }
            Err(e) => resp.error_code = e.code(),
        }
        encode(&resp, version)
    }

    /// Kafka's `KafkaController.processAllocateProducerIds`: only the active controller answers,
    /// and only for the current registration of a live broker (its czxid is the broker epoch).
    pub(super) async fn allocate_producer_ids(
        &self,
        req: AllocateProducerIdsRequest,
        version: i16,
    ) -> Reply {
        let mut resp =
            AllocateProducerIdsResponse::default().with_producer_id_start(ProducerId(-1));
        let broker = req.broker_id.0;
        match self.allocate_for_broker(broker, req.broker_epoch).await {
            Ok((start, end)) => {
                info!(
                    broker,
                    start, end, "allocated a producer id block for a broker"
                );
                resp.producer_id_start = ProducerId(start);
                resp.producer_id_len = i32::try_from(end - start + 1).unwrap_or(i32::MAX);
            }
            Err(e) => {
                warn!(broker, broker_epoch = req.broker_epoch, error = ?e, "refusing AllocateProducerIds");
                resp.error_code = e.code();
            }
        }
        encode(&resp, version)
    }

    async fn allocate_for_broker(
        &self,
        broker: i32,
        epoch: i64,
    ) -> Result<(i64, i64), ResponseError> {
        if !self.controller.is_active() {
            return Err(ResponseError::NotController);
        }
        let zk = self.zk();
        match zk.get_broker_epoch(broker).await {
            Ok(Some(current)) if current == epoch => {}
            Ok(Some(_)) => return Err(ResponseError::StaleBrokerEpoch),
            Ok(None) => return Err(ResponseError::BrokerIdNotRegistered),
            Err(e) => {
                warn!(broker, error = %e, "cannot read a broker's registration");
                return Err(ResponseError::UnknownServerError);
            }
        }
        zk.allocate_producer_id_block(broker, PRODUCER_ID_BLOCK_SIZE)
            .await
            .map_err(|e| {
                warn!(broker, error = %e, "cannot reserve a producer id block");
                ResponseError::UnknownServerError
            })
    }
}
