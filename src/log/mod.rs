//! Partition logs in Kafka's exact on-disk format.
//!
//! A partition lives in `<log.dir>/<topic>-<partition>/` as segments named by their 20-digit
//! base offset (`.log`, `.index`, `.timeindex`), plus `leader-epoch-checkpoint` and
//! `partition.metadata`; the log dir itself holds the offset checkpoints and `meta.properties`.
//! A Kafka broker could open these directories, and these files are what a Kafka operator
//! expects to find.
//!
//! All I/O here is synchronous std I/O: the single writer of a [`Log`] is driven by the replica
//! layer on the request's own task (an append without fsync only reaches the page cache, so it
//! is shorter than a hand-off to another thread would be), and any number of [`LogReader`]s read
//! concurrently with positional reads. An append writes the request's bytes with one vectored
//! write (see `append_bytes`), never a copy of them.

mod append_bytes;
pub mod checkpoint;
pub mod cleaner;
pub mod compression;
mod config;
pub mod dir_failure;
mod entry_file;
mod error;
mod flush;
mod index;
mod leader_epoch;
pub mod legacy_records;
pub mod log_dir;
pub mod manager;
mod partition_log;
mod producer_state;
mod reader;
mod record;
pub mod record_batch;
mod recovery;
mod replace_segments;
mod retention;
mod segment;
mod segment_files;
mod truncation;
pub mod validator;

#[cfg(test)]
mod test_util;

pub use config::LogConfig;
pub use error::{LogError, RecordError};
pub use flush::RolledFlush;
pub use partition_log::{AppendInfo, Log};
pub use reader::{LogReader, LogSlice};
