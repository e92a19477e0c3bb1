//! Kafka's `TopicPartition`: a partition named by its topic and index. ZooKeeper mode names topics,
//! not topic ids, so this is the key of every per-partition map in the broker, the controller, the
//! logs and the group coordinator. It prints as Kafka's `TopicPartition.toString` does, `topic-3`,
//! which is also the partition's log directory name.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    /// The topics of `partitions` in their order, each once when its partitions are adjacent (as
    /// in a sorted list): what a Metadata request for them names.
    pub fn topics_of(partitions: &[TopicPartition]) -> Vec<String> {
        let mut topics: Vec<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
        topics.dedup();
        topics
    }

    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_kafka_does() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
        assert_eq!(TopicPartition::new("a-1", 0).to_string(), "a-1-0");
    }

    #[test]
    fn orders_by_topic_then_partition() {
        let mut tps = vec![
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        tps.sort();
        assert_eq!(
            tps,
            vec![
                TopicPartition::new("a", 2),
                TopicPartition::new("a", 10),
                TopicPartition::new("b", 0),
            ]
        );
    }
}
