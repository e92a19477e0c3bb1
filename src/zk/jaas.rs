//! How Kafka's ZooKeeper client learns its SASL credentials: the JVM system property
//! `java.security.auth.login.config` names a JAAS file whose `Client` section (or the section the
//! `zookeeper.sasl.clientconfig` property names) holds a `DigestLoginModule` with `username` and
//! `password`. Kafka's scripts take JVM properties from the `KAFKA_OPTS` environment variable, so
//! zkafka reads the same `-D` options from there: the same environment starts either broker.

use std::collections::BTreeMap;

/// The JAAS login module ZooKeeper's DIGEST-MD5 authentication uses.
const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// ZooKeeper's SASL DIGEST-MD5 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkSaslCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ZkSaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZkSaslCredentials({}, [hidden])", self.username)
    }
}

/// The `-Dname=value` options of a `KAFKA_OPTS` string.
fn jvm_properties(opts: &str) -> BTreeMap<&str, &str> {
    opts.split_whitespace()
        .filter_map(|o| o.strip_prefix("-D"))
        .filter_map(|o| o.split_once('='))
        .collect()
}

/// The credentials `KAFKA_OPTS` points at: `None` when it names no JAAS file, or when
/// `-Dzookeeper.sasl.client=false`, or when the file has no client section (ZooKeeper's client
/// then connects without SASL, as Java's does); an error for a file that cannot be read or a
/// section zkafka cannot use.
pub fn credentials_from_kafka_opts(opts: &str) -> Result<Option<ZkSaslCredentials>, String> {
    let props = jvm_properties(opts);
    if props.get("zookeeper.sasl.client") == Some(&"false") {
        return Ok(None);
    }
    let Some(path) = props.get("java.security.auth.login.config") else {
        return Ok(None);
    };
    let section = props
        .get("zookeeper.sasl.clientconfig")
        .copied()
        .unwrap_or("Client");
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("cannot read the JAAS file {path} (java.security.auth.login.config): {e}")
    })?;
    client_section(&text, section).map_err(|e| format!("JAAS file {path}: {e}"))
}

/// The `DigestLoginModule` options of JAAS section `name`.
fn client_section(text: &str, name: &str) -> Result<Option<ZkSaslCredentials>, String> {
    let text: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        let header = rest[..open].trim();
        let section_name = header.rsplit([';', '}']).next().unwrap_or("").trim();
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("section {section_name} is not closed"))?;
        let body = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if section_name != name {
            continue;
        }
        let mut words = body.split_whitespace();
        let module = words.next().unwrap_or("");
        if module != DIGEST_LOGIN_MODULE {
            return Err(format!(
                "section {name} uses {module}; zkafka authenticates to ZooKeeper with {DIGEST_LOGIN_MODULE} (DIGEST-MD5) only"
            ));
        }
        let options = options(body);
        let get = |k: &str| {
            options
                .get(k)
                .cloned()
                .ok_or_else(|| format!("section {name} has no {k}"))
        };
        return Ok(Some(ZkSaslCredentials {
            username: get("username")?,
            password: get("password")?,
        }));
    }
    Ok(None)
}

/// `key="value"` pairs of a login module entry.
fn options(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string();
        let after = rest[eq + 1..].trim_start();
        let Some(quoted) = after.strip_prefix('"') else {
            break;
        };
        let Some(end) = quoted.find('"') else { break };
        out.insert(key, quoted[..end].to_string());
        rest = &quoted[end + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAAS: &str = r#"
// written for Kafka's ZooKeeper client
KafkaServer {
    org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin" password="x";
};
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="kafka"
    password="s3cret";
};
"#;

    #[test]
    fn the_client_section_gives_the_credentials() {
        assert_eq!(
            client_section(JAAS, "Client").unwrap(),
            Some(ZkSaslCredentials {
                username: "kafka".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(client_section(JAAS, "Other").unwrap(), None);
        assert!(client_section(JAAS, "KafkaServer")
            .unwrap_err()
            .contains("DIGEST-MD5"));
    }

    #[test]
    fn kafka_opts_name_the_file_as_the_jvm_takes_it() {
        assert_eq!(credentials_from_kafka_opts("-Xmx1g").unwrap(), None);
        let missing = "-Djava.security.auth.login.config=/nonexistent/jaas.conf";
        assert!(credentials_from_kafka_opts(missing)
            .unwrap_err()
            .contains("cannot read the JAAS file /nonexistent/jaas.conf"));
        assert_eq!(
            credentials_from_kafka_opts(&format!("{missing} -Dzookeeper.sasl.client=false"))
                .unwrap(),
            None
        );
    }
}
