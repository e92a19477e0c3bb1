//! Retention and log start offset behaviour.

use crate::log::segment::file_name;
use crate::log::test_util::*;
use crate::log::{Log, LogConfig, LogError};

#[test]
fn retention_by_time_size_and_high_watermark() {
    let (dir, mut log) = filled(30, 3);
    let segments = log.segments.len();
    // Nothing goes past the high watermark.
    log.update_config(LogConfig {
        retention_ms: 10,
        ..small_config()
    });
    assert_eq!(log.delete_old_segments(1_000_000, 0).unwrap(), 0);
    let second = log.segments[1].base_offset();
    assert_eq!(log.delete_old_segments(1_000_000, second).unwrap(), 1);
    assert_eq!(log.log_start_offset(), second);
    assert!(!dir.path().join(file_name(0, "log")).exists());
    assert!(matches!(
        log.reader().read(0, 100, 90, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Time: everything old goes, except the active segment.
    assert_eq!(
        log.delete_old_segments(1_000_000, 90).unwrap(),
        segments - 2
    );
    assert_eq!(log.segments.len(), 1);
    // Size: keep at most ~2 segments' worth.
    let (_dir, mut log) = filled(30, 3);
    let cfg = LogConfig {
        retention_bytes: 1500,
        ..small_config()
    };
    log.update_config(cfg);
    assert!(log.delete_old_segments(0, 90).unwrap() > 0);
    let total: u64 = log.segments.iter().map(|s| s.size()).sum();
    assert!(total <= 1500 + 1000, "{total} bytes kept");
    assert_eq!(
        log.reader().log_start_offset(),
        log.segments[0].base_offset()
    );
}

#[test]
fn log_start_offset_moves_up_only() {
    let (dir, mut log) = filled(30, 3);
    assert!(!log.maybe_increment_log_start_offset(0).unwrap());
    assert!(log.maybe_increment_log_start_offset(50).unwrap());
    assert_eq!(log.reader().log_start_offset(), 50);
    assert!(matches!(
        log.reader().read(49, 100, 90, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        offsets(&log.reader().read(50, 1, 90, true).unwrap()),
        vec![48, 49, 50]
    );
    // Segments wholly below the new start are deleted by retention even with retention off.
    let deleted = log.delete_old_segments(0, 90).unwrap();
    assert!(deleted > 0);
    assert!(log.segments[0].base_offset() <= 50);
    assert_eq!(log.log_start_offset(), 50);
    log.close().unwrap();
    let log = Log::open(dir.path(), small_config(), 90, 50).unwrap();
    assert_eq!(log.log_start_offset(), 50);
}

/// A `compact`-only topic loses nothing to `retention.ms` or `retention.bytes` (the data loss of
/// issue #10); `compact,delete` applies both, and the log start offset still deletes below it.
#[test]
fn compact_only_policy_never_deletes_by_time_or_size() {
    let (_dir, mut log) = filled(30, 3);
    let segments = log.segments.len();
    let compact_only = LogConfig {
        retention_ms: 10,
        retention_bytes: 1500,
        cleanup_delete: false,
        ..small_config()
    };
    log.update_config(compact_only.clone());
    assert_eq!(log.delete_old_segments(1_000_000, 90).unwrap(), 0);
    assert_eq!(log.segments.len(), segments);
    assert_eq!(log.log_start_offset(), 0);

    let second = log.segments[1].base_offset();
    assert!(log.maybe_increment_log_start_offset(second).unwrap());
    assert_eq!(log.delete_old_segments(1_000_000, 90).unwrap(), 1);

    log.update_config(LogConfig {
        cleanup_delete: true,
        ..compact_only
    });
    assert_eq!(
        log.delete_old_segments(1_000_000, 90).unwrap(),
        segments - 2
    );
}
