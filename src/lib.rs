//! zkafka: a Kafka-compatible broker cluster in Kafka 3.9's ZooKeeper mode. Modules (Kafka's
//! counterpart in parentheses; more in `docs/architecture.md`):
//!
//! - [`api`]: request handlers, one file per API family, and the served versions (`KafkaApis`).
//! - [`cli`]: the `zkafka` command: `server`, `topics`, `perf`.
//! - [`client`]: a small pipelined Kafka client for inter-broker requests and the tools.
//! - [`config`]: `server.properties` and topic configs with Kafka's keys and defaults.
//! - [`controller`]: election through `/controller` and the active controller (`KafkaController`).
//! - [`coordinator`]: consumer groups with offsets in ZooKeeper (`GroupCoordinator`).
//! - [`dynamic_config`]: topic config changes from `/config/changes` (`ZkConfigManager`).
//! - [`log`]: partition logs in Kafka's on-disk format (`UnifiedLog`, `LogManager`).
//! - [`metadata`]: this broker's view of the cluster (`MetadataCache`).
//! - [`network`]: listeners, framing, ordered responses, `sendfile` (`SocketServer`).
//! - [`replica`]: hosted partitions, high watermark, ISR, follower fetchers (`ReplicaManager`).
//! - [`server`]: broker start-up, session renewal and shutdown (`KafkaServer`).
//! - [`zk`]: sessions, Kafka's znodes, fenced controller writes (`KafkaZkClient`).

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod dynamic_config;
pub mod lab;
pub mod log;
pub mod metadata;
pub mod network;
pub mod replica;
pub mod server;
pub mod topic;
pub mod zk;
