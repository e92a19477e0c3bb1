//! Typed builders for Kafka's znode paths (ZkData.scala), so no other module spells a path by hand.

pub const CLUSTER_ID: &str = "/cluster/id";
pub const CONTROLLER: &str = "/controller";
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
pub const BROKER_IDS: &str = "/brokers/ids";
pub const BROKER_SEQID: &str = "/brokers/seqid";
pub const BROKER_TOPICS: &str = "/brokers/topics";
pub const CONSUMERS: &str = "/consumers";
pub const CONFIG_CHANGES: &str = "/config/changes";
/// Prefix of the persistent-sequential config change notifications.
pub const CONFIG_CHANGE_PREFIX: &str = "/config/changes/config_change_";
pub const CONFIG_TOPICS: &str = "/config/topics";
pub const DELETE_TOPICS: &str = "/admin/delete_topics";
pub const REASSIGN_PARTITIONS: &str = "/admin/reassign_partitions";
pub const PREFERRED_REPLICA_ELECTION: &str = "/admin/preferred_replica_election";
pub const LATEST_PRODUCER_ID_BLOCK: &str = "/latest_producer_id_block";
pub const ISR_CHANGE_NOTIFICATION: &str = "/isr_change_notification";
pub const LOG_DIR_EVENT_NOTIFICATION: &str = "/log_dir_event_notification";
/// Prefix of the persistent-sequential log dir failure notifications.
pub const LOG_DIR_EVENT_PREFIX: &str = "/log_dir_event_notification/log_dir_event_";

/// The persistent, empty znodes every broker creates at start-up (Kafka's `PersistentZkPaths`).
pub const PERSISTENT_PATHS: [&str; 14] = [
    CONSUMERS,
    BROKER_IDS,
    BROKER_TOPICS,
    BROKER_SEQID,
    CONFIG_CHANGES,
    CONFIG_TOPICS,
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/config/ips",
    DELETE_TOPICS,
    ISR_CHANGE_NOTIFICATION,
    "/latest_producer_id_block",
    LOG_DIR_EVENT_NOTIFICATION,
];

pub fn broker(id: i32) -> String {
    format!("{BROKER_IDS}/{id}")
}

pub fn topic(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}")
}

pub fn topic_partitions(topic: &str) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions")
}

pub fn topic_partition(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions/{partition}")
}

pub fn partition_state(topic: &str, partition: i32) -> String {
    format!("{BROKER_TOPICS}/{topic}/partitions/{partition}/state")
}

pub fn topic_config(topic: &str) -> String {
    format!("{CONFIG_TOPICS}/{topic}")
}

/// `/config/<entity_type>/<name>`; `entity_type` is `topics`, `clients`, `users`, `brokers` or `ips`.
pub fn entity_config(entity_type: &str, name: &str) -> String {
    format!("/config/{entity_type}/{name}")
}

pub fn delete_topic(topic: &str) -> String {
    format!("{DELETE_TOPICS}/{topic}")
}

pub fn consumer_group(group: &str) -> String {
    format!("{CONSUMERS}/{group}")
}

pub fn consumer_offsets(group: &str) -> String {
    format!("{CONSUMERS}/{group}/offsets")
}

pub fn consumer_offsets_topic(group: &str, topic: &str) -> String {
    format!("{CONSUMERS}/{group}/offsets/{topic}")
}

pub fn consumer_offset(group: &str, topic: &str, partition: i32) -> String {
    format!("{CONSUMERS}/{group}/offsets/{topic}/{partition}")
}

pub fn consumer_ids(group: &str) -> String {
    format!("{CONSUMERS}/{group}/ids")
}

pub fn consumer_id(group: &str, member: &str) -> String {
    format!("{CONSUMERS}/{group}/ids/{member}")
}

pub fn consumer_owners(group: &str) -> String {
    format!("{CONSUMERS}/{group}/owners")
}

pub fn consumer_owners_topic(group: &str, topic: &str) -> String {
    format!("{CONSUMERS}/{group}/owners/{topic}")
}

pub fn consumer_owner(group: &str, topic: &str, partition: i32) -> String {
    format!("{CONSUMERS}/{group}/owners/{topic}/{partition}")
}

/// zkafka's own tree beside Kafka's `/consumers`: what OffsetCommit v1+ adds to an offset
/// (metadata, leader epoch, timestamp), which Kafka's ZooKeeper layout has no room for.
pub const ZKAFKA_CONSUMERS: &str = "/zkafka/consumers";

pub fn offset_extras_group(group: &str) -> String {
    format!("{ZKAFKA_CONSUMERS}/{group}")
}

pub fn offset_extras(group: &str, topic: &str, partition: i32) -> String {
    format!("{ZKAFKA_CONSUMERS}/{group}/offsets/{topic}/{partition}")
}

/// Every ancestor of `path` below the root, shortest first (`/a/b/c` → `/a`, `/a/b`).
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').skip(1).map(|(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_match_kafka() {
        assert_eq!(
            super::partition_state("t", 3),
            "/brokers/topics/t/partitions/3/state"
        );
        assert_eq!(
            super::consumer_offset("g", "t", 0),
            "/consumers/g/offsets/t/0"
        );
        assert_eq!(super::broker(1001), "/brokers/ids/1001");
        assert_eq!(
            super::offset_extras("g", "t", 0),
            "/zkafka/consumers/g/offsets/t/0"
        );
        assert_eq!(super::consumer_id("g", "m"), "/consumers/g/ids/m");
        let up: Vec<&str> = super::ancestors("/a/b/c").collect();
        assert_eq!(up, ["/a", "/a/b"]);
        assert_eq!(super::ancestors("/a").count(), 0);
    }
}
