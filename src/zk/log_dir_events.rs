//! `/log_dir_event_notification/log_dir_event_<seq>` (Kafka's `LogDirEventNotificationZNode`):
//! a broker whose log dir failed says so here, and the controller, watching the children,
//! finds out which of that broker's replicas are offline and moves their leadership.

use serde::{Deserialize, Serialize};

use super::batch::WriteOp;
use super::error::{parse_json, ZkError};
use super::paths::{LOG_DIR_EVENT_NOTIFICATION, LOG_DIR_EVENT_PREFIX};
use super::znodes::to_json;
use super::{ControllerEpoch, KafkaZkClient, OneshotWatcher};

/// Kafka's `LogDirEventNotificationSequenceZNode` data; `event` 1 is `LogDirFailureEvent`, the
/// only event Kafka defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDirEventZnode {
    pub version: i32,
    pub broker: i32,
    pub event: i32,
}

/// The only event: a log dir of `broker` failed.
pub const LOG_DIR_FAILURE_EVENT: i32 = 1;

impl KafkaZkClient {
    /// Kafka's `propagateLogDirEvent`: a persistent sequential notification naming this broker.
    /// Returns the znode's name.
    pub async fn propagate_log_dir_event(&self, broker: i32) -> Result<String, ZkError> {
        let data = to_json(&LogDirEventZnode {
            version: 1,
            broker,
            event: LOG_DIR_FAILURE_EVENT,
        });
        let (_, sequence) = self
            .client
            .create(LOG_DIR_EVENT_PREFIX, &data, &self.persistent_sequential())
            .await
            .map_err(|e| ZkError::at(LOG_DIR_EVENT_PREFIX, e))?;
        Ok(format!("log_dir_event_{sequence}"))
    }

    /// The pending notifications' names (in sequence order) and a child watch.
    pub async fn get_log_dir_events_and_watch(
        &self,
    ) -> Result<(Vec<String>, OneshotWatcher), ZkError> {
        self.children_and_watch(LOG_DIR_EVENT_NOTIFICATION).await
    }

    /// The brokers the notifications `names` name (Kafka's `getBrokerIdsFromLogDirEvents`); a
    /// notification deleted meanwhile or that does not parse names none (logged by the parser).
    pub async fn get_log_dir_event_brokers(&self, names: &[String]) -> Result<Vec<i32>, ZkError> {
        let mut brokers = Vec::new();
        for name in names {
            let path = format!("{LOG_DIR_EVENT_NOTIFICATION}/{name}");
            if let Some((data, _)) = self.read(&path).await? {
                match parse_json::<LogDirEventZnode>(&path, &data) {
                    Ok(event) if event.event == LOG_DIR_FAILURE_EVENT => brokers.push(event.broker),
                    Ok(event) => {
                        tracing::warn!(path, event = event.event, "unknown log dir event; skipped")
                    }
                    Err(e) => tracing::warn!(path, error = %e, "malformed log dir event; skipped"),
                }
            }
        }
        Ok(brokers)
    }

    /// Fenced: deletes handled notifications (Kafka's `deleteLogDirEventNotifications`); one
    /// already gone is fine.
    pub async fn delete_log_dir_events(
        &self,
        epoch: &ControllerEpoch,
        names: &[String],
    ) -> Result<(), ZkError> {
        let ops: Vec<WriteOp> = names
            .iter()
            .map(|name| WriteOp::Delete {
                path: format!("{LOG_DIR_EVENT_NOTIFICATION}/{name}"),
                version: None,
            })
            .collect();
        if ops.is_empty() {
            return Ok(());
        }
        for result in self.fenced_writes(epoch, &ops).await? {
            match result {
                Ok(_) | Err(ZkError::NoNode(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notification_is_kafkas_json() {
        let data = to_json(&LogDirEventZnode {
            version: 1,
            broker: 2,
            event: LOG_DIR_FAILURE_EVENT,
        });
        assert_eq!(data, br#"{"version":1,"broker":2,"event":1}"#);
    }
}
