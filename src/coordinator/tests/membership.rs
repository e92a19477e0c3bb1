//! Joining: member ids, validation, protocol choice, the initial delay, static members.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use tokio::time::Instant;

use super::super::consumer_protocol::test_bytes::{assignment, subscription};
use super::super::GroupConfig;
use super::*;

#[tokio::test(start_paused = true)]
async fn member_id_required_then_join() {
    let (c, _) = coordinator();
    let first = c
        .join_group(join_req("g", "", None, &["t"]), 5, "my-client", "/h")
        .await;
    assert_eq!(
        first.error_code,
        ResponseError::MemberIdRequired.code(),
        "MEMBER_ID_REQUIRED"
    );
    let id = first.member_id.to_string();
    assert!(
        id.starts_with("my-client-") && id.len() == "my-client-".len() + 36,
        "{id}"
    );
    let second = c
        .join_group(join_req("g", &id, None, &["t"]), 5, "my-client", "/h")
        .await;
    assert_eq!(second.error_code, 0);
    assert_eq!(second.member_id.as_str(), id);
    assert_eq!(second.generation_id, 1);
    assert_eq!(second.leader.as_str(), id);
    assert_eq!(second.protocol_name.as_deref(), Some("range"));
    assert_eq!(second.members.len(), 1);
    // v3 clients get no MEMBER_ID_REQUIRED round.
    let old = c
        .join_group(join_req("g3", "", None, &["t"]), 3, "old", "/h")
        .await;
    assert_eq!(old.error_code, 0);
    assert!(old.member_id.starts_with("old-"));
}

#[tokio::test(start_paused = true)]
async fn unknown_member_id_is_refused() {
    let (c, _) = coordinator();
    let resp = c
        .join_group(join_req("g", "nobody", None, &["t"]), 5, "c", "/h")
        .await;
    assert_eq!(
        resp.error_code,
        ResponseError::UnknownMemberId.code(),
        "UNKNOWN_MEMBER_ID"
    );
}

#[tokio::test(start_paused = true)]
async fn session_timeout_bounds() {
    let (c, _) = coordinator();
    let too_short = join_req("g", "", None, &["t"]).with_session_timeout_ms(5_999);
    assert_eq!(
        c.join_group(too_short, 5, "c", "/h").await.error_code,
        ResponseError::InvalidSessionTimeout.code()
    );
    let too_long = join_req("g", "", None, &["t"]).with_session_timeout_ms(1_800_001);
    assert_eq!(
        c.join_group(too_long, 5, "c", "/h").await.error_code,
        ResponseError::InvalidSessionTimeout.code()
    );
    let empty_group = join_req("", "", None, &["t"]);
    assert_eq!(
        c.join_group(empty_group, 5, "c", "/h").await.error_code,
        ResponseError::InvalidGroupId.code(),
        "INVALID_GROUP_ID"
    );
}

#[tokio::test(start_paused = true)]
async fn inconsistent_protocols_are_refused() {
    let (c, _) = coordinator();
    let a = join(&c, "g", "", None).await;
    assert_eq!(a.generation, 1);
    let other =
        join_req("g", "", None, &["t"]).with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("roundrobin"))
            .with_metadata(subscription(&["t"]))]);
    assert_eq!(
        c.join_group(other.clone(), 3, "c", "/h").await.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
    let wrong_type = join_req("g", "", None, &["t"]).with_protocol_type(str_bytes("connect"));
    assert_eq!(
        c.join_group(wrong_type, 3, "c", "/h").await.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
    // A new group needs a protocol type and at least one protocol.
    let none = join_req("fresh", "", None, &["t"]).with_protocols(vec![]);
    assert_eq!(
        c.join_group(none, 3, "c", "/h").await.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
}

#[tokio::test(start_paused = true)]
async fn protocol_vote_picks_the_common_favourite() {
    let (c, _) = coordinator();
    let protos = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                JoinGroupRequestProtocol::default()
                    .with_name(str_bytes(*n))
                    .with_metadata(subscription(&["t"]))
            })
            .collect::<Vec<_>>()
    };
    let a = join_req("g", "", None, &["t"]).with_protocols(protos(&["sticky", "range"]));
    let b = join_req("g", "", None, &["t"]).with_protocols(protos(&["range", "sticky", "rr"]));
    let d = join_req("g", "", None, &["t"]).with_protocols(protos(&["range", "sticky"]));
    let tasks: Vec<_> = [a, b, d]
        .into_iter()
        .map(|r| {
            let c = c.clone();
            tokio::spawn(async move { c.join_group(r, 3, "c", "/h").await })
        })
        .collect();
    for t in tasks {
        let resp = t.await.unwrap();
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.protocol_name.as_deref(), Some("range"));
    }
}

#[tokio::test(start_paused = true)]
async fn group_max_size() {
    let (c, _) = coordinator_with(GroupConfig {
        max_size: 2,
        ..GroupConfig::default()
    });
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    sync_all(&c, "g", &ms, 2).await;
    let third = c
        .join_group(join_req("g", "", None, &["t"]), 3, "c", "/h")
        .await;
    assert_eq!(
        third.error_code,
        ResponseError::GroupMaxSizeReached.code(),
        "GROUP_MAX_SIZE_REACHED"
    );
}

#[tokio::test(start_paused = true)]
async fn initial_delay_waits_and_extends() {
    let (c, _) = coordinator();
    // Alone: the first rebalance of an empty group waits group.initial.rebalance.delay.ms.
    let start = Instant::now();
    let a = join(&c, "solo", "", None).await;
    assert_eq!(a.generation, 1);
    assert_eq!(start.elapsed(), Duration::from_millis(3_000));

    // A second member arriving during the delay extends it by another delay (bounded by the
    // rebalance timeout), and both land in the same first generation.
    let start = Instant::now();
    let c1 = c.clone();
    let first = tokio::spawn(async move { join(&c1, "pair", "", None).await });
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let second = join(&c, "pair", "", None).await;
    let first = first.await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(6_000));
    assert_eq!((first.generation, second.generation), (1, 1));
    assert_eq!(first.join.leader, second.join.leader);
}

#[tokio::test(start_paused = true)]
async fn two_members_split_the_partitions() {
    let (c, store) = coordinator();
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    assert!(ms.iter().all(|m| m.generation == 1));
    assert_eq!(ms.iter().filter(|m| m.leader).count(), 1);
    let leader = ms.iter().find(|m| m.leader).unwrap();
    assert_eq!(
        leader.join.members.len(),
        2,
        "the leader sees every member's metadata"
    );
    assert!(ms
        .iter()
        .find(|m| !m.leader)
        .unwrap()
        .join
        .members
        .is_empty());
    let got = sync_all(&c, "g", &ms, 2).await;
    assert_ne!(got[0], got[1]);
    assert!(got.contains(&assignment(&[("t", &[0])])) && got.contains(&assignment(&[("t", &[1])])));
    for m in &ms {
        assert_eq!(heartbeat(&c, "g", m).await, 0);
    }
    tokio::task::yield_now().await;
    let owners = store.mirrored_owners("g");
    assert_eq!(owners.len(), 2);
    assert_eq!(store.mirrored_members("g").len(), 2);
    assert_eq!(store.mirrored_members("g")[0].topics, vec!["t".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn static_member_rejoins_without_rebalance() {
    let (c, _) = coordinator();
    let a = join(&c, "g", "", Some("instance-a")).await;
    let c1 = c.clone();
    let tb = tokio::spawn(async move { join(&c1, "g", "", Some("instance-b")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // b's join started a rebalance: a learns it from its heartbeat and rejoins.
    assert_eq!(heartbeat(&c, "g", &a).await, 27, "REBALANCE_IN_PROGRESS");
    let a = join(&c, "g", &a.id, Some("instance-a")).await;
    let b = tb.await.unwrap();
    let ms = vec![a.clone(), b.clone()];
    assert!(ms.iter().all(|m| m.generation == 2), "{ms:?}");
    let got = sync_all(&c, "g", &ms, 2).await;

    // instance-b restarts: it joins with no member id and gets a new one, same generation.
    let b2 = join(&c, "g", "", Some("instance-b")).await;
    assert_ne!(b2.id, b.id);
    assert!(b2.id.starts_with("instance-b-"));
    assert_eq!(b2.generation, 2, "no rebalance");
    assert_eq!(
        heartbeat(&c, "g", &a).await,
        0,
        "the others are not disturbed"
    );
    // v9: a rejoining static leader learns it leads, but skips the assignor.
    let leader = if a.leader { "instance-a" } else { "instance-b" };
    let l2 = c
        .join_group(join_req("g", "", Some(leader), &["t"]), 9, "client", "/h")
        .await;
    assert_eq!((l2.error_code, l2.generation_id), (0, 2));
    assert!(
        l2.skip_assignment && l2.leader == l2.member_id && l2.members.len() == 2,
        "{l2:?}"
    );
    // The old incarnation is fenced.
    assert_eq!(heartbeat(&c, "g", &b).await, 82, "FENCED_INSTANCE_ID");
    // The new one gets the old assignment.
    let resp = c.sync_group(sync_req("g", &b2, vec![]), 5).await;
    assert_eq!(resp.error_code, 0);
    let b_index = ms.iter().position(|m| m.id == b.id).unwrap();
    assert_eq!(resp.assignment, got[b_index]);
}

#[tokio::test(start_paused = true)]
async fn stale_generation_is_refused() {
    let (c, _) = coordinator();
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    sync_all(&c, "g", &ms, 2).await;
    let mut stale = ms[0].clone();
    stale.generation = 0;
    assert_eq!(heartbeat(&c, "g", &stale).await, 22, "ILLEGAL_GENERATION");
    let resp = c.sync_group(sync_req("g", &stale, vec![]), 5).await;
    assert_eq!(resp.error_code, ResponseError::IllegalGeneration.code());
    let mut unknown = ms[0].clone();
    unknown.id = "ghost".into();
    assert_eq!(heartbeat(&c, "g", &unknown).await, 25, "UNKNOWN_MEMBER_ID");
    assert_eq!(heartbeat(&c, "nogroup", &ms[0]).await, 25);
}
