//! OffsetCommit / OffsetFetch / OffsetDelete / DeleteGroups / ListGroups rules.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::TopicName;

use super::*;

pub(crate) fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    parts: &[(&str, i32, i64, Option<&str>)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (t, p, o, md) in parts {
        let part = OffsetCommitRequestPartition::default()
            .with_partition_index(*p)
            .with_committed_offset(*o)
            .with_committed_leader_epoch(7)
            .with_committed_metadata(md.map(str_bytes));
        match topics.iter_mut().find(|x| x.name.0.as_str() == *t) {
            Some(x) => x.partitions.push(part),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes(*t)))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(str_bytes(member))
        .with_topics(topics)
}

fn codes(resp: &kafka_protocol::messages::OffsetCommitResponse) -> Vec<i16> {
    resp.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

fn fetch_req(group: &str, topics: Option<&[(&str, &[i32])]>) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(str_bytes(*t)))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }))
}

#[tokio::test(start_paused = true)]
async fn simple_consumer_commit_and_fetch() {
    let (c, store) = coordinator();
    let resp = c
        .offset_commit(
            commit_req(
                "simple",
                -1,
                "",
                &[("t", 0, 42, Some("md")), ("t", 1, 7, None)],
            ),
            8,
        )
        .await;
    assert_eq!(codes(&resp), vec![0, 0]);
    assert_eq!(store.commit_calls(), 1, "one store call per request");
    let f = c
        .offset_fetch(fetch_req("simple", Some(&[("t", &[0, 1, 2])])), 7)
        .await;
    let parts = &f.topics[0].partitions;
    assert_eq!(
        (
            parts[0].committed_offset,
            parts[0].committed_leader_epoch,
            parts[0].metadata.as_deref()
        ),
        (42, 7, Some("md"))
    );
    assert_eq!(
        (parts[1].committed_offset, parts[1].metadata.as_deref()),
        (7, Some(""))
    );
    assert_eq!(
        (
            parts[2].committed_offset,
            parts[2].committed_leader_epoch,
            parts[2].error_code
        ),
        (-1, -1, 0)
    );
    // All partitions (null topics).
    let all = c.offset_fetch(fetch_req("simple", None), 7).await;
    assert_eq!(all.topics[0].partitions.len(), 2);
    // v8+: many groups in one request.
    let multi = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes("simple")))
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes("other")))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(str_bytes("t")))
                .with_partition_indexes(vec![0])])),
    ]);
    let m = c.offset_fetch(multi, 8).await;
    assert_eq!(m.groups.len(), 2);
    assert_eq!(m.groups[0].topics[0].partitions[0].committed_offset, 42);
    assert_eq!(m.groups[1].topics[0].partitions[0].committed_offset, -1);
}

#[tokio::test(start_paused = true)]
async fn v0_follows_zookeeper_rules() {
    let (c, _) = coordinator();
    // v0 commits skip the group checks and drop metadata.
    let resp = c
        .offset_commit(
            commit_req("g", 99, "whoever", &[("t", 0, 5, Some("dropped"))]),
            0,
        )
        .await;
    assert_eq!(codes(&resp), vec![0]);
    let f = c
        .offset_fetch(fetch_req("g", Some(&[("t", &[0, 1])])), 0)
        .await;
    let parts = &f.topics[0].partitions;
    assert_eq!(
        (
            parts[0].committed_offset,
            parts[0].metadata.as_deref(),
            parts[0].error_code
        ),
        (5, Some(""), 0)
    );
    assert_eq!(
        (
            parts[1].committed_offset,
            parts[1].metadata.as_deref(),
            parts[1].error_code
        ),
        (-1, Some(""), 3)
    );
}

#[tokio::test(start_paused = true)]
async fn commits_are_checked_against_the_group() {
    let (c, _) = coordinator();
    // No group, but a generation: from a group this coordinator does not know.
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 3, "m", &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![22]
    );
    let ms = join_many(&c, "g", &["".into(), "".into()]).await;
    // Joined but not synced: CompletingRebalance.
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 1, &ms[0].id, &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![27]
    );
    sync_all(&c, "g", &ms, 2).await;
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 1, &ms[0].id, &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![0]
    );
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 0, &ms[0].id, &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![22]
    );
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 1, "ghost", &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![25]
    );
    // A simple consumer may not commit to a group with members.
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", -1, "", &[("t", 0, 1, None)]), 8)
                .await
        ),
        vec![25]
    );
    // Too much metadata.
    let big = "x".repeat(4097);
    assert_eq!(
        codes(
            &c.offset_commit(commit_req("g", 1, &ms[0].id, &[("t", 0, 1, Some(&big))]), 8)
                .await
        ),
        vec![12]
    );
}

#[tokio::test(start_paused = true)]
async fn delete_groups_and_offsets() {
    let (c, _) = coordinator();
    c.offset_commit(
        commit_req("old", -1, "", &[("t", 0, 1, None), ("u", 0, 2, None)]),
        8,
    )
    .await;
    let m = join(&c, "live", "", None).await;
    sync_all(&c, "live", std::slice::from_ref(&m), 1).await;
    c.offset_commit(
        commit_req("live", 1, &m.id, &[("t", 0, 1, None), ("u", 0, 1, None)]),
        8,
    )
    .await;

    let listed = c.list_groups(ListGroupsRequest::default(), 4).await;
    let names: Vec<(&str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.0.as_str(), g.group_state.as_str()))
        .collect();
    assert_eq!(names, vec![("live", "Stable"), ("old", "Empty")]);
    c.set_list_filter(|g| g == "old");
    let filtered = c.list_groups(ListGroupsRequest::default(), 4).await;
    assert_eq!(filtered.groups.len(), 1);
    assert_eq!(filtered.groups[0].group_id.0.as_str(), "old");
    c.set_list_filter(|_| true);
    let stable_only = c
        .list_groups(
            ListGroupsRequest::default().with_states_filter(vec![str_bytes("stable")]),
            4,
        )
        .await;
    assert_eq!(stable_only.groups.len(), 1);

    // OffsetDelete: the live group consumes "t", not "u".
    let del = OffsetDeleteRequest::default()
        .with_group_id(GroupId(str_bytes("live")))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(str_bytes("t")))
                .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(str_bytes("u")))
                .with_partitions(vec![OffsetDeleteRequestPartition::default()]),
        ]);
    let resp = c.offset_delete(del, 0).await;
    assert_eq!(resp.error_code, 0);
    assert_eq!(
        resp.topics[0].partitions[0].error_code,
        ResponseError::GroupSubscribedToTopic.code(),
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    assert_eq!(resp.topics[1].partitions[0].error_code, 0);
    let f = c.offset_fetch(fetch_req("live", None), 7).await;
    assert_eq!(f.topics.len(), 1);
    assert_eq!(f.topics[0].name.0.as_str(), "t");

    let req = DeleteGroupsRequest::default().with_groups_names(vec![
        GroupId(str_bytes("live")),
        GroupId(str_bytes("old")),
        GroupId(str_bytes("none")),
    ]);
    let resp = c.delete_groups(req, 2).await;
    let got: Vec<i16> = resp.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        got,
        vec![68, 0, 69],
        "NON_EMPTY_GROUP, deleted, GROUP_ID_NOT_FOUND"
    );
    let f = c.offset_fetch(fetch_req("old", None), 7).await;
    assert!(f.topics.is_empty());
}

#[tokio::test(start_paused = true)]
async fn names_that_cannot_be_znodes_are_refused() {
    let (c, store) = coordinator();
    let resp = c
        .offset_commit(
            commit_req("g", -1, "", &[("a/b", 0, 1, None), ("ok", 0, 2, None)]),
            8,
        )
        .await;
    assert_eq!(codes(&resp), vec![3, 0], "no such topic can exist");
    let resp = c
        .offset_commit(commit_req("x/y", -1, "", &[("t", 0, 1, None)]), 0)
        .await;
    assert_eq!(codes(&resp), vec![24], "INVALID_GROUP_ID");
    assert_eq!(store.commit_calls(), 1);
    let f = c.offset_fetch(fetch_req("x/y", None), 7).await;
    assert_eq!(f.error_code, ResponseError::InvalidGroupId.code());
    let join = c
        .join_group(join_req("..", "", None, &["t"]), 5, "c", "/h")
        .await;
    assert_eq!(join.error_code, ResponseError::InvalidGroupId.code());
}
