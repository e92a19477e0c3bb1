//! Per-topic log settings, named after Kafka's topic configs (`segment.bytes`, `retention.ms`, ...).

use crate::log::compression::{Levels, TargetCompression};
use crate::log::validator::ValidatorConfig;

/// The topic-level configs the log enforces. Defaults are Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `retention.ms`; -1 keeps data forever.
    pub retention_ms: i64,
    /// `retention.bytes`; -1 means no size limit.
    pub retention_bytes: i64,
    /// `index.interval.bytes`: bytes appended between offset/time index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: roll when an index file would exceed this.
    pub max_index_size: u32,
    /// `flush.messages`: fsync after this many unflushed messages.
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync when the last flush is older than this (None: never by time).
    pub flush_interval_ms: Option<u64>,
    /// `max.message.bytes`: largest batch a producer may append.
    pub max_message_bytes: usize,
    /// `cleanup.policy` contains `delete`: retention by time and size applies. Kafka's `compact`
    /// alone never deletes a segment by age or size, only `compact,delete` does both.
    pub cleanup_delete: bool,
    /// `cleanup.policy` contains `compact`: keyless records are refused and the log cleaner
    /// keeps only each key's latest record.
    pub cleanup_compact: bool,
    /// `delete.retention.ms`: a tombstone stays this long after the cleaner first kept it.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean once dirty bytes exceed this share of the log.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: dirty data older than this is cleaned whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// `message.timestamp.type=LogAppendTime`: appends stamp batches with the broker's time.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms`, or the deprecated `message.timestamp.difference.max.ms`
    /// when only that one is set (Kafka's `LogConfig.getMessageTimestampBeforeMaxMs`).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`, or `message.timestamp.difference.max.ms` likewise.
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type`: the codec batches are stored with.
    pub compression: TargetCompression,
    /// `compression.gzip.level`, `compression.zstd.level`.
    pub compression_levels: Levels,
    /// `message.downconversion.enable`: false answers Fetch v0-v3 with UNSUPPORTED_VERSION.
    pub downconversion_enable: bool,
}

impl LogConfig {
    /// What the leader checks producer batches against.
    pub fn validator(&self) -> ValidatorConfig {
        ValidatorConfig {
            log_append_time: self.log_append_time,
            timestamp_before_max_ms: self.message_timestamp_before_max_ms,
            timestamp_after_max_ms: self.message_timestamp_after_max_ms,
            compact: self.cleanup_compact,
            compression: self.compression,
            levels: self.compression_levels,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            max_index_size: 10 * 1024 * 1024,
            flush_interval_messages: i64::MAX as u64,
            flush_interval_ms: None,
            max_message_bytes: 1_048_588,
            cleanup_delete: true,
            cleanup_compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            log_append_time: false,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
            compression: TargetCompression::Producer,
            compression_levels: Levels::default(),
            downconversion_enable: true,
        }
    }
}
