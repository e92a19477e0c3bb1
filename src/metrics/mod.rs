//! Prometheus metrics (`metrics.port`, off by default): Kafka's broker and controller metrics under
//! the names the Prometheus JMX exporter gives them with its example Kafka rules
//! (`example_configs/kafka-2_0_0.yml`), plus the controller's phase durations. `docs/metrics.md`
//! lists every metric with its Kafka MBean and what zkafka counts.
//!
//! Counters and histograms are process-wide atomics ([`METRICS`]): the code that counts calls one
//! function here, which adds to an atomic (no lock, no allocation on the produce and fetch paths).
//! Gauges that describe state (hosted partitions, leaders, under-replicated partitions, the
//! ZooKeeper session) are read from their owners when scraped ([`BrokerState`]); the controller
//! publishes its gauges after every event.

mod broker_state;
mod controller;
mod endpoint;
mod histogram;
mod render;
mod requests;
pub mod startup;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use broker_state::LiveBroker;
pub use controller::{event_name, ControllerCounts, Phase, PhaseClock};
pub use endpoint::{serve, MetricsEndpoint};
pub use render::{render, BrokerState, PartitionCounts};

use crate::controller::ControllerEvent;
use crate::log::AppendInfo;

/// Every counter and histogram of this process.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) requests: requests::RequestMetrics,
    /// `BrokerTopicMetrics` `BytesInPerSec`: record batch bytes appended as leader.
    pub(crate) bytes_in: AtomicU64,
    /// `BrokerTopicMetrics` `MessagesInPerSec`: records appended as leader (retried duplicates not).
    pub(crate) messages_in: AtomicU64,
    /// `BrokerTopicMetrics` `BytesOutPerSec`: record bytes sent to consumers.
    pub(crate) bytes_out: AtomicU64,
    /// `BrokerTopicMetrics` `ReplicationBytesOutPerSec`: record bytes sent to followers.
    pub(crate) replication_bytes_out: AtomicU64,
    /// `ReplicaManager` `IsrShrinksPerSec` / `IsrExpandsPerSec`.
    pub(crate) isr_shrinks: AtomicU64,
    pub(crate) isr_expands: AtomicU64,
    /// `ZooKeeperClientMetrics` `ZooKeeperRequestLatencyMs`.
    pub(crate) zk_latency: histogram::Histogram,
    /// `SessionExpireListener` `ZooKeeperExpiresPerSec`.
    pub(crate) zk_expires: AtomicU64,
    pub(crate) controller: controller::ControllerMetrics,
}

impl Metrics {
    pub(crate) const fn new() -> Self {
        Metrics {
            requests: requests::RequestMetrics::new(),
            bytes_in: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            replication_bytes_out: AtomicU64::new(0),
            isr_shrinks: AtomicU64::new(0),
            isr_expands: AtomicU64::new(0),
            zk_latency: histogram::Histogram::new(),
            zk_expires: AtomicU64::new(0),
            controller: controller::ControllerMetrics::new(),
        }
    }
}

/// This process's metrics (one broker per process).
pub(crate) static METRICS: Metrics = Metrics::new();

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A request was answered: `RequestsPerSec` and `TotalTimeMs` (from `received`).
pub fn request_done(api_key: i16, version: i16, received: Instant) {
    METRICS
        .requests
        .record(api_key, version, received.elapsed());
}

/// A leader append of `bytes` bytes (a retried duplicate adds bytes but no messages, as in Kafka,
/// which counts bytes before appending and messages appended).
pub fn produced(bytes: usize, append: &AppendInfo) {
    add(&METRICS.bytes_in, bytes as u64);
    if !append.duplicate {
        let records = append.last_offset - append.first_offset + 1;
        add(&METRICS.messages_in, u64::try_from(records).unwrap_or(0));
    }
}

/// A fetch response carried `bytes` record bytes, to a follower or a consumer.
pub fn fetched(follower: bool, bytes: usize) {
    if follower {
        add(&METRICS.replication_bytes_out, bytes as u64);
    } else {
        add(&METRICS.bytes_out, bytes as u64);
    }
}

pub fn isr_shrink() {
    add(&METRICS.isr_shrinks, 1);
}

pub fn isr_expand() {
    add(&METRICS.isr_expands, 1);
}

/// The controller chose a leader outside the ISR (`UncleanLeaderElectionsPerSec`).
pub fn unclean_election() {
    add(&METRICS.controller.unclean_elections, 1);
}

/// One ZooKeeper request took `d` (`ZooKeeperRequestLatencyMs`).
pub fn zk_request(d: Duration) {
    METRICS.zk_latency.observe(d);
}

/// Times a ZooKeeper request from now: the ZooKeeper client sends a request when its future is
/// created, so pipelined requests are timed from their sending, not from when they are awaited.
pub fn zk_timed<F: std::future::Future>(
    request: F,
) -> impl std::future::Future<Output = F::Output> {
    let sent = Instant::now();
    async move {
        let out = request.await;
        zk_request(sent.elapsed());
        out
    }
}

/// This broker's ZooKeeper session expired (`ZooKeeperExpiresPerSec`).
pub fn zk_session_expired() {
    add(&METRICS.zk_expires, 1);
}

/// This broker won `/controller`; its Startup event began at `attempt`.
pub fn controller_elected(attempt: Instant) {
    METRICS.controller.elected(attempt);
}

/// The controller took `event` off its queue.
pub fn controller_event(event: &ControllerEvent) {
    METRICS.controller.event_started(event);
}

/// The current controller event reached `phase`.
pub fn controller_phase(phase: Phase) {
    METRICS.controller.phase(phase);
}

/// The current event and its start, for phases reached later by another task.
pub fn controller_clock() -> Option<PhaseClock> {
    METRICS.controller.clock()
}

/// A phase of the event `clock` was taken from.
pub fn controller_phase_of(clock: Option<PhaseClock>, phase: Phase) {
    if let Some(c) = clock {
        METRICS.controller.phase_of(c, phase);
    }
}

/// The current controller event's handler returned.
pub fn controller_event_done() {
    METRICS.controller.event_done();
}

/// The controller's view after an event.
pub fn controller_counts(counts: ControllerCounts) {
    METRICS.controller.set_counts(counts);
}

/// This broker's controller term ended.
pub fn controller_resigned() {
    METRICS.controller.resigned();
}
