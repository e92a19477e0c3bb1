//! Kafka's `SaslServerAuthenticator` for one connection of a SASL listener: before
//! authentication only ApiVersions, SaslHandshake and SaslAuthenticate are served (anything else
//! closes the connection, as Kafka's `IllegalSaslStateException` does); a failed login is
//! answered SASL_AUTHENTICATION_FAILED with Kafka's message, and the connection closes after
//! `connection.failed.authentication.delay.ms`. With `connections.max.reauth.ms`, SaslAuthenticate
//! v1+ tells the client its session lifetime; a request arriving after it without a
//! re-authentication closes the connection, and a re-authentication must keep the principal.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::time::Instant;

use crate::security::sasl::{SaslExchange, SaslServerConfig, Step};
use crate::security::KafkaPrincipal;

/// What the connection does with a SASL request.
#[derive(Debug)]
pub(crate) enum SaslReply {
    /// Write this response body and go on.
    Respond(Bytes),
    /// Write this response body, then close after the delay (failed authentication).
    Fail(Bytes, Duration),
    /// Close without answering (Kafka cannot answer what it cannot parse).
    Close(String),
}

/// The SASL state of one connection.
#[derive(Debug)]
pub(crate) struct SaslAuthenticator {
    config: Arc<SaslServerConfig>,
    exchange: Option<SaslExchange>,
    /// The principal once authenticated.
    principal: Option<KafkaPrincipal>,
    expires: Option<Instant>,
}

impl SaslAuthenticator {
    pub(crate) fn new(config: Arc<SaslServerConfig>) -> Self {
        SaslAuthenticator {
            config,
            exchange: None,
            principal: None,
            expires: None,
        }
    }

    pub(crate) fn authenticated(&self) -> Option<&KafkaPrincipal> {
        self.principal.as_ref()
    }

    /// The largest frame accepted before authentication (`sasl.server.max.receive.size`).
    pub(crate) fn max_receive_size(&self) -> usize {
        self.config.max_receive_size
    }

    /// Why a request other than the SASL ones may not be served now, if it may not.
    pub(crate) fn refuse(&self, api_key: ApiKey) -> Option<String> {
        if api_key == ApiKey::ApiVersions && self.exchange.is_none() {
            return None;
        }
        match (&self.principal, self.expires) {
            (None, _) => Some(format!(
                "Unexpected Kafka request of type {api_key:?} during SASL handshake."
            )),
            (Some(_), Some(at)) if Instant::now() >= at => {
                Some("SASL session expired (connections.max.reauth.ms)".into())
            }
            _ if self.exchange.is_some() => Some(format!(
                "Unexpected Kafka request of type {api_key:?} during SASL re-authentication."
            )),
            _ => None,
        }
    }

    /// Handles SaslHandshake (v1) or SaslAuthenticate (v0–2).
    pub(crate) async fn on_request(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Bytes,
    ) -> SaslReply {
        match api_key {
            ApiKey::SaslHandshake => self.handshake(version, body),
            _ => self.authenticate(version, body).await,
        }
    }

    fn handshake(&mut self, version: i16, body: &Bytes) -> SaslReply {
        let mut buf = body.clone();
        let Ok(req) = SaslHandshakeRequest::decode(&mut buf, version) else {
            return SaslReply::Close("cannot decode SaslHandshake".into());
        };
        if self.exchange.is_some() {
            return SaslReply::Close("SaslHandshake in the middle of an exchange".into());
        }
        let mechanisms = self
            .config
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_string(m.clone()))
            .collect();
        let wanted = req.mechanism.to_string();
        let mut resp = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
        if !self.config.mechanisms.contains(&wanted) {
            tracing::info!(mechanism = %wanted, "SASL handshake with an unsupported mechanism");
            resp.error_code = ResponseError::UnsupportedSaslMechanism.code();
            return match encode(&resp, version) {
                Ok(b) => SaslReply::Fail(b, self.config.failed_auth_delay),
                Err(e) => SaslReply::Close(e),
            };
        }
        self.exchange = Some(SaslExchange::new(self.config.clone(), &wanted));
        match encode(&resp, version) {
            Ok(b) => SaslReply::Respond(b),
            Err(e) => SaslReply::Close(e),
        }
    }

    async fn authenticate(&mut self, version: i16, body: &Bytes) -> SaslReply {
        let mut buf = body.clone();
        let Ok(req) = SaslAuthenticateRequest::decode(&mut buf, version) else {
            return SaslReply::Close("cannot decode SaslAuthenticate".into());
        };
        let Some(exchange) = self.exchange.as_mut() else {
            return SaslReply::Close("SaslAuthenticate before SaslHandshake".into());
        };
        let mut resp = SaslAuthenticateResponse::default();
        match exchange.step(&req.auth_bytes).await {
            Step::Challenge(token) => resp.auth_bytes = token.into(),
            Step::Done(token, principal) => {
                let mechanism = exchange.mechanism().to_owned();
                self.exchange = None;
                if let Some(old) = &self.principal {
                    if *old != principal {
                        return self.failed(
                            version,
                            format!("Cannot change principals during re-authentication from {old}: {principal}"),
                        );
                    }
                }
                tracing::info!(%principal, %mechanism, "SASL authentication succeeded");
                resp.auth_bytes = token.into();
                if let Some(lifetime) = self.config.session_lifetime {
                    self.expires = Some(Instant::now() + lifetime);
                    resp.session_lifetime_ms =
                        i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
                }
                self.principal = Some(principal);
            }
            Step::Failed(message) => {
                let mechanism = exchange.mechanism().to_owned();
                self.exchange = None;
                tracing::info!(%mechanism, %message, "SASL authentication failed");
                return self.failed(version, message);
            }
        }
        match encode(&resp, version) {
            Ok(b) => SaslReply::Respond(b),
            Err(e) => SaslReply::Close(e),
        }
    }

    fn failed(&self, version: i16, message: String) -> SaslReply {
        let resp = SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(StrBytes::from_string(message)));
        match encode(&resp, version) {
            Ok(b) => SaslReply::Fail(b, self.config.failed_auth_delay),
            Err(e) => SaslReply::Close(e),
        }
    }
}

fn encode<R: Encodable>(resp: &R, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    resp.encode(&mut buf, version)
        .map_err(|e| format!("cannot encode SASL response v{version}: {e}"))?;
    Ok(buf.freeze())
}
