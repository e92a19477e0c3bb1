//! The server side of SASL on a listener: Kafka's `SaslServerAuthenticator` for PLAIN (users from
//! the listener's JAAS config) and SCRAM-SHA-256/512 (credentials from `/config/users/<user>`,
//! read at each login so users added or changed at run time log in at once).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::scram::{parse_client_first, ScramCredential, ScramMechanism, ScramServer};
use super::KafkaPrincipal;
use crate::config::SaslSettings;

/// Looks up a user's SCRAM credential (`None`: no such user or no credential for the mechanism).
pub trait CredentialStore: Send + Sync + std::fmt::Debug {
    fn scram_credential(
        &self,
        mechanism: ScramMechanism,
        user: &str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<ScramCredential>, String>> + Send + '_>>;
}

/// A listener's SASL configuration, ready to serve.
#[derive(Debug)]
pub struct SaslServerConfig {
    pub mechanisms: Vec<String>,
    /// PLAIN's `user_<name>="<password>"` entries.
    plain_users: BTreeMap<String, String>,
    credentials: Arc<dyn CredentialStore>,
    /// `connections.max.reauth.ms`, as the session lifetime (`None`: sessions do not expire).
    pub session_lifetime: Option<Duration>,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_auth_delay: Duration,
    /// `sasl.server.max.receive.size`.
    pub max_receive_size: usize,
}

impl SaslServerConfig {
    pub fn new(s: &SaslSettings, credentials: Arc<dyn CredentialStore>) -> Self {
        let plain_users = s
            .jaas
            .iter()
            .filter(|(m, _)| m == "PLAIN")
            .filter_map(|(_, v)| super::jaas::parse_jaas(v).ok())
            .flat_map(|opts| {
                opts.into_iter()
                    .filter_map(|(k, v)| k.strip_prefix("user_").map(|u| (u.to_owned(), v)))
                    .collect::<Vec<_>>()
            })
            .collect();
        SaslServerConfig {
            mechanisms: s.mechanisms.clone(),
            plain_users,
            credentials,
            session_lifetime: u64::try_from(s.max_reauth_ms)
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            failed_auth_delay: Duration::from_millis(
                u64::try_from(s.failed_auth_delay_ms).unwrap_or(0),
            ),
            max_receive_size: usize::try_from(s.max_receive_size).unwrap_or(524_288),
        }
    }
}

/// One step of an exchange.
#[derive(Debug)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Challenge(Vec<u8>),
    /// Authenticated as the principal; send this last token.
    Done(Vec<u8>, KafkaPrincipal),
    /// Refused, with Kafka's message.
    Failed(String),
}

/// One authentication exchange with one mechanism.
#[derive(Debug)]
pub struct SaslExchange {
    config: Arc<SaslServerConfig>,
    mechanism: String,
    scram: Option<ScramServer>,
}

impl SaslExchange {
    /// Starts an exchange for `mechanism` (already checked to be enabled).
    pub fn new(config: Arc<SaslServerConfig>, mechanism: &str) -> Self {
        SaslExchange {
            config,
            mechanism: mechanism.to_owned(),
            scram: None,
        }
    }

    pub fn mechanism(&self) -> &str {
        &self.mechanism
    }

    /// Handles the client's next token.
    pub async fn step(&mut self, token: &[u8]) -> Step {
        if self.mechanism == "PLAIN" {
            return self.plain(token);
        }
        let Some(m) = ScramMechanism::from_name(&self.mechanism) else {
            return Step::Failed(format!("Unsupported SASL mechanism {}", self.mechanism));
        };
        let Ok(text) = std::str::from_utf8(token) else {
            return Step::Failed("Invalid SCRAM message: not UTF-8".into());
        };
        match self.scram.take() {
            None => {
                let first = match parse_client_first(text) {
                    Ok(f) => f,
                    Err(e) => return Step::Failed(e),
                };
                let cred = match self
                    .config
                    .credentials
                    .scram_credential(m, &first.username)
                    .await
                {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        return Step::Failed(
                            "Authentication failed: Invalid user credentials".into(),
                        )
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read SCRAM credentials");
                        return Step::Failed(
                            "Authentication failed: Invalid user credentials".into(),
                        );
                    }
                };
                let (server, server_first) = ScramServer::start(m, first, cred);
                self.scram = Some(server);
                Step::Challenge(server_first.into_bytes())
            }
            Some(server) => match server.finish(text) {
                Ok(last) => Step::Done(last.into_bytes(), KafkaPrincipal::user(server.username())),
                Err(e) => Step::Failed(e),
            },
        }
    }

    /// PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, as Kafka's `PlainSaslServer` checks it.
    fn plain(&self, token: &[u8]) -> Step {
        let parts: Vec<&[u8]> = token.split(|b| *b == 0).collect();
        let [authzid, user, password] = parts[..] else {
            return Step::Failed("Invalid SASL/PLAIN response: expected 3 tokens".into());
        };
        let (Ok(authzid), Ok(user), Ok(password)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(user),
            std::str::from_utf8(password),
        ) else {
            return Step::Failed("Invalid SASL/PLAIN response: not UTF-8".into());
        };
        if user.is_empty() {
            return Step::Failed("Authentication failed: username not specified".into());
        }
        if password.is_empty() {
            return Step::Failed("Authentication failed: password not specified".into());
        }
        if !authzid.is_empty() && authzid != user {
            return Step::Failed(
                "Authentication failed: Client requested an authorization id that is different from username".into(),
            );
        }
        let ok = self.config.plain_users.get(user).is_some_and(|p| {
            super::scram::equal_in_constant_time(p.as_bytes(), password.as_bytes())
        });
        if ok {
            Step::Done(Vec::new(), KafkaPrincipal::user(user))
        } else {
            Step::Failed("Authentication failed: Invalid username or password".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct NoUsers;
    impl CredentialStore for NoUsers {
        fn scram_credential(
            &self,
            _: ScramMechanism,
            _: &str,
        ) -> Pin<Box<dyn Future<Output = Result<Option<ScramCredential>, String>> + Send + '_>>
        {
            Box::pin(async { Ok(None) })
        }
    }

    #[tokio::test]
    async fn plain_checks_the_jaas_users() {
        let s = SaslSettings {
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
            jaas: vec![(
                "PLAIN".into(),
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="pw";"#.into(),
            )],
            max_reauth_ms: 0,
            failed_auth_delay_ms: 100,
            max_receive_size: 524_288,
        };
        let c = Arc::new(SaslServerConfig::new(&s, Arc::new(NoUsers)));
        let mut x = SaslExchange::new(c.clone(), "PLAIN");
        assert!(matches!(x.step(b"\0alice\0pw").await, Step::Done(_, p) if p.name == "alice"));
        assert!(
            matches!(x.step(b"\0alice\0bad").await, Step::Failed(m) if m == "Authentication failed: Invalid username or password")
        );
        let mut x = SaslExchange::new(c, "SCRAM-SHA-256");
        assert!(matches!(x.step(b"n,,n=bob,r=abc").await, Step::Failed(_)));
    }
}
