//! The `/metrics` page: every metric encoded by `prometheus-client` (the official Rust client) in
//! the OpenMetrics text format, which Prometheus scrapes and the Prometheus text parsers read.
//! Names follow the JMX exporter's example Kafka rules (`kafka-2_0_0.yml`, lower-cased): a Yammer
//! meter `kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec` becomes the counter
//! `kafka_server_brokertopicmetrics_bytesin_total`, a gauge keeps its name, a Yammer timer or
//! histogram becomes a Prometheus histogram whose `_count` has the exporter's name (zkafka exports
//! buckets instead of the exporter's precomputed percentile gauges; see docs/metrics.md).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::histogram::Histogram;
use super::requests::request_name;
use super::{Metrics, METRICS};

/// This broker's hosted partitions, counted when scraped (Kafka's `ReplicaManager` gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionCounts {
    /// Partitions with a replica here (`PartitionCount`).
    pub partitions: usize,
    /// Partitions this broker leads (`LeaderCount`).
    pub leaders: usize,
    /// Led here with an ISR smaller than the replica set (`UnderReplicatedPartitions`).
    pub under_replicated: usize,
    /// Led here with an ISR smaller than `min.insync.replicas` (`UnderMinIsrPartitionCount`).
    pub under_min_isr: usize,
}

/// What the scrape reads from the running broker.
pub trait BrokerState: Send + Sync + 'static {
    fn partition_counts(&self) -> PartitionCounts;
    /// Whether this broker is the active controller (`ActiveControllerCount`).
    fn is_active_controller(&self) -> bool;
    /// The ZooKeeper session's state, as the Java client names it (one of [`SESSION_STATES`]).
    fn zk_session_state(&self) -> &'static str;
}

/// The ZooKeeper client states Kafka's `SessionState` gauge shows.
pub const SESSION_STATES: [&str; 5] = [
    "CONNECTING",
    "CONNECTED",
    "CONNECTEDREADONLY",
    "AUTH_FAILED",
    "CLOSED",
];

/// The page for one scrape.
pub fn render(state: Arc<dyn BrokerState>) -> String {
    render_with(&METRICS, state)
}

pub(crate) fn render_with(metrics: &'static Metrics, state: Arc<dyn BrokerState>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { metrics, state }));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

struct Scrape {
    metrics: &'static Metrics,
    state: Arc<dyn BrokerState>,
}

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape")
    }
}

type NoExemplars = HashMap<usize, Exemplar<NoLabelSet, f64>>;

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// `name` without `_total`: the encoder appends it, as OpenMetrics requires.
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: &AtomicU64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v.load(Ordering::Relaxed), None)
}

fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> fmt::Result {
    let s = h.snapshot();
    e.encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(s.sum_ms, s.count, &s.buckets, None::<&NoExemplars>)
}

/// One histogram family with a sample set per label set.
fn histograms<'h, L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    members: impl Iterator<Item = (L, &'h Histogram)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in members {
        let s = h.snapshot();
        m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            s.sum_ms,
            s.count,
            &s.buckets,
            None::<&NoExemplars>,
        )?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let m = self.metrics;
        let c = &m.controller;
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);

        // kafka.controller:type=KafkaController
        let active = i64::from(self.state.is_active_controller());
        gauge(
            &mut e,
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller, 0 elsewhere (ActiveControllerCount)",
            active,
        )?;
        let on_controller = |v: &std::sync::atomic::AtomicI64| {
            if active == 1 {
                v.load(Ordering::Relaxed)
            } else {
                0
            }
        };
        gauge(&mut e, "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a live leader; on the active controller only (OfflinePartitionsCount)",
            on_controller(&c.offline_partitions))?;
        gauge(
            &mut e,
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions in the cluster; on the active controller only (GlobalPartitionCount)",
            on_controller(&c.global_partitions),
        )?;
        gauge(
            &mut e,
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics in the cluster; on the active controller only (GlobalTopicCount)",
            on_controller(&c.global_topics),
        )?;
        gauge(
            &mut e,
            "kafka_controller_kafkacontroller_preferredreplicaimbalancecount",
            "Partitions not led by their preferred replica; on the active controller only \
             (PreferredReplicaImbalanceCount)",
            on_controller(&c.preferred_imbalance),
        )?;

        // kafka.controller:type=ControllerStats
        histogram(
            &mut e,
            "kafka_controller_controllerstats_leaderelectionrateandtimems",
            "Milliseconds the controller spent on each broker change (LeaderElectionRateAndTimeMs)",
            &c.leader_election,
        )?;
        counter(
            &mut e,
            "kafka_controller_controllerstats_uncleanleaderelections",
            "Leaders chosen outside the ISR (UncleanLeaderElectionsPerSec)",
            &c.unclean_elections,
        )?;

        // kafka.server:type=ReplicaManager
        let p = self.state.partition_counts();
        gauge(
            &mut e,
            "kafka_server_replicamanager_partitioncount",
            "Partitions with a replica on this broker (PartitionCount)",
            n(p.partitions),
        )?;
        gauge(
            &mut e,
            "kafka_server_replicamanager_leadercount",
            "Partitions this broker leads (LeaderCount)",
            n(p.leaders),
        )?;
        gauge(&mut e, "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions led here whose ISR is smaller than their replica set (UnderReplicatedPartitions)",
            n(p.under_replicated))?;
        gauge(&mut e, "kafka_server_replicamanager_underminisrpartitioncount",
            "Partitions led here whose ISR is below min.insync.replicas (UnderMinIsrPartitionCount)",
            n(p.under_min_isr))?;
        counter(
            &mut e,
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks proposed by this broker as leader (IsrShrinksPerSec)",
            &m.isr_shrinks,
        )?;
        counter(
            &mut e,
            "kafka_server_replicamanager_isrexpands",
            "ISR expansions proposed by this broker as leader (IsrExpandsPerSec)",
            &m.isr_expands,
        )?;

        // kafka.server:type=BrokerTopicMetrics (all topics)
        counter(
            &mut e,
            "kafka_server_brokertopicmetrics_bytesin",
            "Record batch bytes appended as leader (BytesInPerSec)",
            &m.bytes_in,
        )?;
        counter(
            &mut e,
            "kafka_server_brokertopicmetrics_messagesin",
            "Records appended as leader (MessagesInPerSec)",
            &m.messages_in,
        )?;
        counter(
            &mut e,
            "kafka_server_brokertopicmetrics_bytesout",
            "Record bytes sent to consumers (BytesOutPerSec)",
            &m.bytes_out,
        )?;
        counter(
            &mut e,
            "kafka_server_brokertopicmetrics_replicationbytesout",
            "Record bytes sent to followers (ReplicationBytesOutPerSec)",
            &m.replication_bytes_out,
        )?;

        // kafka.network:type=RequestMetrics
        let mut requests = e.encode_descriptor(
            "kafka_network_requestmetrics_requests",
            "Requests answered, per request type and version (RequestsPerSec)",
            None,
            MetricType::Counter,
        )?;
        for (key, version, count) in m.requests.counts() {
            if let Some(name) = request_name(key) {
                requests
                    .encode_family(&[("request", name), ("version", version.to_string())])?
                    .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }
        let times = m
            .requests
            .total_times()
            .filter_map(|(key, h)| request_name(key).map(|name| ([("request", name)], h)));
        histograms(&mut e, "kafka_network_requestmetrics_totaltimems",
            "Milliseconds from a request read to its response ready, per request type (TotalTimeMs)",
            times)?;

        // kafka.server:type=ZooKeeperClientMetrics and SessionExpireListener
        histogram(
            &mut e,
            "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms",
            "Milliseconds ZooKeeper took to answer a request (ZooKeeperRequestLatencyMs)",
            &m.zk_latency,
        )?;
        counter(
            &mut e,
            "kafka_server_sessionexpirelistener_zookeeperexpires",
            "ZooKeeper sessions of this broker that expired (ZooKeeperExpiresPerSec)",
            &m.zk_expires,
        )?;
        let current = self.state.zk_session_state();
        let mut states = e.encode_descriptor(
            "kafka_server_sessionexpirelistener_sessionstate",
            "1 for the ZooKeeper session's current state, 0 for the others (SessionState)",
            None,
            MetricType::Gauge,
        )?;
        for s in SESSION_STATES {
            states
                .encode_family(&[("state", s)])?
                .encode_gauge(&i64::from(s == current))?;
        }

        // zkafka's controller phases
        let phases = c
            .phase_histograms()
            .filter(|(_, _, h)| h.snapshot().count > 0)
            .map(|(event, phase, h)| ([("event", event), ("phase", phase)], h));
        histograms(&mut e, "zkafka_controller_phase_ms",
            "Milliseconds from a controller event's start to each phase it reached (docs/controller-events.md)",
            phases)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
