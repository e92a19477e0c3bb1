//! The controller (Kafka's `KafkaController`): every broker runs this; the one that wins the election
//! through `/controller` owns the cluster model, writes partition states to ZooKeeper and tells brokers.
//!
//! One task owns all controller state. ZooKeeper watches, session changes, timers and broker requests
//! (AlterPartition, ControlledShutdown) arrive as [`ControllerEvent`]s on one queue, so no state is
//! shared or locked; requests are answered through a oneshot carried by their event.

mod alter_partition;
pub mod assignment;
mod channel;
mod context;
mod elect_leaders;
mod election;
mod event_loop;
mod event_stream;
mod log_dirs;
mod preferred;
mod reassignment;
mod reassignment_api;
mod requests;
mod shutdown;
mod topic_config;
mod topic_deletion;
mod writes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, info_span, warn, Instrument};

use crate::zk::{KafkaZkClient, ZkError};

pub use context::{LeaderIsr, TopicPartition};
pub use elect_leaders::{ElectionOutcome, ElectionType};
pub use reassignment_api::{
    AlterReassignmentsOutcome, ListReassignmentsOutcome, OngoingReassignment, ReassignOutcome,
};

/// What a ControlledShutdown request gets back: the partitions the broker still leads, or an error.
pub type ShutdownOutcome = Result<Vec<TopicPartition>, ResponseError>;

/// What an ElectLeaders request gets back: each partition's outcome, or NOT_CONTROLLER.
pub type ElectLeadersOutcome = Result<Vec<(TopicPartition, ElectionOutcome)>, ResponseError>;

/// Something the controller must react to.
#[derive(Debug)]
pub enum ControllerEvent {
    /// `/controller` was created or deleted.
    ControllerChanged,
    /// Children of `/brokers/ids` changed.
    BrokersChanged,
    /// Children of `/brokers/topics` changed.
    TopicsChanged,
    /// The data of `/brokers/topics/<t>` changed (partitions added, topic id set).
    TopicModified(String),
    /// Children of `/admin/delete_topics` changed.
    TopicDeletionRequested,
    /// A broker deleted its replicas of a topic being deleted.
    TopicDeletionStopReplicaResponseReceived { topic: String, broker: i32 },
    /// `/admin/reassign_partitions` was created, changed or deleted.
    ReassignmentRequested,
    /// `/admin/preferred_replica_election` was created, changed or deleted.
    PreferredElectionRequested,
    /// A topic config change enabled `unclean.leader.election.enable` for this topic.
    UncleanLeaderElectionEnabled(String),
    /// `leader.imbalance.check.interval.seconds` elapsed (Kafka's AutoPreferredReplicaLeaderElection).
    LeaderImbalanceCheck,
    /// The ZooKeeper session was replaced after an expiry; everything must be re-read and re-armed.
    SessionRenewed,
    /// Children of `/log_dir_event_notification` changed: a broker's log dir failed.
    LogDirEventNotification,
    /// A broker answered LeaderAndIsr: its replicas that are `online` (NONE) and those on an
    /// offline log dir (KAFKA_STORAGE_ERROR).
    LeaderAndIsrResponseReceived {
        broker: i32,
        online: Vec<TopicPartition>,
        offline: Vec<TopicPartition>,
    },
    /// An AlterPartition request from a partition leader; answered through `reply`.
    AlterPartition {
        request: AlterPartitionRequest,
        version: i16,
        reply: oneshot::Sender<AlterPartitionResponse>,
    },
    /// An ElectLeaders request (every partition when `partitions` is None); answered through
    /// `reply`.
    ElectLeaders {
        partitions: Option<Vec<TopicPartition>>,
        kind: ElectionType,
        reply: oneshot::Sender<ElectLeadersOutcome>,
    },
    /// An AlterPartitionReassignments request (a None target cancels); answered through `reply`.
    AlterReassignments {
        partitions: Vec<(TopicPartition, Option<Vec<i32>>)>,
        reply: oneshot::Sender<AlterReassignmentsOutcome>,
    },
    /// A ListPartitionReassignments request (every partition when None); answered through `reply`.
    ListReassignments {
        partitions: Option<Vec<TopicPartition>>,
        reply: oneshot::Sender<ListReassignmentsOutcome>,
    },
    /// A broker asks to shut down in a controlled way; answered through `reply`.
    ControlledShutdown {
        broker_id: i32,
        broker_epoch: i64,
        reply: oneshot::Sender<ShutdownOutcome>,
    },
}

/// What the controller needs from the rest of the broker.
#[derive(Clone)]
pub struct ControllerConfig {
    pub broker_id: i32,
    pub delete_topic_enable: bool,
    pub unclean_leader_election_enable: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: i32,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval: Duration,
    /// `inter.broker.listener.name`: the endpoint followers fetch from.
    pub inter_broker_listener: String,
    /// `control.plane.listener.name`, else the inter-broker listener: where control requests go.
    pub control_listener: String,
    /// `zkafka.controller.events.file`: where each term appends its phase events (None = off).
    pub events_file: Option<std::path::PathBuf>,
}

/// The handle the server and the request handlers use to feed the controller.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: mpsc::UnboundedSender<ControllerEvent>,
    /// True while this broker's controller term is running, so requests meant for the active
    /// controller can be refused with NOT_CONTROLLER without queueing.
    active: Arc<AtomicBool>,
}

/// The receiving end of the controller's queue, handed to [`start`].
pub struct ControllerQueue {
    rx: mpsc::UnboundedReceiver<ControllerEvent>,
}

impl ControllerHandle {
    /// A new, empty event queue. The handle can be given out before the controller task starts
    /// (request handlers need it before the listeners open).
    pub fn new() -> (ControllerHandle, ControllerQueue) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = ControllerHandle {
            tx,
            active: Arc::new(AtomicBool::new(false)),
        };
        (handle, ControllerQueue { rx })
    }

    pub fn send(&self, event: ControllerEvent) {
        let _ = self.tx.send(event);
    }

    /// Whether this broker is the active controller right now.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Hands an AlterPartition request to the controller and waits for its answer; a broker that is
    /// not the active controller answers NOT_CONTROLLER, as Kafka does.
    pub async fn alter_partition(
        &self,
        request: AlterPartitionRequest,
        version: i16,
    ) -> AlterPartitionResponse {
        let not_controller =
            AlterPartitionResponse::default().with_error_code(ResponseError::NotController.code());
        if !self.is_active() {
            return not_controller;
        }
        let (reply, rx) = oneshot::channel();
        self.send(ControllerEvent::AlterPartition {
            request,
            version,
            reply,
        });
        rx.await.unwrap_or(not_controller)
    }

    /// Hands an ElectLeaders request to the controller and waits for its answer; only the active
    /// controller serves it, as in Kafka's ZooKeeper mode (the admin client then retries against
    /// the controller).
    pub async fn elect_leaders(
        &self,
        partitions: Option<Vec<TopicPartition>>,
        kind: ElectionType,
    ) -> ElectLeadersOutcome {
        if !self.is_active() {
            return Err(ResponseError::NotController);
        }
        let (reply, rx) = oneshot::channel();
        self.send(ControllerEvent::ElectLeaders {
            partitions,
            kind,
            reply,
        });
        rx.await.unwrap_or(Err(ResponseError::NotController))
    }

    /// Hands a ControlledShutdown request to the controller and waits for its answer.
    pub async fn controlled_shutdown(&self, broker_id: i32, broker_epoch: i64) -> ShutdownOutcome {
        if !self.is_active() {
            return Err(ResponseError::NotController);
        }
        let (reply, rx) = oneshot::channel();
        self.send(ControllerEvent::ControlledShutdown {
            broker_id,
            broker_epoch,
            reply,
        });
        rx.await.unwrap_or(Err(ResponseError::NotController))
    }
}

/// Starts the controller task on `queue` (whose handle the caller already holds). `zk` always holds
/// the current session's client.
pub fn start(
    config: ControllerConfig,
    zk: watch::Receiver<KafkaZkClient>,
    shutdown: watch::Receiver<bool>,
    handle: &ControllerHandle,
    queue: ControllerQueue,
) -> tokio::task::JoinHandle<()> {
    let span = info_span!("controller", broker = config.broker_id);
    tokio::spawn(run(config, zk, queue.rx, handle.clone(), shutdown).instrument(span))
}

/// Answers a request that only the active controller can serve while this broker is not it.
fn refuse(event: ControllerEvent) {
    match event {
        ControllerEvent::AlterPartition { reply, .. } => {
            let _ = reply.send(
                AlterPartitionResponse::default()
                    .with_error_code(ResponseError::NotController.code()),
            );
        }
        ControllerEvent::ControlledShutdown { reply, .. } => {
            let _ = reply.send(Err(ResponseError::NotController));
        }
        ControllerEvent::ElectLeaders { reply, .. } => {
            let _ = reply.send(Err(ResponseError::NotController));
        }
        ControllerEvent::AlterReassignments { reply, .. } => {
            let _ = reply.send(Err(ResponseError::NotController));
        }
        ControllerEvent::ListReassignments { reply, .. } => {
            let _ = reply.send(Err(ResponseError::NotController));
        }
        _ => {}
    }
}

async fn run(
    config: ControllerConfig,
    zk: watch::Receiver<KafkaZkClient>,
    mut events: mpsc::UnboundedReceiver<ControllerEvent>,
    handle: ControllerHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let tx = handle.tx.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let client = zk.borrow().clone();
        let attempt = Instant::now();
        // Not the controller: try to become it, else wait for /controller to change.
        match election::elect_or_watch(&client, config.broker_id, &tx).await {
            Ok(Some(epoch)) => {
                info!(epoch = epoch.epoch, "elected controller");
                crate::metrics::controller_elected(attempt);
                let started = Instant::now();
                let elected_at = std::time::SystemTime::now();
                handle.active.store(true, Ordering::Release);
                let stream = event_stream::EventStream::open(config.events_file.as_deref());
                let outcome = event_loop::Controller::new(
                    config.clone(),
                    client.clone(),
                    epoch,
                    tx.clone(),
                    stream,
                )
                .run(&mut events, &mut shutdown, started, elected_at)
                .await;
                handle.active.store(false, Ordering::Release);
                crate::metrics::controller_resigned();
                match outcome {
                    Ok(()) => {}
                    Err(ZkError::ControllerMoved) => {
                        warn!("another controller was elected; resigning")
                    }
                    Err(e) => warn!(error = %e, "controller failed; resigning"),
                }
                if !*shutdown.borrow() {
                    // Let the /controller znode go so that another broker (or we) can win again.
                    if let Err(e) = client.resign_controller(config.broker_id).await {
                        warn!(error = %e, "cannot delete /controller while resigning");
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                // The watch may not be armed: try again after a pause instead of waiting for it.
                warn!(error = %e, "controller election failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        // Wait for a reason to try again; requests for the active controller are refused meanwhile.
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                event = events.recv() => match event {
                    None => return,
                    Some(ControllerEvent::ControllerChanged | ControllerEvent::SessionRenewed) => break,
                    Some(other) => refuse(other),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_inactive_controller_answers_not_controller() {
        let (handle, _queue) = ControllerHandle::new();
        let resp = handle
            .alter_partition(AlterPartitionRequest::default(), 2)
            .await;
        assert_eq!(resp.error_code, ResponseError::NotController.code());
        assert_eq!(
            handle.controlled_shutdown(1, 5).await,
            Err(ResponseError::NotController)
        );
        assert_eq!(
            handle.elect_leaders(None, ElectionType::Unclean).await,
            Err(ResponseError::NotController)
        );
    }

    #[tokio::test]
    async fn queued_requests_are_refused_when_the_term_ends() {
        let (reply, rx) = oneshot::channel();
        refuse(ControllerEvent::ControlledShutdown {
            broker_id: 1,
            broker_epoch: 5,
            reply,
        });
        assert_eq!(rx.await.ok(), Some(Err(ResponseError::NotController)));
        let (reply, rx) = oneshot::channel();
        refuse(ControllerEvent::ElectLeaders {
            partitions: None,
            kind: ElectionType::Preferred,
            reply,
        });
        assert_eq!(rx.await.ok(), Some(Err(ResponseError::NotController)));
        let (reply, rx) = oneshot::channel();
        refuse(ControllerEvent::AlterPartition {
            request: AlterPartitionRequest::default(),
            version: 0,
            reply,
        });
        let resp = rx.await.ok().map(|r| r.error_code);
        assert_eq!(resp, Some(ResponseError::NotController.code()));
    }
}
