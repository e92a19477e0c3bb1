//! Rebalances after the first: idle members, leaving, session expiry.

use kafka_protocol::error::ResponseError;
use std::time::Duration;

use super::super::consumer_protocol::assigned_partitions;
use super::*;

/// Every member rejoins (as clients do after REBALANCE_IN_PROGRESS) and syncs again.
async fn rejoin_all(
    c: &Arc<GroupCoordinator>,
    group: &str,
    ms: &[Member],
    partitions: i32,
) -> (Vec<Member>, Vec<Bytes>) {
    let ids: Vec<String> = ms.iter().map(|m| m.id.clone()).collect();
    let ms = join_many(c, group, &ids).await;
    let got = sync_all(c, group, &ms, partitions).await;
    (ms, got)
}

#[tokio::test(start_paused = true)]
async fn seven_members_six_partitions_idle_member_takes_over() {
    let (c, _) = coordinator();
    let ids: Vec<String> = (0..7).map(|_| String::new()).collect();
    let ms = join_many(&c, "g", &ids).await;
    assert!(ms.iter().all(|m| m.generation == 1));
    let got = sync_all(&c, "g", &ms, 6).await;
    let idle: Vec<usize> = (0..7)
        .filter(|i| assigned_partitions(&got[*i]).unwrap().is_empty())
        .collect();
    assert_eq!(
        idle.len(),
        1,
        "one member stays idle, and stays in the group"
    );
    let idle_id = ms[idle[0]].id.clone();
    for m in &ms {
        assert_eq!(heartbeat(&c, "g", m).await, 0);
    }

    // A member with a partition leaves: everyone is told to rejoin.
    let leaver = ms
        .iter()
        .enumerate()
        .find(|(i, _)| !idle.contains(i))
        .map(|(_, m)| m.clone())
        .unwrap();
    assert_eq!(leave(&c, "g", &leaver.id).await, 0);
    let rest: Vec<Member> = ms.iter().filter(|m| m.id != leaver.id).cloned().collect();
    for m in &rest {
        assert_eq!(heartbeat(&c, "g", m).await, 27);
    }
    let (ms2, got2) = rejoin_all(&c, "g", &rest, 6).await;
    assert!(ms2.iter().all(|m| m.generation == 2));
    assert_eq!(ms2.len(), 6);
    let pos = ms2.iter().position(|m| m.id == idle_id).unwrap();
    assert_eq!(
        assigned_partitions(&got2[pos]).unwrap().len(),
        1,
        "the idle member took over a partition"
    );
    assert!(got2
        .iter()
        .all(|a| assigned_partitions(a).unwrap().len() == 1));
}

#[tokio::test(start_paused = true)]
async fn session_expiry_removes_the_silent_member() {
    let (c, store) = coordinator();
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    sync_all(&c, "g", &ms, 2).await;
    let (alive, silent) = (ms[0].clone(), ms[1].clone());
    // alive heartbeats every 3 s; silent never does. Its 30 s session runs out.
    let mut code = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        code = heartbeat(&c, "g", &alive).await;
        if code != 0 {
            break;
        }
    }
    assert_eq!(code, 27, "the expiry started a rebalance");
    let (ms2, _) = rejoin_all(&c, "g", std::slice::from_ref(&alive), 2).await;
    assert_eq!(ms2.len(), 1);
    assert_eq!(ms2[0].generation, 2);
    assert!(ms2[0].leader);
    assert_eq!(ms2[0].join.members.len(), 1);
    assert_eq!(
        heartbeat(&c, "g", &silent).await,
        25,
        "the expired member is unknown"
    );
    tokio::task::yield_now().await;
    assert_eq!(store.mirrored_members("g").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let (c, _) = coordinator();
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    sync_all(&c, "g", &ms, 2).await;
    // The leader rejoins (a leader's rejoin always rebalances); the other ignores the rebalance.
    let leader = ms.iter().find(|m| m.leader).unwrap().clone();
    let other = ms.iter().find(|m| !m.leader).unwrap().clone();
    let start = tokio::time::Instant::now();
    let m = join(&c, "g", &leader.id, None).await;
    assert_eq!(start.elapsed(), Duration::from_millis(REBALANCE_MS as u64));
    assert_eq!(m.generation, 2);
    assert_eq!(m.join.members.len(), 1);
    assert_eq!(heartbeat(&c, "g", &other).await, 25);
}

#[tokio::test(start_paused = true)]
async fn last_member_leaving_empties_the_group() {
    let (c, _) = coordinator();
    let m = join(&c, "g", "", None).await;
    sync_all(&c, "g", std::slice::from_ref(&m), 1).await;
    assert_eq!(leave(&c, "g", &m.id).await, 0);
    assert_eq!(leave(&c, "g", &m.id).await, 25);
    tokio::task::yield_now().await;
    let described = c
        .describe_groups(
            kafka_protocol::messages::DescribeGroupsRequest::default()
                .with_groups(vec![kafka_protocol::messages::GroupId(str_bytes("g"))]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert!(described.groups[0].members.is_empty());
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_joins() {
    let (c, _) = coordinator();
    let c1 = c.clone();
    let t = tokio::spawn(async move {
        c1.join_group(join_req("g", "", None, &["t"]), 3, "c", "/h")
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.shutdown();
    assert_eq!(
        t.await.unwrap().error_code,
        ResponseError::NotCoordinator.code(),
        "NOT_COORDINATOR"
    );
}

#[tokio::test(start_paused = true)]
async fn unloading_a_partition_forgets_its_groups() {
    let (c, _) = coordinator();
    let m = join(&c, "g", "", None).await;
    sync_all(&c, "g", std::slice::from_ref(&m), 1).await;
    let other = super::super::partition_for("g", 50) + 1;
    c.unload_partition(other, 50);
    assert_eq!(
        heartbeat(&c, "g", &m).await,
        0,
        "another partition's groups stay"
    );
    c.unload_partition(super::super::partition_for("g", 50), 50);
    assert_eq!(
        heartbeat(&c, "g", &m).await,
        25,
        "the group is gone from this coordinator"
    );
}

#[tokio::test(start_paused = true)]
async fn absent_static_leader_is_replaced_by_a_member_that_rejoined() {
    let (c, _) = coordinator();
    let a = join(&c, "g", "", Some("ia")).await;
    let c1 = c.clone();
    let tb = tokio::spawn(async move { join(&c1, "g", "", Some("ib")).await });
    // a (the leader) never rejoins; b completes the rebalance at the timeout as the new leader.
    let b = tb.await.unwrap();
    assert!(a.leader);
    assert!(b.leader, "{b:?}");
    assert_eq!(b.generation, 2);
    assert_eq!(
        b.join.members.len(),
        2,
        "the absent static member keeps its place"
    );
}

#[tokio::test(start_paused = true)]
async fn member_that_never_syncs_is_removed_at_the_rebalance_timeout() {
    let (c, _) = coordinator();
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    let leader = ms.iter().find(|m| m.leader).unwrap().clone();
    let follower = ms.iter().find(|m| !m.leader).unwrap().clone();
    let plan = vec![(leader.id.clone(), Bytes::from_static(b"x"))];
    let resp = c.sync_group(sync_req("g", &leader, plan), 5).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(heartbeat(&c, "g", &leader).await, 0);
    tokio::time::sleep(Duration::from_millis(REBALANCE_MS as u64 + 100)).await;
    assert_eq!(
        heartbeat(&c, "g", &leader).await,
        27,
        "the silent follower was removed"
    );
    assert_eq!(heartbeat(&c, "g", &follower).await, 25);
}

/// A second coordinator on the same (Kafka-like) store takes the group over as it was: the
/// members heartbeat in their generation and commit, nobody rejoins (Kafka's loadGroup).
#[tokio::test(start_paused = true)]
async fn a_new_coordinator_loads_the_stored_group() {
    let store = Arc::new(MemoryOffsetStore::keeping_groups());
    let first = GroupCoordinator::new(GroupConfig::default(), store.clone());
    let ms = join_many(&first, "g", &["".into(), "".into()]).await;
    let got = sync_all(&first, "g", &ms, 2).await;
    first.shutdown();
    let second = GroupCoordinator::new(GroupConfig::default(), store.clone());
    second.load_partition(0);
    tokio::task::yield_now().await;
    for m in &ms {
        assert_eq!(heartbeat(&second, "g", m).await, 0, "{m:?}");
    }
    // A member that lost its SyncGroup answer asks again: the stored assignment comes back.
    let again = second.sync_group(sync_req("g", &ms[0], vec![]), 5).await;
    assert_eq!(
        (again.error_code, again.assignment.clone()),
        (0, got[0].clone())
    );
    // An unknown generation is still refused.
    let stale = Member {
        generation: ms[0].generation - 1,
        ..ms[0].clone()
    };
    assert_eq!(
        heartbeat(&second, "g", &stale).await,
        ResponseError::IllegalGeneration.code()
    );
}
