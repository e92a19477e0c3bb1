//! Who a connection is, and what it may do: Kafka's `KafkaPrincipal` for now; listeners' TLS and SASL
//! and the ACL authorizer build on it.

mod principal;

pub use principal::KafkaPrincipal;
