//! zkafka: a Kafka-compatible broker cluster in Kafka 3.9's ZooKeeper mode. Modules (Kafka's
//! counterpart in parentheses; more in `docs/architecture.md`):
//!
//! - [`api`]: request handlers, one file per API family, and the served versions (`KafkaApis`).
//! - [`cli`]: the `zkafka` command: `server`, `topics`, `perf`, `lab`, `offsets`.
//! - [`clock`]: the wall clock in milliseconds (`Time`).
//! - [`client`]: a small pipelined Kafka client for inter-broker requests and the tools.
//! - [`config`]: `server.properties` and topic configs with Kafka's keys and defaults.
//! - [`controlled_shutdown`]: the broker asking the controller to move its leaderships away.
//! - [`controller`]: election through `/controller` and the active controller (`KafkaController`).
//! - [`coordinator`]: consumer groups with offsets in ZooKeeper (`GroupCoordinator`).
//! - [`dynamic_config`]: topic config changes from `/config/changes` (`ZkConfigManager`).
//! - [`errors`]: Kafka's `Errors.NONE` and an outcome's error code (the rest is `ResponseError`).
//! - [`lab`]: the downtime lab behind `zkafka lab` (`docs/downtime.md`; no Kafka counterpart).
//! - [`log`]: partition logs in Kafka's on-disk format (`UnifiedLog`, `LogManager`).
//! - [`metadata`]: this broker's view of the cluster (`MetadataCache`).
//! - [`metrics`]: the Prometheus endpoint with Kafka's metric names (`metrics.port`).
//! - [`network`]: listeners, framing, ordered responses, `sendfile` (`SocketServer`).
//! - [`replica`]: hosted partitions, high watermark, ISR, follower fetchers (`ReplicaManager`).
//! - [`security`]: who a connection is (`KafkaPrincipal`).
//! - [`server`]: broker start-up, session renewal and shutdown (`KafkaServer`).
//! - [`topic`]: Kafka's topic name rules (`Topic.validate`).
//! - [`topic_partition`]: the one `TopicPartition`, printed as Kafka does (`topic-3`).
//! - [`zk`]: sessions, Kafka's znodes, fenced controller writes (`KafkaZkClient`).

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod controlled_shutdown;
pub mod controller;
pub mod coordinator;
pub mod dynamic_config;
pub mod errors;
pub mod lab;
pub mod log;
pub mod metadata;
pub mod metrics;
pub mod network;
pub mod replica;
pub mod security;
pub mod server;
pub mod topic;
pub mod topic_partition;
pub mod zk;
