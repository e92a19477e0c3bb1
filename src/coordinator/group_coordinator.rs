//! The coordinator object: the group table, its lock, and the transitions shared by every request
//! (state changes, rebalance preparation, member removal).
//!
//! All groups live behind one `std::sync::Mutex`: every critical section is short, synchronous and
//! never awaits, so one lock is simpler than per-group locks and cannot deadlock. Requests that must
//! wait (JoinGroup, SyncGroup) park a oneshot sender in the member and await it outside the lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::info;

use super::config::GroupConfig;
use super::group::{Group, GroupState};
use super::mirror::MirrorState;
use super::response::{join_error, sync_error};
use super::store::OffsetStore;

/// How long a brand-new member may sit in a rebalance without completing it (Kafka's
/// `NewMemberJoinTimeoutMs`): clients that disconnect mid-join would otherwise pile up.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Kafka's GroupCoordinator for the classic protocol. Shared behind `Arc`.
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) store: Arc<dyn OffsetStore>,
    pub(crate) groups: Mutex<HashMap<String, Group>>,
    /// Flipped to `true` by [`GroupCoordinator::shutdown`]; every timer task watches it.
    pub(crate) shutdown_tx: watch::Sender<bool>,
    /// Timer tasks hold a `Weak` so that they never keep a dropped coordinator alive.
    pub(crate) me: Weak<GroupCoordinator>,
    pub(crate) incarnations: AtomicU64,
    /// Per group, the latest membership to mirror into the store (see `mirror.rs`).
    pub(crate) mirrors: Mutex<HashMap<String, watch::Sender<MirrorState>>>,
    /// Which groups ListGroups reports (see [`GroupCoordinator::set_list_filter`]).
    pub(crate) list_filter: std::sync::RwLock<Option<ListFilter>>,
    /// Where OffsetCommit/OffsetFetch v0 go when not to `store` (see [`GroupCoordinator::set_v0_store`]).
    pub(crate) v0_store: std::sync::OnceLock<Arc<dyn OffsetStore>>,
}

/// Decides whether this broker coordinates a group (for ListGroups).
pub type ListFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

impl GroupCoordinator {
    pub fn new(config: GroupConfig, store: Arc<dyn OffsetStore>) -> Arc<Self> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new_cyclic(|me| GroupCoordinator {
            config,
            store,
            groups: Mutex::new(HashMap::new()),
            shutdown_tx,
            me: me.clone(),
            incarnations: AtomicU64::new(1),
            mirrors: Mutex::new(HashMap::new()),
            list_filter: std::sync::RwLock::new(None),
            v0_store: std::sync::OnceLock::new(),
        })
    }

    /// Stops every timer and answers parked JoinGroup/SyncGroup requests with NOT_COORDINATOR
    /// (as Kafka does when it unloads a group), so that clients look the coordinator up again.
    pub fn shutdown(&self) {
        self.shutdown_tx.send_replace(true);
        self.unload(|_| true);
    }

    /// This broker stopped leading `__consumer_offsets` partition `partition` (of
    /// `partition_count`): forget its groups (Kafka's `onResignation`). Their members get
    /// NOT_COORDINATOR and find the new coordinator; offsets stay in ZooKeeper.
    pub fn unload_partition(&self, partition: i32, partition_count: i32) {
        self.unload(|g| super::hash::partition_for(g, partition_count) == partition);
    }

    /// This broker became leader of `__consumer_offsets` partition `partition`: the store loads
    /// its groups and offsets in the background (Kafka's `onElection`) and the stored groups are
    /// installed with their members; requests that arrive first wait for the same load.
    pub fn load_partition(&self, partition: i32) {
        let store = self.store.clone();
        let weak = self.me.clone();
        tokio::spawn(async move {
            match store.load_partition(partition).await {
                Ok(groups) => {
                    if let Some(this) = weak.upgrade() {
                        this.install_loaded(groups);
                    }
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, "cannot load __consumer_offsets partition")
                }
            }
        });
    }

    fn unload(&self, which: impl Fn(&str) -> bool) {
        let mut groups = self.lock();
        let ids: Vec<String> = groups.keys().filter(|g| which(g)).cloned().collect();
        for id in ids {
            let Some(mut group) = groups.remove(&id) else {
                continue;
            };
            for m in group.members.values_mut() {
                if let Some((v, tx)) = m.awaiting_join.take() {
                    let _ = tx.send(join_error(v, ResponseError::NotCoordinator, &m.member_id));
                }
                if let Some((_, tx)) = m.awaiting_sync.take() {
                    let _ = tx.send(sync_error(ResponseError::NotCoordinator));
                }
            }
            info!(group = %id, generation = group.generation, member = "", "group unloaded");
            self.forget_mirror(&id);
        }
    }

    /// ListGroups reports only groups for which `filter` is true. Kafka answers ListGroups with
    /// the groups this broker coordinates, and admin clients merge the answers of all brokers;
    /// since committed offsets of every group are visible in ZooKeeper, the glue should pass
    /// "this broker leads `__consumer_offsets` partition `partition_for(group, 50)`". Without a
    /// filter every known group is listed (single-broker setups, tests).
    pub fn set_list_filter(&self, filter: impl Fn(&str) -> bool + Send + Sync + 'static) {
        if let Ok(mut f) = self.list_filter.write() {
            *f = Some(Box::new(filter));
        }
    }

    /// OffsetCommit v0 and OffsetFetch v0 use `store` instead of the main store: Kafka 3.x
    /// keeps v0 commits in ZooKeeper whatever else it does, so with `offsets.storage=kafka` the
    /// broker passes its ZooKeeper store here. Set once, at startup.
    pub fn set_v0_store(&self, store: Arc<dyn OffsetStore>) {
        let _ = self.v0_store.set(store);
    }

    /// The store a request of `version` reads and writes.
    pub(crate) fn store_for(&self, version: i16) -> &Arc<dyn OffsetStore> {
        match self.v0_store.get() {
            Some(v0) if version == 0 => v0,
            _ => &self.store,
        }
    }

    /// Whether `group` is loaded with at least one member (offset expiry leaves it alone).
    pub fn has_members(&self, group: &str) -> bool {
        self.lock()
            .get(group)
            .is_some_and(|g| !g.members.is_empty())
    }

    pub(crate) fn listed(&self, group: &str) -> bool {
        match self.list_filter.read() {
            Ok(f) => f.as_ref().is_none_or(|f| f(group)),
            Err(_) => true,
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        *self.shutdown_tx.borrow()
    }

    /// The group table. A poisoned lock only means a panic elsewhere; the data is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_incarnation(&self) -> u64 {
        self.incarnations.fetch_add(1, Ordering::Relaxed)
    }

    /// Changes a group's state, with the one info line per change that operators grep for.
    pub(crate) fn transition(group: &mut Group, to: GroupState, member: &str, why: &str) {
        if group.state == to {
            return;
        }
        info!(
            group = %group.id, generation = group.generation, member, from = %group.state, to = %to,
            leader = group.leader.as_deref().unwrap_or(""), "group state change: {why}"
        );
        group.state = to;
    }

    /// Kafka's `maybePrepareRebalance`: only from a state that allows one.
    pub(crate) fn maybe_prepare_rebalance(&self, group: &mut Group, member: &str, why: &str) {
        if matches!(
            group.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(group, member, why);
        }
    }

    /// Kafka's `prepareRebalance`: cancel a pending sync, move to PreparingRebalance and start
    /// the join timer (the delayed initial one for an empty group).
    pub(crate) fn prepare_rebalance(&self, group: &mut Group, member: &str, why: &str) {
        if group.state == GroupState::CompletingRebalance {
            Self::reset_and_propagate_assignment_error(group, ResponseError::RebalanceInProgress);
        }
        group.pending_sync.clear();
        let initial = group.state == GroupState::Empty;
        Self::transition(group, GroupState::PreparingRebalance, member, why);
        // Unique across groups, so a timer of an unloaded group never acts on its successor.
        group.rebalance_epoch = self.next_incarnation();
        let rebalance_timeout = Duration::from_millis(group.rebalance_timeout_ms().max(0) as u64);
        let timer = if initial {
            let delay = Duration::from_millis(self.config.initial_rebalance_delay_ms.max(0) as u64);
            super::timers::JoinTimer::Initial {
                delay,
                remaining: rebalance_timeout.saturating_sub(delay),
            }
        } else {
            super::timers::JoinTimer::Regular {
                timeout: rebalance_timeout,
            }
        };
        self.spawn_join_timer(group, timer);
    }

    /// Clears every assignment and answers parked SyncGroups with `error`.
    pub(crate) fn reset_and_propagate_assignment_error(group: &mut Group, error: ResponseError) {
        for m in group.members.values_mut() {
            m.assignment = bytes::Bytes::new();
            if let Some((_, tx)) = m.awaiting_sync.take() {
                let _ = tx.send(sync_error(error));
            }
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`: used by LeaveGroup, session expiry and sync expiry.
    pub(crate) fn remove_member_and_update_group(
        &self,
        group: &mut Group,
        member_id: &str,
        why: &str,
    ) {
        let Some(mut member) = group.members.remove(member_id) else {
            return;
        };
        if let Some((v, tx)) = member.awaiting_join.take() {
            let _ = tx.send(join_error(v, ResponseError::UnknownMemberId, member_id));
        }
        if let Some((_, tx)) = member.awaiting_sync.take() {
            let _ = tx.send(sync_error(ResponseError::UnknownMemberId));
        }
        if let Some(instance) = &member.group_instance_id {
            group.static_members.remove(instance);
        }
        group.pending_sync.remove(member_id);
        if group.is_leader(member_id) {
            group.leader = group.members.keys().next().cloned();
        }
        info!(group = %group.id, generation = group.generation, member = member_id, "member removed: {why}");
        match group.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(group, member_id, why)
            }
            GroupState::PreparingRebalance => group.join_progress.notify_one(),
        }
        self.publish_mirror(group);
    }

    /// Moves a member's session deadline (a heartbeat, or a join/sync that proves it is alive).
    pub(crate) fn touch(group: &mut Group, member_id: &str) {
        if let Some(m) = group.members.get_mut(member_id) {
            m.heartbeat_deadline = Instant::now() + session_timeout(m.session_timeout_ms);
        }
    }
}

pub(crate) fn session_timeout(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}
