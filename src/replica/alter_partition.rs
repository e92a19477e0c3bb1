//! Sends ISR changes to the controller (Kafka's `AlterPartitionManager`, inter-broker protocol 2.7+):
//! leaders never write the partition state znode; they propose, the controller commits and answers
//! with the new partition epoch. Proposals queued while a request is in flight go out together in the
//! next one; a partition has at most one proposal pending (enforced by [`Partition`]).

use crate::topic_partition::TopicPartition;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::{ParseResponseErrorCode, ResponseError};
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, TopicName};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};
use uuid::Uuid;

use super::partition::{IsrProposal, Partition};
use super::ReplicaManager;
use crate::client::{ClientError, Connection};
use crate::metadata::{str_bytes, MetadataCache};

const ALTER_PARTITION_MAX_VERSION: i16 = 3;
/// v2 names topics by id; v3 sends each ISR member's broker epoch.
const TOPIC_ID_VERSION: i16 = 2;
const BROKER_EPOCHS_VERSION: i16 = 3;
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One proposal and the partition to tell the outcome.
pub(super) type Item = (IsrProposal, Arc<Partition>);

/// The queue of the AlterPartition task.
#[derive(Clone)]
pub struct AlterPartitionSender {
    tx: mpsc::UnboundedSender<Item>,
}

impl AlterPartitionSender {
    pub(super) fn submit(&self, proposal: IsrProposal, partition: Arc<Partition>) {
        if let Err(e) = self.tx.send((proposal, partition)) {
            // The task ended (shutdown): the proposal stays pending until LeaderAndIsr clears it.
            debug!(topic = %e.0 .0.topic, "AlterPartition queue closed");
        }
    }
}

pub(super) fn channel() -> (AlterPartitionSender, mpsc::UnboundedReceiver<Item>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (AlterPartitionSender { tx }, rx)
}

/// Runs until `shutdown`: takes proposals, sends them to the current controller, retries on
/// NOT_CONTROLLER and connection errors, and hands every answer to its partition.
pub(super) async fn run(
    replicas: Arc<ReplicaManager>,
    metadata: Arc<MetadataCache>,
    control_listener: String,
    mut rx: mpsc::UnboundedReceiver<Item>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client_id = format!("alter-partition-{}", replicas.broker_id());
    let mut conn: Option<(i32, Connection)> = None;
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item { Some(i) => i, None => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let mut batch: HashMap<TopicPartition, Item> = HashMap::new();
        let mut add = |item: Item| {
            batch.insert(
                TopicPartition::new(item.0.topic.as_str(), item.0.partition),
                item,
            );
        };
        add(first);
        while let Ok(item) = rx.try_recv() {
            add(item);
        }
        let mut retry = RETRY_MIN;
        loop {
            // A proposal that LeaderAndIsr superseded meanwhile is not sent.
            batch.retain(|_, (proposal, p)| {
                let role = p.role();
                role.leader_epoch == proposal.leader_epoch
                    && role.pending_isr.as_ref() == Some(&proposal.new_isr)
            });
            if batch.is_empty() {
                break;
            }
            let to = Controller {
                metadata: &metadata,
                listener: &control_listener,
                client_id: &client_id,
            };
            match send(&replicas, &to, &mut conn, &batch).await {
                Ok(answers) => {
                    for (key, (proposal, p)) in batch.drain() {
                        let answer = answers
                            .get(&key)
                            .cloned()
                            .unwrap_or(Err(ResponseError::UnknownServerError));
                        p.apply_isr_update(proposal.leader_epoch, answer);
                    }
                    break;
                }
                Err(e) => {
                    warn!(error = %e, retry_ms = retry.as_millis() as u64, "AlterPartition failed; retrying");
                    conn = None;
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// Why a batch must be sent again.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("no controller is known")]
    NoController,
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("controller answered {0:?}")]
    Controller(ResponseError),
}

type Answers = HashMap<TopicPartition, Result<(Vec<i32>, i32), ResponseError>>;

/// Where AlterPartition goes: the controller the metadata names, on the control listener.
struct Controller<'a> {
    metadata: &'a MetadataCache,
    listener: &'a str,
    client_id: &'a str,
}

async fn send(
    replicas: &ReplicaManager,
    to: &Controller<'_>,
    conn: &mut Option<(i32, Connection)>,
    batch: &HashMap<TopicPartition, Item>,
) -> Result<Answers, SendError> {
    let view = to.metadata.snapshot();
    let controller = view.controller_id;
    let endpoint = view
        .brokers
        .get(&controller)
        .ok_or(SendError::NoController)?;
    if conn
        .as_ref()
        .is_none_or(|(id, c)| *id != controller || c.is_closed())
    {
        let addr = endpoint.address_on(to.listener);
        let c = Connection::connect_inter_broker(&addr, to.client_id, CONNECT_TIMEOUT).await?;
        c.api_versions().await?;
        *conn = Some((controller, c));
    }
    let Some((_, c)) = conn.as_ref() else {
        return Err(SendError::NoController);
    };
    let ids_known = batch.values().all(|(p, _)| !p.topic_id.is_nil());
    let max = if ids_known {
        ALTER_PARTITION_MAX_VERSION
    } else {
        TOPIC_ID_VERSION - 1
    };
    let version = c.version_for::<AlterPartitionRequest>(max)?;
    let request = build_request(
        replicas.broker_id(),
        replicas.broker_epoch(),
        version,
        batch.values().map(|(p, _)| p),
    );
    let resp = c.send(request, version).await?;
    match resp.error_code.err() {
        None => {}
        Some(e @ ResponseError::NotController) => return Err(SendError::Controller(e)),
        Some(e) => {
            // Every partition gets the top-level error.
            return Ok(batch.keys().map(|k| (k.clone(), Err(e))).collect());
        }
    }
    let names: HashMap<Uuid, String> = batch
        .values()
        .map(|(p, _)| (p.topic_id, p.topic.clone()))
        .collect();
    let mut answers = Answers::new();
    for t in resp.topics {
        let name = if version >= TOPIC_ID_VERSION {
            names.get(&t.topic_id).cloned().unwrap_or_default()
        } else {
            t.topic_name.0.to_string()
        };
        for p in t.partitions {
            let answer = match p.error_code.err() {
                None => Ok((p.isr.iter().map(|b| b.0).collect(), p.partition_epoch)),
                Some(e) => Err(e),
            };
            answers.insert(
                TopicPartition::new(name.as_str(), p.partition_index),
                answer,
            );
        }
    }
    Ok(answers)
}

/// The AlterPartition request for `proposals` at `version`.
pub(super) fn build_request<'a>(
    broker_id: i32,
    broker_epoch: i64,
    version: i16,
    proposals: impl Iterator<Item = &'a IsrProposal>,
) -> AlterPartitionRequest {
    let mut topics: Vec<TopicData> = Vec::new();
    for p in proposals {
        let mut data = PartitionData::default()
            .with_partition_index(p.partition)
            .with_leader_epoch(p.leader_epoch)
            .with_partition_epoch(p.partition_epoch);
        if version >= BROKER_EPOCHS_VERSION {
            data.new_isr_with_epochs = p
                .new_isr
                .iter()
                .zip(&p.broker_epochs)
                .map(|(id, epoch)| {
                    let epoch = if *id == broker_id {
                        broker_epoch
                    } else {
                        *epoch
                    };
                    BrokerState::default()
                        .with_broker_id(BrokerId(*id))
                        .with_broker_epoch(epoch)
                })
                .collect();
        } else {
            data.new_isr = p.new_isr.iter().map(|b| BrokerId(*b)).collect();
        }
        let found = topics.iter_mut().find(|t| {
            if version >= TOPIC_ID_VERSION {
                t.topic_id == p.topic_id
            } else {
                t.topic_name.0.as_str() == p.topic
            }
        });
        match found {
            Some(t) => t.partitions.push(data),
            None => {
                let mut t = TopicData::default().with_partitions(vec![data]);
                if version >= TOPIC_ID_VERSION {
                    t.topic_id = p.topic_id;
                } else {
                    t.topic_name = TopicName(str_bytes(p.topic.clone()));
                }
                topics.push(t);
            }
        }
    }
    AlterPartitionRequest::default()
        .with_broker_id(BrokerId(broker_id))
        .with_broker_epoch(broker_epoch)
        .with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(topic: &str, id: Uuid, partition: i32) -> IsrProposal {
        IsrProposal {
            topic: topic.into(),
            topic_id: id,
            partition,
            leader_epoch: 3,
            partition_epoch: 9,
            new_isr: vec![1, 2],
            broker_epochs: vec![-1, 77],
        }
    }

    #[test]
    fn requests_group_by_topic_and_follow_the_version() {
        let id = Uuid::new_v4();
        let proposals = [
            proposal("a", id, 0),
            proposal("a", id, 1),
            proposal("b", Uuid::new_v4(), 0),
        ];
        let v1 = build_request(1, 50, 1, proposals.iter());
        assert_eq!((v1.broker_id, v1.broker_epoch), (BrokerId(1), 50));
        assert_eq!(v1.topics.len(), 2);
        assert_eq!(v1.topics[0].topic_name.0.as_str(), "a");
        assert_eq!(v1.topics[0].partitions.len(), 2);
        let p = &v1.topics[0].partitions[1];
        assert_eq!(
            (p.partition_index, p.leader_epoch, p.partition_epoch),
            (1, 3, 9)
        );
        assert_eq!(p.new_isr, vec![BrokerId(1), BrokerId(2)]);
        assert!(p.new_isr_with_epochs.is_empty());

        let v3 = build_request(1, 50, 3, proposals.iter());
        assert_eq!(v3.topics[0].topic_id, id);
        let p = &v3.topics[0].partitions[0];
        assert!(p.new_isr.is_empty());
        // Our own epoch is always known; a follower's comes from its fetches.
        let epochs: Vec<(i32, i64)> = p
            .new_isr_with_epochs
            .iter()
            .map(|b| (b.broker_id.0, b.broker_epoch))
            .collect();
        assert_eq!(epochs, vec![(1, 50), (2, 77)]);
        // Every version encodes.
        for v in 0..=3 {
            let req = build_request(1, 50, v, proposals.iter());
            let mut buf = bytes::BytesMut::new();
            kafka_protocol::protocol::Encodable::encode(&req, &mut buf, v).unwrap();
        }
    }
}
