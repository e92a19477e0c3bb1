//! Shared helpers of the integration tests: a real ZooKeeper server and the zk-schema validator.
#![allow(dead_code)]

pub mod schema;
pub mod zookeeper;
