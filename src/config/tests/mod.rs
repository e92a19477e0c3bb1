//! `KafkaConfig`: defaults, precedence, overrides and every error kind, as an operator sees them.

use std::io::Write;
use std::path::PathBuf;

use super::*;

mod features;

const ZK: (&str, &str) = ("zookeeper.connect", "zk1:2181,zk2:2181/kafka");

fn config(extra: &[(&str, &str)]) -> Result<(KafkaConfig, Vec<String>), ConfigError> {
    let mut props = vec![ZK];
    props.extend_from_slice(extra);
    KafkaConfig::from_properties(props)
}

fn err(extra: &[(&str, &str)]) -> String {
    let e = config(extra).unwrap_err().to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn kafka_defaults() {
    let (c, warnings) = config(&[]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.broker_id, -1);
    assert_eq!(c.reserved_broker_max_id, 1000);
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].connection_string(), "PLAINTEXT://:9092");
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.log_dirs, [PathBuf::from("/tmp/kafka-logs")]);
    assert_eq!(c.zookeeper_connect.servers, ["zk1:2181", "zk2:2181"]);
    assert_eq!(c.zookeeper_connect.chroot.as_deref(), Some("/kafka"));
    assert_eq!(
        (
            c.zookeeper_session_timeout_ms,
            c.zookeeper_connection_timeout_ms
        ),
        (18000, 18000)
    );
    assert_eq!(
        (
            c.num_partitions,
            c.default_replication_factor,
            c.min_insync_replicas
        ),
        (1, 1, 1)
    );
    assert!(c.auto_create_topics_enable && c.delete_topic_enable);
    assert_eq!(c.log_segment_bytes, 1_073_741_824);
    assert_eq!(c.log_roll_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_bytes, -1);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(
        (c.log_index_interval_bytes, c.log_index_size_max_bytes),
        (4096, 10_485_760)
    );
    assert_eq!(
        (c.message_max_bytes, c.socket_request_max_bytes),
        (1_048_588, 104_857_600)
    );
    assert_eq!(
        (c.log_flush_interval_messages, c.log_flush_interval_ms),
        (i64::MAX, i64::MAX)
    );
    assert_eq!(c.log_flush_offset_checkpoint_interval_ms, 60_000);
    assert_eq!(c.num_replica_fetchers, 1);
    assert_eq!(c.replica_lag_time_max_ms, 30_000);
    assert_eq!(
        (
            c.replica_fetch_max_bytes,
            c.replica_fetch_wait_max_ms,
            c.replica_fetch_min_bytes
        ),
        (1_048_576, 500, 1)
    );
    assert!(!c.unclean_leader_election_enable);
    assert!(c.controlled_shutdown_enable);
    assert_eq!(
        (
            c.controlled_shutdown_max_retries,
            c.controlled_shutdown_retry_backoff_ms
        ),
        (3, 5000)
    );
    assert!(c.auto_leader_rebalance_enable);
    assert_eq!(
        (
            c.leader_imbalance_per_broker_percentage,
            c.leader_imbalance_check_interval_seconds
        ),
        (10, 300)
    );
    assert_eq!(
        (
            c.offsets_topic_num_partitions,
            c.offsets_topic_replication_factor
        ),
        (50, 3)
    );
    assert_eq!(
        (
            c.group_min_session_timeout_ms,
            c.group_max_session_timeout_ms
        ),
        (6000, 1_800_000)
    );
    assert_eq!(
        (c.group_initial_rebalance_delay_ms, c.group_max_size),
        (3000, i32::MAX)
    );
    assert_eq!(c.request_timeout_ms, 30_000);
    assert_eq!(
        c.bind_addresses(),
        [("PLAINTEXT".to_string(), String::new(), 9092)]
    );
}

#[test]
fn synonym_precedence() {
    let ret = |extra: &[(&str, &str)]| config(extra).unwrap().0.log_retention_ms;
    assert_eq!(ret(&[("log.retention.hours", "2")]), 7_200_000);
    assert_eq!(
        ret(&[("log.retention.hours", "2"), ("log.retention.minutes", "3")]),
        180_000
    );
    assert_eq!(
        ret(&[
            ("log.retention.hours", "2"),
            ("log.retention.minutes", "3"),
            ("log.retention.ms", "5")
        ]),
        5
    );
    assert_eq!(ret(&[("log.retention.ms", "-1")]), -1);
    assert_eq!(ret(&[("log.retention.hours", "-1")]), -1);
    let c = config(&[
        ("log.roll.hours", "1"),
        ("log.roll.ms", "777"),
        ("log.flush.scheduler.interval.ms", "2000"),
        ("log.dir", "/ignored"),
        ("log.dirs", "/d1, /d2"),
        ("zookeeper.session.timeout.ms", "9000"),
    ])
    .unwrap()
    .0;
    assert_eq!(c.log_roll_ms, 777);
    assert_eq!(
        c.log_flush_interval_ms, 2000,
        "log.flush.interval.ms falls back to the scheduler interval"
    );
    assert_eq!(c.log_dirs, [PathBuf::from("/d1"), PathBuf::from("/d2")]);
    assert_eq!(c.zookeeper_connection_timeout_ms, 9000);
    assert_eq!(
        config(&[("log.dir", "/only")]).unwrap().0.log_dirs,
        [PathBuf::from("/only")]
    );
}

#[test]
fn listeners_and_advertised_listeners() {
    let c = config(&[
        ("listeners", "PLAINTEXT://0.0.0.0:9092,INTERNAL://:0"),
        (
            "advertised.listeners",
            "PLAINTEXT://broker1:9092,INTERNAL://[fe80::1]:19092",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        ),
        ("inter.broker.listener.name", "internal"),
    ])
    .unwrap()
    .0;
    assert_eq!(c.listeners[1].port, 0);
    assert_eq!(
        c.inter_broker_listener()
            .map(|l| l.connection_string())
            .as_deref(),
        Some("INTERNAL://[fe80::1]:19092")
    );
    assert_eq!(c.advertised_listeners[0].security_protocol.id(), 0);
}

#[test]
fn control_plane_listener_must_be_a_listener_and_defaults_to_the_inter_broker_one() {
    let listeners = [
        ("listeners", "CLIENT://h:1,INTERNAL://h:2,CONTROL://h:3"),
        (
            "listener.security.protocol.map",
            "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROL:PLAINTEXT",
        ),
        ("inter.broker.listener.name", "INTERNAL"),
    ];
    let c = config(&listeners).unwrap().0;
    assert_eq!(c.control_listener_name(), "INTERNAL");
    let mut with_control = listeners.to_vec();
    with_control.push(("control.plane.listener.name", "control"));
    let c = config(&with_control).unwrap().0;
    assert_eq!(c.control_listener_name(), "CONTROL");
    let mut unknown = listeners.to_vec();
    unknown.push(("control.plane.listener.name", "REPLICATION"));
    assert!(config(&unknown).is_err());
}

#[test]
fn unknown_and_harmless_keys_warn_once_and_defaults_do_not() {
    let (_, warnings) = config(&[
        ("num.network.threads", "16"),
        ("num.io.threads", "8"),
        ("log.retension.hours", "1"),
        ("zookeeper.set.acl", "false"),
        ("compression.type", "producer"),
        ("ssl.endpoint.identification.algorithm", "HTTPS"),
    ])
    .unwrap();
    assert_eq!(
        warnings,
        [
            "The configuration 'log.retension.hours' was supplied but isn't a known config.",
            "num.network.threads=16 has no effect in zkafka (a tuning knob of Kafka's implementation; zkafka sizes this its own way)",
        ]
    );
}

#[test]
fn refused_keys_stop_start_up_with_one_line() {
    for (extra, want) in [
        (
            &[("zookeeper.ssl.client.enable", "true")][..],
            "zookeeper.ssl.client.enable=true is not supported by zkafka (zkafka talks to ZooKeeper without TLS)",
        ),
        (
            &[("ssl.keymanager.algorithm", "SunX509")],
            "ssl.keymanager.algorithm=SunX509 is not supported by zkafka (zkafka does not implement this TLS/SASL key (docs/security.md lists those it does))",
        ),
        (
            &[("sasl.kerberos.service.name", "kafka")],
            "sasl.kerberos.service.name=kafka is not supported by zkafka (zkafka does not implement this TLS/SASL key (docs/security.md lists those it does))",
        ),
        (
            &[("listener.name.plaintext.max.connections", "5")],
            "listener.name.plaintext.max.connections=5 is not supported by zkafka (zkafka reads per-listener ssl.*, sasl.enabled.mechanisms, connections.max.reauth.ms and <mechanism>.sasl.jaas.config of listeners using TLS or SASL only)",
        ),
        (
            &[("offsets.retention.minutes", "60")],
            "offsets.retention.minutes=60 is not supported by zkafka (offsets in ZooKeeper never expire (offsets.storage=zookeeper); expiry needs offsets.storage=kafka)",
        ),
        (
            &[
                ("listeners", "SASL_PLAINTEXT://:9092"),
                ("advertised.listeners", "SASL_PLAINTEXT://h:9092"),
                ("security.inter.broker.protocol", "SASL_PLAINTEXT"),
            ],
            "sasl.enabled.mechanisms=GSSAPI is not supported by zkafka (listener SASL_PLAINTEXT: zkafka serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (not GSSAPI))",
        ),
        (
            &[
                ("listener.security.protocol.map", "PLAINTEXT:SSL"),
                ("ssl.keystore.location", "/etc/kafka/ks.jks"),
            ],
            "ssl.keystore.type=JKS is not supported by zkafka (zkafka reads keystores as PKCS12 or PEM (convert a JKS store with keytool -importkeystore -deststoretype PKCS12))",
        ),
    ] {
        let e = config(extra).unwrap_err();
        assert!(matches!(e, ConfigError::Unsupported { .. }), "{e}");
        assert_eq!(e.to_string(), want);
    }
}

/// The registry is the one list of keys: every broker key `read` parses is listed as implemented,
/// every listed implemented key is parsed, each key is listed once, and every default given for a
/// refused or harmless key is accepted as such. (That each parsed field is then read by code is
/// checked by the compiler: `KafkaConfig`'s fields are crate-visible, so an unread one fails
/// clippy's `-D warnings` as dead code.)
#[test]
fn registry_lists_every_key_once_and_exactly_the_parsed_ones_as_implemented() {
    use super::registry::{Support, BROKER_KEYS, TOPIC_KEYS};
    for table in [BROKER_KEYS, TOPIC_KEYS] {
        let names: Vec<&str> = table.iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "sorted, each key once");
        for d in table {
            match d.support {
                Support::Implemented => assert_eq!(d.default, None, "{}", d.name),
                Support::Refused(why) | Support::Harmless(why) => {
                    assert!(!why.is_empty(), "{}", d.name);
                    if let Some(default) = d.default {
                        assert!(d.is_default(default), "{}", d.name);
                    }
                }
            }
        }
    }
    let (c, _) = config(&[]).unwrap();
    let parsed: Vec<&str> = c.known.keys().copied().collect();
    let implemented: Vec<&str> = BROKER_KEYS
        .iter()
        .filter(|d| d.support == Support::Implemented)
        .map(|d| d.name)
        .collect();
    assert_eq!(parsed, implemented);
    let topic: Vec<&str> = TOPIC_KEYS.iter().map(|d| d.name).collect();
    assert_eq!(topic, TOPIC_CONFIG_NAMES);
    // Each implemented topic key takes its default from implemented broker keys only.
    for d in TOPIC_KEYS
        .iter()
        .filter(|d| d.support == Support::Implemented)
    {
        let t = TopicConfig::new(&c, &Default::default()).unwrap();
        let e = t.describe().iter().find(|e| e.name == d.name).unwrap();
        if let Some(synonym) = e.broker_synonym {
            assert!(implemented.contains(&synonym), "{} <- {synonym}", d.name);
        }
    }
}

#[test]
fn connection_settings_reach_the_socket_server() {
    let (c, _) = config(&[
        ("connections.max.idle.ms", "2000"),
        ("max.connections", "10"),
        ("max.connections.per.ip", "3"),
        ("max.connections.per.ip.overrides", "127.0.0.2:5, [::1]:0"),
    ])
    .unwrap();
    let n = c.network_config();
    assert_eq!(
        n.connections_max_idle,
        Some(std::time::Duration::from_millis(2000))
    );
    assert_eq!(
        (n.quotas.max_connections, n.quotas.max_connections_per_ip),
        (10, 3)
    );
    assert_eq!(
        n.quotas.per_ip_overrides,
        [
            ("127.0.0.2".parse().unwrap(), 5),
            ("::1".parse().unwrap(), 0)
        ]
        .into()
    );
    assert_eq!(n.quotas.unlimited_listener.as_deref(), Some("PLAINTEXT"));
    let d = config(&[]).unwrap().0.network_config();
    assert_eq!(
        d.connections_max_idle,
        Some(std::time::Duration::from_secs(600))
    );
    assert_eq!(
        (d.quotas.max_connections, d.quotas.max_connections_per_ip),
        (i32::MAX as usize, i32::MAX as usize)
    );
    let never = config(&[("connections.max.idle.ms", "-1")]).unwrap().0;
    assert_eq!(never.network_config().connections_max_idle, None);
    assert_eq!(
        err(&[("max.connections.per.ip", "0")]),
        "invalid value \"0\" for max.connections.per.ip: can be zero only if max.connections.per.ip.overrides is set"
    );
    assert_eq!(
        err(&[("max.connections.per.ip.overrides", "127.0.0.1")]),
        "invalid value \"127.0.0.1\" for max.connections.per.ip.overrides: \"127.0.0.1\" is not host:count"
    );
    assert_eq!(
        err(&[("max.connections.per.ip.overrides", "127.0.0.1:x")]),
        "invalid value \"127.0.0.1:x\" for max.connections.per.ip.overrides: \"127.0.0.1:x\": the count must be a non-negative integer"
    );
}

#[test]
fn load_reads_the_file_and_overrides_win() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "# server.properties\nbroker.id=1\nzookeeper.connect=localhost:2181\nnum.partitions = 3\nbogus.key=1").unwrap();
    let (c, warnings) =
        KafkaConfig::load(f.path(), &[("num.partitions".into(), "5".into())]).unwrap();
    assert_eq!((c.broker_id, c.num_partitions), (1, 5));
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        c.explicit.get("num.partitions").map(String::as_str),
        Some("5")
    );
    let e =
        KafkaConfig::load(std::path::Path::new("/nonexistent/server.properties"), &[]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read config file /nonexistent/server.properties: "),
        "{e}"
    );
}

#[test]
fn every_error_kind() {
    assert_eq!(
        KafkaConfig::from_properties([("broker.id", "1")]).unwrap_err().to_string(),
        "missing required config zookeeper.connect: set it to the ZooKeeper ensemble, e.g. zookeeper.connect=localhost:2181/kafka"
    );
    assert_eq!(
        err(&[("num.partitions", "abc")]),
        "invalid value \"abc\" for num.partitions: not an integer"
    );
    assert_eq!(
        err(&[("num.partitions", "0")]),
        "invalid value \"0\" for num.partitions: must be at least 1"
    );
    assert_eq!(
        err(&[("log.segment.bytes", "13")]),
        "invalid value \"13\" for log.segment.bytes: must be at least 14"
    );
    assert_eq!(
        err(&[("log.retention.ms", "1h")]),
        "invalid value \"1h\" for log.retention.ms: not a long integer"
    );
    assert_eq!(
        err(&[("delete.topic.enable", "yes")]),
        "invalid value \"yes\" for delete.topic.enable: not a boolean (expected true or false)"
    );
    assert_eq!(
        err(&[("broker.id", "1001")]),
        "invalid value \"1001\" for broker.id: must be -1 (generate) or between 0 and reserved.broker.max.id (1000)"
    );
    assert_eq!(
        err(&[("broker.id", "-1"), ("broker.id.generation.enable", "false")]),
        "invalid value \"-1\" for broker.id: must be at least 0 when broker.id.generation.enable is false"
    );
    assert!(err(&[("listeners", "PLAINTEXT://:abc")])
        .starts_with("invalid value \"PLAINTEXT://:abc\" for listeners: "));
    assert!(
        err(&[("listeners", "PLAINTEXT://:9092,PLAINTEXT2://:9092")])
            .contains("no security protocol defined")
    );
    assert_eq!(
        err(&[
            ("listeners", "A://:9092,B://:9092"),
            ("listener.security.protocol.map", "A:PLAINTEXT,B:PLAINTEXT"),
            ("inter.broker.listener.name", "A")
        ]),
        "invalid value \"A://:9092,B://:9092\" for listeners: port 9092 is used twice"
    );
    assert!(err(&[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")]).contains("non-routable"));
    assert_eq!(
        err(&[("listeners", "PLAINTEXT://0.0.0.0:9092")]),
        "invalid value \"PLAINTEXT://0.0.0.0:9092\" for listeners: listener PLAINTEXT would advertise the non-routable address 0.0.0.0 (set advertised.listeners)"
    );
    assert_eq!(
        err(&[("advertised.listeners", "PLAINTEXT://h:1,SSL://h:2"), ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:PLAINTEXT")]),
        "invalid value \"PLAINTEXT://h:1,SSL://h:2\" for advertised.listeners: listener SSL is not in listeners"
    );
    assert_eq!(
        err(&[("inter.broker.listener.name", "REPLICATION")]),
        "invalid value \"REPLICATION\" for inter.broker.listener.name: must be the name of a listener in advertised.listeners"
    );
    assert_eq!(
        err(&[("security.inter.broker.protocol", "SSL")]),
        "invalid value \"SSL\" for inter.broker.listener.name: must be the name of a listener in advertised.listeners"
    );
    assert!(err(&[("zookeeper.connect", "zk:2181/kafka/")])
        .starts_with("invalid value \"zk:2181/kafka/\" for zookeeper.connect: "));
    assert_eq!(
        err(&[("replica.fetch.wait.max.ms", "40000")]),
        "invalid value \"40000\" for replica.fetch.wait.max.ms: must not exceed replica.socket.timeout.ms (30000)"
    );
    assert_eq!(
        err(&[("log.cleanup.policy", "delete,shred")]),
        "invalid value \"delete,shred\" for log.cleanup.policy: unknown policy \"shred\" (expected delete and/or compact)"
    );
    assert_eq!(
        err(&[("offsets.topic.replication.factor", "40000")]),
        "invalid value \"40000\" for offsets.topic.replication.factor: not a short integer"
    );
}

#[tokio::test]
async fn port_zero_is_advertised_as_the_bound_port() {
    let (c, _) = config(&[
        ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ("socket.request.max.bytes", "1000"),
    ])
    .unwrap();
    assert_eq!(c.network_config().max_request_bytes, 1000);
    let bound = crate::network::bind(&c.bind_addresses()).await.unwrap();
    let adv = c.advertised_with_bound_ports(&bound);
    assert_eq!(adv[0].port, bound[0].local_addr.port());
    assert_ne!(adv[0].port, 0);
    assert_eq!(
        adv[0].connection_string(),
        format!("PLAINTEXT://127.0.0.1:{}", adv[0].port)
    );
}

#[test]
fn describe_lists_defaults_and_static_settings() {
    let (c, _) = config(&[
        ("num.partitions", "6"),
        ("num.io.threads", "16"),
        ("max.connections", "100"),
    ])
    .unwrap();
    let d = c.describe();
    let get = |n: &str| {
        d.iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    let e = get("num.partitions");
    assert_eq!(
        (e.value.as_deref(), e.source, e.is_default, e.read_only),
        (Some("6"), ConfigSource::StaticBrokerConfig, false, true)
    );
    let e = get("log.retention.hours");
    assert_eq!(
        (e.value.as_deref(), e.source, e.config_type),
        (Some("168"), ConfigSource::DefaultConfig, 3)
    );
    assert_eq!(
        get("log.retention.ms").value,
        None,
        "Kafka shows no default for log.retention.ms"
    );
    assert_eq!(
        get("zookeeper.connect").value.as_deref(),
        Some("zk1:2181,zk2:2181/kafka")
    );
    assert_eq!(get("log.dir").value.as_deref(), Some("/tmp/kafka-logs"));
    let e = get("num.io.threads");
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some("8"), ConfigSource::DefaultConfig),
        "a harmless setting shows Kafka's default: the set value took no effect"
    );
    assert_eq!(get("max.connections").value.as_deref(), Some("100"));
    let e = get("authorizer.class.name");
    assert_eq!(
        (e.value.as_deref(), e.source),
        (Some(""), ConfigSource::DefaultConfig)
    );
    let e = get("ssl.key.password");
    assert!(e.is_sensitive && e.value.is_none());
    assert!(d.windows(2).all(|w| w[0].name < w[1].name));
    assert!(d.len() > 80, "{}", d.len());
}
