//! A segment file as a crash or a bad disk can leave it: the input is written as the partition's
//! only `.log` file, without index files, and `Log::open` recovers it from offset 0 (the path a
//! restart after `kill -9` takes). Properties: no panic and no allocation by a length the file
//! claims; an opened log's end offset is never before its start; and recovery is idempotent: a
//! second open of what the first left (truncated tail, rebuilt indexes) finds the same log.
//! Files go to /dev/shm when it exists, so the fsyncs of recovery cost no disk I/O.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use zkafka::log::{Log, LogConfig};

fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(tmp) = scratch_dir() else {
        return;
    };
    let dir = tmp.path().join("fuzz-0");
    std::fs::create_dir(&dir).expect("create partition dir");
    std::fs::write(dir.join("00000000000000000000.log"), data).expect("write segment");
    let Ok(log) = Log::open(&dir, LogConfig::default(), 0, 0) else {
        return;
    };
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(end >= start, "log end {end} before log start {start}");
    drop(log);
    let again = Log::open(&dir, LogConfig::default(), 0, 0).expect("a recovered log reopens");
    assert_eq!(
        (again.log_start_offset(), again.log_end_offset()),
        (start, end),
        "a second recovery changed the log"
    );
});
