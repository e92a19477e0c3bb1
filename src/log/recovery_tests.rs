//! Recovery behaviour: torn and corrupt tails, bad indexes, clean reopen.

use std::fs;

use crate::log::record_batch::Batches;
use crate::log::segment::file_name;
use crate::log::test_util::simple;
use crate::log::test_util::*;
use crate::log::{Log, LogConfig};

#[test]
fn recovery_drops_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
    fill(&mut log, 5, 2);
    drop(log);
    let path = dir.path().join(file_name(0, "log"));
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
    assert_eq!(log.log_end_offset(), 8);
    let info = log.append_as_leader(&simple(2, 9), 0, 0).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (8, 9));
    assert_eq!(
        offsets(&log.reader().read(0, 1 << 20, 10, true).unwrap()),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn recovery_drops_a_corrupt_last_batch_and_later_segments() {
    let (dir, log) = filled(30, 3);
    let segments = log.segments.len();
    let target = log.segments[1].base_offset();
    drop(log);
    // Flip a byte inside the last batch of the second segment.
    let path = dir.path().join(file_name(target, "log"));
    let mut data = fs::read(&path).unwrap();
    let last = Batches::new(&data).last().unwrap();
    data[last.range.end - 2] ^= 0xff;
    fs::write(&path, &data).unwrap();
    let mut log = Log::open(dir.path(), small_config(), 0, 0).unwrap();
    assert_eq!(log.log_end_offset(), last.header.base_offset);
    assert_eq!(
        log.segments.len(),
        2,
        "segments after the corrupt one go (had {segments})"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().len() as usize,
        last.range.start
    );
    let info = log.append_as_leader(&simple(1, 1), 0, 0).unwrap();
    assert_eq!(info.first_offset, last.header.base_offset);
}

#[test]
fn corruption_below_the_recovery_point_is_trusted_but_bad_indexes_rebuilt() {
    let (dir, log) = filled(10, 2);
    log.close().unwrap();
    let index = dir.path().join(file_name(0, "index"));
    let good = fs::read(&index).unwrap();
    fs::write(&index, &good[..good.len() - 3]).unwrap();
    let log = Log::open(dir.path(), small_config(), 20, 0).unwrap();
    assert_eq!(log.log_end_offset(), 20);
    assert_eq!(fs::read(&index).unwrap(), good);
    drop(log);
    let time_index = dir.path().join(file_name(0, "timeindex"));
    let good = fs::read(&time_index).unwrap();
    fs::remove_file(&time_index).unwrap();
    let log = Log::open(dir.path(), small_config(), 20, 0).unwrap();
    assert_eq!(fs::read(&time_index).unwrap(), good);
    assert_eq!(
        log.reader().offset_for_timestamp(1005).unwrap(),
        Some((9, 1005))
    );
}

#[test]
fn reopen_continues_where_it_left_off() {
    let (dir, log) = filled(20, 2);
    log.close().unwrap();
    let mut log = Log::open(dir.path(), small_config(), 40, 0).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(log.recovery_point(), 40);
    let info = log.append_as_leader(&simple(1, 5), 0, 0).unwrap();
    assert_eq!(info.first_offset, 40);
    assert_eq!(
        offsets(&log.reader().read(40, 100, 41, true).unwrap()),
        vec![40]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn garbage_tails_never_break_recovery(garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..200)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
        fill(&mut log, 3, 2);
        drop(log);
        let path = dir.path().join(file_name(0, "log"));
        let mut data = fs::read(&path).unwrap();
        data.extend_from_slice(&garbage);
        fs::write(&path, &data).unwrap();
        let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
        proptest::prop_assert_eq!(log.log_end_offset(), 6);
        proptest::prop_assert_eq!(log.append_as_leader(&simple(1, 0), 0, 0).unwrap().first_offset, 6);
    }
}

/// kill -9 leaves index files preallocated (`segment.index.bytes`, sparse zeros): the active
/// segment's always, and a rolled one's when its trim never reached the disk. Reopening must
/// count only real entries, keep lookups right and trim the files back to Kafka's layout.
#[test]
fn preallocated_zero_tails_after_a_crash_are_not_entries() {
    let (dir, mut log) = filled(30, 3);
    let bases: Vec<i64> = log.segments.iter().map(|s| s.base_offset()).collect();
    assert!(bases.len() >= 3, "needs rolled segments: {bases:?}");
    let active = *bases.last().unwrap();
    let active_index = dir.path().join(file_name(active, "index"));
    log.flush().unwrap();
    drop(log);
    let max = u64::from(small_config().max_index_size);
    assert_eq!(fs::metadata(&active_index).unwrap().len(), max / 8 * 8);
    // Undo the first segment's trim, as if its new length was lost in the crash.
    let first_index = dir.path().join(file_name(0, "index"));
    let first_time_index = dir.path().join(file_name(0, "timeindex"));
    let (good, good_time) = (
        fs::read(&first_index).unwrap(),
        fs::read(&first_time_index).unwrap(),
    );
    assert!(!good.is_empty() && !good_time.is_empty());
    for path in [&first_index, &first_time_index] {
        fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(max)
            .unwrap();
    }
    let log = Log::open(dir.path(), small_config(), 90, 0).unwrap();
    assert_eq!(log.log_end_offset(), 90);
    assert_eq!(fs::read(&first_index).unwrap(), good);
    assert_eq!(fs::read(&first_time_index).unwrap(), good_time);
    let reader = log.reader();
    for offset in [0, 4, 17, active - 1, active, 89] {
        let got = offsets(&reader.read(offset, 1, 90, true).unwrap());
        let batch_start = offset / 3 * 3;
        assert_eq!(got, (batch_start..batch_start + 3).collect::<Vec<_>>());
    }
    // Batch i holds timestamps 1000+i..=1002+i: the first record at 1004 is offset 8.
    assert_eq!(reader.offset_for_timestamp(1004).unwrap(), Some((8, 1004)));
    assert_eq!(reader.offset_for_timestamp(1029).unwrap(), Some((83, 1029)));
    log.close().unwrap();
    assert_eq!(fs::metadata(&active_index).unwrap().len() % 8, 0);
    assert!(fs::metadata(&active_index).unwrap().len() < max);
}

#[test]
fn a_segment_of_old_message_formats_is_refused_not_cut() {
    use crate::log::legacy_records::{write_message, MAGIC_V0, MAGIC_V1};
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap();
    fill(&mut log, 2, 2);
    drop(log);
    let path = dir.path().join(file_name(0, "log"));
    let mut old = fs::read(&path).unwrap();
    // A short v0 message (shorter than a v2 header) and a v1 one, as Kafka 0.10 wrote them.
    write_message(&mut old, 4, MAGIC_V0, 0, -1, None, Some(b"v0"));
    write_message(&mut old, 5, MAGIC_V1, 0, 7, Some(b"k"), Some(b"v1"));
    fs::write(&path, &old).unwrap();
    let err = Log::open(dir.path(), LogConfig::default(), 0, 0).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), old, "nothing cut");
}
