//! Who a connection is and what it may do: Kafka's `KafkaPrincipal`, from a TLS client certificate
//! ([`tls`]) or a SASL login ([`sasl`], [`scram`]); the ACL vocabulary ([`acl`]) and the
//! `AclAuthorizer` ([`authorizer`]) that decides from the ACLs stored in ZooKeeper.

pub mod acl;
pub mod authorizer;
mod credentials;
pub mod jaas;
mod principal;
pub mod sasl;
pub mod scram;
pub mod tls;

pub use authorizer::Authorizer;
pub use credentials::ZkCredentials;
pub use principal::KafkaPrincipal;
