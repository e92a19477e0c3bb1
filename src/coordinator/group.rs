//! A group's in-memory state (Kafka's `GroupMetadata` and `MemberMetadata`).
//!
//! Plain data plus the rules that only look at the group itself (protocol voting, leader choice);
//! the transitions that need timers or responses live in the coordinator's files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

/// Kafka's group states (classic protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still have committed offsets.
    Empty,
    /// Waiting for every member to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Assignment distributed; members heartbeat.
    Stable,
    /// Removed (deleted); requests get COORDINATOR_NOT_AVAILABLE until it is forgotten.
    Dead,
}

impl GroupState {
    /// The names Kafka shows in ListGroups/DescribeGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member of a group.
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// The member's share of the current generation's assignment.
    pub assignment: Bytes,
    /// Parked JoinGroup: answered when the rebalance completes.
    pub awaiting_join: Option<(i16, oneshot::Sender<JoinGroupResponse>)>,
    /// Parked SyncGroup: answered when the leader's assignment arrives.
    pub awaiting_sync: Option<(i16, oneshot::Sender<SyncGroupResponse>)>,
    /// The session expires at this instant unless a heartbeat (or join/sync) moves it.
    pub heartbeat_deadline: Instant,
    /// Distinguishes incarnations of a member id, so an old timer task never expires a newer one.
    pub incarnation: u64,
    /// Joined but not yet part of a completed generation.
    pub is_new: bool,
    /// When the member joined, epoch milliseconds (for the ZooKeeper mirror).
    pub joined_at_ms: i64,
}

impl Member {
    /// A member with a parked request keeps its session alive (Kafka's `shouldKeepAlive`).
    pub fn keep_alive(&self) -> bool {
        self.awaiting_join.is_some() || self.awaiting_sync.is_some()
    }

    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Same protocols, same metadata, same order: a rejoin that changes nothing.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// A consumer group.
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// Ordered by member id so responses and tests are deterministic.
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet.
    pub pending_members: HashSet<String>,
    /// group.instance.id → member id of static members.
    pub static_members: HashMap<String, String>,
    /// A member joined during an initial (delayed) rebalance: extend the delay.
    pub new_member_added: bool,
    /// Bumped at each rebalance; a rebalance timer task of an older epoch exits.
    pub rebalance_epoch: u64,
    /// Wakes the rebalance timer task when a member joins or leaves.
    pub join_progress: Arc<Notify>,
    /// Members told the new generation that have not sent SyncGroup yet.
    pub pending_sync: HashSet<String>,
}

impl Group {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: HashSet::new(),
            static_members: HashMap::new(),
            new_member_added: false,
            rebalance_epoch: 0,
            join_progress: Arc::new(Notify::new()),
            pending_sync: HashSet::new(),
        }
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Kafka's `isStaticMemberFenced`: the instance id is known under another member id.
    pub fn is_static_member_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    /// Kafka's `supportsProtocols`: an empty group accepts any non-empty type and list; otherwise
    /// the type must match and one of the offered protocols must be supported by every member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let n = self.members.len();
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| m.protocols.iter().any(|(p, _)| p == name))
                .count()
                == n
        })
    }

    /// Kafka's `selectProtocol`: among protocols every member supports, each member votes for its
    /// most preferred; the most votes wins (ties: the earliest candidate in the first member's list).
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| &p == n))
            })
            .collect();
        let mut votes: Vec<(&String, usize)> = candidates.iter().map(|c| (*c, 0)).collect();
        for m in self.members.values() {
            if let Some((vote, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                if let Some(entry) = votes.iter_mut().find(|(c, _)| *c == vote) {
                    entry.1 += 1;
                }
            }
        }
        let best = votes.iter().map(|(_, n)| *n).max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == best)
            .map(|(c, _)| c.clone())
    }

    /// Every member is parked in JoinGroup and no handed-out member id is still outstanding.
    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// The largest rebalance timeout of the members bounds how long a rebalance waits.
    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Topics the members subscribed to, when the group uses the consumer protocol.
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            topics.extend(super::consumer_protocol::subscribed_topics(
                &m.metadata_for(protocol),
            )?);
        }
        Some(topics)
    }

    /// Kafka's `maybeElectNewJoinedLeader`: at the end of a join barrier the leader must be a
    /// member that rejoined (a static leader may be absent); prefer the current leader.
    pub fn elect_leader_if_needed(&mut self) {
        let current_joined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        if current_joined {
            return;
        }
        if let Some(m) = self.members.values().find(|m| m.awaiting_join.is_some()) {
            self.leader = Some(m.member_id.clone());
        } else if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
    }
}
