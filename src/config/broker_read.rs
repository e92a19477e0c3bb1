//! Reading `KafkaConfig` out of a properties map: every key with its Kafka default and range,
//! synonym chains, and the cross-key checks of Kafka's `KafkaConfig.validateValues`.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::broker::KafkaConfig;
use super::error::ConfigError;
use super::listener::{parse_listeners, parse_protocol_map, Listener, DEFAULT_PROTOCOL_MAP};
use super::values::{parse_int, Props};
use super::zookeeper::ZkConnect;

/// Java's `Long.MAX_VALUE` / `Integer.MAX_VALUE`, Kafka's "never" for several settings.
const LONG_MAX: i64 = i64::MAX;
const INT_MAX: i32 = i32::MAX;

pub(super) fn read(p: &mut Props<'_>) -> Result<KafkaConfig, ConfigError> {
    let explicit = p.unread().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (broker_id, reserved_broker_max_id) = broker_id(p)?;
    let broker_rack = p.opt_string("broker.rack");
    let Listeners {
        listeners,
        advertised_listeners,
        inter_broker_listener_name,
        control_plane_listener_name,
    } = listeners(p)?;
    let listener_security = super::security::read_listener_security(p, &listeners)?;
    let inter_broker_security = match listeners
        .iter()
        .find(|l| l.name == inter_broker_listener_name)
    {
        Some(l) => super::security::read_inter_broker(p, l)?,
        None => Default::default(),
    };
    let log_dirs = log_dirs(p)?;
    let zookeeper_connect = zookeeper_connect(p)?;
    let zookeeper_session_timeout_ms = p.int("zookeeper.session.timeout.ms", 18000, 1)?;
    let flush_scheduler_ms = p.long("log.flush.scheduler.interval.ms", LONG_MAX, i64::MIN)?;
    let max_connections_per_ip = p.int("max.connections.per.ip", INT_MAX, 0)?;
    let max_connections_per_ip_overrides = per_ip_overrides(p, max_connections_per_ip)?;
    let authorizer_class_name = authorizer_class_name(p)?;

    Ok(KafkaConfig {
        broker_id,
        reserved_broker_max_id,
        broker_rack,
        listeners,
        advertised_listeners,
        inter_broker_listener_name,
        control_plane_listener_name,
        listener_security,
        inter_broker_security,
        log_dirs,
        zookeeper_connect,
        zookeeper_session_timeout_ms,
        zkafka_controller_events_file: Some(p.string("zkafka.controller.events.file", ""))
            .filter(|v| !v.trim().is_empty())
            .map(|v| PathBuf::from(v.trim())),
        zookeeper_connection_timeout_ms: p
            .opt_int("zookeeper.connection.timeout.ms", 1)?
            .unwrap_or(zookeeper_session_timeout_ms),
        num_partitions: p.int("num.partitions", 1, 1)?,
        default_replication_factor: p.int("default.replication.factor", 1, 1)?,
        min_insync_replicas: p.int("min.insync.replicas", 1, 1)?,
        auto_create_topics_enable: p.boolean("auto.create.topics.enable", true)?,
        delete_topic_enable: p.boolean("delete.topic.enable", true)?,
        authorizer_class_name,
        super_users: p.string("super.users", ""),
        zookeeper_set_acl: p.boolean("zookeeper.set.acl", false)?,
        allow_everyone_if_no_acl_found: p.boolean("allow.everyone.if.no.acl.found", false)?,
        log_segment_bytes: p.int("log.segment.bytes", 1_073_741_824, 14)?,
        log_roll_ms: synonym_ms(p, "log.roll.ms", None, ("log.roll.hours", 168, 1))?,
        log_retention_ms: synonym_ms(
            p,
            "log.retention.ms",
            Some("log.retention.minutes"),
            ("log.retention.hours", 168, i32::MIN),
        )?,
        log_retention_bytes: p.long("log.retention.bytes", -1, i64::MIN)?,
        log_retention_check_interval_ms: p.long("log.retention.check.interval.ms", 300_000, 1)?,
        log_index_interval_bytes: p.int("log.index.interval.bytes", 4096, 0)?,
        log_index_size_max_bytes: p.int("log.index.size.max.bytes", 10_485_760, 4)?,
        log_cleanup_policy: cleanup_policy(p)?,
        log_message_timestamp_type: p.one_of(
            "log.message.timestamp.type",
            "CreateTime",
            &["CreateTime", "LogAppendTime"],
        )?,
        log_message_timestamp_before_max_ms: p.long(
            "log.message.timestamp.before.max.ms",
            LONG_MAX,
            0,
        )?,
        log_message_timestamp_after_max_ms: p.long(
            "log.message.timestamp.after.max.ms",
            LONG_MAX,
            0,
        )?,
        log_message_timestamp_difference_max_ms: p.long(
            "log.message.timestamp.difference.max.ms",
            LONG_MAX,
            0,
        )?,
        compression_type: p.one_of("compression.type", "producer", super::COMPRESSION_TYPES)?,
        compression_gzip_level: compression_level(p, "compression.gzip.level", -1)?,
        compression_zstd_level: compression_level(p, "compression.zstd.level", 3)?,
        message_max_bytes: p.int("message.max.bytes", 1_048_588, 0)?,
        socket_request_max_bytes: p.int("socket.request.max.bytes", 104_857_600, 1)?,
        connections_max_idle_ms: p.long("connections.max.idle.ms", 600_000, i64::MIN)?,
        max_connections: p.int("max.connections", INT_MAX, 0)?,
        max_connections_per_ip,
        max_connections_per_ip_overrides,
        log_flush_interval_messages: p.long("log.flush.interval.messages", LONG_MAX, 1)?,
        log_flush_interval_ms: p
            .opt_long("log.flush.interval.ms", i64::MIN)?
            .unwrap_or(flush_scheduler_ms),
        log_flush_offset_checkpoint_interval_ms: p.int(
            "log.flush.offset.checkpoint.interval.ms",
            60_000,
            0,
        )?,
        num_replica_fetchers: p.int("num.replica.fetchers", 1, 1)?,
        leader_replication_throttled_rate: p.long(
            "leader.replication.throttled.rate",
            i64::MAX,
            0,
        )?,
        follower_replication_throttled_rate: p.long(
            "follower.replication.throttled.rate",
            i64::MAX,
            0,
        )?,
        replication_quota_window_num: p.int("replication.quota.window.num", 11, 1)?,
        replication_quota_window_size_seconds: p.int(
            "replication.quota.window.size.seconds",
            1,
            1,
        )?,
        replica_lag_time_max_ms: p.long("replica.lag.time.max.ms", 30_000, 1)?,
        replica_fetch_max_bytes: p.int("replica.fetch.max.bytes", 1_048_576, 0)?,
        replica_fetch_response_max_bytes: p.int(
            "replica.fetch.response.max.bytes",
            10_485_760,
            0,
        )?,
        replica_fetch_wait_max_ms: p.int("replica.fetch.wait.max.ms", 500, 0)?,
        replica_fetch_min_bytes: p.int("replica.fetch.min.bytes", 1, 0)?,
        replica_fetch_backoff_ms: p.int("replica.fetch.backoff.ms", 1000, 0)?,
        replica_socket_timeout_ms: p.int("replica.socket.timeout.ms", 30_000, i32::MIN)?,
        unclean_leader_election_enable: p.boolean("unclean.leader.election.enable", false)?,
        log_message_downconversion_enable: p.boolean("log.message.downconversion.enable", true)?,
        request_timeout_ms: p.int("request.timeout.ms", 30_000, 0)?,
        controlled_shutdown_enable: p.boolean("controlled.shutdown.enable", true)?,
        controlled_shutdown_max_retries: p.int("controlled.shutdown.max.retries", 3, 0)?,
        controlled_shutdown_retry_backoff_ms: p.long(
            "controlled.shutdown.retry.backoff.ms",
            5000,
            0,
        )?,
        auto_leader_rebalance_enable: p.boolean("auto.leader.rebalance.enable", true)?,
        leader_imbalance_per_broker_percentage: p.int(
            "leader.imbalance.per.broker.percentage",
            10,
            0,
        )?,
        leader_imbalance_check_interval_seconds: p.long(
            "leader.imbalance.check.interval.seconds",
            300,
            1,
        )?,
        offsets_topic_num_partitions: p.int("offsets.topic.num.partitions", 50, 1)?,
        offsets_topic_replication_factor: offsets_rf(p)?,
        offsets_topic_segment_bytes: p.int("offsets.topic.segment.bytes", 104_857_600, 1)?,
        offsets_storage: p.one_of(
            "offsets.storage",
            "zookeeper",
            &["zookeeper", "kafka", "dual"],
        )?,
        offsets_commit_required_acks: offsets_acks(p)?,
        offsets_commit_timeout_ms: p.int("offsets.commit.timeout.ms", 5000, 1)?,
        offsets_retention_minutes: p.int("offsets.retention.minutes", 10080, 1)?,
        offsets_retention_check_interval_ms: p.long(
            "offsets.retention.check.interval.ms",
            600_000,
            1,
        )?,
        group_min_session_timeout_ms: p.int("group.min.session.timeout.ms", 6000, 0)?,
        group_max_session_timeout_ms: p.int("group.max.session.timeout.ms", 1_800_000, 0)?,
        group_initial_rebalance_delay_ms: p.int("group.initial.rebalance.delay.ms", 3000, 0)?,
        group_max_size: p.int("group.max.size", INT_MAX, 1)?,
        fetch_max_bytes: p.int("fetch.max.bytes", 57_671_680, 1024)?,
        log_cleaner_enable: p.boolean("log.cleaner.enable", true)?,
        log_cleaner_threads: p.int("log.cleaner.threads", 1, 0)?,
        log_cleaner_dedupe_buffer_size: p.long("log.cleaner.dedupe.buffer.size", 134_217_728, 0)?,
        log_cleaner_io_buffer_load_factor: p.double(
            "log.cleaner.io.buffer.load.factor",
            0.9,
            0.0,
            1.0,
        )?,
        log_cleaner_io_max_bytes_per_second: p.double(
            "log.cleaner.io.max.bytes.per.second",
            f64::MAX,
            0.0,
            f64::MAX,
        )?,
        log_cleaner_backoff_ms: p.long("log.cleaner.backoff.ms", 15_000, 0)?,
        log_cleaner_delete_retention_ms: p.long(
            "log.cleaner.delete.retention.ms",
            86_400_000,
            0,
        )?,
        log_cleaner_min_compaction_lag_ms: p.long("log.cleaner.min.compaction.lag.ms", 0, 0)?,
        log_cleaner_max_compaction_lag_ms: p.long(
            "log.cleaner.max.compaction.lag.ms",
            LONG_MAX,
            1,
        )?,
        log_cleaner_min_cleanable_ratio: p.double(
            "log.cleaner.min.cleanable.ratio",
            0.5,
            0.0,
            1.0,
        )?,
        metrics_host: p.string("metrics.host", "0.0.0.0"),
        metrics_port: metrics_port(p)?,
        explicit,
        dynamic_broker: BTreeMap::new(),
        dynamic_default: BTreeMap::new(),
        known: BTreeMap::new(),
    })
    .and_then(cross_checks)
}

/// `broker.id` within Kafka's range for it, and `reserved.broker.max.id`.
fn broker_id(p: &mut Props<'_>) -> Result<(i32, i32), ConfigError> {
    let broker_id_generation_enable = p.boolean("broker.id.generation.enable", true)?;
    let reserved_broker_max_id = p.int("reserved.broker.max.id", 1000, 0)?;
    let broker_id = p.int("broker.id", -1, i32::MIN)?;
    let id_ok = if broker_id_generation_enable {
        (-1..=reserved_broker_max_id).contains(&broker_id)
    } else {
        broker_id >= 0
    };
    if !id_ok {
        let reason = if broker_id_generation_enable {
            format!("must be -1 (generate) or between 0 and reserved.broker.max.id ({reserved_broker_max_id})")
        } else {
            "must be at least 0 when broker.id.generation.enable is false".to_owned()
        };
        return Err(ConfigError::invalid(
            "broker.id",
            &broker_id.to_string(),
            reason,
        ));
    }
    Ok((broker_id, reserved_broker_max_id))
}

/// The listeners, what they advertise, and the inter-broker and control-plane listener names,
/// with Kafka's checks between them.
struct Listeners {
    listeners: Vec<Listener>,
    advertised_listeners: Vec<Listener>,
    inter_broker_listener_name: String,
    control_plane_listener_name: Option<String>,
}

fn listeners(p: &mut Props<'_>) -> Result<Listeners, ConfigError> {
    let map_value = p.string("listener.security.protocol.map", DEFAULT_PROTOCOL_MAP);
    let protocols = parse_protocol_map("listener.security.protocol.map", &map_value)?;
    let listeners_value = p.string("listeners", "PLAINTEXT://:9092");
    let listeners = parse_listeners("listeners", &listeners_value, &protocols)?;
    for (i, l) in listeners.iter().enumerate() {
        if l.port != 0
            && listeners[..i]
                .iter()
                .any(|o| o.port == l.port && o.host == l.host)
        {
            return Err(ConfigError::invalid(
                "listeners",
                &listeners_value,
                format!("port {} is used twice", l.port),
            ));
        }
    }
    let (adv_key, adv_value, advertised_listeners) = match p.opt_string("advertised.listeners") {
        Some(v) => {
            let adv = parse_listeners("advertised.listeners", &v, &protocols)?;
            if let Some(l) = adv
                .iter()
                .find(|a| !listeners.iter().any(|l| l.name == a.name))
            {
                return Err(ConfigError::invalid(
                    "advertised.listeners",
                    &v,
                    format!("listener {} is not in listeners", l.name),
                ));
            }
            ("advertised.listeners", v, adv)
        }
        None => ("listeners", listeners_value.clone(), listeners.clone()),
    };
    // Kafka checks the *effective* advertised listeners: a wildcard bind address in `listeners`
    // without `advertised.listeners` would tell clients to connect to 0.0.0.0.
    if let Some(l) = advertised_listeners
        .iter()
        .find(|l| l.host == "0.0.0.0" || l.host == "::")
    {
        return Err(ConfigError::invalid(
            adv_key,
            &adv_value,
            format!(
                "listener {} would advertise the non-routable address {} (set advertised.listeners)",
                l.name, l.host
            ),
        ));
    }
    let inter_broker_protocol = p.one_of(
        "security.inter.broker.protocol",
        "PLAINTEXT",
        &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
    )?;
    let inter_broker_listener_name = match p.opt_string("inter.broker.listener.name") {
        Some(n) => n.to_ascii_uppercase(),
        None => inter_broker_protocol,
    };
    if !advertised_listeners
        .iter()
        .any(|l| l.name == inter_broker_listener_name)
    {
        return Err(ConfigError::invalid(
            "inter.broker.listener.name",
            &inter_broker_listener_name,
            "must be the name of a listener in advertised.listeners",
        ));
    }

    let control_plane_listener_name = match p.opt_string("control.plane.listener.name") {
        Some(n) => {
            let n = n.to_ascii_uppercase();
            if !listeners.iter().any(|l| l.name == n)
                || !advertised_listeners.iter().any(|l| l.name == n)
            {
                return Err(ConfigError::invalid(
                    "control.plane.listener.name",
                    &n,
                    "must be the name of a listener in listeners and advertised.listeners",
                ));
            }
            Some(n)
        }
        None => None,
    };
    Ok(Listeners {
        listeners,
        advertised_listeners,
        inter_broker_listener_name,
        control_plane_listener_name,
    })
}

/// `log.dirs`, else `log.dir`: at least one.
fn log_dirs(p: &mut Props<'_>) -> Result<Vec<PathBuf>, ConfigError> {
    let log_dir = p.list("log.dir", "/tmp/kafka-logs");
    p.note("log.dirs", None, 7);
    let log_dirs: Vec<PathBuf> = match p.raw("log.dirs") {
        Some(v) => super::values::split_list(v),
        None => log_dir,
    }
    .into_iter()
    .map(PathBuf::from)
    .collect();
    if log_dirs.is_empty() {
        return Err(ConfigError::invalid(
            "log.dirs",
            "",
            "at least one log directory is needed",
        ));
    }
    Ok(log_dirs)
}

/// `zookeeper.connect`, which has no default.
fn zookeeper_connect(p: &mut Props<'_>) -> Result<ZkConnect, ConfigError> {
    let zk = p
        .raw("zookeeper.connect")
        .ok_or_else(|| ConfigError::Missing {
            key: "zookeeper.connect".into(),
            hint: "set it to the ZooKeeper ensemble, e.g. zookeeper.connect=localhost:2181/kafka"
                .into(),
        })?;
    ZkConnect::parse("zookeeper.connect", zk)
}

/// Kafka's synonym chain for a time: `ms_key` wins, then `minutes_key`, then the hours key
/// (with its default). Kafka maps any negative result to -1 ("forever") for retention.
fn synonym_ms(
    p: &mut Props<'_>,
    ms_key: &'static str,
    minutes_key: Option<&'static str>,
    (hours_key, hours_default, hours_min): (&'static str, i32, i32),
) -> Result<i64, ConfigError> {
    let ms = p.opt_long(ms_key, i64::MIN)?;
    let minutes = match minutes_key {
        Some(k) => p.opt_int(k, i32::MIN)?,
        None => None,
    };
    let hours = p.int(hours_key, hours_default, hours_min)?;
    let v = match (ms, minutes) {
        (Some(ms), _) => ms,
        (None, Some(m)) => i64::from(m) * 60_000,
        (None, None) => i64::from(hours) * 3_600_000,
    };
    Ok(if minutes_key.is_some() && v < 0 {
        -1
    } else {
        v
    })
}

/// `max.connections.per.ip.overrides`: `host:count,...`. Kafka resolves host names when it
/// counts; zkafka resolves them once here, every address of a name getting its count. A zero
/// `max.connections.per.ip` is only valid with overrides (Kafka's rule: else nobody could connect).
fn per_ip_overrides(p: &mut Props<'_>, per_ip: i32) -> Result<BTreeMap<IpAddr, i32>, ConfigError> {
    const KEY: &str = "max.connections.per.ip.overrides";
    let raw = p.string(KEY, "");
    let mut out = BTreeMap::new();
    for entry in super::values::split_list(&raw) {
        let bad = |reason: String| ConfigError::invalid(KEY, &raw, reason);
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("{entry:?} is not host:count")))?;
        let count = parse_int(KEY, count, 0, i32::MAX).map_err(|_| {
            bad(format!(
                "{entry:?}: the count must be a non-negative integer"
            ))
        })?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| bad(format!("cannot resolve {host:?}: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        for ip in addrs {
            out.insert(ip, count);
        }
    }
    if per_ip == 0 && out.is_empty() {
        return Err(ConfigError::invalid(
            "max.connections.per.ip",
            "0",
            "can be zero only if max.connections.per.ip.overrides is set",
        ));
    }
    Ok(out)
}

/// A codec level key, checked against that codec's range.
fn compression_level(
    p: &mut Props<'_>,
    key: &'static str,
    default: i32,
) -> Result<i32, ConfigError> {
    p.note(key, Some(default.to_string()), 3);
    match p.raw(key) {
        None => Ok(default),
        Some(v) => super::topic_keys::parse_compression_level(key, v),
    }
}

fn cleanup_policy(p: &mut Props<'_>) -> Result<Vec<String>, ConfigError> {
    let raw = p.string("log.cleanup.policy", "delete");
    super::parse_cleanup_policy("log.cleanup.policy", &raw)
}

/// `metrics.port`: 0 (no endpoint) or a TCP port.
fn metrics_port(p: &mut Props<'_>) -> Result<u16, ConfigError> {
    let v = p.int("metrics.port", 0, 0)?;
    u16::try_from(v)
        .map_err(|_| ConfigError::invalid("metrics.port", &v.to_string(), "not a TCP port"))
}

fn offsets_rf(p: &mut Props<'_>) -> Result<i16, ConfigError> {
    let v = p.int("offsets.topic.replication.factor", 3, 1)?;
    i16::try_from(v).map_err(|_| {
        ConfigError::invalid(
            "offsets.topic.replication.factor",
            &v.to_string(),
            "not a short integer",
        )
    })
}

/// `offsets.commit.required.acks`: at least -1 (Kafka's `atLeast(-1)`), at most
/// `offsets.topic.replication.factor` (Kafka's `validateValues`).
fn offsets_acks(p: &mut Props<'_>) -> Result<i16, ConfigError> {
    let v = p.int("offsets.commit.required.acks", -1, -1)?;
    let rf = offsets_rf(p)?;
    if v > i32::from(rf) {
        return Err(ConfigError::invalid(
            "offsets.commit.required.acks",
            &v.to_string(),
            "must be at most offsets.topic.replication.factor",
        ));
    }
    Ok(v as i16)
}

/// Relations between keys that Kafka's `KafkaConfig.validateValues` enforces.
fn cross_checks(c: KafkaConfig) -> Result<KafkaConfig, ConfigError> {
    if c.replica_fetch_wait_max_ms > c.replica_socket_timeout_ms {
        return Err(ConfigError::invalid(
            "replica.fetch.wait.max.ms",
            &c.replica_fetch_wait_max_ms.to_string(),
            format!(
                "must not exceed replica.socket.timeout.ms ({})",
                c.replica_socket_timeout_ms
            ),
        ));
    }
    if i64::from(c.replica_fetch_wait_max_ms) > c.replica_lag_time_max_ms {
        return Err(ConfigError::invalid(
            "replica.fetch.wait.max.ms",
            &c.replica_fetch_wait_max_ms.to_string(),
            format!(
                "must not exceed replica.lag.time.max.ms ({})",
                c.replica_lag_time_max_ms
            ),
        ));
    }
    // Offsets in ZooKeeper never expire (Kafka 3.x never expired its ZooKeeper offsets either);
    // in dual storage an expired Kafka copy would come back from ZooKeeper's.
    if c.offsets_retention_minutes != 10080 && c.offsets_storage != "kafka" {
        return Err(ConfigError::unsupported(
            "offsets.retention.minutes",
            &c.offsets_retention_minutes.to_string(),
            format!(
                "offsets in ZooKeeper never expire (offsets.storage={}); expiry needs offsets.storage=kafka",
                c.offsets_storage
            ),
        ));
    }
    if c.group_min_session_timeout_ms > c.group_max_session_timeout_ms {
        return Err(ConfigError::invalid(
            "group.min.session.timeout.ms",
            &c.group_min_session_timeout_ms.to_string(),
            format!(
                "must not exceed group.max.session.timeout.ms ({})",
                c.group_max_session_timeout_ms
            ),
        ));
    }
    Ok(c)
}

/// `authorizer.class.name`: empty (no authorizer) or Kafka's `AclAuthorizer`; any other class
/// (a custom authorizer, the removed `SimpleAclAuthorizer`, KRaft's `StandardAuthorizer`) would
/// be a policy zkafka cannot apply, so it stops start-up.
fn authorizer_class_name(p: &mut Props<'_>) -> Result<String, ConfigError> {
    const KEY: &str = "authorizer.class.name";
    let v = p.string(KEY, "").trim().to_string();
    if v.is_empty() || v == crate::security::authorizer::ACL_AUTHORIZER {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            KEY,
            &v,
            format!(
                "zkafka implements only {}",
                crate::security::authorizer::ACL_AUTHORIZER
            ),
        ))
    }
}
