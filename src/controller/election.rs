//! Controller election through `/controller` and the watches that re-run it.

use tokio::sync::mpsc;

use super::ControllerEvent;
use crate::zk::{ControllerEpoch, KafkaZkClient, OneshotWatcher, ZkError};

/// Turns a one-shot ZooKeeper watch into a controller event when it fires.
pub(crate) fn forward(
    watcher: OneshotWatcher,
    tx: &mpsc::UnboundedSender<ControllerEvent>,
    event: ControllerEvent,
) {
    let tx = tx.clone();
    tokio::spawn(async move {
        let _ = watcher.changed().await;
        let _ = tx.send(event);
    });
}

/// If `/controller` is absent, runs Kafka's election multi. Always leaves an exists-watch on
/// `/controller` armed, so that losing (or gaining) the znode becomes a `ControllerChanged` event.
/// A `/controller` that is this session's own (the session was resumed after a ZooKeeper outage)
/// is taken back in its current epoch: no other broker could have been elected meanwhile, and
/// electing again would only move the controller for nothing.
pub(crate) async fn elect_or_watch(
    zk: &KafkaZkClient,
    broker_id: i32,
    tx: &mpsc::UnboundedSender<ControllerEvent>,
) -> Result<Option<ControllerEpoch>, ZkError> {
    let (current, watcher) = zk.get_controller_and_watch().await?;
    forward(watcher, tx, ControllerEvent::ControllerChanged);
    if current == Some(broker_id) && zk.owns_controller().await? {
        return zk.get_controller_epoch().await;
    }
    if current.is_some() {
        return Ok(None);
    }
    zk.try_elect_controller(broker_id).await
}
