//! `zookeeper.connect`: `host:port[,host:port...][/chroot]`.

use super::error::ConfigError;

/// The parsed connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkConnect {
    /// `host:port` entries (port 2181 filled in when missing, as ZooKeeper's own client does).
    pub servers: Vec<String>,
    /// The chroot path (`/kafka`), or `None` for the root. Kafka creates it if missing.
    pub chroot: Option<String>,
}

impl ZkConnect {
    /// Parses the value of `key`.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::invalid(key, value, reason);
        let value_t = value.trim();
        let (hosts, chroot) = match value_t.find('/') {
            Some(i) => (&value_t[..i], Some(&value_t[i..])),
            None => (value_t, None),
        };
        let chroot = match chroot {
            None | Some("/") => None,
            Some(c) => {
                if c.ends_with('/') || c.contains("//") {
                    return Err(bad(
                        "the chroot path must not end with '/' or contain empty segments",
                    ));
                }
                Some(c.to_owned())
            }
        };
        let mut servers = Vec::new();
        for h in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            let server = match h.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && !host.ends_with(':') => {
                    port.parse::<u16>()
                        .map_err(|_| bad(&format!("invalid port {port:?} in {h:?}")))?;
                    h.to_owned()
                }
                Some(_) => return Err(bad(&format!("invalid server {h:?}"))),
                None => format!("{h}:2181"),
            };
            servers.push(server);
        }
        if servers.is_empty() {
            return Err(bad(
                "no ZooKeeper server given (expected host:port[,host:port...][/chroot])",
            ));
        }
        Ok(ZkConnect { servers, chroot })
    }

    /// The servers joined back with commas (what `zookeeper-client` connects to).
    pub fn hosts(&self) -> String {
        self.servers.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_chroot() {
        let z = ZkConnect::parse("zookeeper.connect", "zk1:2181, zk2:2182,zk3/kafka/prod").unwrap();
        assert_eq!(z.servers, ["zk1:2181", "zk2:2182", "zk3:2181"]);
        assert_eq!(z.chroot.as_deref(), Some("/kafka/prod"));
        assert_eq!(z.hosts(), "zk1:2181,zk2:2182,zk3:2181");
        assert_eq!(
            ZkConnect::parse("k", "localhost:2181/").unwrap().chroot,
            None
        );
    }

    #[test]
    fn errors() {
        for (v, why) in [
            ("", "no ZooKeeper server"),
            ("/kafka", "no ZooKeeper server"),
            ("zk:abc", "invalid port"),
            ("zk:2181/kafka/", "chroot"),
            ("zk:2181/a//b", "chroot"),
        ] {
            let e = ZkConnect::parse("zookeeper.connect", v)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("invalid value {v:?} for zookeeper.connect: ")),
                "{e}"
            );
            assert!(e.contains(why), "{e}");
        }
    }
}
