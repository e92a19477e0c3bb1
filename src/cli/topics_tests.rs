use super::*;
use crate::cli::{Cli, Command};
use crate::client::PartitionInfo;
use clap::Parser;

fn parse(args: &[&str]) -> Result<TopicsArgs, clap::Error> {
    let mut full = vec!["zkafka", "topics"];
    full.extend_from_slice(args);
    match Cli::try_parse_from(full)?.command {
        Command::Topics(t) => Ok(t),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn create_flags_build_request() {
    let args = parse(&[
        "--bootstrap-server",
        "localhost:9092",
        "--create",
        "--topic",
        "t1",
        "--partitions",
        "3",
        "--replication-factor",
        "2",
        "--config",
        "retention.ms=1000",
        "--config",
        "cleanup.policy=delete",
    ])
    .unwrap();
    let req = create_request(&args, 7).unwrap();
    let t = &req.topics[0];
    assert_eq!(t.name.0.as_str(), "t1");
    assert_eq!((t.num_partitions, t.replication_factor), (3, 2));
    assert_eq!(t.configs.len(), 2);
    assert_eq!(t.configs[0].name.as_str(), "retention.ms");
    assert_eq!(t.configs[0].value.as_deref(), Some("1000"));
}

#[test]
fn create_defaults_depend_on_version() {
    let args = parse(&["--bootstrap-server", "h:1", "--create", "--topic", "t"]).unwrap();
    let t = &create_request(&args, 7).unwrap().topics[0];
    assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
    let t = &create_request(&args, 3).unwrap().topics[0];
    assert_eq!((t.num_partitions, t.replication_factor), (1, 1));
}

#[test]
fn actions_are_exclusive_and_required() {
    assert!(parse(&["--bootstrap-server", "h:1"]).is_err());
    assert!(parse(&["--bootstrap-server", "h:1", "--list", "--delete"]).is_err());
    assert!(parse(&["--list"]).is_err(), "bootstrap server is required");
    let args = parse(&["--bootstrap-server", "h:1", "--create"]).unwrap();
    assert!(create_request(&args, 7).is_err(), "create without --topic");
    let bad = parse(&[
        "--bootstrap-server",
        "h:1",
        "--create",
        "--topic",
        "t",
        "--config",
        "x",
    ])
    .unwrap();
    assert!(create_request(&bad, 7).is_err());
}

fn sample() -> ClusterMetadata {
    let mut md = ClusterMetadata::default();
    let topic = crate::client::TopicMetadata {
        name: "orders".into(),
        topic_id: uuid::Uuid::from_bytes([0; 16]),
        error_code: 0,
        is_internal: false,
        partitions: vec![
            PartitionInfo {
                partition: 0,
                error_code: 0,
                leader: 1,
                leader_epoch: 0,
                replicas: vec![1, 2],
                isr: vec![1, 2],
                offline_replicas: vec![],
            },
            PartitionInfo {
                partition: 1,
                error_code: 0,
                leader: -1,
                leader_epoch: 0,
                replicas: vec![2, 3],
                isr: vec![],
                offline_replicas: vec![2, 3],
            },
        ],
    };
    md.topics.insert("orders".into(), topic);
    md.topics.insert(
        "a-first".into(),
        crate::client::TopicMetadata {
            name: "a-first".into(),
            topic_id: uuid::Uuid::nil(),
            error_code: 0,
            is_internal: false,
            partitions: vec![],
        },
    );
    md
}

#[test]
fn describe_matches_kafka_topics_layout() {
    let out = format_describe(
        &sample(),
        "orders",
        &[("retention.ms".into(), "1000".into())],
    );
    assert_eq!(
        out,
        "Topic: orders\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: retention.ms=1000\n\
         \tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\n\
         \tTopic: orders\tPartition: 1\tLeader: none\tReplicas: 2,3\tIsr: \tOffline: 2,3\n"
    );
}

#[test]
fn list_is_sorted_names() {
    assert_eq!(format_list(&sample()), "a-first\norders\n");
}

fn args(addr: &str, extra: &[&str]) -> TopicsArgs {
    let mut full = vec!["--bootstrap-server", addr];
    full.extend_from_slice(extra);
    parse(&full).unwrap()
}

#[tokio::test]
async fn create_describe_list_delete_against_fake_broker() {
    let broker = crate::cli::fake_broker::FakeBroker::start().await;
    let addr = broker.addr.as_str();
    let create = [
        "--create",
        "--topic",
        "t1",
        "--partitions",
        "2",
        "--replication-factor",
        "3",
        "--config",
        "retention.ms=1000",
    ];
    assert_eq!(
        execute(&args(addr, &create)).await.unwrap(),
        "Created topic t1.\n"
    );
    let err = execute(&args(addr, &create)).await.unwrap_err();
    assert!(format!("{err:#}").contains("TopicAlreadyExists"), "{err:#}");
    let mut again = create.to_vec();
    again.push("--if-not-exists");
    assert_eq!(execute(&args(addr, &again)).await.unwrap(), "");

    assert_eq!(
        execute(&args(addr, &["--list"])).await.unwrap(),
        "perf\nt1\n"
    );
    assert_eq!(
        execute(&args(addr, &["--describe", "--topic", "t1"])).await.unwrap(),
        "Topic: t1\tTopicId: AAAAAAAAAAAAAAAAAAAABw\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: retention.ms=1000\n\
         \tTopic: t1\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\n\
         \tTopic: t1\tPartition: 1\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\n"
    );
    let all = execute(&args(addr, &["--describe"])).await.unwrap();
    assert!(
        all.starts_with("Topic: perf\t") && all.contains("Topic: t1\t"),
        "{all}"
    );

    assert_eq!(
        execute(&args(addr, &["--delete", "--topic", "t1"]))
            .await
            .unwrap(),
        ""
    );
    assert_eq!(execute(&args(addr, &["--list"])).await.unwrap(), "perf\n");
    let err = execute(&args(addr, &["--delete", "--topic", "t1"]))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("UnknownTopicOrPartition"),
        "{err:#}"
    );
    execute(&args(addr, &["--delete", "--topic", "t1", "--if-exists"]))
        .await
        .unwrap();
    let err = execute(&args(addr, &["--describe", "--topic", "nope"]))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("describing topic nope"),
        "{err:#}"
    );
}
