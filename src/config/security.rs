//! The TLS and SASL settings of each listener: Kafka's `ssl.*` and `sasl.*` keys, each overridable
//! per listener as `listener.name.<listener>.<key>` (lower-case listener name, as Kafka writes it),
//! and the JAAS users of `listener.name.<listener>.<mechanism>.sasl.jaas.config`.
//!
//! Only the values are checked here; keys and certificates are loaded (and refused with one line
//! when unreadable) by `crate::security::tls` when the broker starts.

use super::error::ConfigError;
use super::listener::{Listener, SecurityProtocol};
use super::values::{parse_long, split_list, Props};

/// The mechanisms zkafka serves (Kafka's names).
pub const SASL_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Where a key store or trust store comes from (`ssl.keystore.type` / `ssl.truststore.type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSource {
    /// `PKCS12` at a path, with its password.
    Pkcs12 { path: String, password: String },
    /// `PEM` in a file (certificates, and for a key store the private key).
    PemFile { path: String },
    /// `PEM` given inline: `ssl.keystore.certificate.chain` + `ssl.keystore.key`, or
    /// `ssl.truststore.certificates`.
    PemInline { certificates: String, key: String },
}

/// One listener's (or the inter-broker client's) TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// The key store; a server listener needs one, a client uses it for mutual TLS.
    pub keystore: Option<StoreSource>,
    /// `ssl.key.password`: the password of an encrypted PEM private key.
    pub key_password: Option<String>,
    /// The trust store; without one, client certificates cannot be checked and the inter-broker
    /// client trusts nothing.
    pub truststore: Option<StoreSource>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: TLSv1.2 and/or TLSv1.3.
    pub protocols: Vec<String>,
    /// `ssl.cipher.suites` (empty: rustls's defaults), in Java's names.
    pub cipher_suites: Vec<String>,
    /// `ssl.endpoint.identification.algorithm` is `https` (check the server's host name).
    pub verify_hostname: bool,
}

/// One listener's SASL settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms`, each one of [`SASL_MECHANISMS`].
    pub mechanisms: Vec<String>,
    /// The JAAS configs by mechanism (`listener.name.<l>.<mechanism>.sasl.jaas.config`).
    pub jaas: Vec<(String, String)>,
    /// `connections.max.reauth.ms` (0: sessions never expire).
    pub max_reauth_ms: i64,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_auth_delay_ms: i32,
    /// `sasl.server.max.receive.size`: the largest frame before authentication completes.
    pub max_receive_size: i32,
}

/// The security of one listener, as its protocol asks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerSecurity {
    pub ssl: Option<SslSettings>,
    pub sasl: Option<SaslSettings>,
}

/// What the inter-broker client (replica fetchers, controller channel) uses to connect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterBrokerSecurity {
    pub ssl: Option<SslSettings>,
    /// `(mechanism, username, password)` from `sasl.mechanism.inter.broker.protocol` and that
    /// mechanism's JAAS config on the inter-broker listener.
    pub sasl: Option<(String, String, String)>,
}

/// Reads a per-listener key: `listener.name.<l>.<key>` first, then `<key>`.
fn listener_key(p: &mut Props<'_>, listener: &str, key: &'static str) -> Option<String> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    p.raw_owned(&prefixed)
        .or_else(|| p.raw(key))
        .map(str::to_owned)
}

fn with_default(p: &mut Props<'_>, l: &str, key: &'static str, default: &str) -> String {
    p.note(key, Some(default.to_owned()), 2);
    listener_key(p, l, key).unwrap_or_else(|| default.to_owned())
}

/// Every key this module reads, with Kafka's default and config type (2 STRING, 3 INT, 5 LONG,
/// 7 LIST, 9 PASSWORD), so DescribeConfigs lists them whether or not a listener uses them.
const KEYS: &[(&str, Option<&str>, i8)] = &[
    ("connection.failed.authentication.delay.ms", Some("100"), 3),
    ("connections.max.reauth.ms", Some("0"), 5),
    ("sasl.enabled.mechanisms", Some("GSSAPI"), 7),
    ("sasl.server.max.receive.size", Some("524288"), 3),
    ("ssl.cipher.suites", Some(""), 7),
    ("ssl.client.auth", Some("none"), 2),
    ("ssl.enabled.protocols", Some("TLSv1.2,TLSv1.3"), 7),
    ("ssl.endpoint.identification.algorithm", Some("https"), 2),
    ("ssl.key.password", None, 9),
    ("ssl.keystore.certificate.chain", None, 9),
    ("ssl.keystore.key", None, 9),
    ("ssl.keystore.location", None, 2),
    ("ssl.keystore.password", None, 9),
    ("ssl.keystore.type", Some("JKS"), 2),
    ("ssl.principal.mapping.rules", Some("DEFAULT"), 2),
    ("ssl.protocol", Some("TLSv1.3"), 2),
    ("ssl.truststore.certificates", None, 9),
    ("ssl.truststore.location", None, 2),
    ("ssl.truststore.password", None, 9),
    ("ssl.truststore.type", Some("JKS"), 2),
];

/// Reads the security settings of every listener (by index in `listeners`).
pub(crate) fn read_listener_security(
    p: &mut Props<'_>,
    listeners: &[Listener],
) -> Result<Vec<ListenerSecurity>, ConfigError> {
    for (key, default, config_type) in KEYS {
        p.note(key, default.map(str::to_owned), *config_type);
    }
    listeners
        .iter()
        .map(|l| {
            let (tls, sasl) = match l.security_protocol {
                SecurityProtocol::Plaintext => (false, false),
                SecurityProtocol::Ssl => (true, false),
                SecurityProtocol::SaslPlaintext => (false, true),
                SecurityProtocol::SaslSsl => (true, true),
            };
            Ok(ListenerSecurity {
                ssl: tls.then(|| read_ssl(p, &l.name, true)).transpose()?,
                sasl: sasl.then(|| read_sasl(p, &l.name)).transpose()?,
            })
        })
        .collect()
}

/// The inter-broker client's settings for `listener` (the inter-broker listener).
pub(crate) fn read_inter_broker(
    p: &mut Props<'_>,
    listener: &Listener,
) -> Result<InterBrokerSecurity, ConfigError> {
    let proto = listener.security_protocol;
    let ssl = matches!(proto, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
        .then(|| read_ssl(p, &listener.name, false))
        .transpose()?;
    let key = "sasl.mechanism.inter.broker.protocol";
    let mechanism = p.string(key, "GSSAPI");
    let sasl = if matches!(
        proto,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    ) {
        if !SASL_MECHANISMS.contains(&mechanism.as_str()) {
            return Err(ConfigError::unsupported(
                key,
                &mechanism,
                format!(
                    "zkafka's SASL mechanisms are {}",
                    SASL_MECHANISMS.join(", ")
                ),
            ));
        }
        let jaas_key = jaas_key(&listener.name, &mechanism);
        let jaas = p.raw_owned(&jaas_key).map(str::to_owned).ok_or_else(|| {
            ConfigError::invalid(
                key,
                &mechanism,
                format!("the inter-broker listener needs {jaas_key} with username and password"),
            )
        })?;
        let opts = crate::security::jaas::parse_jaas(&jaas)
            .map_err(|e| ConfigError::invalid(&jaas_key, "(hidden)", e))?;
        let (Some(user), Some(password)) = (opts.get("username"), opts.get("password")) else {
            return Err(ConfigError::invalid(
                &jaas_key,
                "(hidden)",
                "the inter-broker mechanism's JAAS config needs username and password",
            ));
        };
        Some((mechanism, user.clone(), password.clone()))
    } else {
        None
    };
    Ok(InterBrokerSecurity { ssl, sasl })
}

fn jaas_key(listener: &str, mechanism: &str) -> String {
    format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        mechanism.to_ascii_lowercase()
    )
}

fn read_store(
    p: &mut Props<'_>,
    l: &str,
    kind: &str,
    keys: [&'static str; 4],
) -> Result<Option<StoreSource>, ConfigError> {
    let [type_key, location_key, password_key, inline_key] = keys;
    let store_type = with_default(p, l, type_key, "JKS").to_ascii_uppercase();
    let location = listener_key(p, l, location_key).filter(|v| !v.is_empty());
    let password = listener_key(p, l, password_key);
    let inline = listener_key(p, l, inline_key).filter(|v| !v.is_empty());
    let inline_key_value = if kind == "keystore" {
        listener_key(p, l, "ssl.keystore.key").filter(|v| !v.is_empty())
    } else {
        None
    };
    match (store_type.as_str(), location, inline) {
        (_, None, None) => Ok(None),
        ("PEM", Some(_), Some(_)) => Err(ConfigError::invalid(
            location_key,
            "(set)",
            format!("set either {location_key} or {inline_key}, not both"),
        )),
        ("PEM", Some(path), None) => Ok(Some(StoreSource::PemFile { path })),
        ("PEM", None, Some(certificates)) => {
            if kind == "keystore" && inline_key_value.is_none() {
                return Err(ConfigError::invalid(
                    inline_key,
                    "(set)",
                    "ssl.keystore.key must be set with ssl.keystore.certificate.chain",
                ));
            }
            Ok(Some(StoreSource::PemInline {
                certificates,
                key: inline_key_value.unwrap_or_default(),
            }))
        }
        ("PKCS12", Some(path), None) => Ok(Some(StoreSource::Pkcs12 {
            path,
            password: password.unwrap_or_default(),
        })),
        ("PKCS12", _, Some(_)) => Err(ConfigError::invalid(
            inline_key,
            "(set)",
            format!("inline PEM needs {type_key}=PEM"),
        )),
        (other, _, _) => Err(ConfigError::unsupported(
            type_key,
            other,
            format!("zkafka reads {kind}s as PKCS12 or PEM (convert a JKS store with keytool -importkeystore -deststoretype PKCS12)"),
        )),
    }
}

fn read_ssl(p: &mut Props<'_>, l: &str, server: bool) -> Result<SslSettings, ConfigError> {
    let keystore = read_store(
        p,
        l,
        "keystore",
        [
            "ssl.keystore.type",
            "ssl.keystore.location",
            "ssl.keystore.password",
            "ssl.keystore.certificate.chain",
        ],
    )?;
    let truststore = read_store(
        p,
        l,
        "truststore",
        [
            "ssl.truststore.type",
            "ssl.truststore.location",
            "ssl.truststore.password",
            "ssl.truststore.certificates",
        ],
    )?;
    if server && keystore.is_none() {
        return Err(ConfigError::invalid(
            "ssl.keystore.location",
            "",
            format!("listener {l} uses TLS and needs a key store (ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key)"),
        ));
    }
    let key_password = listener_key(p, l, "ssl.key.password");
    let auth = with_default(p, l, "ssl.client.auth", "none");
    let client_auth = match auth.to_ascii_lowercase().as_str() {
        "none" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        _ => {
            return Err(ConfigError::invalid(
                "ssl.client.auth",
                &auth,
                "must be none, requested or required",
            ))
        }
    };
    let protocols_value = with_default(p, l, "ssl.enabled.protocols", "TLSv1.2,TLSv1.3");
    let protocols = split_list(&protocols_value);
    if let Some(bad) = protocols
        .iter()
        .find(|v| !matches!(v.as_str(), "TLSv1.2" | "TLSv1.3"))
    {
        return Err(ConfigError::unsupported(
            "ssl.enabled.protocols",
            &protocols_value,
            format!("rustls speaks TLSv1.2 and TLSv1.3 only, not {bad}"),
        ));
    }
    if protocols.is_empty() {
        return Err(ConfigError::invalid(
            "ssl.enabled.protocols",
            &protocols_value,
            "no protocol enabled",
        ));
    }
    let protocol = with_default(p, l, "ssl.protocol", "TLSv1.3");
    if !matches!(protocol.as_str(), "TLSv1.2" | "TLSv1.3" | "TLS") {
        return Err(ConfigError::unsupported(
            "ssl.protocol",
            &protocol,
            "rustls speaks TLSv1.2 and TLSv1.3 only",
        ));
    }
    let suites = with_default(p, l, "ssl.cipher.suites", "");
    let cipher_suites = split_list(&suites);
    let rules = with_default(p, l, "ssl.principal.mapping.rules", "DEFAULT");
    if rules.trim() != "DEFAULT" {
        return Err(ConfigError::unsupported(
            "ssl.principal.mapping.rules",
            &rules,
            "only DEFAULT (the certificate's subject in RFC 2253 form) is implemented",
        ));
    }
    let algorithm = with_default(p, l, "ssl.endpoint.identification.algorithm", "https");
    let verify_hostname = match algorithm.to_ascii_lowercase().as_str() {
        "https" => true,
        "" => false,
        _ => {
            return Err(ConfigError::invalid(
                "ssl.endpoint.identification.algorithm",
                &algorithm,
                "must be https or empty",
            ))
        }
    };
    Ok(SslSettings {
        keystore,
        key_password,
        truststore,
        client_auth,
        protocols,
        cipher_suites,
        verify_hostname,
    })
}

fn read_sasl(p: &mut Props<'_>, l: &str) -> Result<SaslSettings, ConfigError> {
    let value = with_default(p, l, "sasl.enabled.mechanisms", "GSSAPI");
    let mechanisms: Vec<String> = split_list(&value)
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    if let Some(bad) = mechanisms
        .iter()
        .find(|m| !SASL_MECHANISMS.contains(&m.as_str()))
    {
        return Err(ConfigError::unsupported(
            "sasl.enabled.mechanisms",
            &value,
            format!(
                "listener {l}: zkafka serves {} (not {bad})",
                SASL_MECHANISMS.join(", ")
            ),
        ));
    }
    if mechanisms.is_empty() {
        return Err(ConfigError::invalid(
            "sasl.enabled.mechanisms",
            &value,
            format!("listener {l} uses SASL but enables no mechanism"),
        ));
    }
    let mut jaas = Vec::new();
    for m in &mechanisms {
        let key = jaas_key(l, m);
        if let Some(v) = p.raw_owned(&key) {
            crate::security::jaas::parse_jaas(v)
                .map_err(|e| ConfigError::invalid(&key, "(hidden)", e))?;
            jaas.push((m.clone(), v.to_owned()));
        } else if m == "PLAIN" {
            return Err(ConfigError::invalid(
                "sasl.enabled.mechanisms",
                &value,
                format!(
                    "PLAIN on listener {l} needs its users in {key} (user_<name>=\"<password>\")"
                ),
            ));
        }
    }
    let reauth = p.long("connections.max.reauth.ms", 0, 0)?;
    let delay = p.int("connection.failed.authentication.delay.ms", 100, 0)?;
    let max = p.int("sasl.server.max.receive.size", 524_288, 1)?;
    let reauth = listener_key(p, l, "connections.max.reauth.ms")
        .map(|v| parse_long("connections.max.reauth.ms", &v, 0))
        .transpose()?
        .unwrap_or(reauth);
    Ok(SaslSettings {
        mechanisms,
        jaas,
        max_reauth_ms: reauth,
        failed_auth_delay_ms: delay,
        max_receive_size: max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;

    #[test]
    fn per_listener_keys_win_and_jaas_users_are_required_for_plain() {
        let base = [
            ("zookeeper.connect", "localhost:2181"),
            ("listeners", "SASL_SSL://h:1,PLAINTEXT://h:2"),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", "/k.pem"),
            ("listener.name.sasl_ssl.ssl.keystore.type", "PKCS12"),
            ("listener.name.sasl_ssl.ssl.keystore.location", "/k.p12"),
            ("listener.name.sasl_ssl.ssl.keystore.password", "pw"),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
            (
                "listener.name.sasl_ssl.sasl.enabled.mechanisms",
                "PLAIN,SCRAM-SHA-256",
            ),
            (
                "listener.name.sasl_ssl.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";"#,
            ),
        ];
        let (c, warnings) = KafkaConfig::from_properties(base).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let s = &c.listener_security[0];
        assert_eq!(
            s.ssl.as_ref().unwrap().keystore,
            Some(StoreSource::Pkcs12 {
                path: "/k.p12".into(),
                password: "pw".into()
            })
        );
        assert_eq!(
            s.sasl.as_ref().unwrap().mechanisms,
            ["PLAIN", "SCRAM-SHA-256"]
        );
        assert_eq!(c.listener_security[1], ListenerSecurity::default());
        let mut no_users = base.to_vec();
        no_users.pop();
        let e = KafkaConfig::from_properties(no_users)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PLAIN on listener SASL_SSL needs its users"),
            "{e}"
        );
    }
}
