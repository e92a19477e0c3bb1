//! The active controller's metrics: Kafka's `kafka.controller:type=KafkaController` gauges
//! (offline partitions, global partition and topic counts, set after every controller event as
//! Kafka's `updateMetrics` does), `ControllerStats` (`LeaderElectionRateAndTimeMs`: how long each
//! BrokerChange event took, as Kafka times it; `UncleanLeaderElectionsPerSec`), and zkafka's own
//! phase durations: for each controller event, the time from the event's start to each phase of the
//! controller event stream (`docs/controller-events.md`) the first time the event reaches it.
//!
//! The controller is one task, so one event runs at a time: the current event's kind, start and the
//! phases it has reached are kept here, and the controller's hooks are one-line calls.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::histogram::Histogram;
use crate::controller::ControllerEvent;

/// The phases of the controller event stream, in the order they happen within an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Won `/controller` (measured from the election attempt's start).
    ControllerElected,
    /// Brokers, topics and partition states read.
    ClusterLoaded,
    /// A broker's `/brokers/ids` child was seen gone.
    BrokerLostSeen,
    /// New leaders (or ISRs, or new partitions' states) computed in memory.
    LeadersChosen,
    /// Partition state znodes written.
    ZkWritten,
    /// LeaderAndIsr requests queued to the brokers.
    LeaderAndIsrSent,
    /// Every broker answered the LeaderAndIsr requests.
    LeaderAndIsrAcked,
    /// Every broker answered the UpdateMetadata requests.
    UpdateMetadataAcked,
    /// The event's handler returned.
    EventDone,
}

pub(crate) const PHASES: [Phase; 9] = [
    Phase::ControllerElected,
    Phase::ClusterLoaded,
    Phase::BrokerLostSeen,
    Phase::LeadersChosen,
    Phase::ZkWritten,
    Phase::LeaderAndIsrSent,
    Phase::LeaderAndIsrAcked,
    Phase::UpdateMetadataAcked,
    Phase::EventDone,
];

impl Phase {
    /// The name in the event stream and in the `phase` label.
    pub fn name(self) -> &'static str {
        match self {
            Phase::ControllerElected => "controller_elected",
            Phase::ClusterLoaded => "cluster_loaded",
            Phase::BrokerLostSeen => "broker_lost_seen",
            Phase::LeadersChosen => "leaders_chosen",
            Phase::ZkWritten => "zk_written",
            Phase::LeaderAndIsrSent => "leader_and_isr_sent",
            Phase::LeaderAndIsrAcked => "leader_and_isr_acked",
            Phase::UpdateMetadataAcked => "update_metadata_acked",
            Phase::EventDone => "event_done",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Kafka's names of controller events (`ControllerEvent` subclasses / `ControllerState`s).
pub(crate) const EVENTS: [&str; 18] = [
    "Startup",
    "ControllerChange",
    "BrokerChange",
    "TopicChange",
    "PartitionModifications",
    "TopicDeletion",
    "TopicDeletionStopReplicaResponseReceived",
    "ZkPartitionReassignment",
    "ReplicaLeaderElection",
    "TopicUncleanLeaderElectionEnable",
    "AutoPreferredReplicaLeaderElection",
    "RegisterBrokerAndReelect",
    "AlterPartition",
    "ControlledShutdown",
    "LogDirEventNotification",
    "LeaderAndIsrResponseReceived",
    "ApiPartitionReassignment",
    "ListPartitionReassignments",
];
const STARTUP: usize = 0;
const BROKER_CHANGE: usize = 2;

/// Kafka's name for a controller event (`ControllerState`/`ControllerEvent` classes of
/// `KafkaController`), as the metrics label and the event stream write it.
pub fn event_name(event: &ControllerEvent) -> &'static str {
    EVENTS[event_index(event)]
}

/// The index in [`EVENTS`] of an event's Kafka name.
fn event_index(event: &ControllerEvent) -> usize {
    match event {
        ControllerEvent::ControllerChanged => 1,
        ControllerEvent::BrokersChanged => BROKER_CHANGE,
        ControllerEvent::TopicsChanged => 3,
        ControllerEvent::TopicModified(_) => 4,
        ControllerEvent::TopicDeletionRequested => 5,
        ControllerEvent::TopicDeletionStopReplicaResponseReceived { .. } => 6,
        ControllerEvent::ReassignmentRequested => 7,
        ControllerEvent::PreferredElectionRequested | ControllerEvent::ElectLeaders { .. } => 8,
        ControllerEvent::UncleanLeaderElectionEnabled(_) => 9,
        ControllerEvent::LeaderImbalanceCheck => 10,
        ControllerEvent::SessionRenewed => 11,
        ControllerEvent::AlterPartition { .. } => 12,
        ControllerEvent::ControlledShutdown { .. } => 13,
        ControllerEvent::LogDirEventNotification => 14,
        ControllerEvent::LeaderAndIsrResponseReceived { .. } => 15,
        ControllerEvent::AlterReassignments { .. } => 16,
        ControllerEvent::ListReassignments { .. } => 17,
    }
}

/// What the active controller publishes after every event (Kafka's `KafkaController` gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControllerCounts {
    /// Topics loaded (`GlobalTopicCount`).
    pub topics: usize,
    /// Partitions with a state (`GlobalPartitionCount`).
    pub partitions: usize,
    /// Partitions without a live leader (`OfflinePartitionsCount`).
    pub offline: usize,
    /// Partitions not led by their preferred replica (`PreferredReplicaImbalanceCount`).
    pub preferred_imbalance: usize,
}

/// The event being handled: which, since when, and the phases it already reached.
#[derive(Debug, Clone, Copy)]
pub struct PhaseClock {
    event: usize,
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    clock: PhaseClock,
    reached: u16,
}

#[derive(Debug)]
pub(crate) struct ControllerMetrics {
    current: Mutex<Option<Current>>,
    /// `[event][phase]`: milliseconds from the event's start to the phase.
    phases: [[Histogram; PHASES.len()]; EVENTS.len()],
    pub(crate) leader_election: Histogram,
    pub(crate) unclean_elections: AtomicU64,
    pub(crate) offline_partitions: AtomicI64,
    pub(crate) global_partitions: AtomicI64,
    pub(crate) global_topics: AtomicI64,
    pub(crate) preferred_imbalance: AtomicI64,
}

impl ControllerMetrics {
    pub(crate) const fn new() -> Self {
        ControllerMetrics {
            current: Mutex::new(None),
            phases: [const { [const { Histogram::new() }; PHASES.len()] }; EVENTS.len()],
            leader_election: Histogram::new(),
            unclean_elections: AtomicU64::new(0),
            offline_partitions: AtomicI64::new(0),
            global_partitions: AtomicI64::new(0),
            global_topics: AtomicI64::new(0),
            preferred_imbalance: AtomicI64::new(0),
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(&self, event: usize, started: Instant) {
        *self.current() = Some(Current {
            clock: PhaseClock { event, started },
            reached: 0,
        });
    }

    pub(crate) fn elected(&self, attempt: Instant) {
        self.start(STARTUP, attempt);
        self.phase(Phase::ControllerElected);
    }

    pub(crate) fn event_started(&self, event: &ControllerEvent) {
        self.start(event_index(event), Instant::now());
    }

    /// Records `phase` of the current event unless the event reached it already.
    pub(crate) fn phase(&self, phase: Phase) {
        let mut current = self.current();
        let Some(c) = current.as_mut() else { return };
        let bit = 1u16 << phase.index();
        if c.reached & bit == 0 {
            c.reached |= bit;
            self.phases[c.clock.event][phase.index()].observe(c.clock.started.elapsed());
        }
    }

    pub(crate) fn clock(&self) -> Option<PhaseClock> {
        self.current().map(|c| c.clock)
    }

    /// A phase reached after the event's handler moved on (acknowledgements are awaited in a task
    /// of their own).
    pub(crate) fn phase_of(&self, clock: PhaseClock, phase: Phase) {
        self.phases[clock.event][phase.index()].observe(clock.started.elapsed());
    }

    pub(crate) fn event_done(&self) {
        self.phase(Phase::EventDone);
        let clock = self.current().take().map(|c| c.clock);
        if let Some(c) = clock.filter(|c| c.event == BROKER_CHANGE) {
            self.leader_election.observe(c.started.elapsed());
        }
    }

    /// `(event, phase, histogram)` for every pair observed at least once.
    pub(crate) fn phase_histograms(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &Histogram)> + '_ {
        self.phases.iter().enumerate().flat_map(|(e, phases)| {
            phases
                .iter()
                .zip(PHASES)
                .map(move |(h, p)| (EVENTS[e], p.name(), h))
        })
    }

    pub(crate) fn set_counts(&self, c: ControllerCounts) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.global_topics.store(n(c.topics), Ordering::Relaxed);
        self.global_partitions
            .store(n(c.partitions), Ordering::Relaxed);
        self.offline_partitions
            .store(n(c.offline), Ordering::Relaxed);
        self.preferred_imbalance
            .store(n(c.preferred_imbalance), Ordering::Relaxed);
    }

    /// A broker that is not the controller reports 0 for the controller's gauges, as Kafka's do.
    pub(crate) fn resigned(&self) {
        self.set_counts(ControllerCounts::default());
        *self.current() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_counts_once_per_event_and_broker_changes_time_leader_election() {
        let m = ControllerMetrics::new();
        m.phase(Phase::LeadersChosen); // no event running: ignored
        m.event_started(&ControllerEvent::BrokersChanged);
        m.phase(Phase::BrokerLostSeen);
        m.phase(Phase::LeadersChosen);
        m.phase(Phase::LeadersChosen);
        let clock = m.clock().unwrap();
        m.event_done();
        m.phase_of(clock, Phase::LeaderAndIsrAcked);
        let count = |event: &str, phase: &str| {
            m.phase_histograms()
                .find(|(e, p, _)| *e == event && *p == phase)
                .map(|(_, _, h)| h.snapshot().count)
                .unwrap()
        };
        assert_eq!(count("BrokerChange", "leaders_chosen"), 1);
        assert_eq!(count("BrokerChange", "broker_lost_seen"), 1);
        assert_eq!(count("BrokerChange", "event_done"), 1);
        assert_eq!(count("BrokerChange", "leader_and_isr_acked"), 1);
        assert_eq!(count("TopicChange", "event_done"), 0);
        assert_eq!(m.leader_election.snapshot().count, 1);
        m.event_started(&ControllerEvent::TopicsChanged);
        m.event_done();
        assert_eq!(m.leader_election.snapshot().count, 1);
        assert_eq!(count("TopicChange", "event_done"), 1);
    }
}
