//! ControlledShutdown: a broker about to stop asks the controller to move its leaderships; the
//! answer lists the partitions it still leads (it retries while there are some).

use kafka_protocol::messages::controlled_shutdown_response::RemainingPartition;
use kafka_protocol::messages::{ControlledShutdownRequest, ControlledShutdownResponse, TopicName};

use super::{encode, KafkaApis};
use crate::metadata::str_bytes;
use crate::network::Reply;

impl KafkaApis {
    pub(super) async fn controlled_shutdown(
        &self,
        req: ControlledShutdownRequest,
        version: i16,
    ) -> Reply {
        // Only v2+ is served (see `versions`), so the broker epoch is always there.
        let resp = match self
            .controller
            .controlled_shutdown(req.broker_id.0, req.broker_epoch)
            .await
        {
            Ok(remaining) => ControlledShutdownResponse::default().with_remaining_partitions(
                remaining
                    .into_iter()
                    .map(
                        |crate::topic_partition::TopicPartition { topic, partition }| {
                            RemainingPartition::default()
                                .with_topic_name(TopicName(str_bytes(topic)))
                                .with_partition_index(partition)
                        },
                    )
                    .collect(),
            ),
            Err(e) => ControlledShutdownResponse::default().with_error_code(e.code()),
        };
        encode(&resp, version)
    }
}
