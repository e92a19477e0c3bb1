//! TLS and SASL on the client side, for inter-broker connections (replica fetchers, the
//! controller's channel, AlterPartition, controlled shutdown), as the broker's
//! `inter.broker.listener.name` / `security.inter.broker.protocol` and
//! `sasl.mechanism.inter.broker.protocol` ask.

use std::sync::{Arc, PoisonError, RwLock};

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::error::ClientError;
use crate::security::scram::{ScramClient, ScramMechanism};

/// How to connect: TLS (rustls client config) and/or a SASL login.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    /// `(mechanism, username, password)`.
    pub sasl: Option<(String, String, String)>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|(m, u, _)| (m, u)))
            .finish()
    }
}

impl ClientSecurity {
    /// From the broker's inter-broker settings; errors name what cannot be used.
    pub fn inter_broker(s: &crate::config::InterBrokerSecurity) -> Result<Self, String> {
        Ok(ClientSecurity {
            tls: s
                .ssl
                .as_ref()
                .map(crate::security::tls::client_config)
                .transpose()?,
            sasl: s.sasl.clone(),
        })
    }
}

static INTER_BROKER: RwLock<Option<Arc<ClientSecurity>>> = RwLock::new(None);

/// Sets what [`Connection::connect_inter_broker`] uses (once per broker process, at start-up).
pub fn set_inter_broker_security(s: ClientSecurity) {
    *INTER_BROKER.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(s));
}

pub(super) fn inter_broker_security() -> Arc<ClientSecurity> {
    INTER_BROKER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

fn auth_error(conn: &Connection, message: String) -> ClientError {
    ClientError::Closed {
        addr: conn.addr().to_owned(),
        reason: format!("SASL authentication failed: {message}"),
    }
}

/// SaslHandshake v1 then SaslAuthenticate (v1) until the mechanism is done.
pub(super) async fn authenticate(
    conn: &Connection,
    (mechanism, user, password): &(String, String, String),
) -> Result<(), ClientError> {
    let hs = conn
        .send(
            SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_string(mechanism.clone())),
            1,
        )
        .await?;
    if hs.error_code != crate::errors::NONE {
        return Err(auth_error(
            conn,
            format!(
                "the broker does not enable {mechanism} (error {})",
                hs.error_code
            ),
        ));
    }
    let step = |token: Vec<u8>| async move {
        let resp = conn
            .send(
                SaslAuthenticateRequest::default().with_auth_bytes(token.into()),
                1,
            )
            .await?;
        if resp.error_code != crate::errors::NONE {
            let msg = resp
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_default();
            return Err(auth_error(conn, msg));
        }
        Ok(resp.auth_bytes)
    };
    if mechanism == "PLAIN" {
        step(format!("\0{user}\0{password}").into_bytes()).await?;
        return Ok(());
    }
    let m = ScramMechanism::from_name(mechanism)
        .ok_or_else(|| auth_error(conn, format!("unsupported mechanism {mechanism}")))?;
    let (client, first) = ScramClient::start(m, user);
    let client = client.with_password(password);
    let server_first = step(first.into_bytes()).await?;
    let server_first = String::from_utf8_lossy(&server_first).into_owned();
    let (fin, expected) = client
        .respond(&server_first)
        .map_err(|e| auth_error(conn, e))?;
    let server_final = step(fin.into_bytes()).await?;
    if server_final[..] != *expected.as_bytes() {
        return Err(auth_error(
            conn,
            "the broker's SCRAM signature does not match".into(),
        ));
    }
    Ok(())
}
