//! TLS with rustls (ring provider): key stores and trust stores as Kafka reads them (PKCS12, or
//! PEM in a file or inline), the server side of a listener (with `ssl.client.auth`), the client
//! side of inter-broker connections, and the principal of a client certificate as Kafka's
//! `ssl.principal.mapping.rules=DEFAULT` names it: `User:` and the subject in RFC 2253 form.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};
use tokio_rustls::rustls;

use crate::config::{ClientAuth, SslSettings, StoreSource};

/// A certificate chain and its private key.
type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Everything read out of one store.
#[derive(Default)]
struct Store {
    certs: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {path}: {e}"))
}

fn read_pem(bytes: &[u8], what: &str, key_password: Option<&str>) -> Result<Store, String> {
    let mut store = Store::default();
    let text = String::from_utf8_lossy(bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") && key_password.is_some() {
        return Err(format!(
            "the {what} holds an encrypted PEM key: zkafka reads unencrypted PEM keys (or PKCS12)"
        ));
    }
    for item in rustls_pemfile::read_all(&mut &bytes[..]) {
        match item.map_err(|e| format!("the {what} is not valid PEM: {e}"))? {
            rustls_pemfile::Item::X509Certificate(c) => store.certs.push(c),
            rustls_pemfile::Item::Pkcs8Key(k) => store.key = Some(k.into()),
            rustls_pemfile::Item::Pkcs1Key(k) => store.key = Some(k.into()),
            rustls_pemfile::Item::Sec1Key(k) => store.key = Some(k.into()),
            _ => {}
        }
    }
    Ok(store)
}

fn read_store(src: &StoreSource, what: &str, key_password: Option<&str>) -> Result<Store, String> {
    match src {
        StoreSource::PemFile { path } => read_pem(&read_file(path, what)?, what, key_password),
        StoreSource::PemInline { certificates, key } => {
            let mut store = read_pem(certificates.as_bytes(), what, None)?;
            if !key.is_empty() {
                store.key = read_pem(key.as_bytes(), what, key_password)?.key;
            }
            Ok(store)
        }
        StoreSource::Pkcs12 { path, password } => {
            let data = read_file(path, what)?;
            let ks = p12_keystore::KeyStore::from_pkcs12(
                &data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Relaxed,
            )
            .map_err(|e| format!("cannot open the PKCS12 {what} {path}: {e}"))?;
            let mut store = Store::default();
            for (_, entry) in ks.entries() {
                match entry {
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) if store.key.is_none() => {
                        store.key =
                            Some(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()).into());
                        store.certs.extend(
                            chain
                                .certs()
                                .iter()
                                .map(|c| CertificateDer::from(c.as_der().to_vec())),
                        );
                    }
                    p12_keystore::KeyStoreEntry::Certificate(c) => {
                        store.certs.push(CertificateDer::from(c.as_der().to_vec()))
                    }
                    _ => {}
                }
            }
            Ok(store)
        }
    }
}

fn identity(s: &SslSettings) -> Result<Option<Identity>, String> {
    let Some(src) = &s.keystore else {
        return Ok(None);
    };
    let store = read_store(src, "key store", s.key_password.as_deref())?;
    let key = store.key.ok_or("the key store holds no private key")?;
    if store.certs.is_empty() {
        return Err("the key store holds no certificate".into());
    }
    Ok(Some((store.certs, key)))
}

fn roots(s: &SslSettings) -> Result<Option<RootCertStore>, String> {
    let Some(src) = &s.truststore else {
        return Ok(None);
    };
    let store = read_store(src, "trust store", None)?;
    let mut roots = RootCertStore::empty();
    for c in store.certs {
        roots
            .add(c)
            .map_err(|e| format!("the trust store holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the trust store holds no certificate".into());
    }
    Ok(Some(roots))
}

/// The ring provider limited to `ssl.cipher.suites` (Java's names: TLS 1.3 suites are written
/// `TLS_AES_128_GCM_SHA256` where rustls says `TLS13_AES_128_GCM_SHA256`).
fn provider(s: &SslSettings) -> Result<Arc<rustls::crypto::CryptoProvider>, String> {
    // Deprecated only for lacking post-quantum key exchange (aws-lc-rs has it, but needs a C
    // toolchain build); the classical groups are what Kafka's JVM offers too.
    #[allow(deprecated)]
    let mut p = rustls::crypto::ring::default_provider();
    if !s.cipher_suites.is_empty() {
        let name =
            |cs: &SupportedCipherSuite| format!("{:?}", cs.suite()).replacen("TLS13_", "TLS_", 1);
        for wanted in &s.cipher_suites {
            if !p.cipher_suites.iter().any(|cs| &name(cs) == wanted) {
                let known: Vec<String> = p.cipher_suites.iter().map(name).collect();
                return Err(format!(
                    "ssl.cipher.suites: rustls does not implement {wanted} (it has {})",
                    known.join(", ")
                ));
            }
        }
        p.cipher_suites
            .retain(|cs| s.cipher_suites.contains(&name(cs)));
    }
    Ok(Arc::new(p))
}

fn versions(s: &SslSettings) -> Vec<&'static rustls::SupportedProtocolVersion> {
    s.protocols
        .iter()
        .map(|p| match p.as_str() {
            "TLSv1.2" => &rustls::version::TLS12,
            _ => &rustls::version::TLS13,
        })
        .collect()
}

/// The server side of a TLS listener; errors are one line naming what is wrong.
pub fn server_config(s: &SslSettings) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = identity(s)?.ok_or("a TLS listener needs a key store")?;
    let provider = provider(s)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(s))
        .map_err(|e| format!("ssl.enabled.protocols with ssl.cipher.suites: {e}"))?;
    let builder = match (s.client_auth, roots(s)?) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err(
            "ssl.client.auth needs a trust store (ssl.truststore.*) to check client certificates"
                .into(),
        ),
        (auth, Some(roots)) => {
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if auth == ClientAuth::Requested {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| format!("cannot check client certificates: {e}"))?,
            )
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("the key store's key does not fit its certificate: {e}"))?;
    Ok(Arc::new(config))
}

/// The client side for inter-broker connections: trusts the trust store, presents the key
/// store's certificate when there is one (for listeners with `ssl.client.auth`).
pub fn client_config(s: &SslSettings) -> Result<Arc<ClientConfig>, String> {
    let roots =
        roots(s)?.ok_or("the inter-broker TLS client needs a trust store (ssl.truststore.*)")?;
    let provider = provider(s)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(s))
        .map_err(|e| format!("ssl.enabled.protocols with ssl.cipher.suites: {e}"))?;
    let builder = if s.verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("cannot check server certificates: {e}"))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(inner)))
    };
    let config = match identity(s)? {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("the key store's key does not fit its certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyHostName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The subject of a DER certificate as Java's `X500Principal.getName()` (RFC 2253) writes it:
/// most specific RDN first, `CN`, `OU`, `O`, `L`, `ST`, `C`, `STREET`, `DC`, `UID` by keyword,
/// other attributes as `<oid>=#<hex of the DER value>`.
pub fn subject_rfc2253(der: &[u8]) -> Result<String, String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("unparsable client certificate: {e}"))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| {
                let oid = atv.attr_type().to_id_string();
                let keyword = match oid.as_str() {
                    "2.5.4.3" => Some("CN"),
                    "2.5.4.6" => Some("C"),
                    "2.5.4.7" => Some("L"),
                    "2.5.4.8" => Some("ST"),
                    "2.5.4.9" => Some("STREET"),
                    "2.5.4.10" => Some("O"),
                    "2.5.4.11" => Some("OU"),
                    "0.9.2342.19200300.100.1.25" => Some("DC"),
                    "0.9.2342.19200300.100.1.1" => Some("UID"),
                    _ => None,
                };
                match (keyword, atv.as_str()) {
                    (Some(k), Ok(v)) => format!("{k}={}", escape_rfc2253(v)),
                    _ => {
                        let value = atv.attr_value();
                        let mut der = vec![value.tag().0 as u8];
                        let data = value.as_bytes();
                        push_der_len(&mut der, data.len());
                        der.extend_from_slice(data);
                        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                        format!("{oid}=#{hex}")
                    }
                }
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

/// RFC 2253 section 2.4 escaping, as Java applies it.
fn escape_rfc2253(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2253_escapes_as_java() {
        assert_eq!(escape_rfc2253("a,b"), "a\\,b");
        assert_eq!(escape_rfc2253(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc2253("#1+2"), "\\#1\\+2");
    }
}
