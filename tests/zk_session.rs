//! Session handling against a real ZooKeeper: chroot creation, unreachable servers, expiry
//! detection, and close removing ephemerals.

mod support;

use std::time::Duration;

use support::zookeeper::ZooKeeper;
use zkafka::zk::{BrokerRegistration, KafkaZkClient, ListenerEndpoint, ZkError, ZkSettings};

fn registration() -> BrokerRegistration {
    BrokerRegistration::new(
        &[ListenerEndpoint {
            listener: "PLAINTEXT".into(),
            security_protocol: "PLAINTEXT".into(),
            host: "h".into(),
            port: 9092,
        }],
        None,
    )
}

#[tokio::test]
async fn connect_creates_missing_chroot() {
    let zk = ZooKeeper::start();
    let client = zk.client("/kafka/cluster-a").await;
    client.ensure_persistent_paths().await.unwrap();
    let root = zk.observer("").await;
    let (data, _) = root.get_data("/kafka/cluster-a").await.unwrap();
    assert!(data.is_empty(), "chroot holds no data");
    assert!(root
        .check_stat("/kafka/cluster-a/brokers/ids")
        .await
        .unwrap()
        .is_some());
    // Connecting again with the chroot present works too.
    let again = zk.client("/kafka/cluster-a").await;
    again.ensure_persistent_paths().await.unwrap();
    let observer = zk.observer("/kafka/cluster-a").await;
    assert!(support::schema::validate_tree(&observer).await >= 14);
}

#[tokio::test]
async fn unreachable_server_is_a_typed_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = ZkSettings {
        connect: format!("127.0.0.1:{port}"),
        session_timeout: Duration::from_secs(6),
        connection_timeout: Duration::from_secs(2),
        set_acl: false,
        sasl: None,
    };
    let started = std::time::Instant::now();
    match KafkaZkClient::connect(&settings).await {
        Err(ZkError::Unreachable { connect, timeout }) => {
            assert_eq!(connect, settings.connect);
            assert_eq!(timeout, Duration::from_secs(2));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn session_expiry_is_detected() {
    let zk = ZooKeeper::start();
    let client = zk.client("").await;
    client.ensure_persistent_paths().await.unwrap();
    client.register_broker(1, &registration()).await.unwrap();
    let lost = tokio::spawn(client.session_lost());
    // Take the session over from a second client, then close it: the server ends the session and
    // the first client learns that it expired.
    let mut attempts = 0;
    let thief = loop {
        attempts += 1;
        let connected = zookeeper_client::Client::connector()
            .with_session(client.session_info())
            .with_session_timeout(Duration::from_secs(6))
            .with_connection_timeout(Duration::from_secs(2))
            .connect(&zk.connect_string())
            .await;
        match connected {
            Ok(thief) => break thief,
            Err(e) if attempts < 5 => eprintln!("taking the session over failed ({e}), again"),
            Err(e) => panic!("cannot take the session over: {e}"),
        }
    };
    drop(thief);
    tokio::time::timeout(Duration::from_secs(40), lost)
        .await
        .expect("session_lost resolves")
        .unwrap();
    assert!(matches!(
        client.get_broker_ids_and_watch().await,
        Err(ZkError::SessionLost)
    ));
    let other = zk.client("").await;
    let (ids, _) = other.get_broker_ids_and_watch().await.unwrap();
    assert!(ids.is_empty(), "the expired session's registration is gone");
    let closing = std::time::Instant::now();
    client.close().await;
    assert!(
        closing.elapsed() < Duration::from_secs(1),
        "closing an expired client does not wait"
    );
}

#[tokio::test]
async fn session_survives_a_short_outage_and_expires_after_a_long_one() {
    let mut zk = ZooKeeper::start();
    let client = zk.client("").await;
    client.ensure_persistent_paths().await.unwrap();
    let (_, watcher) = client.get_broker_ids_and_watch().await.unwrap();
    // Short outage: the client reconnects to the same session and its watches stay armed.
    let session = client.session_id();
    zk.restart();
    wait_connected(&client).await;
    assert_eq!(client.session_id(), session);
    let other = zk.client("").await;
    other.register_broker(8, &registration()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), watcher.changed())
        .await
        .expect("watch survives reconnection");
    client.register_broker(7, &registration()).await.unwrap();
    let lost = tokio::spawn(client.session_lost());
    // Long outage: the server restarts after the session timeout and expires the session.
    zk.stop();
    tokio::time::sleep(Duration::from_secs(8)).await;
    zk.start_again();
    tokio::time::timeout(Duration::from_secs(30), lost)
        .await
        .expect("session_lost resolves")
        .unwrap();
    let fresh = zk.client("").await;
    assert_ne!(fresh.session_id(), client.session_id());
    // The client gave up on its own before the restarted server expired the session: the old
    // registration lingers until then, so re-registration is retried as a broker would.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match fresh.register_broker(7, &registration()).await {
            Ok(_) => break,
            Err(ZkError::BrokerIdTaken(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("re-registration failed: {e}"),
        }
    }
}

/// Waits until the session answers a read again (the client reconnects by itself).
async fn wait_connected(client: &KafkaZkClient) {
    let connected = async {
        while client.get_broker_epoch(0).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), connected)
        .await
        .expect("reconnected");
}

#[tokio::test]
async fn close_removes_ephemerals_at_once() {
    let zk = ZooKeeper::start();
    let a = zk.client("").await;
    a.ensure_persistent_paths().await.unwrap();
    a.register_broker(3, &registration()).await.unwrap();
    a.close().await;
    let b = zk.client("").await;
    let (ids, _) = b.get_broker_ids_and_watch().await.unwrap();
    assert!(ids.is_empty());
}
