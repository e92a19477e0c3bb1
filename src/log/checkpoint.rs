//! Log-dir level files in Kafka's formats: the offset checkpoints
//! (`recovery-point-offset-checkpoint`, `replication-offset-checkpoint`,
//! `log-start-offset-checkpoint`), `meta.properties`, and a partition's `partition.metadata`.
//!
//! Every write goes to a temporary file that is fsynced and renamed over the target, then the
//! directory is fsynced, so a crash leaves either the old or the new file, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::log::LogError;

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const REPLICATION_CHECKPOINT: &str = "replication-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
pub const META_PROPERTIES: &str = "meta.properties";
pub const PARTITION_METADATA: &str = "partition.metadata";

/// Replaces `path` with `contents` atomically and durably.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), LogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp).map_err(LogError::io(&tmp))?;
    file.write_all(contents).map_err(LogError::io(&tmp))?;
    file.sync_all().map_err(LogError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(LogError::io(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(LogError::io(dir))?;
    }
    Ok(())
}

fn bad(path: &Path, reason: impl Into<String>) -> LogError {
    LogError::BadFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Parses Kafka's checkpoint layout: version `0`, an entry count, then that many entry lines,
/// each handed to `entry` as whitespace-separated fields.
pub fn parse_checkpoint<T>(
    path: &Path,
    text: &str,
    mut entry: impl FnMut(&[&str]) -> Option<T>,
) -> Result<Vec<T>, LogError> {
    let mut lines = text.lines();
    match lines.next().map(str::trim) {
        Some("0") => {}
        other => return Err(bad(path, format!("unsupported version line {other:?}"))),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad(path, "missing or malformed entry count"))?;
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let parsed =
            entry(&fields).ok_or_else(|| bad(path, format!("malformed entry {line:?}")))?;
        if n >= count {
            return Err(bad(path, format!("more entries than the count {count}")));
        }
        out.push(parsed);
    }
    if out.len() != count {
        return Err(bad(
            path,
            format!("expected {count} entries, found {}", out.len()),
        ));
    }
    Ok(out)
}

/// Formats entries in Kafka's checkpoint layout.
pub fn format_checkpoint(lines: &[String]) -> String {
    let mut text = format!("0\n{}\n", lines.len());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// One line of an offset checkpoint: topic, partition, offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Reads an offset checkpoint; a missing file is an empty checkpoint, as in Kafka.
pub fn read_offsets(path: &Path) -> Result<Vec<PartitionOffset>, LogError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LogError::io(path)(e)),
    };
    parse_checkpoint(path, &text, |f| match f {
        [topic, partition, offset] => Some(PartitionOffset {
            topic: (*topic).to_string(),
            partition: partition.parse().ok()?,
            offset: offset.parse().ok()?,
        }),
        _ => None,
    })
}

pub fn write_offsets(path: &Path, entries: &[PartitionOffset]) -> Result<(), LogError> {
    let lines: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {} {}", e.topic, e.partition, e.offset))
        .collect();
    write_atomically(path, format_checkpoint(&lines).as_bytes())
}

/// `meta.properties` of a ZooKeeper-mode log dir (version 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub broker_id: i32,
    pub cluster_id: String,
}

/// Reads `<log_dir>/meta.properties`; `None` when the dir has not been claimed yet.
pub fn read_meta_properties(log_dir: &Path) -> Result<Option<MetaProperties>, LogError> {
    let path = log_dir.join(META_PROPERTIES);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(&path)(e)),
    };
    let (mut version, mut broker_id, mut cluster_id) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(&path, format!("line without '=': {line:?}")));
        };
        match key.trim() {
            "version" => version = Some(value.trim().to_string()),
            "broker.id" => broker_id = value.trim().parse::<i32>().ok(),
            "cluster.id" => cluster_id = Some(value.trim().to_string()),
            _ => {}
        }
    }
    if version.as_deref() != Some("0") {
        return Err(bad(
            &path,
            format!("unsupported version {version:?} (ZooKeeper mode uses 0)"),
        ));
    }
    Ok(Some(MetaProperties {
        broker_id: broker_id.ok_or_else(|| bad(&path, "missing or malformed broker.id"))?,
        cluster_id: cluster_id.ok_or_else(|| bad(&path, "missing cluster.id"))?,
    }))
}

pub fn write_meta_properties(log_dir: &Path, meta: &MetaProperties) -> Result<(), LogError> {
    let text = format!(
        "#\n#Written by zkafka\nversion=0\nbroker.id={}\ncluster.id={}\n",
        meta.broker_id, meta.cluster_id
    );
    write_atomically(&log_dir.join(META_PROPERTIES), text.as_bytes())
}

/// Writes `partition.metadata` (Kafka's `PartitionMetadataFile`, version 0).
pub fn write_partition_metadata(partition_dir: &Path, topic_id: &str) -> Result<(), LogError> {
    let text = format!("version: 0\ntopic_id: {topic_id}\n");
    write_atomically(&partition_dir.join(PARTITION_METADATA), text.as_bytes())
}

/// Reads the topic id from `partition.metadata`; `None` when the file does not exist.
pub fn read_partition_metadata(partition_dir: &Path) -> Result<Option<String>, LogError> {
    let path = partition_dir.join(PARTITION_METADATA);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(&path)(e)),
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("version: 0") {
        return Err(bad(&path, "first line is not \"version: 0\""));
    }
    lines
        .next()
        .and_then(|l| l.trim().strip_prefix("topic_id: "))
        .map(|id| Some(id.trim().to_string()))
        .ok_or_else(|| bad(&path, "missing topic_id line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_kafka_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        assert!(read_offsets(&path).unwrap().is_empty());
        let entries = vec![
            PartitionOffset {
                topic: "a".into(),
                partition: 0,
                offset: 5,
            },
            PartitionOffset {
                topic: "b.c".into(),
                partition: 3,
                offset: 0,
            },
        ];
        write_offsets(&path, &entries).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "0\n2\na 0 5\nb.c 3 0\n");
        assert_eq!(read_offsets(&path).unwrap(), entries);
        assert!(!dir
            .path()
            .join("recovery-point-offset-checkpoint.tmp")
            .exists());
    }

    #[test]
    fn bad_checkpoints_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REPLICATION_CHECKPOINT);
        for text in [
            "1\n0\n",
            "0\n2\na 0 1\n",
            "0\n1\na x 1\n",
            "0\n1\na 0 1\nb 0 2\n",
            "",
        ] {
            fs::write(&path, text).unwrap();
            let err = read_offsets(&path).unwrap_err();
            assert!(
                err.to_string().contains("replication-offset-checkpoint"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn meta_properties_round_trip_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_meta_properties(dir.path()).unwrap(), None);
        let meta = MetaProperties {
            broker_id: 3,
            cluster_id: "AbCdEfGhIjKlMnOpQrStUv".into(),
        };
        write_meta_properties(dir.path(), &meta).unwrap();
        let text = fs::read_to_string(dir.path().join(META_PROPERTIES)).unwrap();
        assert!(text.starts_with('#') && text.contains("\nversion=0\nbroker.id=3\n"));
        assert_eq!(read_meta_properties(dir.path()).unwrap(), Some(meta));
        fs::write(dir.path().join(META_PROPERTIES), "version=1\nnode.id=1\n").unwrap();
        assert!(read_meta_properties(dir.path()).is_err());
    }

    #[test]
    fn partition_metadata_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        write_partition_metadata(dir.path(), "q8XbBdfUQJ2Bd9fl1dxGHA").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(PARTITION_METADATA)).unwrap(),
            "version: 0\ntopic_id: q8XbBdfUQJ2Bd9fl1dxGHA\n"
        );
        assert_eq!(
            read_partition_metadata(dir.path()).unwrap().as_deref(),
            Some("q8XbBdfUQJ2Bd9fl1dxGHA")
        );
    }
}
