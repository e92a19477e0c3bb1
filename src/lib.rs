//! zkafka: a Kafka-compatible broker coordinated by Apache ZooKeeper, laid out as Kafka 3.x in
//! ZooKeeper mode lays it out. See `README.md` and the design notes for the module map.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod dynamic_config;
pub mod log;
pub mod metadata;
pub mod network;
pub mod replica;
pub mod server;
pub mod topic;
pub mod zk;
