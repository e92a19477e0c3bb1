//! The broker side of controlled shutdown (Kafka's `KafkaServer.controlledShutdown`): before a
//! broker closes its listeners it asks the current controller to move its leaderships away, and
//! retries while partitions remain, so that a rolling restart costs clients a leader change rather
//! than an outage. When every attempt fails the broker shuts down anyway, as Kafka does.

use std::time::{Duration, Instant};

use kafka_protocol::messages::{BrokerId, ControlledShutdownRequest};
use tracing::{info, warn};

use crate::client::Connection;
use crate::metadata::MetadataCache;

/// ControlledShutdown version a Kafka 3.x broker sends (flexible, with the broker epoch).
const CONTROLLED_SHUTDOWN_VERSION: i16 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `controlled.shutdown.*` and what the request carries.
#[derive(Debug, Clone)]
pub struct ControlledShutdownSettings {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The listener the controller takes control requests on (`control.plane.listener.name`,
    /// else `inter.broker.listener.name`).
    pub control_listener: String,
    /// `controlled.shutdown.max.retries`: the number of attempts.
    pub max_retries: i32,
    /// `controlled.shutdown.retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `request.timeout.ms` for each attempt.
    pub request_timeout: Duration,
}

/// Asks the controller (as this broker's metadata cache knows it) to move this broker's partitions;
/// true once it answers with none remaining.
pub async fn request_controlled_shutdown(
    settings: &ControlledShutdownSettings,
    metadata: &MetadataCache,
) -> bool {
    let started = Instant::now();
    let mut remaining_retries = settings.max_retries;
    while remaining_retries > 0 {
        remaining_retries -= 1;
        match attempt(settings, metadata).await {
            Ok(0) => {
                info!(
                    ms = started.elapsed().as_millis() as u64,
                    "controlled shutdown succeeded"
                );
                return true;
            }
            Ok(remaining) => {
                info!(
                    remaining,
                    "controlled shutdown left partitions led by this broker"
                )
            }
            Err(reason) => info!(%reason, "controlled shutdown attempt failed"),
        }
        if remaining_retries > 0 {
            tokio::time::sleep(settings.retry_backoff).await;
            info!(remaining_retries, "retrying controlled shutdown");
        }
    }
    warn!("proceeding to do an unclean shutdown as all the controlled shutdown attempts failed");
    false
}

/// One attempt: the number of partitions still led here, or why the attempt failed.
async fn attempt(
    settings: &ControlledShutdownSettings,
    metadata: &MetadataCache,
) -> Result<usize, String> {
    let view = metadata.snapshot();
    let controller = view
        .brokers
        .get(&view.controller_id)
        .ok_or_else(|| format!("controller {} is not known yet", view.controller_id))?;
    let addr = controller.address_on(&settings.control_listener);
    let client_id = format!("broker-{}-controlled-shutdown", settings.broker_id);
    let conn = Connection::connect_inter_broker(&addr, &client_id, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("cannot reach controller {} at {addr}: {e}", controller.id))?
        .with_request_timeout(settings.request_timeout);
    let req = ControlledShutdownRequest::default()
        .with_broker_id(BrokerId(settings.broker_id))
        .with_broker_epoch(settings.broker_epoch);
    let resp = conn
        .send(req, CONTROLLED_SHUTDOWN_VERSION)
        .await
        .map_err(|e| format!("controller {} at {addr}: {e}", controller.id))?;
    if resp.error_code != crate::errors::NONE {
        return Err(format!(
            "controller {} answered error {}",
            controller.id, resp.error_code
        ));
    }
    Ok(resp.remaining_partitions.len())
}
