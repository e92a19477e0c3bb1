//! Fetch: serve stored batches as they are on disk (no decoding), up to the high watermark for consumers
//! and the log end for followers, long-polling on the partitions' change signals until `min_bytes` is
//! there or `max_wait_ms` passes. The batches are never read: each partition's records are a range of
//! a segment file in the response body, sent from the page cache with `sendfile(2)`
//! ([`super::fetch_encode`]). Consumers and followers take the same path.
//!
//! Follower fetches (replica id >= 0) are believed only from a current replica of the partition
//! ([`super::follower_epochs`]); they must reach the leader; they report the follower's log end (its
//! fetch offset), which moves the high watermark and the ISR, and from v12 a follower whose last
//! fetched epoch diverges from our log gets the diverging epoch instead of records (KIP-320).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::watch;
use uuid::Uuid;

use super::fetch_encode::encode_fetch_response;
use super::{reply_body, KafkaApis};
use crate::log::LogError;
use crate::metadata::str_bytes;
use crate::network::{FileRange, Reply};
use crate::replica::{log_error_code, Partition, ReplicaManager};

/// One requested partition, resolved once.
struct Wanted {
    topic: usize,
    index: i32,
    fetch_offset: i64,
    max_bytes: usize,
    leader_epoch: i32,
    /// The follower's newest epoch (v12+), -1 when not given.
    last_fetched_epoch: i32,
    partition: Result<Arc<Partition>, ResponseError>,
}

/// Who is fetching: a consumer (replica id < 0) or a follower with its broker epoch.
#[derive(Clone, Copy)]
struct Fetcher {
    replica_id: i32,
    broker_epoch: i64,
}

/// Kafka's leader-epoch fencing of fetches and offset requests (KIP-320).
pub(super) fn check_leader_epoch(
    partition: &Partition,
    requested: i32,
) -> Result<(), ResponseError> {
    let current = partition.role().leader_epoch;
    if requested == -1 || requested == current {
        Ok(())
    } else if requested > current {
        Err(ResponseError::UnknownLeaderEpoch)
    } else {
        Err(ResponseError::FencedLeaderEpoch)
    }
}

impl KafkaApis {
    pub(super) async fn fetch(&self, req: FetchRequest, version: i16, listener: &str) -> Reply {
        let (replica_id, broker_epoch) = if version >= 15 {
            (
                req.replica_state.replica_id.0,
                req.replica_state.replica_epoch,
            )
        } else {
            (req.replica_id.0, -1)
        };
        let follower = replica_id >= 0;
        let refused = if follower {
            self.authorize_follower_fetch(replica_id, version, broker_epoch, listener)
                .await
                .err()
        } else {
            None
        };
        let fetcher = Fetcher {
            replica_id,
            broker_epoch,
        };
        let replicas = self.replicas.clone();
        let view = self.metadata.snapshot();
        let mut topics: Vec<(TopicName, Uuid)> = Vec::new();
        let mut wanted = Vec::new();
        for t in &req.topics {
            // v13+ names topics by id only.
            let name = if version >= 13 {
                view.topic_names.get(&t.topic_id).cloned()
            } else {
                Some(t.topic.0.to_string())
            };
            topics.push((
                TopicName(str_bytes(name.clone().unwrap_or_default())),
                t.topic_id,
            ));
            for p in &t.partitions {
                let partition = match (&name, refused) {
                    (_, Some(refusal)) => Err(refusal),
                    (None, None) => Err(ResponseError::UnknownTopicId),
                    (Some(n), None) => match self.replicas.partition(n, p.partition) {
                        // Kafka's "fetch request from non-replica".
                        Some(part) if follower && !part.role().replicas.contains(&replica_id) => {
                            Err(ResponseError::NotLeaderOrFollower)
                        }
                        Some(part) if part.is_leader() => Ok(part),
                        Some(_) => Err(ResponseError::NotLeaderOrFollower),
                        None if self.replicas.is_offline(n, p.partition) => {
                            Err(ResponseError::KafkaStorageError)
                        }
                        None if view.partition(n, p.partition).is_some() => {
                            Err(ResponseError::NotLeaderOrFollower)
                        }
                        None => Err(ResponseError::UnknownTopicOrPartition),
                    },
                };
                wanted.push(Wanted {
                    topic: topics.len() - 1,
                    index: p.partition,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes.max(0) as usize,
                    leader_epoch: if version >= 9 {
                        p.current_leader_epoch
                    } else {
                        -1
                    },
                    last_fetched_epoch: if version >= 12 {
                        p.last_fetched_epoch
                    } else {
                        -1
                    },
                    partition,
                });
            }
        }
        let min_bytes = req.min_bytes.max(0) as usize;
        let requested = if version >= 3 {
            req.max_bytes.max(0) as usize
        } else {
            usize::MAX
        };
        // Kafka caps consumer fetches at the broker's `fetch.max.bytes`; followers are not capped.
        let max_bytes = if follower {
            requested
        } else {
            requested.min(usize::try_from(self.config.fetch_max_bytes).unwrap_or(0))
        };
        let max_wait = capped_wait(req.max_wait_ms);

        let first = read_all(&wanted, max_bytes, fetcher, &replicas);
        if max_wait.is_zero() || first.bytes >= min_bytes.max(1) || first.errors {
            return fetch_reply(topics, &wanted, first, version);
        }
        // Long poll: wait for any of these partitions to get new data, then read again. The connection
        // keeps reading requests meanwhile; responses still leave in order.
        let mut signals: Vec<watch::Receiver<i64>> = wanted
            .iter()
            .filter_map(|w| w.partition.as_ref().ok())
            .map(|p| {
                if follower {
                    p.subscribe_log_end()
                } else {
                    p.subscribe()
                }
            })
            .collect();
        let deadline = tokio::time::Instant::now() + max_wait;
        Reply::Later(Box::pin(async move {
            while !signals.is_empty() {
                let outcome = {
                    let changed = select_all(signals.iter_mut().map(|rx| Box::pin(rx.changed())));
                    tokio::time::timeout_at(deadline, changed)
                        .await
                        .map(|(result, i, _)| (result.is_ok(), i))
                };
                match outcome {
                    Err(_) => break,
                    Ok((false, i)) => {
                        // That partition went away; keep waiting on the others.
                        signals.swap_remove(i);
                    }
                    Ok((true, _)) => {
                        let read = read_all(&wanted, max_bytes, fetcher, &replicas);
                        if read.bytes >= min_bytes || read.errors {
                            return reply_body(fetch_reply(topics, &wanted, read, version));
                        }
                    }
                }
            }
            tokio::time::sleep_until(deadline).await;
            let read = read_all(&wanted, max_bytes, fetcher, &replicas);
            reply_body(fetch_reply(topics, &wanted, read, version))
        }))
    }
}

/// The longest a Fetch is held waiting for `min_bytes`: clients ask for far less (Kafka's
/// consumers 500 ms, followers `replica.fetch.wait.max.ms`), and a client asking for more would
/// give up at its own `request.timeout.ms` (30 s by default) anyway. Kafka caps nothing, but a cap
/// keeps a hostile `max_wait_ms` from parking a request (and the shutdown that waits for it) for
/// days; the answer at the cap is the ordinary one for a wait that ran out.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);

fn capped_wait(max_wait_ms: i32) -> Duration {
    Duration::from_millis(max_wait_ms.max(0) as u64).min(MAX_FETCH_WAIT)
}

/// One pass over the wanted partitions.
struct Read {
    /// The partition responses, in `wanted` order.
    data: Vec<PartitionData>,
    /// Each partition's records as a range of a segment file (`None`: no records).
    records: Vec<Option<FileRange>>,
    /// Record bytes found, counted against `max_bytes` and `min_bytes`.
    bytes: usize,
    /// Whether any partition has an error (which ends a long poll at once, as in Kafka).
    errors: bool,
}

/// Reads every wanted partition once: finds the stored batches to send, without reading them.
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    fetcher: Fetcher,
    replicas: &ReplicaManager,
) -> Read {
    let replica_id = fetcher.replica_id;
    let mut total = 0usize;
    let mut errors = false;
    let mut out = Vec::with_capacity(wanted.len());
    let mut records = Vec::with_capacity(wanted.len());
    for w in wanted {
        records.push(None);
        let mut data = PartitionData::default()
            .with_partition_index(w.index)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_records(Some(Bytes::new()));
        let partition = match &w.partition {
            Ok(p) => p,
            Err(e) => {
                data.error_code = e.code();
                errors = true;
                out.push(data);
                continue;
            }
        };
        let hw = partition.high_watermark();
        let reader = partition.reader();
        data.high_watermark = hw;
        data.last_stable_offset = hw;
        data.log_start_offset = reader.log_start_offset();
        if let Err(e) = check_leader_epoch(partition, w.leader_epoch) {
            data.error_code = e.code();
            errors = true;
            out.push(data);
            continue;
        }
        if replica_id >= 0 && w.last_fetched_epoch >= 0 {
            match diverging_epoch(partition, w.last_fetched_epoch, w.fetch_offset) {
                Ok(None) => {}
                Ok(Some((epoch, end_offset))) => {
                    data.diverging_epoch.epoch = epoch;
                    data.diverging_epoch.end_offset = end_offset;
                    out.push(data);
                    continue;
                }
                Err(e) => {
                    data.error_code = e.code();
                    errors = true;
                    out.push(data);
                    continue;
                }
            }
        }
        let upper = if replica_id >= 0 {
            reader.log_end_offset()
        } else {
            hw
        };
        let budget = w.max_bytes.min(max_bytes.saturating_sub(total));
        match reader.read_slice(w.fetch_offset, budget, upper, total == 0) {
            Ok(slice) => {
                if let Some(slice) = slice {
                    total += slice.len;
                    if let Some(last) = records.last_mut() {
                        *last = Some(FileRange {
                            file: slice.file().clone(),
                            position: slice.position,
                            len: slice.len,
                        });
                    }
                }
                if replica_id >= 0 {
                    replicas.follower_fetched(
                        partition,
                        replica_id,
                        w.fetch_offset,
                        fetcher.broker_epoch,
                    );
                    // The follower's fetch may have moved the high watermark.
                    data.high_watermark = partition.high_watermark();
                    data.last_stable_offset = data.high_watermark;
                }
            }
            Err(e @ LogError::OffsetOutOfRange { .. }) => {
                data.error_code = log_error_code(&e).code();
                errors = true;
            }
            Err(e) => {
                tracing::warn!(topic = %partition.topic, partition = w.index, error = %e, "fetch read failed");
                data.error_code = log_error_code(&e).code();
                errors = true;
            }
        }
        out.push(data);
    }
    crate::metrics::fetched(fetcher.replica_id >= 0, total);
    Read {
        data: out,
        records,
        bytes: total,
        errors,
    }
}

/// Kafka's divergence check for a follower's `last_fetched_epoch`: where that epoch ends on our log;
/// `Some` when it ends before the fetch offset or we only know a lower epoch (the follower must
/// truncate). An epoch we cannot place at all is OFFSET_OUT_OF_RANGE, as in Kafka.
fn diverging_epoch(
    partition: &Partition,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Result<Option<(i32, i64)>, ResponseError> {
    match partition.end_offset_for_epoch(last_fetched_epoch) {
        None => Err(ResponseError::OffsetOutOfRange),
        Some((epoch, end)) if end < fetch_offset || epoch < last_fetched_epoch => {
            Ok(Some((epoch, end)))
        }
        Some(_) => Ok(None),
    }
}

fn fetch_reply(
    topics: Vec<(TopicName, Uuid)>,
    wanted: &[Wanted],
    read: Read,
    version: i16,
) -> Reply {
    let mut files: Vec<Vec<Option<FileRange>>> = vec![Vec::new(); topics.len()];
    let mut responses: Vec<FetchableTopicResponse> = topics
        .into_iter()
        .map(|(name, id)| {
            let mut t = FetchableTopicResponse::default();
            if version >= 13 {
                t.topic_id = id;
            } else {
                t.topic = name;
            }
            t
        })
        .collect();
    for ((w, d), r) in wanted.iter().zip(read.data).zip(read.records) {
        responses[w.topic].partitions.push(d);
        files[w.topic].push(r);
    }
    let resp = FetchResponse::default().with_responses(responses);
    match encode_fetch_response(resp, files, version) {
        Ok(b) => Reply::Now(Some(b)),
        Err(e) => Reply::Close(format!("cannot encode fetch response v{version}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    use crate::client::batch::build_batch;
    use crate::log::{Log, LogConfig};
    use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
    use kafka_protocol::messages::BrokerId;

    #[test]
    fn fetch_waits_are_capped_and_negative_ones_do_not_wait() {
        assert_eq!(capped_wait(500), Duration::from_millis(500));
        assert_eq!(capped_wait(i32::MAX), Duration::from_secs(30));
        assert_eq!(capped_wait(-1), Duration::ZERO);
    }

    /// A leader log with epoch 0 at offsets 0..5 and epoch 2 at 5..8.
    fn leader(dir: &std::path::Path) -> Partition {
        let log = Log::open(dir, LogConfig::default(), 0, 0).unwrap();
        let p = Partition::new("t".into(), 0, 1, log, 0);
        let state = LeaderAndIsrPartitionState::default()
            .with_leader(BrokerId(1))
            .with_leader_epoch(2)
            .with_isr(vec![BrokerId(1)])
            .with_replicas(vec![BrokerId(1)]);
        p.apply_leader_and_isr(&state, 0).unwrap();
        let batch = |n| build_batch(&Bytes::from_static(b"v"), n, 0).unwrap();
        p.with_log(|log| {
            log.append_as_leader(&BytesMut::from(&batch(5)[..]), 0, 0)
                .unwrap();
            log.append_as_leader(&BytesMut::from(&batch(3)[..]), 2, 0)
                .unwrap();
        });
        p
    }

    #[test]
    fn diverging_epoch_follows_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader(dir.path());
        // Consistent: epoch 0 ends at 5 on the leader too, and the follower is within it.
        assert_eq!(diverging_epoch(&p, 0, 5), Ok(None));
        assert_eq!(diverging_epoch(&p, 2, 8), Ok(None));
        // The follower has epoch-0 records beyond where the leader's epoch 0 ended.
        assert_eq!(diverging_epoch(&p, 0, 7), Ok(Some((0, 5))));
        // An epoch the leader never had: it answers the epoch below it and where it ends.
        assert_eq!(diverging_epoch(&p, 1, 6), Ok(Some((0, 5))));
        // Beyond the leader's latest epoch there is nothing to compare with.
        assert_eq!(
            diverging_epoch(&p, 3, 8),
            Err(ResponseError::OffsetOutOfRange)
        );
    }
}
