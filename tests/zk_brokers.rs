//! Start-up znodes and broker registration against a real ZooKeeper.

mod support;

use std::time::Duration;

use support::schema::validate_tree;
use support::zookeeper::ZooKeeper;
use zkafka::zk::{new_cluster_id, BrokerRegistration, ListenerEndpoint, ZkError};

fn registration(port: u16) -> BrokerRegistration {
    BrokerRegistration::new(
        &[ListenerEndpoint {
            listener: "PLAINTEXT".into(),
            security_protocol: "PLAINTEXT".into(),
            host: "localhost".into(),
            port,
        }],
        None,
    )
}

#[tokio::test]
async fn persistent_paths_and_cluster_id() {
    let zk = ZooKeeper::start();
    let a = zk.client("/kafka").await;
    let observer = zk.observer("/kafka").await;
    a.ensure_persistent_paths().await.unwrap();
    a.ensure_persistent_paths().await.unwrap(); // idempotent
    for path in zkafka::zk::paths::PERSISTENT_PATHS {
        let (data, _) = observer.get_data(path).await.unwrap();
        assert!(data.is_empty(), "{path} is empty");
    }
    let proposed = new_cluster_id();
    assert_eq!(
        a.get_or_create_cluster_id(&proposed).await.unwrap(),
        proposed
    );
    let b = zk.client("/kafka").await;
    assert_eq!(
        b.get_or_create_cluster_id(&new_cluster_id()).await.unwrap(),
        proposed,
        "first id wins"
    );
    let (data, _) = observer.get_data("/cluster/id").await.unwrap();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        format!(r#"{{"version":"1","id":"{proposed}"}}"#)
    );
    // 14 persistent paths, their parents /brokers, /config, /admin, then /cluster and /cluster/id.
    assert_eq!(validate_tree(&observer).await, 19);
}

#[tokio::test]
async fn registration_is_ephemeral_version_1_with_czxid_epoch() {
    let zk = ZooKeeper::start();
    let a = zk.client("").await;
    let observer = zk.observer("").await;
    a.ensure_persistent_paths().await.unwrap();
    let (ids, watcher) = a.get_broker_ids_and_watch().await.unwrap();
    assert!(ids.is_empty());
    let epoch = a.register_broker(1, &registration(9092)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("child watch fires");

    let (data, stat) = observer.get_data("/brokers/ids/1").await.unwrap();
    assert_eq!(stat.version, 1, "create + setData");
    assert_eq!(stat.ephemeral_owner, a.session_id());
    assert_eq!(stat.czxid, epoch, "broker epoch is the czxid");
    let text = String::from_utf8(data).unwrap();
    assert!(text.starts_with(r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://localhost:9092"],"jmx_port":-1,"port":9092,"host":"localhost","version":5,"timestamp":""#), "{text}");

    // Same id from another session: taken, naming the path.
    let b = zk.client("").await;
    match b.register_broker(1, &registration(9093)).await {
        Err(ZkError::BrokerIdTaken(path)) => assert_eq!(path, "/brokers/ids/1"),
        other => panic!("expected BrokerIdTaken, got {other:?}"),
    }
    // Same id from the same session (a retry after connection loss): the existing epoch.
    assert_eq!(
        a.register_broker(1, &registration(9092)).await.unwrap(),
        epoch
    );

    let epoch2 = b.register_broker(2, &registration(9093)).await.unwrap();
    assert!(epoch2 > epoch);
    let (ids, _) = b.get_broker_ids_and_watch().await.unwrap();
    assert_eq!(ids, vec![1, 2]);
    let brokers = b.get_brokers(&[1, 2, 3]).await.unwrap();
    assert_eq!(brokers.len(), 2, "missing ids are absent");
    assert_eq!(brokers[&1].1, epoch);
    assert_eq!(brokers[&2].0.port, 9093);
    validate_tree(&observer).await;

    // A bounced broker re-registers with a larger epoch.
    b.deregister_broker(2).await.unwrap();
    b.deregister_broker(2).await.unwrap();
    let epoch3 = b.register_broker(2, &registration(9093)).await.unwrap();
    assert!(epoch3 > epoch2);
}

#[tokio::test]
async fn generated_broker_ids_start_at_1001() {
    let zk = ZooKeeper::start();
    let a = zk.client("/gen").await;
    let observer = zk.observer("/gen").await;
    // Works even before ensure_persistent_paths created /brokers/seqid.
    assert_eq!(a.generate_broker_id(1000).await.unwrap(), 1001);
    a.ensure_persistent_paths().await.unwrap();
    assert_eq!(a.generate_broker_id(1000).await.unwrap(), 1002);
    let b = zk.client("/gen").await;
    assert_eq!(b.generate_broker_id(1000).await.unwrap(), 1003);
    validate_tree(&observer).await;
}
