//! Helpers shared by the log's behaviour tests.

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::log::record_batch::test_batches::simple;
use crate::log::{Log, LogConfig};

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        index_interval_bytes: 100,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path) -> Log {
    Log::open(dir, small_config(), 0, 0).unwrap()
}

/// Offsets of every record in `bytes`, decoded by kafka-protocol.
pub fn offsets(bytes: &Bytes) -> Vec<i64> {
    let mut buf = bytes.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .iter()
        .flat_map(|set| set.records.iter().map(|r| r.offset))
        .collect()
}

pub fn fill(log: &mut Log, batches: usize, per_batch: usize) {
    for i in 0..batches {
        let info = log
            .append_as_leader(simple(per_batch, 1000 + i as i64), 0, 0)
            .unwrap();
        assert_eq!(info.first_offset, (i * per_batch) as i64);
    }
}

pub fn fill_from(log: &mut Log, first: i64, batches: usize) {
    for i in 0..batches {
        let info = log.append_as_leader(simple(1, 1000), 0, 0).unwrap();
        assert_eq!(info.first_offset, first + i as i64);
    }
}
