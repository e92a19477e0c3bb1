//! The swap of cleaned segments into a live log: readers holding the old files, and recovery
//! from a crash at each step of the swap.

use std::os::unix::fs::FileExt;

use super::*;

#[test]
fn a_reader_keeps_the_old_bytes_across_a_swap() {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    write_rounds(&mut handle.lock_log(), 40, 4);
    let (reader, end) = {
        let log = handle.lock_log();
        (log.reader(), log.log_end_offset())
    };
    let slice = reader.read_slice(0, 1 << 20, end, true).unwrap().unwrap();
    let old = slice.read().unwrap();
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    clean_once(&manager, &handle, &mut cleaner(1 << 20), NOW).unwrap();
    assert!(!dir
        .path()
        .join("t-0")
        .join(file_name(0, "log.deleted"))
        .exists());
    let mut got = vec![0; slice.len];
    slice
        .file()
        .read_exact_at(&mut got, slice.position)
        .unwrap();
    assert_eq!(
        got, old,
        "the swapped-out file is still readable through the old slice"
    );
    assert_ne!(reader.read(0, 1 << 20, end, true).unwrap(), old);
}

/// How far a crash lets the swap get before the log is reopened.
#[derive(Debug, Clone, Copy)]
enum CrashAt {
    /// `.cleaned` files written, nothing renamed.
    Cleaned,
    /// Only the `.log` of the cleaned files renamed to `.swap`.
    PartlySwapped,
    /// All `.cleaned` renamed to `.swap`; originals untouched.
    Swapped,
    /// Originals renamed to `.deleted` too.
    OriginalsDeleted,
}

/// Cleans with a swap that stops at `crash`, then reopens the directory like a restart.
fn crash_and_reopen(crash: CrashAt) -> (Vec<Row>, Vec<Row>, i64, Log) {
    let dir = tempfile::tempdir().unwrap();
    let handle = open_log(dir.path());
    write_rounds(&mut handle.lock_log(), 40, 4);
    handle.lock_log().flush().unwrap();
    let before = records(&handle.lock_log());
    let active_base = handle.lock_log().segments.last().unwrap().base_offset();
    let part = dir.path().join("t-0");
    let manager = CleanerManager::load(&[dir.path().to_path_buf()]).unwrap();
    let logs: Vec<Arc<dyn CleanableLog>> = vec![handle.clone()];
    let grabbed = manager.grab_filthiest(&logs, NOW).unwrap().unwrap();
    let mut first = true;
    let mut swap = |base: i64, old: &[Arc<SegmentFiles>]| -> Result<bool, LogError> {
        if !first {
            return Ok(false);
        }
        first = false;
        match crash {
            CrashAt::Cleaned => {}
            CrashAt::PartlySwapped => std::fs::rename(
                part.join(file_name(base, "log.cleaned")),
                part.join(file_name(base, "log.swap")),
            )
            .unwrap(),
            CrashAt::Swapped | CrashAt::OriginalsDeleted => {
                rename_files(&part, base, CLEANED_SUFFIX, SWAP_SUFFIX)?;
                if let CrashAt::OriginalsDeleted = crash {
                    for o in old {
                        rename_files(&part, o.base_offset, "", ".deleted")?;
                    }
                }
            }
        }
        // The broker dies here: the cleaner's result never reaches the log.
        Err(LogError::Corrupt("crash".into()))
    };
    let err = cleaner(1 << 20).clean(&grabbed.log, NOW, &mut swap);
    assert!(matches!(err, Err(CleanerError::Log(_))));
    // A failed swap removes leftover .cleaned files; the crash would not have: put them back.
    if let CrashAt::Cleaned | CrashAt::PartlySwapped = crash {
        std::fs::write(part.join(file_name(0, "log.cleaned")), b"partial").unwrap();
        std::fs::write(part.join(file_name(0, "index.cleaned")), b"").unwrap();
    }
    let end = handle.lock_log().log_end_offset();
    drop(handle);
    let reopened = Log::open(&part, config(), end, 0).unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect();
    assert!(leftovers.is_empty(), "{crash:?}: {leftovers:?}");
    // Keep the directory alive as long as the log.
    std::mem::forget(dir);
    (before, records(&reopened), active_base, reopened)
}

#[test]
fn recovery_discards_an_unfinished_cleaning() {
    for crash in [CrashAt::Cleaned, CrashAt::PartlySwapped] {
        let (before, after, _, log) = crash_and_reopen(crash);
        assert_eq!(after, before, "{crash:?}: the original segments are kept");
        let _ = std::fs::remove_dir_all(log.dir().parent().unwrap());
    }
}

#[test]
fn recovery_completes_a_committed_swap() {
    for crash in [CrashAt::Swapped, CrashAt::OriginalsDeleted] {
        let (before, after, active_base, log) = crash_and_reopen(crash);
        // The first group was swapped in; later groups were not cleaned.
        let first_group_end = log.segments[1].base_offset();
        assert!(first_group_end <= active_base);
        let want: Vec<Row> = before
            .iter()
            .filter(|r| r.0 >= first_group_end || expected(&before, active_base).contains(r))
            .cloned()
            .collect();
        assert_eq!(after, want, "{crash:?}");
        assert!(after.len() < before.len());
        let _ = std::fs::remove_dir_all(log.dir().parent().unwrap());
    }
}
