//! The log cleaner under dynamic broker configs (Kafka's `LogCleaner.reconfigure`): when a change
//! alters `log.cleaner.threads`, `log.cleaner.dedupe.buffer.size`,
//! `log.cleaner.io.buffer.load.factor`, `log.cleaner.io.max.bytes.per.second` or
//! `log.cleaner.backoff.ms`, the threads stop (aborting cleanings in progress, which start over)
//! and start again with the new settings.

use std::path::PathBuf;
use std::sync::Mutex;

use tracing::{info, warn};

use super::log_cleaner::{CleanerConfig, LogCleaner, LogSource};
use crate::config::KafkaConfig;

impl CleanerConfig {
    /// The cleaner settings of a broker configuration.
    pub fn from_broker(config: &KafkaConfig) -> CleanerConfig {
        CleanerConfig {
            enable: config.log_cleaner_enable,
            threads: config.log_cleaner_threads,
            dedupe_buffer_size: config.log_cleaner_dedupe_buffer_size,
            load_factor: config.log_cleaner_io_buffer_load_factor,
            io_max_bytes_per_second: config.log_cleaner_io_max_bytes_per_second,
            backoff_ms: config.log_cleaner_backoff_ms,
        }
    }
}

/// The running cleaner (None when disabled) and the settings it runs with.
pub struct ReconfigurableCleaner {
    state: Mutex<(CleanerConfig, Option<LogCleaner>)>,
    log_dirs: Vec<PathBuf>,
    source: LogSource,
}

impl ReconfigurableCleaner {
    pub fn start(
        config: CleanerConfig,
        log_dirs: &[PathBuf],
        source: LogSource,
    ) -> anyhow::Result<ReconfigurableCleaner> {
        let running = LogCleaner::start(&config, log_dirs, source.clone())?;
        Ok(ReconfigurableCleaner {
            state: Mutex::new((config, running)),
            log_dirs: log_dirs.to_vec(),
            source,
        })
    }

    /// Restarts the threads with `config` if it differs from the running one; blocks while the
    /// threads stop. A configuration the cleaner refuses leaves it stopped, with a warning.
    pub fn reconfigure(&self, config: CleanerConfig) {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.0 == config {
            return;
        }
        if let Some(running) = state.1.take() {
            running.shutdown();
        }
        info!(?config, "restarting the log cleaner with new settings");
        state.1 = match LogCleaner::start(&config, &self.log_dirs, self.source.clone()) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %format!("{e:#}"), "cannot restart the log cleaner");
                None
            }
        };
        state.0 = config;
    }

    /// Stops the threads for good.
    pub fn shutdown(&self) {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(running) = state.1.take() {
            running.shutdown();
        }
    }
}
