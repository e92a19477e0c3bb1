//! ISR management across three real brokers: a frozen follower leaves the ISR through the leader's
//! AlterPartition and rejoins once it has caught up.

mod replication;
mod support;

use replication::*;
use support::zookeeper::ZooKeeper;

/// A frozen follower (SIGSTOP: its ZooKeeper session and sockets stay) leaves the ISR through the
/// leader's AlterPartition after `replica.lag.time.max.ms`, acks=all produces go on without it, and
/// once thawed it catches up and the leader adds it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_follower_leaves_and_rejoins_the_isr() {
    let zk = ZooKeeper::start();
    let extra = "zookeeper.session.timeout.ms=40000\nreplica.lag.time.max.ms=2000\n";
    let brokers: Vec<Broker> = (1..=3).map(|id| Broker::start(id, &zk, extra)).collect();
    let (admin, zk_client) = create_topic(&zk, &brokers, None).await;
    let leader_id = leader(&admin, -1).await;
    let conn = connect(&brokers[(leader_id - 1) as usize].addr()).await;
    produce_until_ok(&conn, 10, &brokers).await;
    wait_for_identical_logs(&brokers.iter().collect::<Vec<_>>(), 100).await;
    wait_for_isr(&zk_client, &[1, 2, 3], &brokers).await;

    // Freeze a follower that is not the controller (the controller must answer AlterPartition).
    let controller = controller(&zk_client).await;
    let frozen = (1..=3)
        .find(|b| *b != leader_id && *b != controller)
        .expect("a plain follower");
    brokers[(frozen - 1) as usize].signal("STOP");
    produce_until_ok(&conn, 5, &brokers).await;
    let rest: Vec<i32> = (1..=3).filter(|b| *b != frozen).collect();
    wait_for_isr(&zk_client, &rest, &brokers).await;

    brokers[(frozen - 1) as usize].signal("CONT");
    wait_for_isr(&zk_client, &[1, 2, 3], &brokers).await;
    let longer = log_bytes(&brokers[(leader_id - 1) as usize].log_dir()).len();
    wait_for_identical_logs(&brokers.iter().collect::<Vec<_>>(), longer).await;
    if std::env::var_os("REPLICATION_TEST_LOGS").is_some() {
        for b in &brokers {
            eprintln!("--- broker {} ---\n{}", b.id, b.output());
        }
    }
}
