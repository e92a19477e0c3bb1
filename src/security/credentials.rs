//! SCRAM credentials from ZooKeeper: `/config/users/<user>` as `kafka-configs --zookeeper ...
//! --entity-type users --add-config 'SCRAM-SHA-256=[...]'` writes it. The znode is read at each
//! login instead of cached and refreshed through `/config/changes`: a user added, changed or
//! deleted logs in (or not) with the next attempt, at the cost of one ZooKeeper read per login.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;

use super::sasl::CredentialStore;
use super::scram::{ScramCredential, ScramMechanism};
use crate::zk::KafkaZkClient;

/// Reads credentials through the broker's current ZooKeeper session.
#[derive(Debug)]
pub struct ZkCredentials(pub watch::Receiver<KafkaZkClient>);

impl CredentialStore for ZkCredentials {
    fn scram_credential(
        &self,
        mechanism: ScramMechanism,
        user: &str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<ScramCredential>, String>> + Send + '_>> {
        let zk = self.0.borrow().clone();
        let user = user.to_owned();
        Box::pin(async move {
            // Kafka's user names in znode paths are URL-encoded; a name with '/' cannot be a znode.
            if user.is_empty() || user.contains('/') {
                return Ok(None);
            }
            let config = zk
                .get_entity_config("users", &user)
                .await
                .map_err(|e| e.to_string())?;
            Ok(config
                .get(mechanism.name())
                .and_then(|v| ScramCredential::parse(v)))
        })
    }
}
