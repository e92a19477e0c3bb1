//! Who a connection is: Kafka's `KafkaPrincipal`, from a TLS client certificate ([`tls`]) or a
//! SASL login ([`sasl`], [`scram`]); the ACL authorizer builds on it.

mod credentials;
pub mod jaas;
mod principal;
pub mod sasl;
pub mod scram;
pub mod tls;

pub use credentials::ZkCredentials;
pub use principal::KafkaPrincipal;
