//! Who a connection is, and what it may do: Kafka's `KafkaPrincipal`, the ACL vocabulary and the
//! `AclAuthorizer` that decides from the ACLs stored in ZooKeeper.

pub mod acl;
pub mod authorizer;
mod principal;

pub use authorizer::Authorizer;
pub use principal::KafkaPrincipal;
