//! Behaviour tests of [`Log`] and [`LogReader`] against batches built by kafka-protocol.

use crate::log::RecordError;
use std::fs;

use bytes::BytesMut;

use super::*;
use crate::log::record_batch::Batches;
use crate::log::segment::file_name;
use crate::log::test_util::*;
use crate::log::test_util::{batch, simple};

#[test]
fn append_and_read_across_rolls() {
    let (dir, log) = filled(40, 3);
    assert_eq!(log.log_end_offset(), 120);
    assert!(
        log.segments.len() > 3,
        "rolled into {} segments",
        log.segments.len()
    );
    let second = log.segments[1].base_offset();
    assert!(dir.path().join(file_name(second, "log")).exists());
    assert!(dir.path().join(format!("{second:020}.index")).exists());
    let reader = log.reader();
    for offset in 0..120 {
        let bytes = reader.read(offset, 1, 120, true).unwrap();
        let got = offsets(&bytes);
        assert_eq!(got.len(), 3, "offset {offset}");
        assert!(got.contains(&offset), "offset {offset} not in {got:?}");
    }
    // Whole batches only, bounded by max_bytes and by the upper bound.
    let bytes = reader.read(0, 500, 120, false).unwrap();
    assert_eq!(Batches::new(&bytes).position(), 0);
    assert_eq!(
        Batches::new(&bytes).map(|b| b.range.len()).sum::<usize>(),
        bytes.len()
    );
    assert!(bytes.len() <= 500 && !bytes.is_empty());
    assert_eq!(
        offsets(&reader.read(0, 10_000, 4, false).unwrap()),
        vec![0, 1, 2]
    );
    assert!(reader.read(0, 10, 120, false).unwrap().is_empty());
    assert!(reader.read(120, 1000, 120, true).unwrap().is_empty());
    assert!(matches!(
        reader.read(121, 1000, 121, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn index_entries_point_at_their_batches() {
    let (dir, log) = filled(12, 2);
    let seg = log.segments[0].files().clone();
    assert!(seg.offset_index.entries() > 0);
    let raw = fs::read(dir.path().join(file_name(0, "index"))).unwrap();
    let data = fs::read(dir.path().join(file_name(0, "log"))).unwrap();
    for entry in raw.chunks(8) {
        let rel = i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]) as i64;
        let pos = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]) as usize;
        let h = Batches::new(&data[pos..]).next().unwrap().header;
        assert_eq!(h.last_offset(), rel, "entry maps the batch's last offset");
    }
    let time = fs::read(dir.path().join(file_name(0, "timeindex"))).unwrap();
    assert_eq!(time.len() % 12, 0);
    assert!(!time.is_empty());
}

#[test]
fn idempotent_duplicates_gaps_and_fencing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append_as_leader(&simple(2, 0), 0, 0).unwrap();
    let first = log
        .append_as_leader(&batch(3, 0, (9, 0, 0), 5), 0, 0)
        .unwrap();
    assert_eq!(
        (first.first_offset, first.last_offset, first.duplicate),
        (2, 4, false)
    );
    let again = log
        .append_as_leader(&batch(3, 0, (9, 0, 0), 5), 0, 0)
        .unwrap();
    assert!(again.duplicate);
    assert_eq!((again.first_offset, again.last_offset), (2, 4));
    assert_eq!(log.log_end_offset(), 5);
    let gap = log.append_as_leader(&batch(1, 0, (9, 0, 5), 5), 0, 0);
    assert_eq!(gap.unwrap_err().kafka_error_code(), 45);
    log.append_as_leader(&batch(1, 0, (9, 1, 0), 5), 0, 0)
        .unwrap();
    let fenced = log.append_as_leader(&batch(1, 0, (9, 0, 3), 5), 0, 0);
    assert_eq!(fenced.unwrap_err().kafka_error_code(), 47);
    // Producer state survives a restart (rebuilt from the log).
    log.close().unwrap();
    let mut log = open(dir.path());
    let again = log
        .append_as_leader(&batch(1, 0, (9, 1, 0), 5), 0, 0)
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.first_offset, 5);
}

#[test]
fn rejects_client_batches_the_broker_must_not_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            max_message_bytes: 200,
            ..small_config()
        },
        0,
        0,
    )
    .unwrap();
    let big = log.append_as_leader(&batch(10, 0, (-1, -1, -1), 50), 0, 0);
    assert_eq!(big.unwrap_err().kafka_error_code(), 10);
    let mut moved = simple(1, 0);
    record_batch::set_base_offset(&mut moved, 7);
    assert_eq!(
        log.append_as_leader(&moved, 0, 0)
            .unwrap_err()
            .kafka_error_code(),
        87
    );
    assert_eq!(
        log.append_as_leader(&BytesMut::new(), 0, 0)
            .unwrap_err()
            .kafka_error_code(),
        87
    );
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn leader_epochs_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for (epoch, n) in [(1, 4), (3, 4), (5, 4)] {
        for _ in 0..n {
            log.append_as_leader(&simple(2, 0), epoch, 0).unwrap();
        }
    }
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 16)));
    assert_eq!(log.end_offset_for_epoch(4), Some((3, 16)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 24)));
    let stored = log.reader().read(8, 100, 24, true).unwrap();
    assert_eq!(
        Batches::new(&stored)
            .next()
            .unwrap()
            .header
            .partition_leader_epoch,
        3
    );
    log.truncate_to(13).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(log.end_offset_for_epoch(5), None);
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 13)));
    let text = fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap();
    assert_eq!(text, "0\n2\n1 0\n3 8\n");
    // The batch holding offset 13 went as a whole; the next append starts at 13.
    assert_eq!(
        offsets(&log.reader().read(10, 1000, 13, true).unwrap()),
        vec![10, 11]
    );
    assert_eq!(
        log.append_as_leader(&simple(1, 0), 6, 0)
            .unwrap()
            .first_offset,
        13
    );
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_end_offset(), log.latest_epoch()), (0, None));
    assert_eq!(log.segments.len(), 1);
}

#[test]
fn follower_append_keeps_leader_offsets() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path());
    fill(&mut leader, 3, 2);
    leader.append_as_leader(&simple(2, 0), 4, 0).unwrap();
    let fetched = leader.reader().read(0, 1 << 20, 8, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut follower = open(dir.path());
    let info = follower
        .append_as_follower(&BytesMut::from(&fetched[..]))
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 7));
    assert_eq!(follower.end_offset_for_epoch(0), Some((0, 6)));
    assert_eq!(follower.latest_epoch(), Some(4));
    let again = follower.append_as_follower(&BytesMut::from(&fetched[..]));
    assert!(matches!(
        again,
        Err(LogError::UnexpectedAppendOffset { .. })
    ));
    let mut torn = BytesMut::from(&fetched[..]);
    let n = torn.len();
    torn[n - 1] ^= 1;
    follower.truncate_to(0).unwrap();
    assert_eq!(
        follower
            .append_as_follower(&torn)
            .unwrap_err()
            .kafka_error_code(),
        2
    );
}

#[test]
fn timestamps_for_list_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    for i in 0..20 {
        log.append_as_leader(&simple(2, 1000 + 100 * i), 0, 0)
            .unwrap();
    }
    let reader = log.reader();
    // Kafka names the exact record: batch i holds offsets 2i, 2i+1 at 1000+100i, 1001+100i.
    assert_eq!(reader.offset_for_timestamp(0).unwrap(), Some((0, 1000)));
    assert_eq!(reader.offset_for_timestamp(1450).unwrap(), Some((10, 1500)));
    assert_eq!(reader.offset_for_timestamp(1501).unwrap(), Some((11, 1501)));
    assert_eq!(reader.offset_for_timestamp(1502).unwrap(), Some((12, 1600)));
    assert_eq!(reader.offset_for_timestamp(5000).unwrap(), None);
    assert_eq!(reader.max_timestamp_offset().unwrap(), Some((39, 2901)));
    log.close().unwrap();
    let log = open(dir.path());
    assert_eq!(
        log.reader().max_timestamp_offset().unwrap(),
        Some((39, 2901))
    );
    assert_eq!(
        log.reader().offset_for_timestamp(2850).unwrap(),
        Some((38, 2900))
    );
}

#[test]
fn time_based_roll_and_flush_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 100,
        flush_interval_messages: 3,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), cfg, 0, 0).unwrap();
    log.append_as_leader(&simple(2, 1000), 0, 0).unwrap();
    log.maybe_flush(0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append_as_leader(&simple(1, 1050), 0, 0).unwrap();
    assert_eq!(log.segments.len(), 1);
    log.maybe_flush(0).unwrap();
    assert_eq!(log.recovery_point(), 3);
    log.append_as_leader(&simple(1, 1200), 0, 0).unwrap();
    assert_eq!(log.segments.len(), 2);
    assert_eq!(log.segments[1].base_offset(), 3);
}

#[test]
fn reads_run_concurrently_with_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let reader = log.reader();
    let handle = std::thread::spawn(move || {
        let mut next = 0;
        while next < 200 {
            let end = reader.log_end_offset();
            if next == end {
                std::thread::yield_now();
            } else {
                let bytes = reader.read(next, 300, end, true).unwrap();
                let got = offsets(&bytes);
                assert_eq!(got.first(), Some(&next));
                next = got.last().unwrap() + 1;
            }
        }
    });
    fill(&mut log, 100, 2);
    handle.join().unwrap();
}

#[test]
fn partition_metadata_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topic-0");
    let log = Log::open(&path, small_config(), 0, 0).unwrap();
    log.write_partition_metadata("AAAAAAAAAAAAAAAAAAAAAA")
        .unwrap();
    assert!(fs::read_to_string(path.join("partition.metadata"))
        .unwrap()
        .contains("topic_id: AAAA"));
    log.delete().unwrap();
    assert!(!path.exists());
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Log>();
    check::<LogReader>();
}

#[test]
fn oversized_request_is_a_record_list_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(
        dir.path(),
        LogConfig {
            segment_bytes: 100,
            ..small_config()
        },
        0,
        0,
    )
    .unwrap();
    let err = log.append_as_leader(&simple(20, 0), 0, 0).unwrap_err();
    assert_eq!(err.kafka_error_code(), 18);
}

#[test]
fn producer_state_rebuild_skips_only_expired_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let now = crate::clock::now_ms();
    log.append_as_leader(&batch(1, 0, (2, 0, 0), 5), 0, now)
        .unwrap();
    fill_from(&mut log, 1, 20);
    let recent_offset = log.log_end_offset();
    log.append_as_leader(&batch(1, now, (1, 0, 0), 5), 0, now)
        .unwrap();
    fill_from(&mut log, recent_offset + 1, 20);
    let holding = log
        .segments
        .iter()
        .filter(|s| s.base_offset() <= recent_offset)
        .count();
    assert!(holding >= 2 && holding < log.segments.len());
    log.close().unwrap();
    let mut log = open(dir.path());
    // The recent producer is remembered from a non-active segment ...
    let recent = log
        .append_as_leader(&batch(1, now, (1, 0, 0), 5), 0, now)
        .unwrap();
    assert!(recent.duplicate);
    assert_eq!(recent.first_offset, recent_offset);
    // ... the one whose batches are a day old is expired, as Kafka would have it.
    let old = log
        .append_as_leader(&batch(1, 0, (2, 0, 7), 5), 0, now)
        .unwrap();
    assert!(!old.duplicate);
}

#[test]
fn finds_batches_larger_than_a_read_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
    for i in 0..4 {
        let size = if i % 2 == 0 { 20_000 } else { 10 };
        log.append_as_leader(&batch(2, 100 * i, (-1, -1, -1), size), 0, 0)
            .unwrap();
    }
    let reader = log.reader();
    for offset in 0..8 {
        let got = offsets(&reader.read(offset, 1, 8, true).unwrap());
        assert_eq!(got, vec![offset - offset % 2, offset - offset % 2 + 1]);
    }
    assert_eq!(reader.offset_for_timestamp(250).unwrap(), Some((6, 300)));
}

#[test]
fn reserved_blocks_stay_past_the_end_and_are_given_back() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), config, 0, 0).unwrap();
    for i in 0..20 {
        log.append_as_leader(&batch(3, i, (-1, -1, -1), 500), 0, 0)
            .unwrap();
    }
    let path = dir.path().join(file_name(0, "log"));
    let written = log.segments[0].size();
    let meta = fs::metadata(&path).unwrap();
    // Readers see exactly what was written, whatever is reserved beyond it.
    assert_eq!(meta.len(), written);
    let reserved = meta.blocks() * 512;
    assert!(
        reserved > written.next_multiple_of(4096),
        "{reserved} bytes allocated for {written} written: nothing reserved ahead"
    );
    let reader = log.reader();
    assert_eq!(
        offsets(&reader.read(0, 1 << 20, 60, false).unwrap()).len(),
        60
    );
    log.close().unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), written);
    assert!(
        meta.blocks() * 512 <= written.next_multiple_of(4096),
        "{} bytes still allocated for {written}",
        meta.blocks() * 512
    );
}

/// Kafka's `LogValidator.validateKey`: on a compacted topic every keyless record of a batch is
/// refused with INVALID_RECORD and its index; nothing of the request is appended. A topic without
/// `compact` takes the same batch.
#[test]
fn compacted_topic_refuses_keyless_records_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("events-3");
    let config = LogConfig {
        cleanup_compact: true,
        ..small_config()
    };
    let mut log = Log::open(&part, config, 0, 0).unwrap();
    let mixed = keyed_batch(
        (-1, -1, -1),
        1000,
        &[(Some("k"), Some("v")), (None, Some("v")), (None, None)],
    );
    let err = log.append_as_leader(&mixed, 0, 0).unwrap_err();
    assert_eq!(err.kafka_error_code(), 87);
    let message = "Compacted topic cannot accept message without key in topic partition events-3.";
    let LogError::RecordErrors(errors) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        errors,
        &[
            RecordError {
                batch_index: 1,
                message: message.into()
            },
            RecordError {
                batch_index: 2,
                message: message.into()
            },
        ]
    );
    assert_eq!(
        err.to_string(),
        format!(
            "One or more records have been rejected due to 2 record errors in total, and only \
             showing the first three errors at most: [RecordError(batchIndex=1, message='{message}'), \
             RecordError(batchIndex=2, message='{message}')]"
        )
    );
    assert_eq!(log.log_end_offset(), 0);
    let keyed = keyed_batch((-1, -1, -1), 1000, &[(Some("k"), None)]);
    assert_eq!(log.append_as_leader(&keyed, 0, 0).unwrap().first_offset, 0);

    let mut plain = Log::open(&dir.path().join("plain-0"), small_config(), 0, 0).unwrap();
    assert_eq!(plain.append_as_leader(&mixed, 0, 0).unwrap().last_offset, 2);
}

/// Producers choose timestamps freely: the `segment.ms` check must not overflow on one far from
/// the segment's first batch (it panicked in debug builds).
#[test]
fn extreme_timestamps_do_not_overflow_the_roll_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append_as_leader(&batch(1, i64::MIN + 5, (-1, -1, -1), 10), 0, 0)
        .unwrap();
    log.append_as_leader(&batch(1, i64::MAX - 5, (-1, -1, -1), 10), 0, 0)
        .unwrap();
    log.append_as_leader(&batch(1, 1000, (-1, -1, -1), 10), 0, 0)
        .unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn rolled_segments_are_flushed_and_a_failed_fsync_keeps_the_recovery_point() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("t-0");
    let mut log = open(&dir);
    fill(&mut log, 20, 3);
    assert!(log.segments.len() > 2);
    // flush.messages is Long.MAX: only the roll flush moves the recovery point.
    log.maybe_flush(0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.flush_rolled_segments().unwrap();
    let active = log.segments.last().unwrap().base_offset();
    assert_eq!(log.recovery_point(), active);
    while log.segments.last().unwrap().base_offset() == active {
        let end = log.log_end_offset();
        fill_from(&mut log, end, 1);
    }
    // The directory's fsync fails (it is gone from its path): an error, and the recovery
    // point stays where the last successful flush left it.
    let moved = parent.path().join("moved");
    fs::rename(&dir, &moved).unwrap();
    let rolled = log.rolled_flush().unwrap();
    assert!(matches!(rolled.run(), Err(LogError::Io { .. })));
    assert_eq!(log.recovery_point(), active);
    fs::rename(&moved, &dir).unwrap();
    // A flush taken before a truncation does not move the recovery point after it.
    let stale = log.rolled_flush().unwrap();
    let end = log.log_end_offset();
    log.truncate_to(end - 1).unwrap();
    stale.run().unwrap();
    log.mark_flushed(&stale);
    assert_eq!(log.recovery_point(), active);
    log.flush_rolled_segments().unwrap();
    assert_eq!(
        log.recovery_point(),
        log.segments.last().unwrap().base_offset()
    );
    assert!(log.recovery_point() > active);
}
