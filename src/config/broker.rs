//! `KafkaConfig`: the broker's `server.properties`, with Kafka's key names, defaults, synonym
//! precedence (`log.retention.ms` over `.minutes` over `.hours`, ...) and validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::broker_read::read;
use super::error::ConfigError;
use super::listener::{Listener, SecurityProtocol};
use super::properties::parse_properties;
use super::topic::{ConfigEntry, ConfigSource};
use super::values::{KeyInfo, Props};
use super::zookeeper::ZkConnect;
use super::IGNORED_KEYS;

/// The broker configuration. Field names are Kafka's keys with `.` → `_`; times keep Kafka's units
/// and types (`-1` where Kafka uses it for "forever") so values can be shown back exactly as Kafka
/// would in DescribeConfigs.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    /// `broker.id`; -1 asks for a generated id (see [`KafkaConfig::broker_id_generation_enable`]).
    pub broker_id: i32,
    /// `broker.id.generation.enable` (true): generate an id above `reserved.broker.max.id` when
    /// `broker.id` is -1 (Kafka uses `/brokers/seqid`'s version).
    pub broker_id_generation_enable: bool,
    /// `reserved.broker.max.id` (1000).
    pub reserved_broker_max_id: i32,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `listeners` (PLAINTEXT://:9092).
    pub listeners: Vec<Listener>,
    /// `advertised.listeners` (defaults to `listeners`).
    pub advertised_listeners: Vec<Listener>,
    /// `listener.security.protocol.map`.
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    /// `inter.broker.listener.name` (else the listener named after `security.inter.broker.protocol`,
    /// i.e. `PLAINTEXT`).
    pub inter_broker_listener_name: String,
    /// `log.dirs`, else `log.dir` (/tmp/kafka-logs).
    pub log_dirs: Vec<PathBuf>,
    /// `zookeeper.connect` (required).
    pub zookeeper_connect: ZkConnect,
    /// `zookeeper.session.timeout.ms` (18000).
    pub zookeeper_session_timeout_ms: i32,
    /// `zookeeper.connection.timeout.ms` (defaults to the session timeout).
    pub zookeeper_connection_timeout_ms: i32,
    /// `zookeeper.set.acl` (false).
    pub zookeeper_set_acl: bool,
    /// `zookeeper.max.in.flight.requests` (10).
    pub zookeeper_max_in_flight_requests: i32,
    /// `num.partitions` (1).
    pub num_partitions: i32,
    /// `default.replication.factor` (1).
    pub default_replication_factor: i32,
    /// `min.insync.replicas` (1).
    pub min_insync_replicas: i32,
    /// `auto.create.topics.enable` (true).
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable` (true).
    pub delete_topic_enable: bool,
    /// `log.segment.bytes` (1 GiB, at least 14).
    pub log_segment_bytes: i32,
    /// `log.roll.ms`, else `log.roll.hours` (168) in ms.
    pub log_roll_ms: i64,
    /// `log.roll.jitter.ms`, else `log.roll.jitter.hours` (0) in ms.
    pub log_roll_jitter_ms: i64,
    /// `log.retention.ms`, else `.minutes`, else `.hours` (168), in ms; -1 keeps data forever.
    pub log_retention_ms: i64,
    /// `log.retention.bytes` (-1 = unlimited).
    pub log_retention_bytes: i64,
    /// `log.retention.check.interval.ms` (300000).
    pub log_retention_check_interval_ms: i64,
    /// `log.index.interval.bytes` (4096).
    pub log_index_interval_bytes: i32,
    /// `log.index.size.max.bytes` (10 MiB).
    pub log_index_size_max_bytes: i32,
    /// `log.segment.delete.delay.ms` (60000).
    pub log_segment_delete_delay_ms: i64,
    /// `log.cleanup.policy` (delete).
    pub log_cleanup_policy: Vec<String>,
    /// `log.preallocate` (false).
    pub log_preallocate: bool,
    /// `log.message.timestamp.type` (CreateTime).
    pub log_message_timestamp_type: String,
    /// `log.message.timestamp.before.max.ms` (Long.MAX).
    pub log_message_timestamp_before_max_ms: i64,
    /// `log.message.timestamp.after.max.ms` (Long.MAX).
    pub log_message_timestamp_after_max_ms: i64,
    /// `compression.type` (producer).
    pub compression_type: String,
    /// `compression.gzip.level` (-1: zlib's default).
    pub compression_gzip_level: i32,
    /// `compression.lz4.level` (9).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level` (3).
    pub compression_zstd_level: i32,
    /// `message.max.bytes` (1048588).
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes` (100 MiB).
    pub socket_request_max_bytes: i32,
    /// `connections.max.idle.ms` (600000).
    pub connections_max_idle_ms: i64,
    /// `log.flush.interval.messages` (Long.MAX).
    pub log_flush_interval_messages: i64,
    /// `log.flush.scheduler.interval.ms` (Long.MAX).
    pub log_flush_scheduler_interval_ms: i64,
    /// `log.flush.interval.ms` (unset → `log.flush.scheduler.interval.ms`).
    pub log_flush_interval_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms` (60000).
    pub log_flush_offset_checkpoint_interval_ms: i32,
    /// `log.flush.start.offset.checkpoint.interval.ms` (60000).
    pub log_flush_start_offset_checkpoint_interval_ms: i32,
    /// `num.recovery.threads.per.data.dir` (1).
    pub num_recovery_threads_per_data_dir: i32,
    /// `num.replica.fetchers` (1).
    pub num_replica_fetchers: i32,
    /// `replica.lag.time.max.ms` (30000).
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.max.bytes` (1 MiB).
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes` (10 MiB).
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.wait.max.ms` (500).
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.min.bytes` (1).
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.backoff.ms` (1000).
    pub replica_fetch_backoff_ms: i32,
    /// `replica.socket.timeout.ms` (30000).
    pub replica_socket_timeout_ms: i32,
    /// `replica.high.watermark.checkpoint.interval.ms` (5000).
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    /// `unclean.leader.election.enable` (false).
    pub unclean_leader_election_enable: bool,
    /// `controller.socket.timeout.ms` (30000).
    pub controller_socket_timeout_ms: i32,
    /// `request.timeout.ms` (30000): inter-broker request timeout.
    pub request_timeout_ms: i32,
    /// `controlled.shutdown.enable` (true).
    pub controlled_shutdown_enable: bool,
    /// `controlled.shutdown.max.retries` (3).
    pub controlled_shutdown_max_retries: i32,
    /// `controlled.shutdown.retry.backoff.ms` (5000).
    pub controlled_shutdown_retry_backoff_ms: i64,
    /// `auto.leader.rebalance.enable` (true).
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.per.broker.percentage` (10).
    pub leader_imbalance_per_broker_percentage: i32,
    /// `leader.imbalance.check.interval.seconds` (300).
    pub leader_imbalance_check_interval_seconds: i64,
    /// `offsets.topic.num.partitions` (50).
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor` (3).
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes` (100 MiB).
    pub offsets_topic_segment_bytes: i32,
    /// `offsets.retention.minutes` (10080).
    pub offsets_retention_minutes: i32,
    /// `offsets.retention.check.interval.ms` (600000).
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.commit.timeout.ms` (5000).
    pub offsets_commit_timeout_ms: i32,
    /// `group.min.session.timeout.ms` (6000).
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000).
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size` (Int.MAX).
    pub group_max_size: i32,
    /// `fetch.max.bytes` (55 MiB): cap on a consumer fetch response.
    pub fetch_max_bytes: i32,
    /// `log.cleaner.enable` (true): run the log cleaner for compacted topics.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.threads` (1).
    pub log_cleaner_threads: i32,
    /// `log.cleaner.dedupe.buffer.size` (134217728): memory of all cleaners' offset maps.
    pub log_cleaner_dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor` (0.9): how full an offset map may get.
    pub log_cleaner_io_buffer_load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second` (Double.MAX): cleaner read+write throttle.
    pub log_cleaner_io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms` (15000): sleep when no log needs cleaning.
    pub log_cleaner_backoff_ms: i64,
    /// `log.cleaner.delete.retention.ms` (86400000), the default of topic `delete.retention.ms`.
    pub log_cleaner_delete_retention_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms` (0).
    pub log_cleaner_min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms` (Long.MAX).
    pub log_cleaner_max_compaction_lag_ms: i64,
    /// `log.cleaner.min.cleanable.ratio` (0.5).
    pub log_cleaner_min_cleanable_ratio: f64,
    /// `log.message.downconversion.enable` (true).
    pub log_message_downconversion_enable: bool,
    /// Every key set explicitly (file + overrides) with its raw value, so DescribeConfigs can tell
    /// STATIC_BROKER_CONFIG from DEFAULT_CONFIG.
    pub explicit: BTreeMap<String, String>,
    /// Every key zkafka reads, with Kafka's default and type (for [`KafkaConfig::describe`]).
    pub(super) known: BTreeMap<&'static str, KeyInfo>,
}

impl KafkaConfig {
    /// Reads `path` (a Java properties file), applies `--override key=value` pairs on top, and
    /// builds the config. Unknown keys come back as warnings, not errors.
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
        let warnings = p
            .unread()
            .filter(|(k, _)| !IGNORED_KEYS.contains(&k.as_str()))
            .map(|(k, v)| format!("unknown config {k} (value {v:?}) is ignored"))
            .collect();
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

    /// The socket server's limits from `socket.request.max.bytes` (pipelining depth: its default).
    pub fn network_config(&self) -> crate::network::NetworkConfig {
        crate::network::NetworkConfig {
            max_request_bytes: usize::try_from(self.socket_request_max_bytes).unwrap_or(usize::MAX),
            ..crate::network::NetworkConfig::default()
        }
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

    /// Every broker key zkafka reads plus the accepted-but-unused keys that were set, sorted by
    /// name, for DescribeConfigs on a BROKER resource (`kafka-configs --describe --all
    /// --entity-type brokers`). All are read-only: zkafka has no dynamic broker configs. Values of
    /// keys naming a password are hidden, as Kafka hides sensitive values.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        let known = self
            .known
            .iter()
            .map(|(name, info)| (*name, info.default.clone(), info.config_type));
        let ignored = IGNORED_KEYS
            .iter()
            .filter(|k| self.explicit.contains_key(**k))
            .map(|k| (*k, None, 2));
        let mut entries: Vec<ConfigEntry> = known
            .chain(ignored)
            .map(|(name, default, config_type)| {
                let set = self.explicit.get(name);
                let is_sensitive = name.contains("password");
                ConfigEntry {
                    name: name.to_owned(),
                    value: if is_sensitive {
                        None
                    } else {
                        set.cloned().or(default)
                    },
                    is_default: set.is_none(),
                    is_sensitive,
                    read_only: true,
                    source: if set.is_some() {
                        ConfigSource::StaticBrokerConfig
                    } else {
                        ConfigSource::DefaultConfig
                    },
                    config_type,
                    broker_synonym: None,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// The advertised endpoint other brokers use (`inter.broker.listener.name`).
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
    }
}
