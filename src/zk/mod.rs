//! The only code that talks to ZooKeeper: Kafka's `KafkaZkClient` for zkafka. No other module
//! uses the ZooKeeper client crate, and the client itself is never handed out: the controller,
//! the brokers and the group coordinator (offsets, member mirrors) all call its methods. It keeps
//! cluster state exactly as Kafka 3.x in ZooKeeper mode lays it out (`docs/zk-layout.md`,
//! `zk-schema/`), so that Kafka's own tools read a zkafka cluster. Reads of many znodes are pipelined (every request sent
//! before the first answer is awaited); controller writes are batched into `multi`s fenced by a
//! check on `/controller_epoch`.
//!
//! Failure semantics a caller relies on:
//! - A disconnection is not an error: the client reconnects to the same session and keeps its
//!   watches. Reads whose answer was lost are sent again. A write whose answer was lost returns
//!   [`ZkError::ConnectionLoss`] (outcome unknown: re-read), except broker registration and
//!   controller election, which check whether they took effect.
//! - [`ZkError::SessionLost`] / [`KafkaZkClient::session_lost`]: the session expired (its
//!   ephemerals are gone) or was closed. Build a new client, re-register, re-arm watches.
//! - [`ZkError::ControllerMoved`]: a fenced write found `/controller_epoch` changed; resign.
//! - Watches are one-shot ([`OneshotWatcher`]): re-read with the `*_and_watch` call after each event.

mod acls;
mod admin;
mod batch;
mod brokers;
mod cluster;
mod config_znodes;
mod consumers;
mod controller;
pub mod error;
mod group_deletion;
mod ids;
mod jaas;
mod log_dir_events;
mod multi_read;
mod offsets;
mod partition_states;
pub mod paths;
mod producer_ids;
mod session;
mod state_times;
mod timed_client;
mod topics;
pub mod znodes;

use std::sync::Arc;
use std::time::Duration;

pub use acls::{acl_change_sequence, VersionedAcls};
pub use error::ZkError;
pub use group_deletion::GroupDeletion;
pub use ids::{new_cluster_id, new_topic_id, topic_id_from_str, topic_id_to_string};
pub use jaas::{credentials_from_kafka_opts, ZkSaslCredentials};
pub use offsets::{CommittedOffsetZnode, OffsetCommitEntry};
pub use partition_states::StateRead;
pub use state_times::TimedState;
pub use topics::TopicReads;
pub use znodes::{
    BrokerRegistration, ClusterIdZnode, ConfigChangeZnode, ConsumerRegistration, ControllerZnode,
    FeatureRange, ListenerEndpoint, OffsetExtrasZnode, PartitionState, PreferredElectionZnode,
    ReassignmentEntry, ReassignmentZnode, TopicConfigZnode, TopicPartitionEntry, TopicZnode,
};
/// A one-shot watch: `changed().await` resolves on the first event (or when the session ends).
pub use zookeeper_client::{OneshotWatcher, SessionInfo};

/// How to reach ZooKeeper (Kafka's `zookeeper.*` settings).
#[derive(Debug, Clone)]
pub struct ZkSettings {
    /// `zookeeper.connect`, e.g. `h1:2181,h2:2181/chroot`.
    pub connect: String,
    /// `zookeeper.session.timeout.ms`.
    pub session_timeout: Duration,
    /// `zookeeper.connection.timeout.ms`.
    pub connection_timeout: Duration,
    /// `zookeeper.set.acl`.
    pub set_acl: bool,
    /// SASL DIGEST-MD5 credentials (the JAAS `Client` section), if any.
    pub sasl: Option<ZkSaslCredentials>,
}

impl ZkSettings {
    /// Kafka's defaults: 18 s session timeout, connection timeout equal to it, open ACLs.
    pub fn new(connect: impl Into<String>) -> Self {
        ZkSettings {
            connect: connect.into(),
            session_timeout: Duration::from_millis(18_000),
            connection_timeout: Duration::from_millis(18_000),
            set_acl: false,
            sasl: None,
        }
    }
}

/// The controller's fencing token: the epoch it won and `/controller_epoch`'s dataVersion then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerEpoch {
    pub epoch: i32,
    pub zk_version: i32,
}

/// One ZooKeeper session and Kafka's operations on it. Cheap to clone; the session lives until the
/// last clone is closed or dropped, or until it expires (see [`KafkaZkClient::session_lost`]).
#[derive(Clone, Debug)]
pub struct KafkaZkClient {
    client: Arc<timed_client::TimedClient>,
    set_acl: bool,
}
