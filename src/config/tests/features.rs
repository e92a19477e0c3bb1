//! The broker keys of zkafka's later features: the metrics endpoint, the offsets storage and the
//! ACL authorizer.

use super::*;

#[test]
fn the_metrics_endpoint_is_off_by_default_and_its_port_must_be_a_tcp_port() {
    let (c, warnings) = config(&[]).unwrap();
    assert_eq!((c.metrics_host.as_str(), c.metrics_port), ("0.0.0.0", 0));
    assert!(warnings.is_empty(), "{warnings:?}");
    let (c, warnings) = config(&[("metrics.port", "7071"), ("metrics.host", "127.0.0.1")]).unwrap();
    assert_eq!(
        (c.metrics_host.as_str(), c.metrics_port),
        ("127.0.0.1", 7071)
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    for bad in ["70000", "-1", "seven"] {
        assert!(config(&[("metrics.port", bad)]).is_err(), "{bad}");
    }
}

#[test]
fn offsets_storage_and_expiry_keys() {
    let (c, _) = config(&[]).unwrap();
    assert_eq!(c.offsets_storage, "zookeeper");
    assert_eq!(c.offsets_commit_required_acks, -1);
    assert_eq!(c.offsets_retention_minutes, 10080);
    let (c, _) = config(&[
        ("offsets.storage", "kafka"),
        ("offsets.retention.minutes", "1"),
        ("offsets.retention.check.interval.ms", "500"),
    ])
    .unwrap();
    assert_eq!(
        (c.offsets_storage.as_str(), c.offsets_retention_minutes),
        ("kafka", 1)
    );
    assert_eq!(c.offsets_retention_check_interval_ms, 500);
    assert!(config(&[("offsets.storage", "Kafka")]).is_err());
    let e = config(&[
        ("offsets.storage", "dual"),
        ("offsets.retention.minutes", "5"),
    ])
    .unwrap_err();
    assert!(matches!(e, ConfigError::Unsupported { .. }), "{e}");
    assert!(config(&[
        ("offsets.commit.required.acks", "4"),
        ("offsets.topic.replication.factor", "3")
    ])
    .is_err());
}

#[test]
fn only_kafkas_acl_authorizer_is_accepted() {
    let (c, _) = config(&[
        (
            "authorizer.class.name",
            "kafka.security.authorizer.AclAuthorizer",
        ),
        ("super.users", "User:admin;User:ANONYMOUS"),
    ])
    .unwrap();
    assert!(c.authorizer().is_some());
    assert!(config(&[]).unwrap().0.authorizer().is_none());
    let e = config(&[(
        "authorizer.class.name",
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    )])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("zkafka implements only kafka.security.authorizer.AclAuthorizer"),
        "{e}"
    );
}
