//! Helpers shared by the log's behaviour tests. Batches are built with kafka-protocol's
//! encoder, an implementation we did not write, so the format is checked against it.

use std::path::Path;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

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
            .append_as_leader(&simple(per_batch, 1000 + i as i64), 0, 0)
            .unwrap();
        assert_eq!(info.first_offset, (i * per_batch) as i64);
    }
}

/// A log in a new temporary directory (kept alive by the returned handle), filled as [`fill`].
pub fn filled(batches: usize, per_batch: usize) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    fill(&mut log, batches, per_batch);
    (dir, log)
}

pub fn fill_from(log: &mut Log, first: i64, batches: usize) {
    for i in 0..batches {
        let info = log.append_as_leader(&simple(1, 1000), 0, 0).unwrap();
        assert_eq!(info.first_offset, first + i as i64);
    }
}

/// Producer identity of a test batch: (producer id, epoch, base sequence).
pub type Producer = (i64, i16, i32);

/// A magic-2 batch of `count` records with timestamps from `timestamp`.
pub fn batch(count: usize, timestamp: i64, producer: Producer, value_len: usize) -> BytesMut {
    let value = Bytes::from(vec![b'v'; value_len]);
    encode(
        producer,
        timestamp,
        (0..count).map(|_| (None, Some(value.clone()))),
    )
}

/// A non-idempotent batch of `count` small records.
pub fn simple(count: usize, timestamp: i64) -> BytesMut {
    batch(count, timestamp, (-1, -1, -1), 10)
}

/// An uncompressed batch of `(key, value)` records (`None`: null), timestamps from `timestamp`.
pub fn keyed_batch(
    producer: Producer,
    timestamp: i64,
    kvs: &[(Option<&str>, Option<&str>)],
) -> BytesMut {
    let bytes = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    encode(
        producer,
        timestamp,
        kvs.iter().map(|(k, v)| (k.map(bytes), v.map(bytes))),
    )
}

/// One uncompressed batch of the given keys and values, offsets and sequences from 0 and the
/// producer's base sequence, timestamps from `timestamp`.
fn encode(
    producer: Producer,
    timestamp: i64,
    kvs: impl Iterator<Item = (Option<Bytes>, Option<Bytes>)>,
) -> BytesMut {
    let (pid, epoch, seq) = producer;
    let records: Vec<Record> = kvs
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder groups records whose offset - sequence is constant; a base
            // sequence of -1 means "no sequence".
            sequence: seq + i as i32,
            timestamp: timestamp + i as i64,
            key,
            value,
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).expect("encode test batch");
    buf
}

/// A tmpfs of a few KiB mounted on a temporary directory, unmounted when dropped: a real file
/// system that can be filled to ENOSPC. `None` where mounting is not allowed (not root).
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    pub fn mount(bytes: u64) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallFs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the file system says ENOSPC.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = [0xaau8; 4096];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the file system: {e}"),
            }
        }
        // A partial page may still fit: fill byte by byte.
        while f.write_all(&[0u8]).is_ok() {}
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
