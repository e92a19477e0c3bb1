//! Serde types of `zkafka::zk::znodes`: exact JSON of docs/zk-layout.md, older versions read, and
//! every example validating against `zk-schema/`.

mod support;

use std::collections::BTreeMap;

use support::schema::validate_znode;
use zkafka::zk::znodes::to_json;
use zkafka::zk::*;

fn json<T: serde::Serialize>(value: &T) -> String {
    String::from_utf8(to_json(value)).unwrap()
}

#[test]
fn broker_registration_v5_exact() {
    let endpoint = ListenerEndpoint {
        listener: "PLAINTEXT".into(),
        security_protocol: "PLAINTEXT".into(),
        host: "host1".into(),
        port: 9092,
    };
    let mut reg = BrokerRegistration::new(std::slice::from_ref(&endpoint), None);
    reg.timestamp = "1704032948949".into();
    let expected = r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://host1:9092"],"jmx_port":-1,"port":9092,"host":"host1","version":5,"timestamp":"1704032948949"}"#;
    assert_eq!(json(&reg), expected);
    validate_znode("/brokers/ids/1", expected.as_bytes());
    let back: BrokerRegistration = serde_json::from_str(expected).unwrap();
    assert_eq!(back, reg);
    assert_eq!(back.listener_endpoints(), vec![endpoint]);
}

#[test]
fn broker_registration_without_plaintext_rack_and_ipv6() {
    let endpoints = [ListenerEndpoint {
        listener: "INTERNAL".into(),
        security_protocol: "SSL".into(),
        host: "::1".into(),
        port: 9093,
    }];
    let reg = BrokerRegistration::new(&endpoints, Some("rack-a".into()));
    let text = json(&reg);
    assert!(
        text.contains(r#""endpoints":["INTERNAL://[::1]:9093"]"#),
        "{text}"
    );
    assert!(
        text.contains(r#""rack":"rack-a""#) && text.contains(r#""port":-1,"host":null"#),
        "{text}"
    );
    validate_znode("/brokers/ids/2", text.as_bytes());
    assert_eq!(
        serde_json::from_str::<BrokerRegistration>(&text)
            .unwrap()
            .listener_endpoints(),
        endpoints.to_vec()
    );
}

#[test]
fn broker_registration_old_versions_read() {
    let v1 = r#"{"jmx_port":-1,"timestamp":"1","host":"h","version":1,"port":9092}"#;
    let reg: BrokerRegistration = serde_json::from_str(v1).unwrap();
    assert_eq!(
        reg.listener_endpoints()[0].connection_string(),
        "PLAINTEXT://h:9092"
    );
    validate_znode("/brokers/ids/1", v1.as_bytes());
    let v4 = r#"{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://h:9092"],"rack":"r","jmx_port":-1,"host":"h","timestamp":"1","port":9092,"version":4}"#;
    assert_eq!(
        serde_json::from_str::<BrokerRegistration>(v4)
            .unwrap()
            .rack
            .as_deref(),
        Some("r")
    );
    validate_znode("/brokers/ids/1", v4.as_bytes());
}

#[test]
fn controller_and_cluster_id_exact() {
    let mut c = ControllerZnode::new(1);
    c.timestamp = "1704032949256".into();
    let expected =
        r#"{"version":2,"brokerid":1,"timestamp":"1704032949256","kraftControllerEpoch":-1}"#;
    assert_eq!(json(&c), expected);
    validate_znode("/controller", expected.as_bytes());
    let v1 = r#"{"version":1,"brokerid":3,"timestamp":"1"}"#;
    assert_eq!(
        serde_json::from_str::<ControllerZnode>(v1)
            .unwrap()
            .brokerid,
        3
    );
    validate_znode("/controller", v1.as_bytes());
    validate_znode("/controller_epoch", b"3");

    let id = ClusterIdZnode::new("eQzK4lYlQ9y8P21IScOl_g");
    let expected = r#"{"version":"1","id":"eQzK4lYlQ9y8P21IScOl_g"}"#;
    assert_eq!(json(&id), expected);
    validate_znode("/cluster/id", expected.as_bytes());
    validate_znode(
        "/cluster/id",
        json(&ClusterIdZnode::new(&new_cluster_id())).as_bytes(),
    );
}

#[test]
fn topic_znode_exact_and_old_versions() {
    let partitions: BTreeMap<i32, Vec<i32>> =
        [(0, vec![1, 2]), (1, vec![2, 3]), (2, vec![3, 1])].into();
    let topic = TopicZnode::new(partitions, "RSZ--odYRlSOPGRgukKnAQ");
    let expected = r#"{"removing_replicas":{},"partitions":{"0":[1,2],"1":[2,3],"2":[3,1]},"topic_id":"RSZ--odYRlSOPGRgukKnAQ","adding_replicas":{},"version":3}"#;
    assert_eq!(json(&topic), expected);
    validate_znode("/brokers/topics/foo", expected.as_bytes());
    assert_eq!(serde_json::from_str::<TopicZnode>(expected).unwrap(), topic);
    // Numeric, not lexicographic, partition order.
    let many = TopicZnode::new((0..12).map(|p| (p, vec![1])).collect(), &new_topic_id());
    assert!(json(&many).contains(r#""9":[1],"10":[1]"#));
    let v1 = r#"{"version":1,"partitions":{"0":[1]}}"#;
    let old: TopicZnode = serde_json::from_str(v1).unwrap();
    assert_eq!(old.topic_id, None);
    validate_znode("/brokers/topics/foo", v1.as_bytes());
}

#[test]
fn partition_state_exact() {
    let state = PartitionState::new(2, 2, 0, vec![2, 3]);
    let expected = r#"{"controller_epoch":2,"leader":2,"version":1,"leader_epoch":0,"isr":[2,3]}"#;
    assert_eq!(json(&state), expected);
    validate_znode(
        "/brokers/topics/foo/partitions/0/state",
        expected.as_bytes(),
    );
    let mut unclean = PartitionState::new(3, -1, 4, vec![1]);
    unclean.leader_recovery_state = Some(1);
    let text = json(&unclean);
    assert_eq!(
        text,
        r#"{"controller_epoch":3,"leader":-1,"version":1,"leader_epoch":4,"isr":[1],"leader_recovery_state":1}"#
    );
    validate_znode("/brokers/topics/foo/partitions/0/state", text.as_bytes());
    assert_eq!(
        serde_json::from_str::<PartitionState>(&text).unwrap(),
        unclean
    );
}

#[test]
fn config_and_admin_znodes_exact() {
    let config =
        TopicConfigZnode::new([("retention.ms".to_string(), "86400000".to_string())].into());
    let expected = r#"{"version":1,"config":{"retention.ms":"86400000"}}"#;
    assert_eq!(json(&config), expected);
    validate_znode("/config/topics/foo", expected.as_bytes());
    assert_eq!(
        json(&TopicConfigZnode::new(BTreeMap::new())),
        r#"{"version":1,"config":{}}"#
    );

    let change = ConfigChangeZnode::new("topics", "my-topic");
    let expected = r#"{"version":2,"entity_path":"topics/my-topic"}"#;
    assert_eq!(json(&change), expected);
    validate_znode(
        "/config/changes/config_change_0000000012",
        expected.as_bytes(),
    );

    let reassign = ReassignmentZnode {
        version: 1,
        partitions: vec![ReassignmentEntry {
            topic: "foo".into(),
            partition: 0,
            replicas: vec![1, 2, 3],
            log_dirs: None,
        }],
    };
    let expected =
        r#"{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2,3]}]}"#;
    assert_eq!(json(&reassign), expected);
    validate_znode("/admin/reassign_partitions", expected.as_bytes());

    let preferred = PreferredElectionZnode {
        version: 1,
        partitions: vec![TopicPartitionEntry {
            topic: "foo".into(),
            partition: 0,
        }],
    };
    let expected = r#"{"version":1,"partitions":[{"topic":"foo","partition":0}]}"#;
    assert_eq!(json(&preferred), expected);
    validate_znode("/admin/preferred_replica_election", expected.as_bytes());

    let member = ConsumerRegistration {
        version: 1,
        subscription: [("mytopic".to_string(), 1)].into(),
        pattern: "static".into(),
        timestamp: "1423016430000".into(),
    };
    let expected = r#"{"version":1,"subscription":{"mytopic":1},"pattern":"static","timestamp":"1423016430000"}"#;
    assert_eq!(json(&member), expected);
    validate_znode("/consumers/g/ids/g_host-1", expected.as_bytes());
    validate_znode("/consumers/g/offsets/foo/0", b"42");
    validate_znode("/admin/delete_topics/foo", b"");
}

#[test]
#[should_panic(expected = "does not match")]
fn schema_rejects_empty_isr() {
    validate_znode(
        "/brokers/topics/foo/partitions/0/state",
        br#"{"controller_epoch":2,"leader":2,"version":1,"leader_epoch":0,"isr":[]}"#,
    );
}

#[test]
#[should_panic(expected = "does not match")]
fn schema_rejects_json_offset() {
    validate_znode("/consumers/g/offsets/foo/0", br#"{"offset":42}"#);
}

#[test]
#[should_panic(expected = "does not match")]
fn schema_rejects_numeric_cluster_id_version() {
    validate_znode(
        "/cluster/id",
        br#"{"version":1,"id":"eQzK4lYlQ9y8P21IScOl_g"}"#,
    );
}
