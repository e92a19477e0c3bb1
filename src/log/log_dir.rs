//! Names inside a log dir: one `<topic>-<partition>` directory per hosted partition (Kafka's
//! `UnifiedLog.logDirName` / `parseTopicPartitionName`), so a broker can find its logs at
//! start-up by listing the directory.

use crate::topic_partition::TopicPartition;

/// `<topic>-<partition>`, the directory name of a partition log.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Parses a partition directory name. `None` for anything else: files, Kafka's
/// `.<id>-delete` / `-future` / `-stray` directories, or names without a numeric partition.
pub fn parse_partition_dir_name(name: &str) -> Option<TopicPartition> {
    if name.ends_with("-delete") || name.ends_with("-future") || name.ends_with("-stray") {
        return None;
    }
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.starts_with('+') {
        return None;
    }
    let partition: i32 = partition.parse().ok()?;
    (partition >= 0).then(|| TopicPartition::new(topic, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_others() {
        assert_eq!(partition_dir_name("my-topic", 7), "my-topic-7");
        assert_eq!(
            parse_partition_dir_name("my-topic-7"),
            Some(TopicPartition::new("my-topic", 7))
        );
        assert_eq!(
            parse_partition_dir_name("__consumer_offsets-49"),
            Some(TopicPartition::new("__consumer_offsets", 49))
        );
        for bad in [
            "topic",
            "-3",
            "topic-x",
            "topic-+1",
            "topic-0.8f1c2a3b4d5e6f708192a3b4c5d6e7f8-delete",
            "topic-0.8f1c2a3b4d5e6f708192a3b4c5d6e7f8-future",
            "recovery-point-offset-checkpoint",
        ] {
            assert_eq!(parse_partition_dir_name(bad), None, "{bad}");
        }
    }
}
