//! `KafkaConfig`: the broker's `server.properties`, with Kafka's key names, defaults, synonym
//! precedence (`log.retention.ms` over `.minutes` over `.hours`, ...) and validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::broker_read::read;
use super::error::ConfigError;
use super::listener::Listener;
use super::properties::parse_properties;
use super::registry::{judge_broker_key, Support, BROKER_KEYS};
use super::topic::{ConfigEntry, ConfigSource};
use super::values::{KeyInfo, Props};
use super::zookeeper::ZkConnect;

/// The broker configuration. Field names are Kafka's keys with `.` → `_`; times keep Kafka's units
/// and types (`-1` where Kafka uses it for "forever") so values can be shown back exactly as Kafka
/// would in DescribeConfigs.
///
/// Fields are crate-visible so that the compiler's dead-code lint (denied in CI through clippy)
/// fails on a field nothing reads: a parsed setting that does nothing is exactly the silent config
/// the registry (`registry.rs`) exists to prevent.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `broker.id`; -1 asks for a generated id above `reserved.broker.max.id` (allowed while
    /// `broker.id.generation.enable` is true, its default).
    pub(crate) broker_id: i32,
    /// `reserved.broker.max.id` (1000).
    pub(crate) reserved_broker_max_id: i32,
    /// `broker.rack`.
    pub(crate) broker_rack: Option<String>,
    /// `listeners` (PLAINTEXT://:9092), each with its protocol from
    /// `listener.security.protocol.map` (only PLAINTEXT is served).
    pub(crate) listeners: Vec<Listener>,
    /// `advertised.listeners` (defaults to `listeners`).
    pub(crate) advertised_listeners: Vec<Listener>,
    /// `inter.broker.listener.name` (else the listener named after `security.inter.broker.protocol`,
    /// i.e. `PLAINTEXT`).
    pub(crate) inter_broker_listener_name: String,
    /// `control.plane.listener.name` (none): the listener that carries controller traffic
    /// (LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown, AlterPartition) when set.
    pub(crate) control_plane_listener_name: Option<String>,
    /// The TLS and SASL settings of each listener, in the order of `listeners`.
    pub(crate) listener_security: Vec<super::security::ListenerSecurity>,
    /// How this broker connects to the others' inter-broker listener.
    pub(crate) inter_broker_security: super::security::InterBrokerSecurity,
    /// `log.dirs`, else `log.dir` (/tmp/kafka-logs).
    pub(crate) log_dirs: Vec<PathBuf>,
    /// `zookeeper.connect` (required).
    pub(crate) zookeeper_connect: ZkConnect,
    /// `zookeeper.session.timeout.ms` (18000).
    pub(crate) zookeeper_session_timeout_ms: i32,
    /// `zkafka.controller.events.file` (zkafka-only; empty = off): the JSON-lines file the active
    /// controller appends its phases to, for the downtime lab (docs/controller-events.md).
    pub(crate) zkafka_controller_events_file: Option<PathBuf>,
    /// `zookeeper.connection.timeout.ms` (defaults to the session timeout).
    pub(crate) zookeeper_connection_timeout_ms: i32,
    /// `num.partitions` (1).
    pub(crate) num_partitions: i32,
    /// `default.replication.factor` (1).
    pub(crate) default_replication_factor: i32,
    /// `min.insync.replicas` (1).
    pub(crate) min_insync_replicas: i32,
    /// `auto.create.topics.enable` (true).
    pub(crate) auto_create_topics_enable: bool,
    /// `delete.topic.enable` (true).
    pub(crate) delete_topic_enable: bool,
    /// `authorizer.class.name` (empty: no authorizer; else Kafka's `AclAuthorizer`).
    pub(crate) authorizer_class_name: String,
    /// `super.users` (`User:a;User:b`), used by the authorizer.
    pub(crate) super_users: String,
    /// `zookeeper.set.acl` (false): creator-only ACLs (plus world-read) on the znodes zkafka creates.
    pub(crate) zookeeper_set_acl: bool,
    /// `allow.everyone.if.no.acl.found` (false), used by the authorizer.
    pub(crate) allow_everyone_if_no_acl_found: bool,
    /// `log.segment.bytes` (1 GiB, at least 14).
    pub(crate) log_segment_bytes: i32,
    /// `log.roll.ms`, else `log.roll.hours` (168) in ms.
    pub(crate) log_roll_ms: i64,
    /// `log.retention.ms`, else `.minutes`, else `.hours` (168), in ms; -1 keeps data forever.
    pub(crate) log_retention_ms: i64,
    /// `log.retention.bytes` (-1 = unlimited).
    pub(crate) log_retention_bytes: i64,
    /// `log.retention.check.interval.ms` (300000).
    pub(crate) log_retention_check_interval_ms: i64,
    /// `log.index.interval.bytes` (4096).
    pub(crate) log_index_interval_bytes: i32,
    /// `log.index.size.max.bytes` (10 MiB).
    pub(crate) log_index_size_max_bytes: i32,
    /// `log.cleanup.policy` (delete).
    pub(crate) log_cleanup_policy: Vec<String>,
    /// `log.message.timestamp.type` (CreateTime).
    pub(crate) log_message_timestamp_type: String,
    /// `log.message.timestamp.before.max.ms` (Long.MAX).
    pub(crate) log_message_timestamp_before_max_ms: i64,
    /// `log.message.timestamp.after.max.ms` (Long.MAX).
    pub(crate) log_message_timestamp_after_max_ms: i64,
    /// `log.message.timestamp.difference.max.ms` (Long.MAX; deprecated by KIP-937): the bound
    /// the before/after keys fall back to while they are Long.MAX.
    pub(crate) log_message_timestamp_difference_max_ms: i64,
    /// `compression.type` (producer).
    pub(crate) compression_type: String,
    /// `compression.gzip.level` (-1: zlib's default).
    pub(crate) compression_gzip_level: i32,
    /// `compression.zstd.level` (3).
    pub(crate) compression_zstd_level: i32,
    /// `message.max.bytes` (1048588).
    pub(crate) message_max_bytes: i32,
    /// `socket.request.max.bytes` (100 MiB).
    pub(crate) socket_request_max_bytes: i32,
    /// `connections.max.idle.ms` (600000): a connection with nothing in flight idle longer is
    /// closed by the broker; negative means never.
    pub(crate) connections_max_idle_ms: i64,
    /// `max.connections` (Int.MAX): connections beyond it are closed at accept, except on the
    /// inter-broker listener (Kafka keeps that one open so the cluster keeps working).
    pub(crate) max_connections: i32,
    /// `max.connections.per.ip` (Int.MAX): connections from one address beyond it are closed at
    /// accept.
    pub(crate) max_connections_per_ip: i32,
    /// `max.connections.per.ip.overrides` (empty): `host:count` pairs replacing the per-address
    /// limit for those hosts (host names are resolved at start-up, as Kafka does).
    pub(crate) max_connections_per_ip_overrides: BTreeMap<std::net::IpAddr, i32>,
    /// `log.flush.interval.messages` (Long.MAX).
    pub(crate) log_flush_interval_messages: i64,
    /// `log.flush.interval.ms` (unset → `log.flush.scheduler.interval.ms`).
    pub(crate) log_flush_interval_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms` (60000).
    pub(crate) log_flush_offset_checkpoint_interval_ms: i32,
    /// `num.replica.fetchers` (1).
    pub(crate) num_replica_fetchers: i32,
    /// `leader.replication.throttled.rate` (Long.MAX: no throttle), bytes/s.
    pub(crate) leader_replication_throttled_rate: i64,
    /// `follower.replication.throttled.rate` (Long.MAX: no throttle), bytes/s.
    pub(crate) follower_replication_throttled_rate: i64,
    /// `replication.quota.window.num` (11).
    pub(crate) replication_quota_window_num: i32,
    /// `replication.quota.window.size.seconds` (1).
    pub(crate) replication_quota_window_size_seconds: i32,
    /// `replica.lag.time.max.ms` (30000).
    pub(crate) replica_lag_time_max_ms: i64,
    /// `replica.fetch.max.bytes` (1 MiB).
    pub(crate) replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes` (10 MiB).
    pub(crate) replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms` (500).
    pub(crate) replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.min.bytes` (1).
    pub(crate) replica_fetch_min_bytes: i32,
    /// `replica.fetch.backoff.ms` (1000).
    pub(crate) replica_fetch_backoff_ms: i32,
    /// `replica.socket.timeout.ms` (30000).
    pub(crate) replica_socket_timeout_ms: i32,
    /// `unclean.leader.election.enable` (false).
    pub(crate) unclean_leader_election_enable: bool,
    /// `log.message.downconversion.enable` (true).
    pub(crate) log_message_downconversion_enable: bool,
    /// `request.timeout.ms` (30000): inter-broker request timeout.
    pub(crate) request_timeout_ms: i32,
    /// `controlled.shutdown.enable` (true).
    pub(crate) controlled_shutdown_enable: bool,
    /// `controlled.shutdown.max.retries` (3).
    pub(crate) controlled_shutdown_max_retries: i32,
    /// `controlled.shutdown.retry.backoff.ms` (5000).
    pub(crate) controlled_shutdown_retry_backoff_ms: i64,
    /// `auto.leader.rebalance.enable` (true).
    pub(crate) auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.per.broker.percentage` (10).
    pub(crate) leader_imbalance_per_broker_percentage: i32,
    /// `leader.imbalance.check.interval.seconds` (300).
    pub(crate) leader_imbalance_check_interval_seconds: i64,
    /// `offsets.topic.num.partitions` (50).
    pub(crate) offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor` (3).
    pub(crate) offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes` (100 MiB).
    pub(crate) offsets_topic_segment_bytes: i32,
    /// `offsets.storage` (zkafka-only, `zookeeper`): where committed offsets live (`zookeeper`,
    /// `kafka` = `__consumer_offsets`, or `dual` = both, read from the larger).
    pub(crate) offsets_storage: String,
    /// `offsets.commit.required.acks` (-1): acks of `__consumer_offsets` appends.
    pub(crate) offsets_commit_required_acks: i16,
    /// `offsets.commit.timeout.ms` (5000): how long a commit waits for acks=all.
    pub(crate) offsets_commit_timeout_ms: i32,
    /// `offsets.retention.minutes` (10080): offsets in `__consumer_offsets` expire after it.
    pub(crate) offsets_retention_minutes: i32,
    /// `offsets.retention.check.interval.ms` (600000): how often expiry runs.
    pub(crate) offsets_retention_check_interval_ms: i64,
    /// `group.min.session.timeout.ms` (6000).
    pub(crate) group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub(crate) group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000).
    pub(crate) group_initial_rebalance_delay_ms: i32,
    /// `group.max.size` (Int.MAX).
    pub(crate) group_max_size: i32,
    /// `fetch.max.bytes` (55 MiB): cap on a consumer fetch response (followers are not capped).
    pub(crate) fetch_max_bytes: i32,
    /// `log.cleaner.enable` (true): run the log cleaner for compacted topics.
    pub(crate) log_cleaner_enable: bool,
    /// `log.cleaner.threads` (1).
    pub(crate) log_cleaner_threads: i32,
    /// `log.cleaner.dedupe.buffer.size` (134217728): memory of all cleaners' offset maps.
    pub(crate) log_cleaner_dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor` (0.9): how full an offset map may get.
    pub(crate) log_cleaner_io_buffer_load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second` (Double.MAX): cleaner read+write throttle.
    pub(crate) log_cleaner_io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms` (15000): sleep when no log needs cleaning.
    pub(crate) log_cleaner_backoff_ms: i64,
    /// `log.cleaner.delete.retention.ms` (86400000), the default of topic `delete.retention.ms`.
    pub(crate) log_cleaner_delete_retention_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms` (0).
    pub(crate) log_cleaner_min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms` (Long.MAX).
    pub(crate) log_cleaner_max_compaction_lag_ms: i64,
    /// `log.cleaner.min.cleanable.ratio` (0.5).
    pub(crate) log_cleaner_min_cleanable_ratio: f64,
    /// `metrics.host` (zkafka-only, 0.0.0.0): the address the Prometheus endpoint binds.
    pub(crate) metrics_host: String,
    /// `metrics.port` (zkafka-only, 0 = no endpoint): the Prometheus endpoint's port.
    pub(crate) metrics_port: u16,
    /// Every key set explicitly (file + overrides) with its raw value, so DescribeConfigs can tell
    /// STATIC_BROKER_CONFIG from DEFAULT_CONFIG.
    pub(crate) explicit: BTreeMap<String, String>,
    /// The dynamic configs applied from `/config/brokers/<id>` (empty in a static config).
    pub(crate) dynamic_broker: BTreeMap<String, String>,
    /// The dynamic configs applied from `/config/brokers/<default>`.
    pub(crate) dynamic_default: BTreeMap<String, String>,
    /// Every key zkafka reads, with Kafka's default and type (for [`KafkaConfig::describe`]).
    pub(super) known: BTreeMap<&'static str, KeyInfo>,
}

impl KafkaConfig {
    /// Reads `path` (a Java properties file), applies `--override key=value` pairs on top, and
    /// builds the config. Keys zkafka refuses are errors; harmless and unknown keys come back as
    /// warnings (see `registry.rs`).
    pub fn load(
        path: &Path,
        overrides: &[(String, String)],
    ) -> Result<(KafkaConfig, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut map = parse_properties(&text);
        for (k, v) in overrides {
            map.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        Self::from_properties(map)
    }

    /// Builds the config from key/value pairs (later pairs win): a `BTreeMap`, a `HashMap`, or
    /// `[("zookeeper.connect", "localhost:2181")]` in tests.
    pub fn from_properties<I, K, V>(props: I) -> Result<(KafkaConfig, Vec<String>), ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = props
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut p = Props::new(&map);
        let mut cfg = read(&mut p)?;
        let mut warnings = Vec::new();
        for (k, v) in p.unread() {
            warnings.extend(judge_broker_key(k, v)?);
        }
        cfg.known = p.into_known();
        Ok((cfg, warnings))
    }

    /// `(name, host, port)` for [`crate::network::bind`].
    pub fn bind_addresses(&self) -> Vec<(String, String, u16)> {
        self.listeners
            .iter()
            .map(|l| (l.name.clone(), l.host.clone(), l.port))
            .collect()
    }

    /// The socket server's limits: `socket.request.max.bytes`, `connections.max.idle.ms` and the
    /// connection quotas (pipelining depth: its default).
    pub fn network_config(&self) -> crate::network::NetworkConfig {
        let limit = |n: i32| usize::try_from(n).unwrap_or(0);
        crate::network::NetworkConfig {
            max_request_bytes: usize::try_from(self.socket_request_max_bytes).unwrap_or(usize::MAX),
            connections_max_idle: u64::try_from(self.connections_max_idle_ms)
                .ok()
                .map(std::time::Duration::from_millis),
            quotas: crate::network::QuotaLimits {
                max_connections: limit(self.max_connections),
                max_connections_per_ip: limit(self.max_connections_per_ip),
                per_ip_overrides: self
                    .max_connections_per_ip_overrides
                    .iter()
                    .map(|(ip, n)| (*ip, limit(*n)))
                    .collect(),
                unlimited_listener: Some(self.inter_broker_listener_name.clone()),
            },
            ..crate::network::NetworkConfig::default()
        }
    }

    /// Gives each bound listener the TLS acceptor and SASL settings its protocol asks for; a key
    /// store, trust store or cipher suite that cannot be used is an error naming the listener.
    pub fn secure_listeners(
        &self,
        bound: &mut [crate::network::BoundListener],
        credentials: std::sync::Arc<dyn crate::security::sasl::CredentialStore>,
    ) -> anyhow::Result<()> {
        for b in bound.iter_mut() {
            let Some(i) = self.listeners.iter().position(|l| l.name == b.name) else {
                continue;
            };
            let Some(sec) = self.listener_security.get(i) else {
                continue;
            };
            let tls = match &sec.ssl {
                Some(s) => Some(tokio_rustls::TlsAcceptor::from(
                    crate::security::tls::server_config(s)
                        .map_err(|e| anyhow::anyhow!("listener {}: {e}", b.name))?,
                )),
                None => None,
            };
            let sasl = sec.sasl.as_ref().map(|s| {
                std::sync::Arc::new(crate::security::sasl::SaslServerConfig::new(
                    s,
                    credentials.clone(),
                ))
            });
            b.set_security(crate::network::ListenerSecurity { tls, sasl });
        }
        Ok(())
    }

    /// How this broker connects to the other brokers' inter-broker listener.
    pub fn inter_broker_security(&self) -> &super::security::InterBrokerSecurity {
        &self.inter_broker_security
    }

    /// `advertised.listeners` with port 0 replaced by the port the OS gave the listener of the same
    /// name (what goes into `/brokers/ids/<id>` and Metadata when `listeners` uses port 0).
    pub fn advertised_with_bound_ports(
        &self,
        bound: &[crate::network::BoundListener],
    ) -> Vec<Listener> {
        self.advertised_listeners
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if l.port == 0 {
                    if let Some(b) = bound.iter().find(|b| b.name == l.name) {
                        l.port = b.local_addr.port();
                    }
                }
                l
            })
            .collect()
    }

    /// Every broker key zkafka knows, sorted by name, for DescribeConfigs on a BROKER resource
    /// (`kafka-configs --describe --all --entity-type brokers`), each from its highest layer:
    /// this broker's dynamic config, the dynamic default, the static configuration, Kafka's
    /// default. Only the keys zkafka changes at run time are writable. Keys zkafka does not
    /// implement (refused or harmless) show Kafka's default, which is what zkafka does, never a
    /// set value that took no effect. Values of keys naming a password are hidden, as Kafka hides
    /// sensitive values.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        let implemented = self.known.iter().map(|(name, info)| {
            let layered = [
                (&self.dynamic_broker, ConfigSource::DynamicBrokerConfig),
                (
                    &self.dynamic_default,
                    ConfigSource::DynamicDefaultBrokerConfig,
                ),
                (&self.explicit, ConfigSource::StaticBrokerConfig),
            ]
            .into_iter()
            .find_map(|(layer, source)| Some((layer.get(*name)?.clone(), source)));
            let (value, source) = match layered {
                Some((v, source)) => (Some(v), source),
                None => (info.default.clone(), ConfigSource::DefaultConfig),
            };
            (*name, value, source, info.config_type, true)
        });
        let not_implemented = BROKER_KEYS
            .iter()
            .filter(|d| d.support != Support::Implemented)
            .map(|d| {
                (
                    d.name,
                    d.default_value(),
                    ConfigSource::DefaultConfig,
                    2,
                    false,
                )
            });
        let mut entries: Vec<ConfigEntry> = implemented
            .chain(not_implemented)
            .map(|(name, value, source, config_type, acted_on)| {
                let is_sensitive = super::synonyms::is_sensitive(name);
                ConfigEntry {
                    name: name.to_owned(),
                    value: if is_sensitive { None } else { value },
                    is_default: source == ConfigSource::DefaultConfig,
                    is_sensitive,
                    read_only: !super::dynamic_broker::dynamic_key(name),
                    source,
                    config_type,
                    broker_synonym: None,
                    synonyms: self.synonyms(
                        name,
                        &super::synonyms::broker_config_synonyms(name),
                        acted_on,
                    ),
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// The cluster-wide dynamic defaults, for DescribeConfigs on the default BROKER resource (an
    /// empty name): each with only its dynamic-default synonyms, as Kafka describes them.
    pub fn describe_dynamic_default(&self) -> Vec<ConfigEntry> {
        self.describe()
            .into_iter()
            .filter(|e| self.dynamic_default.contains_key(&e.name))
            .map(|mut e| {
                e.value = self.dynamic_default.get(&e.name).cloned();
                e.source = ConfigSource::DynamicDefaultBrokerConfig;
                e.is_default = false;
                e.synonyms
                    .retain(|s| s.source == ConfigSource::DynamicDefaultBrokerConfig);
                e
            })
            .collect()
    }

    /// The listener controller traffic uses: `control.plane.listener.name`, else the inter-broker
    /// listener (as in Kafka). Control requests arriving on any other listener are refused.
    /// Kafka's `AclAuthorizer` with `super.users` and `allow.everyone.if.no.acl.found`, if
    /// `authorizer.class.name` names it; `None`: every request is allowed.
    pub fn authorizer(&self) -> Option<crate::security::Authorizer> {
        (!self.authorizer_class_name.is_empty()).then(|| {
            crate::security::Authorizer::new(&self.super_users, self.allow_everyone_if_no_acl_found)
        })
    }

    pub fn control_listener_name(&self) -> &str {
        self.control_plane_listener_name
            .as_deref()
            .unwrap_or(&self.inter_broker_listener_name)
    }

    /// The advertised endpoint other brokers use (`inter.broker.listener.name`).
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
    }
}
