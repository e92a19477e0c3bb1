//! A partition's leader and follower bookkeeping on a real log: high watermark from the ISR, ISR
//! proposals and their answers, acks=all outcomes, follower truncation.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use kafka_protocol::messages::BrokerId;

use super::{AppendError, Partition};
use crate::client::batch::build_batch;
use crate::log::{Log, LogConfig};

const LAG: i64 = 10_000;

fn partition(dir: &std::path::Path, local: i32) -> Partition {
    let log = Log::open(dir, LogConfig::default(), 0, 0).unwrap();
    Partition::new("t".into(), 0, local, log, 0)
}

fn state(leader: i32, epoch: i32, isr: &[i32]) -> LeaderAndIsrPartitionState {
    LeaderAndIsrPartitionState::default()
        .with_leader(BrokerId(leader))
        .with_leader_epoch(epoch)
        .with_partition_epoch(epoch)
        .with_isr(isr.iter().map(|b| BrokerId(*b)).collect())
        .with_replicas(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
}

fn records(n: usize) -> Bytes {
    build_batch(&Bytes::from_static(b"v"), n, 1_000).unwrap()
}

#[test]
fn high_watermark_waits_for_every_isr_member() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 1);
    assert!(p.apply_leader_and_isr(&state(1, 0, &[1, 2, 3]), 0).unwrap());
    p.append_as_leader(&records(5), -1, 0).unwrap();
    assert_eq!(p.high_watermark(), 0);
    assert_eq!(p.record_follower_fetch(2, 5, 0, 10, 100), None);
    assert_eq!(p.high_watermark(), 0);
    assert_eq!(p.record_follower_fetch(3, 3, 0, 11, 100), None);
    assert_eq!(p.high_watermark(), 3);
    p.record_follower_fetch(3, 5, 0, 11, 200);
    assert_eq!(p.high_watermark(), 5);
    // The same LeaderAndIsr again changes nothing.
    assert!(!p
        .apply_leader_and_isr(&state(1, 0, &[1, 2, 3]), 300)
        .unwrap());
    assert_eq!(
        p.apply_leader_and_isr(&state(1, -1, &[1]), 300),
        Err(ResponseError::StaleControllerEpoch)
    );
}

#[test]
fn shrink_is_proposed_once_and_committed_by_the_controller() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 1);
    p.apply_leader_and_isr(&state(1, 4, &[1, 2, 3]), 0).unwrap();
    p.append_as_leader(&records(5), -1, 0).unwrap();
    p.record_follower_fetch(2, 5, 0, 22, 1_000);
    p.record_follower_fetch(3, 1, 0, 33, 1_000);
    assert_eq!(p.maybe_shrink_isr(LAG, LAG), None);
    let proposal = p.maybe_shrink_isr(LAG + 1, LAG).unwrap();
    assert_eq!(proposal.new_isr, vec![1, 2]);
    assert_eq!(proposal.broker_epochs, vec![-1, 22]);
    assert_eq!((proposal.leader_epoch, proposal.partition_epoch), (4, 4));
    // One proposal at a time; while pending the old (larger) ISR still holds the high watermark.
    assert_eq!(p.maybe_shrink_isr(LAG + 2, LAG), None);
    assert_eq!(p.high_watermark(), 1);
    p.apply_isr_update(4, Ok((vec![1, 2], 5)));
    let role = p.role();
    assert_eq!(
        (role.isr, role.partition_epoch, role.pending_isr),
        (vec![1, 2], 5, None)
    );
    assert_eq!(p.high_watermark(), 5);
}

#[test]
fn expansion_waits_for_the_high_watermark_and_fenced_answers_wait_for_leader_and_isr() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path(), 1);
    p.apply_leader_and_isr(&state(1, 2, &[1, 2]), 0).unwrap();
    p.append_as_leader(&records(4), -1, 0).unwrap();
    p.record_follower_fetch(2, 4, 0, -1, 10);
    assert_eq!(p.high_watermark(), 4);
    assert_eq!(p.record_follower_fetch(3, 2, 0, -1, 10), None);
    let proposal = p.record_follower_fetch(3, 4, 0, 7, 20).unwrap();
    assert_eq!(proposal.new_isr, vec![1, 2, 3]);
    assert_eq!(proposal.broker_epochs, vec![-1, -1, 7]);
    // A stale partition epoch keeps the proposal pending: nothing new until LeaderAndIsr.
    p.apply_isr_update(2, Err(ResponseError::InvalidUpdateVersion));
    assert!(p.role().pending_isr.is_some());
    assert_eq!(p.record_follower_fetch(3, 4, 0, 7, 30), None);
    p.apply_leader_and_isr(&state(1, 2, &[1, 2]), 40).unwrap();
    assert!(p.role().pending_isr.is_none());
    // Other failures drop it, so the next fetch proposes again.
    let again = p.record_follower_fetch(3, 4, 0, 7, 50).unwrap();
    p.apply_isr_update(2, Err(ResponseError::UnknownServerError));
    assert!(p.role().pending_isr.is_none());
    assert_eq!(p.record_follower_fetch(3, 4, 0, 7, 60), Some(again));
}

#[tokio::test]
async fn acks_all_fails_when_the_isr_shrinks_below_min_insync() {
    let dir = tempfile::tempdir().unwrap();
    let p = std::sync::Arc::new(partition(dir.path(), 1));
    p.set_min_insync_replicas(2);
    p.apply_leader_and_isr(&state(1, 0, &[1, 2]), 0).unwrap();
    let info = p.append_as_leader(&records(3), -1, 0).unwrap();
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move {
            p.wait_for_acks_all(info.last_offset + 1, Duration::from_secs(10))
                .await
        })
    };
    let proposal = p.maybe_shrink_isr(LAG + 1, LAG).unwrap();
    assert_eq!(proposal.new_isr, vec![1]);
    p.apply_isr_update(0, Ok((vec![1], 1)));
    assert_eq!(
        waiter.await.unwrap(),
        Err(ResponseError::NotEnoughReplicasAfterAppend)
    );
    // Back to two members: acks=all succeeds once the follower has the records.
    p.apply_leader_and_isr(&state(1, 1, &[1, 2]), 0).unwrap();
    let info = p.append_as_leader(&records(1), -1, 0).unwrap();
    p.record_follower_fetch(2, info.last_offset + 1, 0, -1, 0);
    let done = p.wait_for_acks_all(info.last_offset + 1, Duration::from_secs(1));
    assert_eq!(done.await, Ok(()));
    p.apply_leader_and_isr(&state(2, 2, &[2]), 0).unwrap();
    let moved = p.wait_for_acks_all(info.last_offset + 2, Duration::from_secs(1));
    assert_eq!(moved.await, Err(ResponseError::NotLeaderOrFollower));
}

#[test]
fn follower_appends_truncates_and_follows_the_leader_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let leader_dir = tempfile::tempdir().unwrap();
    let leader = partition(leader_dir.path(), 1);
    leader.apply_leader_and_isr(&state(1, 3, &[1]), 0).unwrap();
    leader.append_as_leader(&records(4), 1, 0).unwrap();
    leader.append_as_leader(&records(2), 1, 0).unwrap();
    let fetched = leader.reader().read(0, 1 << 20, 6, true).unwrap();

    let p = partition(dir.path(), 2);
    p.apply_leader_and_isr(&state(1, 3, &[1, 2]), 0).unwrap();
    p.append_as_follower(&fetched).unwrap();
    let position = p.fetch_position();
    assert_eq!(
        (position.log_end_offset, position.latest_epoch),
        (6, Some(3))
    );
    p.set_follower_high_watermark(100);
    assert_eq!(p.high_watermark(), 6);
    p.set_follower_high_watermark(4);
    assert_eq!(p.high_watermark(), 4);
    p.truncate_to(4, "test").unwrap();
    assert_eq!(p.fetch_position().log_end_offset, 4);
    assert_eq!(*p.subscribe_log_end().borrow(), 4);
    p.truncate_fully_and_start_at(50).unwrap();
    let position = p.fetch_position();
    assert_eq!(
        (
            position.log_start_offset,
            position.log_end_offset,
            position.high_watermark
        ),
        (50, 50, 50)
    );
}

#[test]
fn controller_refusals_are_logged_by_their_kafka_names() {
    use super::error_name;
    assert_eq!(
        error_name(ResponseError::Unknown(107)),
        "INELIGIBLE_REPLICA"
    );
    assert_eq!(
        error_name(ResponseError::Unknown(108)),
        "NEW_LEADER_ELECTED"
    );
    assert_eq!(error_name(ResponseError::Unknown(999)), "error code 999");
    assert_eq!(
        error_name(ResponseError::FencedLeaderEpoch),
        "FencedLeaderEpoch"
    );
}

/// The produce path gets Kafka's per-record errors and summary message, not only the code.
#[test]
fn record_errors_reach_the_produce_path() {
    use crate::log::{LogError, RecordError};
    let errors = vec![RecordError {
        batch_index: 4,
        message: "no key".into(),
    }];
    let e = AppendError::from(LogError::RecordErrors(errors.clone()));
    assert_eq!(e.error, ResponseError::InvalidRecord);
    assert_eq!(e.record_errors, errors);
    assert!(e
        .message
        .unwrap()
        .ends_with("[RecordError(batchIndex=4, message='no key')]"));
    let e = AppendError::from(LogError::Corrupt("crc".into()));
    assert_eq!(e.error, ResponseError::CorruptMessage);
    assert!(e.record_errors.is_empty() && e.message.is_none());
}
