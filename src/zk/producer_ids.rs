//! `/latest_producer_id_block`: Kafka's ZooKeeper-mode producer id allocation. Each broker reserves
//! a block of ids with a conditional setData, so ids never repeat across brokers or restarts.

use serde::{Deserialize, Serialize};
use zookeeper_client::Error as E;

use super::error::{parse_json, ZkError};
use super::paths::LATEST_PRODUCER_ID_BLOCK;
use super::znodes::to_json;
use super::KafkaZkClient;

/// The znode's JSON (Kafka's `ProducerIdBlockZNode`): block bounds are decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlockZnode {
    pub version: i32,
    pub broker: i32,
    pub block_start: String,
    pub block_end: String,
}

impl KafkaZkClient {
    /// Reserves the next `size` producer ids for `broker_id`; returns (first, last).
    pub async fn allocate_producer_id_block(
        &self,
        broker_id: i32,
        size: i64,
    ) -> Result<(i64, i64), ZkError> {
        let path = LATEST_PRODUCER_ID_BLOCK;
        loop {
            let (data, stat) = match self.client.get_data(path).await {
                Ok(found) => found,
                Err(E::NoNode) => {
                    match self.client.create(path, &[], &self.persistent(path)).await {
                        Ok(_) | Err(E::NodeExists) => continue,
                        Err(e) => return Err(ZkError::at(path, e)),
                    }
                }
                Err(e) => return Err(ZkError::at(path, e)),
            };
            let start = if data.is_empty() {
                0
            } else {
                let current: ProducerIdBlockZnode = parse_json(path, &data)?;
                let end: i64 = current.block_end.parse().map_err(|_| ZkError::BadNumber {
                    path: path.to_string(),
                    data: current.block_end.clone(),
                })?;
                end + 1
            };
            let block = ProducerIdBlockZnode {
                version: 1,
                broker: broker_id,
                block_start: start.to_string(),
                block_end: (start + size - 1).to_string(),
            };
            match self
                .client
                .set_data(path, &to_json(&block), Some(stat.version))
                .await
            {
                Ok(_) => return Ok((start, start + size - 1)),
                Err(E::BadVersion) => continue,
                Err(e) => return Err(ZkError::at(path, e)),
            }
        }
    }
}
