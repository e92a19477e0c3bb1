//! The controller (Kafka's `KafkaController`): every broker runs this; the one that wins the election
//! through `/controller` owns the cluster model, writes partition states to ZooKeeper and tells brokers.
//!
//! One task owns all controller state. ZooKeeper watches, session changes and broker requests arrive as
//! [`ControllerEvent`]s on one queue, so no state is shared or locked.

pub mod assignment;
mod channel;
mod context;
mod election;
mod handlers;
mod requests;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tracing::{info, info_span, warn, Instrument};

use crate::zk::{KafkaZkClient, ZkError};

pub use context::LeaderIsr;

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
    /// The ZooKeeper session was replaced after an expiry; everything must be re-read and re-armed.
    SessionRenewed,
}

/// What the controller needs from the rest of the broker.
#[derive(Clone)]
pub struct ControllerConfig {
    pub broker_id: i32,
    pub delete_topic_enable: bool,
    pub unclean_leader_election_enable: bool,
}

/// The handle the server uses to feed the controller.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: mpsc::UnboundedSender<ControllerEvent>,
}

impl ControllerHandle {
    pub fn send(&self, event: ControllerEvent) {
        let _ = self.tx.send(event);
    }
}

/// Starts the controller task. `zk` always holds the current session's client.
pub fn start(
    config: ControllerConfig,
    zk: watch::Receiver<KafkaZkClient>,
    shutdown: watch::Receiver<bool>,
) -> (ControllerHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = ControllerHandle { tx: tx.clone() };
    let span = info_span!("controller", broker = config.broker_id);
    let task = tokio::spawn(run(config, zk, rx, tx, shutdown).instrument(span));
    (handle, task)
}

async fn run(
    config: ControllerConfig,
    zk: watch::Receiver<KafkaZkClient>,
    mut events: mpsc::UnboundedReceiver<ControllerEvent>,
    tx: mpsc::UnboundedSender<ControllerEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let client = zk.borrow().clone();
        // Not the controller: try to become it, else wait for /controller to change.
        match election::elect_or_watch(&client, config.broker_id, &tx).await {
            Ok(Some(epoch)) => {
                info!(epoch = epoch.epoch, "elected controller");
                let started = Instant::now();
                let outcome =
                    handlers::Controller::new(config.clone(), client.clone(), epoch, tx.clone())
                        .run(&mut events, &mut shutdown, started)
                        .await;
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
                warn!(error = %e, "controller election failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        // Wait for a reason to try again.
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            event = events.recv() => match event {
                None => return,
                Some(ControllerEvent::ControllerChanged | ControllerEvent::SessionRenewed) => {}
                Some(_) => {}
            },
        }
    }
}
