//! Per-topic log settings, named after Kafka's topic configs (`segment.bytes`, `retention.ms`, ...).

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
        }
    }
}
