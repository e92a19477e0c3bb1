//! The consumer group coordinator (Kafka's `GroupCoordinator`, classic protocol) with committed
//! offsets stored where `offsets.storage` says: in ZooKeeper under `/consumers/<group>/offsets`
//! (the default; see `docs/zk-layout.md` and `zk-schema/`), in `__consumer_offsets` as Kafka 3.9
//! stores them ([`KafkaOffsetStore`]), or in both ([`DualOffsetStore`]).
//!
//! The request glue (`api::groups`) decodes requests, checks that this broker coordinates the
//! group ([`partition_for`] of `__consumer_offsets`), and calls [`GroupCoordinator`]; this module
//! answers with the response structs and never touches the network itself. Wiring:
//!
//! - build once: `GroupCoordinator::new(config, store)`, the store chosen by `offsets.storage`
//!   (`ZkOffsetStore::new(zk_rx)`, where `zk_rx` follows the broker's current `KafkaZkClient`),
//!   then [`GroupCoordinator::set_v0_store`] with the ZooKeeper store;
//! - [`GroupCoordinator::load_partition`] when this broker becomes leader of an offsets partition;
//! - [`GroupCoordinator::set_list_filter`] with "I lead this group's offsets partition";
//! - [`GroupCoordinator::unload_partition`] when this broker stops leading an offsets partition;
//! - [`GroupCoordinator::refresh_mirrors`] after the ZooKeeper session was replaced;
//! - [`GroupCoordinator::shutdown`] on broker shutdown;
//! - OffsetCommit of topics that do not exist should be answered UNKNOWN_TOPIC_OR_PARTITION by the
//!   glue before calling in (as Kafka's `KafkaApis` does); the coordinator stores any name.

mod admin;
mod config;
mod consumer_protocol;
mod dual_store;
mod group;
mod group_coordinator;
mod group_records;
mod group_store;
mod hash;
mod join;
mod kafka_store;
mod leave;
mod memory_store;
mod mirror;
mod offset_fetch;
mod offsets;
mod offsets_log;
mod offsets_records;
mod response;
mod startup;
mod store;
mod sync;
mod timers;
mod zk_store;

#[cfg(test)]
mod tests;

pub use config::{GroupConfig, OFFSET_METADATA_MAX_BYTES};
pub use dual_store::DualOffsetStore;
pub use group::GroupState;
pub use group_coordinator::{GroupCoordinator, ListFilter};
pub use group_records::{GroupMetadataValue, StoredMember};
pub use hash::{java_string_hash, partition_for};
pub use kafka_store::{KafkaOffsetStore, KafkaStoreConfig};
pub use memory_store::MemoryOffsetStore;
pub use offsets_log::{OffsetsLog, ReplicaOffsetsLog};
pub use offsets_records::{decode_key, decode_offset_value, OffsetValue, OffsetsKey};
pub use startup::start_group_coordinator;
pub use store::{
    is_znode_safe, CommittedOffset, MemberMirror, OffsetExtra, OffsetStore, OffsetWrite,
    StoreError, StoreFuture, TopicPartition,
};
pub use zk_store::ZkOffsetStore;
