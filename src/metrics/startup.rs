//! The endpoint as the broker starts it: bound when `metrics.port` is set, closed with the broker.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::KafkaConfig;

/// Opens the Prometheus endpoint when `metrics.port` is set; it closes with the broker.
pub async fn start(
    config: &KafkaConfig,
    state: super::LiveBroker,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.metrics_port == 0 {
        return Ok(None);
    }
    let endpoint = super::MetricsEndpoint::bind(&config.metrics_host, config.metrics_port)
        .await
        .with_context(|| {
            format!(
                "cannot bind the metrics endpoint (metrics.host={}, metrics.port={})",
                config.metrics_host, config.metrics_port
            )
        })?;
    Ok(Some(tokio::spawn(super::serve(
        endpoint,
        Arc::new(state),
        shutdown,
    ))))
}
