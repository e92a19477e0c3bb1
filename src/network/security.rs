//! What a listener asks of its connections: a TLS handshake (SSL, SASL_SSL) and/or a SASL login
//! (SASL_PLAINTEXT, SASL_SSL). PLAINTEXT asks for neither.

use std::sync::Arc;

use crate::security::sasl::SaslServerConfig;

/// One listener's security, built once at start-up.
#[derive(Default, Clone)]
pub struct ListenerSecurity {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub sasl: Option<Arc<SaslServerConfig>>,
}

impl std::fmt::Debug for ListenerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| &s.mechanisms))
            .finish()
    }
}
