//! Log compaction (Kafka's `LogCleaner`): background threads that rewrite the non-active
//! segments of `cleanup.policy=compact` logs so only the latest record of each key is left.
//!
//! - `cleaner_manager` picks the dirtiest log (dirty ratio, compaction lags) and keeps the
//!   `cleaner-offset-checkpoint` of each log dir;
//! - `offset_map` is the bounded key -> latest offset map (`log.cleaner.dedupe.buffer.size`);
//! - `cleaner` maps the dirty section and rewrites segments into `.cleaned` files;
//! - `record_filter` decides which records a rewrite keeps;
//! - `throttler` enforces `log.cleaner.io.max.bytes.per.second`;
//! - `log_cleaner` runs `log.cleaner.threads` threads with `log.cleaner.backoff.ms` between
//!   idle rounds;
//! - `reconfigure` restarts them when a dynamic broker config changes those settings.
//!
//! The swap of cleaned segments into the log, and its recovery after a crash, live with the
//! log (`replace_segments.rs`, `recovery.rs`), since they change the log's files.

#[allow(clippy::module_inception)]
mod cleaner;
mod cleaner_manager;
mod log_cleaner;
mod offset_map;
mod reconfigure;
mod record_filter;
mod throttler;

#[cfg(test)]
mod tests;

use std::sync::MutexGuard;

use crate::log::{Log, LogError};

pub use cleaner_manager::CLEANER_OFFSET_CHECKPOINT;
pub use log_cleaner::{CleanerConfig, LogCleaner, LogSource};
pub use reconfigure::ReconfigurableCleaner;

/// A hosted log the cleaner may clean: the replica layer's partition.
pub trait CleanableLog: Send + Sync {
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
    /// Nothing at or above it is cleaned (Kafka's last stable offset without transactions).
    fn high_watermark(&self) -> i64;
    /// The log's writer lock.
    fn lock_log(&self) -> MutexGuard<'_, Log>;
    /// Cleaning the log failed with `error`: an I/O error takes its log dir offline, as Kafka's
    /// `cleanFilthiestLog` reports an IOException to the `LogDirFailureChannel`.
    fn cleaning_failed(&self, _error: &LogError) {}
}
