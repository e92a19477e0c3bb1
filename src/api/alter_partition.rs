//! AlterPartition: a partition leader asks the controller to change the ISR. Only the active
//! controller can answer; every other broker says NOT_CONTROLLER so that the leader looks again.

use kafka_protocol::messages::AlterPartitionRequest;

use super::{encode, KafkaApis};
use crate::network::Reply;

impl KafkaApis {
    pub(super) async fn alter_partition(&self, req: AlterPartitionRequest, version: i16) -> Reply {
        let resp = self.controller.alter_partition(req, version).await;
        encode(&resp, version)
    }
}
