//! `listeners`, `advertised.listeners` and `listener.security.protocol.map`.

use std::collections::BTreeMap;
use std::fmt;

use super::error::ConfigError;
use super::values::split_list;

/// Kafka's security protocols; TLS and SASL are set up per listener (`super::security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`
    Plaintext,
    /// `SSL`
    Ssl,
    /// `SASL_PLAINTEXT`
    SaslPlaintext,
    /// `SASL_SSL`
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's wire id (used in UpdateMetadata v0–v3 endpoints and `/brokers/ids` JSON).
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// The protocol Kafka names `s` (case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kafka's default `listener.security.protocol.map`: every protocol maps to the listener of its name.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// One endpoint, Kafka's `EndPoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, upper-cased as Kafka normalises it (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    /// Host without brackets; empty means every interface (for binding) or this machine's
    /// hostname (when advertised).
    pub host: String,
    /// Port; 0 asks the OS for one (the bound port is what gets advertised).
    pub port: u16,
    /// The protocol from `listener.security.protocol.map`.
    pub security_protocol: SecurityProtocol,
}

impl Listener {
    /// `NAME://host:port`, with brackets around IPv6 hosts, as Kafka writes endpoints in
    /// `/brokers/ids/<id>`.
    pub fn connection_string(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`).
pub fn parse_protocol_map(
    key: &str,
    value: &str,
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in split_list(value) {
        let (name, proto) = entry.split_once(':').ok_or_else(|| {
            ConfigError::invalid(key, value, format!("entry {entry:?} is not NAME:PROTOCOL"))
        })?;
        let proto = SecurityProtocol::from_name(proto.trim()).ok_or_else(|| {
            ConfigError::invalid(
                key,
                value,
                format!("unknown security protocol {:?}", proto.trim()),
            )
        })?;
        if map
            .insert(name.trim().to_ascii_uppercase(), proto)
            .is_some()
        {
            return Err(ConfigError::invalid(
                key,
                value,
                format!("listener {name} appears twice"),
            ));
        }
    }
    Ok(map)
}

/// Parses a listener list (`NAME://host:port,...`, IPv6 hosts in brackets, empty host allowed),
/// checking names are unique and mapped to a protocol zkafka serves.
pub fn parse_listeners(
    key: &str,
    value: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<Listener>, ConfigError> {
    let mut out: Vec<Listener> = Vec::new();
    for entry in split_list(value) {
        let bad = |reason: String| ConfigError::invalid(key, value, reason);
        let (name, addr) = entry
            .split_once("://")
            .ok_or_else(|| bad(format!("{entry:?} is not NAME://host:port")))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(bad(format!("{entry:?} has no listener name")));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{entry:?} has no port")))?;
        let host = match host.strip_prefix('[') {
            Some(h) => h
                .strip_suffix(']')
                .ok_or_else(|| bad(format!("{entry:?} has an unclosed '['")))?,
            None if host.contains(':') => {
                return Err(bad(format!("{entry:?}: IPv6 hosts need brackets")))
            }
            None => host,
        };
        let port: u16 = port
            .parse()
            .map_err(|_| bad(format!("{entry:?} has an invalid port {port:?}")))?;
        let security_protocol = *protocols
            .get(&name)
            .ok_or_else(|| bad(format!("no security protocol defined for listener {name} in listener.security.protocol.map")))?;
        if out.iter().any(|l| l.name == name) {
            return Err(bad(format!("listener name {name} appears twice")));
        }
        out.push(Listener {
            name,
            host: host.to_owned(),
            port,
            security_protocol,
        });
    }
    if out.is_empty() {
        return Err(ConfigError::invalid(key, value, "no listener given"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> BTreeMap<String, SecurityProtocol> {
        let mut m = parse_protocol_map("m", DEFAULT_PROTOCOL_MAP).unwrap();
        m.insert("INTERNAL".into(), SecurityProtocol::Plaintext);
        m
    }

    #[test]
    fn parses_hosts_ports_ipv6_and_empty_hosts() {
        let l = parse_listeners(
            "listeners",
            "PLAINTEXT://:9092, internal://[::1]:9093,",
            &map(),
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].name.as_str(), l[0].host.as_str(), l[0].port),
            ("PLAINTEXT", "", 9092)
        );
        assert_eq!(
            (l[1].name.as_str(), l[1].host.as_str(), l[1].port),
            ("INTERNAL", "::1", 9093)
        );
        assert_eq!(l[1].connection_string(), "INTERNAL://[::1]:9093");
    }

    #[test]
    fn rejects_bad_listeners_with_one_line_naming_key_and_value() {
        for (value, reason) in [
            ("localhost:9092", "is not NAME://host:port"),
            ("PLAINTEXT://host", "has no port"),
            ("PLAINTEXT://host:99999", "invalid port"),
            ("PLAINTEXT://::1:9092", "need brackets"),
            ("FOO://h:1", "no security protocol defined for listener FOO"),
            ("PLAINTEXT://a:1,PLAINTEXT://b:2", "appears twice"),
            ("", "no listener"),
        ] {
            let err = parse_listeners("listeners", value, &map())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid value {value:?} for listeners: ")),
                "{err}"
            );
            assert!(err.contains(reason), "{value}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn protocol_map_errors() {
        let err = parse_protocol_map("listener.security.protocol.map", "A:TLS").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"A:TLS\" for listener.security.protocol.map: unknown security protocol \"TLS\""
        );
        assert!(parse_protocol_map("k", "PLAINTEXT").is_err());
    }
}
