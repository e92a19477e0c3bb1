//! Requests from the controller to brokers (Kafka's `ControllerChannelManager`): one queue and one
//! connection per live broker, the controller's own broker included, so that every broker learns its
//! role through the same LeaderAndIsr / UpdateMetadata / StopReplica path. A request is retried on a
//! fresh connection until it is answered or the broker leaves the cluster.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    LeaderAndIsrRequest, LeaderAndIsrResponse, StopReplicaRequest, UpdateMetadataRequest,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::context::TopicPartition;
use super::ControllerEvent;
use crate::client::Connection;

/// The versions Kafka 3.9's ZooKeeper-mode controller sends at `inter.broker.protocol.version` 3.4
/// and later (`AbstractControllerBrokerRequestBatch`): topic ids, grouped partition states, and the
/// KIP-866 `is_kraft_controller` flag, always false here.
const LEADER_AND_ISR_VERSION: i16 = 7;
const UPDATE_METADATA_VERSION: i16 = 8;
const STOP_REPLICA_VERSION: i16 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// One control request; `done` receives the response's top-level error code (0 = accepted).
pub enum ControlRequest {
    LeaderAndIsr(LeaderAndIsrRequest, Option<oneshot::Sender<i16>>),
    UpdateMetadata(UpdateMetadataRequest, Option<oneshot::Sender<i16>>),
    StopReplica(StopReplicaRequest, Option<oneshot::Sender<i16>>),
}

struct BrokerQueue {
    tx: mpsc::UnboundedSender<ControlRequest>,
    task: JoinHandle<()>,
}

/// The controller's connections to every live broker.
pub struct ChannelManager {
    queues: HashMap<i32, BrokerQueue>,
    controller_id: i32,
    /// Where each LeaderAndIsr response's partition errors go (Kafka's
    /// `LeaderAndIsrResponseReceived`): how the controller learns of replicas on offline dirs.
    events: mpsc::UnboundedSender<ControllerEvent>,
}

impl ChannelManager {
    pub fn new(controller_id: i32, events: mpsc::UnboundedSender<ControllerEvent>) -> Self {
        ChannelManager {
            queues: HashMap::new(),
            controller_id,
            events,
        }
    }

    /// Starts a queue to `broker` at `addr` ("host:port"), replacing any older one (a bounced broker).
    pub fn add_broker(&mut self, broker: i32, addr: String) {
        self.remove_broker(broker);
        let (tx, rx) = mpsc::unbounded_channel();
        let client_id = format!("controller-{}-to-broker-{}", self.controller_id, broker);
        let task = tokio::spawn(run_queue(broker, addr, client_id, rx, self.events.clone()));
        self.queues.insert(broker, BrokerQueue { tx, task });
    }

    /// Drops the queue of a broker that left; its pending requests are abandoned.
    pub fn remove_broker(&mut self, broker: i32) {
        if let Some(q) = self.queues.remove(&broker) {
            q.task.abort();
        }
    }

    /// Queues a request; false if the broker has no queue (not live).
    pub fn send(&self, broker: i32, request: ControlRequest) -> bool {
        match self.queues.get(&broker) {
            Some(q) => q.tx.send(request).is_ok(),
            None => false,
        }
    }

    pub fn shutdown(&mut self) {
        for (_, q) in self.queues.drain() {
            q.task.abort();
        }
    }
}

impl Drop for ChannelManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Which replicas a broker's LeaderAndIsr response says are online (NONE) and which are on an
/// offline log dir (KAFKA_STORAGE_ERROR), as Kafka's controller reads it; `None` when the whole
/// request was refused. v5+ responses name topics by id: the request maps ids back to names.
fn replica_states(
    broker: i32,
    request: &LeaderAndIsrRequest,
    response: &LeaderAndIsrResponse,
) -> Option<ControllerEvent> {
    if response.error_code != 0 {
        return None;
    }
    let names: HashMap<uuid::Uuid, &str> = request
        .topic_states
        .iter()
        .map(|t| (t.topic_id, t.topic_name.0.as_str()))
        .collect();
    let by_id = response.topics.iter().flat_map(|t| {
        let name = names.get(&t.topic_id).copied();
        t.partition_errors.iter().map(move |e| (name, e))
    });
    let flat = response
        .partition_errors
        .iter()
        .map(|e| (Some(e.topic_name.0.as_str()), e));
    let (mut online, mut offline) = (Vec::new(), Vec::new());
    for (name, e) in by_id.chain(flat) {
        let Some(name) = name else { continue };
        let tp: TopicPartition = TopicPartition::new(name, e.partition_index);
        if e.error_code == 0 {
            online.push(tp);
        } else if e.error_code == ResponseError::KafkaStorageError.code() {
            offline.push(tp);
        }
    }
    Some(ControllerEvent::LeaderAndIsrResponseReceived {
        broker,
        online,
        offline,
    })
}

async fn run_queue(
    broker: i32,
    addr: String,
    client_id: String,
    mut rx: mpsc::UnboundedReceiver<ControlRequest>,
    events: mpsc::UnboundedSender<ControllerEvent>,
) {
    let mut conn: Option<Connection> = None;
    while let Some(request) = rx.recv().await {
        loop {
            let c = match &conn {
                Some(c) => c,
                None => match Connection::connect_inter_broker(&addr, &client_id, CONNECT_TIMEOUT)
                    .await
                {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        debug!(broker, %addr, error = %e, "controller cannot reach broker yet");
                        tokio::time::sleep(RETRY_BACKOFF).await;
                        continue;
                    }
                },
            };
            let outcome = match &request {
                ControlRequest::LeaderAndIsr(r, _) => {
                    c.send(r.clone(), LEADER_AND_ISR_VERSION).await.map(|resp| {
                        if let Some(event) = replica_states(broker, r, &resp) {
                            let _ = events.send(event);
                        }
                        resp.error_code
                    })
                }
                ControlRequest::UpdateMetadata(r, _) => c
                    .send(r.clone(), UPDATE_METADATA_VERSION)
                    .await
                    .map(|resp| resp.error_code),
                ControlRequest::StopReplica(r, _) => c
                    .send(r.clone(), STOP_REPLICA_VERSION)
                    .await
                    .map(|resp| resp.error_code),
            };
            match outcome {
                Ok(code) => {
                    if code != 0 {
                        warn!(
                            broker,
                            error_code = code,
                            "broker refused a control request"
                        );
                    }
                    let done = match request {
                        ControlRequest::LeaderAndIsr(_, d)
                        | ControlRequest::UpdateMetadata(_, d)
                        | ControlRequest::StopReplica(_, d) => d,
                    };
                    if let Some(done) = done {
                        let _ = done.send(code);
                    }
                    break;
                }
                Err(e) => {
                    debug!(broker, %addr, error = %e, "control request failed; reconnecting");
                    conn = None;
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrTopicState;
    use kafka_protocol::messages::leader_and_isr_response::{
        LeaderAndIsrPartitionError, LeaderAndIsrTopicError,
    };
    use kafka_protocol::messages::TopicName;

    use super::*;

    #[test]
    fn storage_errors_in_a_leader_and_isr_answer_name_offline_replicas() {
        let id = uuid::Uuid::from_u128(7);
        let request = LeaderAndIsrRequest::default().with_topic_states(vec![
            LeaderAndIsrTopicState::default()
                .with_topic_name(TopicName("t".into()))
                .with_topic_id(id),
        ]);
        let error = |p: i32, code: i16| {
            LeaderAndIsrPartitionError::default()
                .with_partition_index(p)
                .with_error_code(code)
        };
        let response =
            LeaderAndIsrResponse::default().with_topics(vec![LeaderAndIsrTopicError::default()
                .with_topic_id(id)
                .with_partition_errors(vec![error(0, 0), error(1, 56), error(2, 3)])]);
        let Some(ControllerEvent::LeaderAndIsrResponseReceived {
            broker,
            online,
            offline,
        }) = replica_states(4, &request, &response)
        else {
            panic!("no event");
        };
        assert_eq!(broker, 4);
        assert_eq!(online, vec![TopicPartition::new("t".to_string(), 0)]);
        assert_eq!(offline, vec![TopicPartition::new("t".to_string(), 1)]);
        let refused = response.with_error_code(ResponseError::StaleControllerEpoch.code());
        assert!(replica_states(4, &request, &refused).is_none());
    }
}
