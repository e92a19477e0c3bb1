//! One replica fetcher (Kafka's `ReplicaFetcherThread` on `AbstractFetcherThread`): a task with one
//! connection to a leader that first truncates newly added partitions to where they agree with the
//! leader (OffsetForLeaderEpoch), then fetches them in one FetchRequest after another.
//!
//! The partitions live in a map shared with the [`super::fetcher_manager`]; a response is applied
//! only to partitions still there with the same leader epoch, so a LeaderAndIsr that arrives while a
//! fetch is in flight wins.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::fetcher_io::{self, FetchOutcome, PartitionRequest};
use super::partition::Partition;
use super::truncation::truncation_offset;
use super::TopicPartition;
use crate::client::{
    list_offset_as, ClientError, Connection, DEBUGGING_REPLICA_ID, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
};

/// The `replica.*` settings a fetcher uses.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    pub broker_id: i32,
    /// This broker's registration czxid, sent in Fetch v15+ (it changes after a session expiry).
    pub broker_epoch: Arc<AtomicI64>,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub response_max_bytes: i32,
    pub partition_max_bytes: i32,
    pub backoff: Duration,
    pub socket_timeout: Duration,
    /// The replication throttles; the follower quota limits throttled partitions' fetches.
    pub quota: Arc<super::ReplicationQuotas>,
}

/// Where a partition is in the follower protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Must find the divergence point with the leader before fetching.
    Truncating,
    Fetching,
}

pub(super) struct FetchState {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
    pub phase: Phase,
    /// After an error the partition rests until then (`replica.fetch.backoff.ms`).
    pub delayed_until: Option<Instant>,
    /// Whether the last fetch brought this replica up to the leader's high watermark (Kafka's
    /// `PartitionFetchState.isReplicaInSync`): such a partition is never throttled.
    pub in_sync: bool,
}

/// The partitions of one fetcher, shared with its manager.
#[derive(Default)]
pub(super) struct Shared {
    partitions: Mutex<HashMap<TopicPartition, FetchState>>,
    /// Signalled when partitions are added, so an idle fetcher starts at once.
    added: Notify,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, HashMap<TopicPartition, FetchState>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, partition: Arc<Partition>, leader_epoch: i32) {
        let tp = TopicPartition::new(&partition.topic, partition.index);
        self.lock().insert(
            tp,
            FetchState {
                partition,
                leader_epoch,
                phase: Phase::Truncating,
                delayed_until: None,
                in_sync: false,
            },
        );
        self.added.notify_one();
    }

    /// Partitions ready now, by phase, and the earliest time a delayed one becomes ready. A
    /// partition the follower quota throttles (Kafka's `shouldFollowerThrottle`) is left out and
    /// looked at again after `backoff`, as Kafka's fetcher waits when it has nothing to fetch.
    fn ready(
        &self,
        now: Instant,
        config: &FetcherConfig,
    ) -> (
        Vec<PartitionRequest>,
        Vec<PartitionRequest>,
        Option<Instant>,
    ) {
        let mut truncating = Vec::new();
        let mut fetching = Vec::new();
        let mut next: Option<Instant> = None;
        for state in self.lock().values_mut() {
            match state.delayed_until {
                Some(t) if t > now => {
                    next = Some(next.map_or(t, |n| n.min(t)));
                    continue;
                }
                _ => state.delayed_until = None,
            }
            if state.phase == Phase::Fetching && should_follower_throttle(state, config) {
                let t = now + config.backoff;
                next = Some(next.map_or(t, |n| n.min(t)));
                continue;
            }
            let req = PartitionRequest {
                partition: state.partition.clone(),
                leader_epoch: state.leader_epoch,
            };
            match state.phase {
                Phase::Truncating => truncating.push(req),
                Phase::Fetching => fetching.push(req),
            }
        }
        (truncating, fetching, next)
    }
}

/// Kafka's `shouldFollowerThrottle`: not in sync, throttled here, and the quota exceeded.
fn should_follower_throttle(state: &FetchState, config: &FetcherConfig) -> bool {
    let quota = &config.quota.follower;
    let p = &state.partition;
    !state.in_sync && quota.is_throttled(&p.topic, p.index) && quota.is_quota_exceeded()
}

/// Runs one fetcher until `stop` or `shutdown` turns true.
pub(super) async fn run(
    leader: i32,
    addr: String,
    config: FetcherConfig,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client_id = format!("replica-fetcher-{}-from-{}", config.broker_id, leader);
    let mut conn: Option<Connection> = None;
    // Consecutive connection failures: the first is a warning, the rest of an outage is debug.
    let mut failures = 0u32;
    loop {
        if *stop.borrow() || *shutdown.borrow() {
            break;
        }
        let (truncating, fetching, next) = shared.ready(Instant::now(), &config);
        if truncating.is_empty() && fetching.is_empty() {
            let delayed = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shared.added.notified() => {}
                _ = delayed => {}
                _ = stop.changed() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let c = match &conn {
            Some(c) if !c.is_closed() => c,
            _ => match connect(&addr, &client_id, &config).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    if failures == 0 {
                        warn!(leader, %addr, error = %e, "replica fetcher cannot connect to the leader");
                    } else {
                        debug!(leader, %addr, error = %e, failures, "replica fetcher still cannot connect");
                    }
                    failures += 1;
                    conn = None;
                    backoff(&config, &mut stop, &mut shutdown).await;
                    continue;
                }
            },
        };
        let work = async {
            if !truncating.is_empty() {
                truncate(c, &config, &shared, truncating).await?;
            }
            if !fetching.is_empty() {
                fetch(c, &config, &shared, fetching).await?;
            }
            Ok::<(), ClientError>(())
        };
        let result = tokio::select! {
            r = work => r,
            _ = stop.changed() => break,
            _ = shutdown.changed() => break,
        };
        if result.is_ok() {
            failures = 0;
        }
        if let Err(e) = result {
            if failures == 0 {
                warn!(leader, %addr, error = %e, "replica fetch failed; reconnecting after backoff");
            } else {
                debug!(leader, %addr, error = %e, failures, "replica fetch failed again");
            }
            failures += 1;
            conn = None;
            backoff(&config, &mut stop, &mut shutdown).await;
        }
    }
    debug!(leader, %addr, "replica fetcher stopped");
}

async fn connect(
    addr: &str,
    client_id: &str,
    config: &FetcherConfig,
) -> Result<Connection, ClientError> {
    let conn = Connection::connect_inter_broker(addr, client_id, config.socket_timeout)
        .await?
        .with_request_timeout(config.socket_timeout);
    conn.api_versions().await?;
    Ok(conn)
}

async fn backoff(
    config: &FetcherConfig,
    stop: &mut watch::Receiver<bool>,
    shutdown: &mut watch::Receiver<bool>,
) {
    tokio::select! {
        _ = tokio::time::sleep(config.backoff) => {}
        _ = stop.changed() => {}
        _ = shutdown.changed() => {}
    }
}

/// Runs `f` on a partition's state, with the fetcher's map locked, if it is still fetched in
/// `leader_epoch`. Holding the lock while the log changes means a LeaderAndIsr that removes the
/// partition (it became leader, or follows someone else) waits for this step and is never followed
/// by a stale append or truncation.
fn with_current(
    shared: &Shared,
    tp: &TopicPartition,
    leader_epoch: i32,
    phase: Phase,
    f: impl FnOnce(&mut FetchState) -> Step,
) {
    let mut map = shared.lock();
    let Some(state) = map.get_mut(tp) else {
        return;
    };
    if state.leader_epoch != leader_epoch || state.phase != phase {
        return;
    }
    match f(state) {
        Step::Keep => {}
        Step::Remove => {
            map.remove(tp);
        }
    }
}

/// Whether a partition stays in the fetcher after a step.
enum Step {
    Keep,
    Remove,
}

/// Truncates per `decision`; afterwards the partition fetches, or asks again when the decision was
/// an intermediate one. A storage error rests the partition.
fn apply_truncation(
    state: &mut FetchState,
    offset: i64,
    complete: bool,
    reason: &str,
    config: &FetcherConfig,
) -> Step {
    match state.partition.truncate_to(offset, reason) {
        Ok(()) => {
            state.phase = if complete {
                Phase::Fetching
            } else {
                Phase::Truncating
            };
        }
        Err(e) => {
            warn!(topic = %state.partition.topic, partition = state.partition.index, error = %e,
                "truncation failed");
            state.delayed_until = Some(Instant::now() + config.backoff);
        }
    }
    Step::Keep
}

fn rest(state: &mut FetchState, config: &FetcherConfig) -> Step {
    state.delayed_until = Some(Instant::now() + config.backoff);
    Step::Keep
}

/// The truncation decision for the leader's `(epoch, end_offset)` against our log.
fn decide(p: &Partition, epoch: i32, end_offset: i64) -> super::truncation::Truncation {
    let position = p.fetch_position();
    truncation_offset(
        epoch,
        end_offset,
        position.log_end_offset,
        position.high_watermark,
        |e| p.end_offset_for_epoch(e),
    )
}

/// Asks the leader where each partition's latest epoch ends and truncates there (KIP-101/279). A
/// partition with no epoch in its log truncates to its high watermark without asking.
async fn truncate(
    conn: &Connection,
    config: &FetcherConfig,
    shared: &Shared,
    parts: Vec<PartitionRequest>,
) -> Result<(), ClientError> {
    let mut ask = Vec::new();
    for req in parts {
        let tp = TopicPartition::new(&req.partition.topic, req.partition.index);
        match req.partition.fetch_position().latest_epoch {
            Some(epoch) => ask.push((req, epoch)),
            None => with_current(shared, &tp, req.leader_epoch, Phase::Truncating, |state| {
                let hw = state.partition.high_watermark();
                apply_truncation(
                    state,
                    hw,
                    true,
                    "no leader epochs: to the high watermark",
                    config,
                )
            }),
        }
    }
    if ask.is_empty() {
        return Ok(());
    }
    let answers = fetcher_io::offsets_for_leader_epoch(conn, config.broker_id, &ask).await?;
    for ((req, _), answer) in ask.iter().zip(answers) {
        let tp = TopicPartition::new(&req.partition.topic, req.partition.index);
        with_current(shared, &tp, req.leader_epoch, Phase::Truncating, |state| {
            let p = &state.partition;
            match answer {
                Ok((epoch, end_offset)) => {
                    let decision = decide(p, epoch, end_offset);
                    let reason = format!("leader epoch {epoch} ends at {end_offset} on the leader");
                    apply_truncation(state, decision.offset, decision.complete, &reason, config)
                }
                Err(e) if fetcher_io::is_fenced(&e) => {
                    info!(topic = %p.topic, partition = p.index, leader_epoch = req.leader_epoch,
                        error = ?e, "leader refused OffsetForLeaderEpoch; waiting for the next LeaderAndIsr");
                    Step::Remove
                }
                Err(e) => {
                    debug!(topic = %p.topic, partition = p.index, error = ?e, "OffsetForLeaderEpoch failed");
                    rest(state, config)
                }
            }
        });
    }
    Ok(())
}

/// One FetchRequest for every fetching partition, and what its answer means for each.
async fn fetch(
    conn: &Connection,
    config: &FetcherConfig,
    shared: &Shared,
    parts: Vec<PartitionRequest>,
) -> Result<(), ClientError> {
    let outcomes = fetcher_io::fetch(conn, config, &parts).await?;
    for (req, outcome) in parts.iter().zip(outcomes) {
        let p = &req.partition;
        let tp = TopicPartition::new(&p.topic, p.index);
        if let FetchOutcome::OutOfRange = outcome {
            // Needs more requests to the leader, so it runs without the lock; the log operations
            // it ends with are rare and idempotent.
            let current = shared
                .lock()
                .get(&tp)
                .is_some_and(|s| s.leader_epoch == req.leader_epoch);
            if current {
                if let Err(e) = handle_out_of_range(conn, p).await {
                    debug!(topic = %p.topic, partition = p.index, error = %e, "out-of-range recovery failed");
                    with_current(shared, &tp, req.leader_epoch, Phase::Fetching, |s| {
                        rest(s, config)
                    });
                }
            }
            continue;
        }
        with_current(shared, &tp, req.leader_epoch, Phase::Fetching, |state| {
            process(state, outcome, config)
        });
    }
    Ok(())
}

/// Applies one partition's fetch outcome (the fetcher's map is locked).
fn process(state: &mut FetchState, outcome: FetchOutcome, config: &FetcherConfig) -> Step {
    let p = state.partition.clone();
    match outcome {
        FetchOutcome::Data {
            records,
            high_watermark,
            log_start_offset,
        } => {
            if let Some(bytes) = records.filter(|b| !b.is_empty()) {
                if let Err(e) = p.append_as_follower(&bytes) {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "follower append failed");
                    return rest(state, config);
                }
                let quota = &config.quota.follower;
                if quota.is_throttled(&p.topic, p.index) {
                    quota.record(bytes.len());
                }
            }
            state.in_sync = p.reader().log_end_offset() >= high_watermark;
            p.set_follower_high_watermark(high_watermark);
            if let Err(e) = p.follow_log_start_offset(log_start_offset) {
                warn!(topic = %p.topic, partition = p.index, error = %e, "cannot move the log start");
            }
            Step::Keep
        }
        FetchOutcome::Diverging { epoch, end_offset } => {
            let decision = decide(&p, epoch, end_offset);
            let reason = format!("diverging epoch {epoch} ends at {end_offset} on the leader");
            apply_truncation(state, decision.offset, decision.complete, &reason, config)
        }
        FetchOutcome::Fenced(e) => {
            info!(topic = %p.topic, partition = p.index, leader_epoch = state.leader_epoch, error = ?e,
                "leader refused the fetch; waiting for the next LeaderAndIsr");
            Step::Remove
        }
        FetchOutcome::Failed(e) => {
            debug!(topic = %p.topic, partition = p.index, error = ?e, "fetch error");
            rest(state, config)
        }
        // Handled by the caller, which may await.
        FetchOutcome::OutOfRange => Step::Keep,
    }
}

#[derive(Debug, thiserror::Error)]
enum OutOfRangeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
}

/// Kafka's `fetchOffsetAndTruncate`: a leader whose log ends before ours means we have records it
/// lost (truncate to its end); a leader whose log starts after ours ends means retention moved past
/// us (empty our log and start at its log start).
async fn handle_out_of_range(conn: &Connection, p: &Partition) -> Result<(), OutOfRangeError> {
    let leo = p.fetch_position().log_end_offset;
    // As Kafka's fetcher: the leader's whole log, not its high watermark.
    let leader_offset = |ts| list_offset_as(conn, DEBUGGING_REPLICA_ID, &p.topic, p.index, ts);
    let leader_end = leader_offset(LATEST_TIMESTAMP).await?;
    if leader_end < leo {
        p.truncate_to(leader_end, "our log end is beyond the leader's")?;
        return Ok(());
    }
    let leader_start = leader_offset(EARLIEST_TIMESTAMP).await?;
    if leader_start > leo {
        p.truncate_fully_and_start_at(leader_start)?;
    }
    Ok(())
}
