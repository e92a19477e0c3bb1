//! Kafka's `SocketServer.enableRequestProcessing`: a broker answers clients only once it can answer
//! them as Kafka would, registered in ZooKeeper and holding the controller's first UpdateMetadata.
//! Before that its metadata names no broker and no controller, so a client's first Metadata or
//! CreateTopics would get an empty cluster (and librdkafka, told of no brokers and no controller,
//! waits for a controller it never asks about again). Requests that arrive early are held, not
//! refused: the client just sees a slow first answer.
//!
//! The control plane passes from the start: the controller's requests (LeaderAndIsr,
//! UpdateMetadata, StopReplica) are what makes the broker ready, and the brokers' requests to the
//! controller (AlterPartition, ControlledShutdown) are answered from the controller's own model,
//! which a newly elected controller has before its first UpdateMetadata reaches itself.
//! ApiVersions passes too: it describes the broker, not the cluster, and connections begin with it.

use kafka_protocol::messages::ApiKey;
use tokio::sync::watch;

use crate::metadata::MetadataCache;

/// Whether client requests are processed yet; switched on once, at the end of start-up.
#[derive(Debug)]
pub struct RequestProcessing {
    enabled: watch::Sender<bool>,
}

impl Default for RequestProcessing {
    fn default() -> Self {
        RequestProcessing {
            enabled: watch::channel(false).0,
        }
    }
}

impl RequestProcessing {
    /// Lets every request through from now on, including those already waiting.
    pub fn enable(&self) {
        self.enabled.send_replace(true);
    }

    /// Enables request processing once the controller's UpdateMetadata listing `broker_id` among
    /// the live brokers has arrived: from then on Metadata names this broker and a controller, and
    /// new topics can be placed. Called after the broker registered (which the controller must
    /// see before it sends that request).
    pub async fn enable_when_ready(&self, metadata: &MetadataCache, broker_id: i32) {
        metadata
            .wait_for(|view| view.brokers.contains_key(&broker_id))
            .await;
        self.enable();
    }

    /// Resolves once a request with `api_key` may be handled.
    pub async fn admitted(&self, api_key: ApiKey) {
        if handled_during_start_up(api_key) {
            return;
        }
        let mut enabled = self.enabled.subscribe();
        // The sender lives in `self`, so this only ends by enabling.
        let _ = enabled.wait_for(|on| *on).await;
    }
}

/// The control plane, and ApiVersions.
fn handled_during_start_up(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::ApiVersions
            | ApiKey::LeaderAndIsr
            | ApiKey::UpdateMetadata
            | ApiKey::StopReplica
            | ApiKey::AlterPartition
            | ApiKey::ControlledShutdown
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn admitted_within(gate: &RequestProcessing, key: ApiKey, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), gate.admitted(key))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn client_requests_wait_for_enabling_and_control_requests_do_not() {
        let gate = RequestProcessing::default();
        for key in [
            ApiKey::ApiVersions,
            ApiKey::LeaderAndIsr,
            ApiKey::UpdateMetadata,
            ApiKey::StopReplica,
            ApiKey::AlterPartition,
            ApiKey::ControlledShutdown,
        ] {
            assert!(admitted_within(&gate, key, 50).await, "{key:?} held");
        }
        for key in [ApiKey::Metadata, ApiKey::CreateTopics, ApiKey::Produce] {
            assert!(
                !admitted_within(&gate, key, 50).await,
                "{key:?} let through"
            );
        }
        let gate = std::sync::Arc::new(gate);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admitted(ApiKey::CreateTopics).await }
        });
        tokio::task::yield_now().await;
        gate.enable();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("a waiting request is let through when enabled")
            .unwrap();
        assert!(admitted_within(&gate, ApiKey::Metadata, 50).await);
    }

    #[tokio::test]
    async fn enabled_by_the_update_metadata_that_lists_this_broker() {
        use kafka_protocol::messages::update_metadata_request::{
            UpdateMetadataBroker, UpdateMetadataEndpoint,
        };
        use kafka_protocol::messages::{BrokerId, UpdateMetadataRequest};
        let live = |ids: &[i32]| {
            UpdateMetadataRequest::default()
                .with_controller_id(BrokerId(1))
                .with_live_brokers(
                    ids.iter()
                        .map(|id| {
                            UpdateMetadataBroker::default()
                                .with_id(BrokerId(*id))
                                .with_endpoints(vec![UpdateMetadataEndpoint::default()
                                    .with_host(crate::metadata::str_bytes("h"))
                                    .with_port(9092)])
                        })
                        .collect(),
                )
        };
        let gate = std::sync::Arc::new(RequestProcessing::default());
        let metadata = std::sync::Arc::new(MetadataCache::new("c".into()));
        let enabling = tokio::spawn({
            let (gate, metadata) = (gate.clone(), metadata.clone());
            async move { gate.enable_when_ready(&metadata, 2).await }
        });
        tokio::task::yield_now().await;
        // A picture of the cluster without this broker does not make it ready.
        metadata.apply(&live(&[1]));
        assert!(!admitted_within(&gate, ApiKey::Metadata, 100).await);
        metadata.apply(&live(&[1, 2]));
        tokio::time::timeout(Duration::from_secs(1), enabling)
            .await
            .expect("enabled")
            .unwrap();
        assert!(admitted_within(&gate, ApiKey::Metadata, 50).await);
    }
}
