//! Behaviour of a whole cleaning on real logs: what is kept, offsets, CRCs and indexes, the
//! delete horizon, producer state, a bounded offset map, the cleaner threads; readers across a
//! swap and recovery from a crash at each step of it are in `swap.rs`. Records are read back
//! with kafka-protocol's decoder (which checks every CRC), an implementation we did not write.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

use crate::topic_partition::TopicPartition;
use kafka_protocol::records::RecordBatchDecoder;

use super::cleaner::{CleanResult, Cleaner, CleanerError};
use super::cleaner_manager::CleanerManager;
use super::throttler::Throttler;
use super::CleanableLog;
use crate::log::compression::{self, Codec, TargetCompression};
use crate::log::record::Records;
use crate::log::record_batch::{validate_replicated, Batches, HEADER_SIZE};
use crate::log::segment::{file_name, rename_files, SegmentFiles, CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::log::test_util::keyed_batch;
use crate::log::{Log, LogConfig, LogError};

/// Far in the future of every record timestamp used here.
const NOW: i64 = 1_000_000;
const DELETE_RETENTION: i64 = 5_000;

struct TestLog {
    log: Mutex<Log>,
}

impl CleanableLog for TestLog {
    fn topic(&self) -> &str {
        "t"
    }
    fn partition(&self) -> i32 {
        0
    }
    fn high_watermark(&self) -> i64 {
        self.lock_log().log_end_offset()
    }
    fn lock_log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 64,
        retention_ms: -1,
        cleanup_delete: false,
        cleanup_compact: true,
        delete_retention_ms: DELETE_RETENTION,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn open_log(dir: &Path) -> Arc<TestLog> {
    let log = Log::open(&dir.join("t-0"), config(), 0, 0).unwrap();
    Arc::new(TestLog {
        log: Mutex::new(log),
    })
}

fn cleaner(map_memory: usize) -> Cleaner {
    Cleaner::new(
        map_memory,
        0.9,
        Arc::new(Throttler::new(f64::MAX, Instant::now())),
        Arc::new(AtomicBool::new(false)),
    )
}

type Row = (i64, Option<String>, Option<String>);

/// Every record of the log from its start, as (offset, key, value).
fn records(log: &Log) -> Vec<Row> {
    let reader = log.reader();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut rows = Vec::new();
    let text = |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    while offset < end {
        let bytes = reader.read(offset, 1 << 20, end, true).unwrap();
        let batches: Vec<_> = Batches::new(&bytes).collect();
        assert!(!batches.is_empty(), "nothing readable at offset {offset}");
        validate_replicated(&bytes).unwrap();
        let mut buf = bytes.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for r in set.records {
                if r.offset >= offset {
                    rows.push((r.offset, text(&r.key), text(&r.value)));
                }
            }
        }
        offset = batches.last().unwrap().header.last_offset() + 1;
    }
    rows
}

/// Appends `n` rounds writing keys k0..k{keys-1}; round r gives each key the value "r-<key>",
/// except that key 0 is deleted (a tombstone) in every third round.
fn write_rounds(log: &mut Log, rounds: usize, keys: usize) {
    for round in 0..rounds {
        let names: Vec<String> = (0..keys).map(|k| format!("k{k}")).collect();
        let values: Vec<String> = (0..keys).map(|k| format!("{round}-k{k}")).collect();
        let kvs: Vec<(Option<&str>, Option<&str>)> = (0..keys)
            .map(|k| {
                let value = (k != 0 || round % 3 != 2).then_some(values[k].as_str());
                (Some(names[k].as_str()), value)
            })
            .collect();
        log.append_as_leader(&keyed_batch((-1, -1, -1), 100 + round as i64, &kvs), 0, 0)
            .unwrap();
    }
}

/// What a fully cleaned prefix must hold: the last record of each key below `end`, then every
/// record from `end` on.
fn expected(before: &[Row], end: i64) -> Vec<Row> {
    let mut last: BTreeMap<&Option<String>, i64> = BTreeMap::new();
    for (offset, key, _) in before.iter().filter(|r| r.0 < end) {
        last.insert(key, *offset);
    }
    before
        .iter()
        .filter(|(offset, key, _)| *offset >= end || last.get(key) == Some(offset))
        .cloned()
        .collect()
}

/// One cleaning as a cleaner thread does it, with the manager's checkpoint.
fn clean_once(
    manager: &CleanerManager,
    handle: &Arc<TestLog>,
    cleaner: &mut Cleaner,
    now: i64,
) -> Option<CleanResult> {
    let logs: Vec<Arc<dyn CleanableLog>> = vec![handle.clone()];
    let grabbed = manager.grab_filthiest(&logs, now).unwrap()?;
    let truncations = grabbed.log.truncations;
    let mut swap = |base: i64, old: &[Arc<SegmentFiles>]| {
        handle.lock_log().replace_segments(base, old, truncations)
    };
    let result = cleaner.clean(&grabbed.log, now, &mut swap).unwrap();
    manager
        .done_cleaning(
            &grabbed.tp,
            &grabbed.log_dir,
            result.as_ref().map(|r| r.end_offset),
        )
        .unwrap();
    result
}

#[test]
fn keeps_the_latest_record_per_key_at_its_offset_with_valid_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    write_rounds(&mut handle.lock_log(), 40, 4);
    let before = records(&handle.lock_log());
    let segments_before = handle.lock_log().segments.len();
    assert!(segments_before > 5);
    let active_base = handle.lock_log().segments.last().unwrap().base_offset();

    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    let result = clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    assert_eq!(result.end_offset, active_base);
    assert!(result.bytes_written < result.bytes_read);
    let after = records(&handle.lock_log());
    assert_eq!(after, expected(&before, active_base));
    assert_eq!(
        manager.checkpoint(dir.path(), &TopicPartition::new("t", 0)),
        Some(active_base)
    );
    let checkpoint = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert_eq!(checkpoint, format!("0\n1\nt 0 {active_base}\n"));

    // The offset index finds every kept offset, and a reopened log trusts the rebuilt indexes.
    let log = handle.lock_log();
    let reader = log.reader();
    for (offset, _, _) in &after {
        let bytes = reader.read(*offset, 1, log.log_end_offset(), true).unwrap();
        let first = Batches::new(&bytes).next().unwrap().header;
        assert!(first.base_offset <= *offset && *offset <= first.last_offset());
    }
    for s in &log.segments {
        assert!(s.files().offset_index.is_sane().unwrap());
        assert!(s.files().time_index.is_sane().unwrap());
    }
    drop(log);

    // Segments are grouped by their sizes: the next cleaning merges the small cleaned ones.
    write_rounds(&mut handle.lock_log(), 40, 4);
    let before = records(&handle.lock_log());
    let segments_before = handle.lock_log().segments.len();
    let result = clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    let log = handle.lock_log();
    assert!(log.segments.len() < segments_before);
    let after = records(&log);
    assert_eq!(after, expected(&before, result.end_offset));

    let end = log.log_end_offset();
    drop(log);
    let reopened = Log::open(&dir.path().join("t-0"), config(), end, 0).unwrap();
    assert_eq!(records(&reopened), after);
    assert_eq!(reopened.log_end_offset(), end);
}

#[test]
fn tombstones_stay_until_delete_retention_after_their_cleaning_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    write_rounds(&mut handle.lock_log(), 30, 3);
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    let mut cleaner = cleaner(1 << 20);
    // Round 29 is the last; the last tombstone of k0 is in round 26, then values follow. Delete
    // k1 for good so that its tombstone is the key's last record.
    {
        let mut log = handle.lock_log();
        log.append_as_leader(&keyed_batch((-1, -1, -1), 500, &[(Some("k1"), None)]), 0, 0)
            .unwrap();
        write_rounds_without(&mut log, 20, "k1");
    }
    assert!(clean_once(&manager, &handle, &mut cleaner, NOW).is_some());
    let k1 = |log: &Log| -> Vec<Row> {
        records(log)
            .into_iter()
            .filter(|r| r.1.as_deref() == Some("k1"))
            .collect()
    };
    let kept = k1(&handle.lock_log());
    assert_eq!(kept.len(), 1, "only the tombstone is left: {kept:?}");
    assert_eq!(kept[0].2, None);

    // More data, cleaned again before the horizon: the tombstone stays.
    write_rounds_without(&mut handle.lock_log(), 20, "k1");
    assert!(clean_once(&manager, &handle, &mut cleaner, NOW + DELETE_RETENTION - 1).is_some());
    assert_eq!(k1(&handle.lock_log()), kept);

    // After the horizon the next cleaning removes it; the other keys keep their latest values.
    write_rounds_without(&mut handle.lock_log(), 20, "k1");
    let before = records(&handle.lock_log());
    assert!(clean_once(&manager, &handle, &mut cleaner, NOW + DELETE_RETENTION + 1).is_some());
    let log = handle.lock_log();
    assert!(k1(&log).is_empty());
    let active_base = log.segments.last().unwrap().base_offset();
    let want: Vec<Row> = expected(&before, active_base)
        .into_iter()
        .filter(|r| r.1.as_deref() != Some("k1"))
        .collect();
    assert_eq!(records(&log), want);
}

/// Rounds of k0 and k2 values only (k1 stays deleted).
fn write_rounds_without(log: &mut Log, rounds: usize, skip: &str) {
    for round in 0..rounds {
        let v0 = format!("late{round}-k0");
        let v2 = format!("late{round}-k2");
        let kvs = [
            (Some("k0"), Some(v0.as_str())),
            (Some("k2"), Some(v2.as_str())),
        ];
        assert!(kvs.iter().all(|(k, _)| *k != Some(skip)));
        log.append_as_leader(&keyed_batch((-1, -1, -1), 600, &kvs), 0, 0)
            .unwrap();
    }
}

#[test]
fn a_producers_last_batch_survives_empty_and_keeps_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    // Producer state older than a day is not rebuilt at open: use the real clock.
    let ts = crate::clock::now_ms();
    {
        let mut log = handle.lock_log();
        let kvs = [
            (Some("a"), Some("1")),
            (Some("b"), Some("1")),
            (Some("c"), Some("1")),
        ];
        log.append_as_leader(&keyed_batch((7, 0, 0), ts, &kvs), 0, 0)
            .unwrap();
        // Every record of producer 7 is superseded by a producer without an id.
        let kvs = [
            (Some("a"), Some("2")),
            (Some("b"), Some("2")),
            (Some("c"), Some("2")),
        ];
        log.append_as_leader(&keyed_batch((-1, -1, -1), ts, &kvs), 0, 0)
            .unwrap();
        for i in 0..40 {
            let key = format!("x{}", i % 4);
            log.append_as_leader(
                &keyed_batch((-1, -1, -1), ts, &[(Some(&key), Some("v"))]),
                0,
                0,
            )
            .unwrap();
        }
    }
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    let log = handle.lock_log();
    assert!(
        records(&log).iter().all(|r| r.0 > 2),
        "producer 7's records are gone"
    );
    let first = log.segments[0].files().read(0, 61).unwrap();
    let h = crate::log::record_batch::BatchHeader::parse(&first).unwrap();
    assert_eq!(
        (
            h.base_offset,
            h.last_offset(),
            h.records_count,
            h.producer_id,
            h.base_sequence
        ),
        (0, 2, 0, 7, 0),
        "an empty batch holds producer 7's last offset and sequence"
    );
    let end = log.log_end_offset();
    drop(log);
    // Producer state rebuilt from the cleaned log still knows producer 7's sequence.
    let mut reopened = Log::open(&dir.path().join("t-0"), config(), end, 0).unwrap();
    let gap = keyed_batch((7, 0, 5), 100, &[(Some("a"), Some("3"))]);
    assert!(matches!(
        reopened.append_as_leader(&gap, 0, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    let next = keyed_batch((7, 0, 3), 100, &[(Some("a"), Some("3"))]);
    assert_eq!(
        reopened.append_as_leader(&next, 0, 0).unwrap().first_offset,
        end
    );
}

#[test]
fn a_small_offset_map_cleans_up_to_what_fits_then_continues() {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    {
        let mut log = handle.lock_log();
        // 60 distinct keys once, then all of them again.
        for pass in 0..2 {
            for k in 0..60 {
                let key = format!("key{k:02}");
                let value = format!("{pass}");
                log.append_as_leader(
                    &keyed_batch((-1, -1, -1), 100, &[(Some(&key), Some(&value))]),
                    0,
                    0,
                )
                .unwrap();
            }
        }
    }
    let before = records(&handle.lock_log());
    let active_base = handle.lock_log().segments.last().unwrap().base_offset();
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    // 20 slots at load factor 0.9: 18 keys per cleaning.
    let mut cleaner = cleaner(20 * super::offset_map::BYTES_PER_SLOT);
    let mut ends = Vec::new();
    while let Some(r) = clean_once(&manager, &handle, &mut cleaner, NOW) {
        ends.push(r.end_offset);
        assert!(ends.len() < 20, "no progress: {ends:?}");
        // Every cleaning leaves exactly the records a full cleaning up to its end would.
        assert_eq!(records(&handle.lock_log()), expected(&before, r.end_offset));
    }
    assert!(
        ends.len() > 2 && ends.windows(2).all(|w| w[0] < w[1]),
        "{ends:?}"
    );
    assert_eq!(ends.last(), Some(&active_base));
    assert_eq!(ends[0], 18, "the first cleaning maps 18 keys");
    assert_eq!(records(&handle.lock_log()), expected(&before, active_base));
}

#[test]
fn cleaner_threads_clean_in_the_background_and_stop() {
    use super::{CleanerConfig, LogCleaner, LogSource};
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    write_rounds(&mut handle.lock_log(), 40, 4);
    let before = records(&handle.lock_log());
    let active_base = handle.lock_log().segments.last().unwrap().base_offset();
    let mut config = CleanerConfig {
        enable: true,
        threads: 2,
        dedupe_buffer_size: 1 << 20,
        load_factor: 0.9,
        io_max_bytes_per_second: f64::MAX,
        backoff_ms: 10,
    };
    let source_log = handle.clone();
    let source: LogSource = Arc::new(move || vec![source_log.clone() as Arc<dyn CleanableLog>]);
    let dirs = [dir.path().to_path_buf()];

    let disabled = CleanerConfig {
        enable: false,
        ..config.clone()
    };
    assert!(LogCleaner::start(&disabled, &dirs, source.clone())
        .unwrap()
        .is_none());
    config.dedupe_buffer_size = 2 * 24;
    assert!(LogCleaner::start(&config, &dirs, source.clone()).is_err());
    config.dedupe_buffer_size = 1 << 20;

    let cleaner = LogCleaner::start(&config, &dirs, source).unwrap().unwrap();
    let checkpoint = dir.path().join("cleaner-offset-checkpoint");
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&checkpoint).ok() != Some(format!("0\n1\nt 0 {active_base}\n")) {
        assert!(Instant::now() < deadline, "the log was not cleaned");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cleaner.shutdown();
    assert_eq!(records(&handle.lock_log()), expected(&before, active_base));
}

/// Producers pick any timestamp: re-framing a tombstone's batch under a delete horizon far from
/// it must neither panic nor change the record's timestamp.
#[test]
fn extreme_timestamps_survive_a_rewrite() {
    use crate::log::record_batch::BatchHeader;
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    {
        let mut log = handle.lock_log();
        let early = i64::MIN + 5;
        log.append_as_leader(
            &keyed_batch((-1, -1, -1), early, &[(Some("gone"), None)]),
            0,
            0,
        )
        .unwrap();
        write_rounds(&mut log, 30, 2);
    }
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    let log = handle.lock_log();
    let bytes = log.segments[0].files().read(0, 4096).unwrap();
    let batch = Batches::new(&bytes).next().unwrap();
    let h: BatchHeader = batch.header;
    assert_eq!(h.delete_horizon_ms(), Some(NOW + DELETE_RETENTION));
    let r = Records::in_payload(
        &bytes[batch.range.start + HEADER_SIZE..batch.range.end],
        h.records_count,
    )
    .next()
    .unwrap()
    .unwrap();
    assert_eq!((r.key, r.value), (Some(&b"gone"[..]), None));
    assert_eq!(
        h.base_timestamp.wrapping_add(r.timestamp_delta),
        i64::MIN + 5
    );
}

/// Every record of the log from its start, as (offset, key, value), decompressing with this
/// crate's codecs (kafka-protocol is built without them); every batch must be `codec`.
fn compressed_records(log: &Log, codec: Codec) -> Vec<Row> {
    let reader = log.reader();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut rows = Vec::new();
    let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
    while offset < end {
        let bytes = reader.read(offset, 1 << 20, end, true).unwrap();
        let batches = validate_replicated(&bytes).unwrap();
        assert!(!batches.is_empty(), "nothing readable at offset {offset}");
        for b in &batches {
            let h = b.header;
            assert_eq!(h.compression_codec(), codec.id());
            let mut payload = Vec::new();
            compression::decompress(
                codec,
                &bytes[b.range.start + HEADER_SIZE..b.range.end],
                &mut payload,
            )
            .unwrap();
            for r in Records::in_payload(&payload, h.records_count) {
                let r = r.unwrap();
                let at = h.base_offset + i64::from(r.offset_delta);
                if at >= offset {
                    rows.push((at, text(r.key), text(r.value)));
                }
            }
        }
        offset = batches.last().unwrap().header.last_offset() + 1;
    }
    rows
}

#[test]
fn keys_inside_compressed_batches_are_mapped_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let gzip = LogConfig {
        compression: TargetCompression::Codec(Codec::Gzip),
        ..config()
    };
    let log = Log::open(&dir.path().join("t-0"), gzip, 0, 0).unwrap();
    let handle = Arc::new(TestLog {
        log: Mutex::new(log),
    });
    // Every batch is stored gzip-compressed (the topic's compression.type).
    write_rounds(&mut handle.lock_log(), 40, 4);
    let before = compressed_records(&handle.lock_log(), Codec::Gzip);
    assert_eq!(before.len(), 160);
    let active_base = handle.lock_log().segments.last().unwrap().base_offset();

    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    let result = clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    assert_eq!(result.end_offset, active_base);
    assert!(result.records_kept < result.records_read);
    // Older values of every key are gone from inside the compressed batches, which stay gzip.
    let after = compressed_records(&handle.lock_log(), Codec::Gzip);
    assert_eq!(after, expected(&before, active_base));
    assert!(after.len() < before.len());
}

mod swap;
