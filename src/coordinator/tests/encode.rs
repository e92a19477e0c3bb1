//! Every response the coordinator builds must encode at every version the glue may be asked
//! for (a nullable field left `None` in a version where it is not nullable fails to encode).

use bytes::BytesMut;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::Encodable;

use super::offsets::commit_req;
use super::*;

fn enc<T: Encodable>(what: &str, m: &T, version: i16) {
    let mut buf = BytesMut::new();
    if let Err(e) = m.encode(&mut buf, version) {
        panic!("{what} v{version} does not encode: {e}");
    }
}

#[tokio::test(start_paused = true)]
async fn every_response_encodes_at_every_version() {
    let (c, _) = coordinator();
    for v in 0..=9 {
        let g = format!("g{v}");
        let first = c
            .join_group(join_req(&g, "", None, &["t"]), v, "client", "/h")
            .await;
        enc("JoinGroup (first)", &first, v);
        let first = if first.error_code == ResponseError::MemberIdRequired.code() {
            c.join_group(
                join_req(&g, &first.member_id, None, &["t"]),
                v,
                "client",
                "/h",
            )
            .await
        } else {
            first
        };
        assert_eq!(first.error_code, 0);
        enc("JoinGroup (joined)", &first, v);
        let bad = c
            .join_group(join_req(&g, "ghost", None, &["t"]), v, "client", "/h")
            .await;
        enc("JoinGroup (error)", &bad, v);
    }
    let m = join(&c, "g", "", None).await;
    for v in 0..=5 {
        let mut req = sync_req("g", &m, vec![(m.id.clone(), Bytes::from_static(b"a"))]);
        if v < 5 {
            req = req.with_protocol_type(None).with_protocol_name(None);
        }
        enc("SyncGroup", &c.sync_group(req.clone(), v).await, v);
        let mut stale = req;
        stale.generation_id = 99;
        enc("SyncGroup (error)", &c.sync_group(stale, v).await, v);
    }
    for v in 0..=4 {
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_member_id(str_bytes(&m.id));
        enc("Heartbeat", &c.heartbeat(req, v).await, v);
    }
    for v in 0..=5 {
        let req = ListGroupsRequest::default();
        enc("ListGroups", &c.list_groups(req, v).await, v);
        let req = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(str_bytes("g")), GroupId(str_bytes("none"))]);
        enc("DescribeGroups", &c.describe_groups(req, v).await, v);
    }
    for v in 0..=9 {
        let req = commit_req(
            "simple",
            -1,
            "",
            &[("t", 0, 1, Some("md")), ("t", 1, 2, None)],
        );
        enc("OffsetCommit", &c.offset_commit(req, v).await, v);
        let req = if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(str_bytes("simple")))
                .with_topics(None)])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(str_bytes("simple")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(str_bytes("t")))
                    .with_partition_indexes(vec![0, 5])]))
        };
        enc("OffsetFetch", &c.offset_fetch(req, v).await, v);
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(str_bytes("simple")))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(str_bytes("t")))
            .with_partitions(vec![OffsetDeleteRequestPartition::default()])]);
    enc("OffsetDelete", &c.offset_delete(req, 0).await, 0);
    for v in 0..=2 {
        let req = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(str_bytes("g")), GroupId(str_bytes("x"))]);
        enc("DeleteGroups", &c.delete_groups(req, v).await, v);
    }
    for v in 0..=5 {
        let req = LeaveGroupRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_member_id(str_bytes(if v < 3 { "ghost" } else { "" }))
            .with_members(if v >= 3 {
                vec![MemberIdentity::default().with_member_id(str_bytes("ghost"))]
            } else {
                vec![]
            });
        enc("LeaveGroup", &c.leave_group(req, v).await, v);
    }
}

/// The glue spawns request handlers on tokio: every future must be `Send`, the coordinator
/// `Send + Sync`.
#[allow(dead_code)]
fn futures_are_send(c: std::sync::Arc<GroupCoordinator>) {
    fn send<T: Send>(_: T) {}
    fn send_sync<T: Send + Sync>(_: &T) {}
    send_sync(&c);
    send(c.join_group(Default::default(), 0, "", ""));
    send(c.sync_group(Default::default(), 0));
    send(c.heartbeat(Default::default(), 0));
    send(c.leave_group(Default::default(), 0));
    send(c.list_groups(Default::default(), 0));
    send(c.describe_groups(Default::default(), 0));
    send(c.delete_groups(Default::default(), 0));
    send(c.offset_commit(Default::default(), 0));
    send(c.offset_fetch(Default::default(), 0));
    send(c.offset_delete(Default::default(), 0));
}
