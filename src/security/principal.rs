//! Kafka's `KafkaPrincipal`: the identity a connection authenticated as, written `User:alice` in ACLs,
//! `super.users` and logs. A PLAINTEXT connection is `User:ANONYMOUS`, as in Kafka.

use std::fmt;
use std::str::FromStr;

/// `User:name` (Kafka's only built-in principal type is `User`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub const USER_TYPE: &'static str = "User";

    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: Self::USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated connection.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// Parses `Type:name` as Kafka's `SecurityUtils.parseKafkaPrincipal` does: split at the first colon;
/// a string without one is an error.
impl FromStr for KafkaPrincipal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((kind, name)) if !kind.is_empty() => Ok(KafkaPrincipal {
                principal_type: kind.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "Principal {s:?} is not in the form <type>:<name>, e.g. User:alice"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_and_parse_as_kafka_writes_them() {
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
        let p: KafkaPrincipal = "User:CN=broker,O=zk:afka".parse().unwrap();
        assert_eq!(p, KafkaPrincipal::user("CN=broker,O=zk:afka"));
        assert!("alice".parse::<KafkaPrincipal>().is_err());
        assert!(":alice".parse::<KafkaPrincipal>().is_err());
    }
}
