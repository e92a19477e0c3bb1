//! A small Kafka client on kafka-protocol, for the CLI tools, the perf commands and
//! inter-broker requests (Kafka's `NetworkClient` counterpart).
//!
//! - [`Connection`]: one pipelined TCP connection; typed `send` matched by correlation id.
//! - [`ClusterClient`]: bootstrap, Metadata, leader lookup and a connection per broker.
//! - [`batch`]: magic-2 record batches built for producing and counted without decoding.
//! - [`produce_frame`]: Produce requests framed around their batches, without copying them.

pub mod batch;
mod cluster;
mod connection;
mod error;
mod frame;
mod offsets;
pub mod produce_frame;
mod security;
mod versions;

pub use cluster::{ClusterClient, ClusterMetadata, PartitionInfo, TopicMetadata, RETRY_BACKOFF};
pub use connection::{Connection, DEFAULT_REQUEST_TIMEOUT};
pub use error::{check_code, ClientError};
pub use frame::{decode_response, encode_request};
pub use offsets::{
    list_offset, list_offset_as, DEBUGGING_REPLICA_ID, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
pub use security::{set_inter_broker_security, ClientSecurity};
pub use versions::{negotiate, ApiVersionTable};
