//! Timer tasks: rebalance barriers (Kafka's DelayedJoin / InitialDelayedJoin), session expiry
//! (DelayedHeartbeat), expiry of handed-out member ids, and the pending-sync deadline.
//!
//! Each is one tokio task sleeping until a deadline (or woken by a `Notify`), never a polling
//! loop. A task holds a `Weak` coordinator and re-checks, under the lock, that the thing it
//! guards still exists (same rebalance epoch, same member incarnation, same generation) before
//! acting, so stale timers are harmless. All of them exit on shutdown.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use super::group::{Group, GroupState};
use super::group_coordinator::{session_timeout, GroupCoordinator};

/// Which kind of join barrier a rebalance uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JoinTimer {
    /// First rebalance of an empty group: wait `delay`, extended (by at most `delay` each time,
    /// `remaining` in total) while new members keep arriving. Never completes early.
    Initial {
        delay: Duration,
        remaining: Duration,
    },
    /// Complete as soon as every member rejoined, or at `timeout` without the missing ones.
    Regular { timeout: Duration },
}

impl GroupCoordinator {
    pub(crate) fn spawn_join_timer(&self, group: &Group, timer: JoinTimer) {
        let weak = self.me.clone();
        let id = group.id.clone();
        let epoch = group.rebalance_epoch;
        let notify = group.join_progress.clone();
        let mut shutdown = self.shutdown_tx.subscribe();
        let (mut deadline, check_now) = match timer {
            JoinTimer::Initial { delay, .. } => (Instant::now() + delay, false),
            JoinTimer::Regular { timeout } => (Instant::now() + timeout, true),
        };
        let mut timer = timer;
        tokio::spawn(async move {
            let mut first = check_now;
            loop {
                let expired = if std::mem::take(&mut first) {
                    false
                } else {
                    tokio::select! {
                        _ = sleep_until(deadline) => true,
                        _ = notify.notified() => false,
                        _ = shutdown.changed() => return,
                    }
                };
                let Some(this) = weak.upgrade() else { return };
                let mut groups = this.lock();
                let Some(group) = groups.get_mut(&id) else {
                    return;
                };
                if group.rebalance_epoch != epoch || group.state != GroupState::PreparingRebalance {
                    return;
                }
                match &mut timer {
                    JoinTimer::Initial { delay, remaining } => {
                        if !expired {
                            continue;
                        }
                        if group.new_member_added && !remaining.is_zero() {
                            group.new_member_added = false;
                            let next = (*delay).min(*remaining);
                            *remaining = remaining.saturating_sub(next);
                            deadline = Instant::now() + next;
                            continue;
                        }
                    }
                    JoinTimer::Regular { .. } => {
                        if !expired && !group.all_members_joined() {
                            continue;
                        }
                    }
                }
                if this.complete_join(group) {
                    return;
                }
                // Nobody rejoined: wait another rebalance timeout for the sessions to expire.
                let timeout = Duration::from_millis(group.rebalance_timeout_ms().max(0) as u64);
                timer = JoinTimer::Regular { timeout };
                deadline = Instant::now() + timeout;
            }
        });
    }

    /// Expires a member whose heartbeats stopped (its `heartbeat_deadline` passed).
    pub(crate) fn spawn_heartbeat_timer(&self, group_id: &str, member_id: &str, incarnation: u64) {
        let weak = self.me.clone();
        let group_id = group_id.to_string();
        let member_id = member_id.to_string();
        let mut shutdown = self.shutdown_tx.subscribe();
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let Some(this) = weak.upgrade() else { return };
                    let groups = this.lock();
                    match groups
                        .get(&group_id)
                        .and_then(|g| g.members.get(&member_id))
                    {
                        Some(m) if m.incarnation == incarnation => m.heartbeat_deadline,
                        _ => return,
                    }
                };
                tokio::select! {
                    _ = sleep_until(deadline) => {}
                    _ = shutdown.changed() => return,
                }
                let Some(this) = weak.upgrade() else { return };
                let mut groups = this.lock();
                let Some(group) = groups.get_mut(&group_id) else {
                    return;
                };
                let Some(m) = group.members.get_mut(&member_id) else {
                    return;
                };
                if m.incarnation != incarnation {
                    return;
                }
                let now = Instant::now();
                if now < m.heartbeat_deadline {
                    continue;
                }
                if m.keep_alive() && !m.is_new {
                    m.heartbeat_deadline = now + session_timeout(m.session_timeout_ms);
                    continue;
                }
                this.remove_member_and_update_group(group, &member_id, "session timeout expired");
                return;
            }
        });
    }

    /// Forgets a member id handed out with MEMBER_ID_REQUIRED that never came back.
    pub(crate) fn spawn_pending_member_timer(
        &self,
        group_id: &str,
        member_id: &str,
        timeout: Duration,
    ) {
        let member_id = member_id.to_string();
        self.after(group_id.to_string(), timeout, move |_, group| {
            if group.pending_members.remove(&member_id) {
                tracing::debug!(group = %group.id, member = %member_id, "pending member expired");
                if group.state == GroupState::PreparingRebalance {
                    group.join_progress.notify_one();
                }
            }
        });
    }

    /// After a generation starts, members that do not send SyncGroup within the rebalance timeout
    /// are removed and the group rebalances (Kafka's DelayedSync).
    pub(crate) fn spawn_sync_timer(&self, group: &Group, timeout: Duration) {
        let generation = group.generation;
        let epoch = group.rebalance_epoch;
        self.after(group.id.clone(), timeout, move |this, group| {
            if group.generation != generation
                || group.rebalance_epoch != epoch
                || !matches!(
                    group.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                )
            {
                return;
            }
            let missing: Vec<String> = group.pending_sync.drain().collect();
            for member in missing {
                this.remove_member_and_update_group(
                    group,
                    &member,
                    "no SyncGroup within the rebalance timeout",
                );
            }
        });
    }

    /// Runs `act` on the group after `timeout`, unless the coordinator shuts down first, is gone,
    /// or no longer has the group.
    fn after(
        &self,
        group_id: String,
        timeout: Duration,
        act: impl FnOnce(&GroupCoordinator, &mut Group) + Send + 'static,
    ) {
        let weak = self.me.clone();
        let mut shutdown = self.shutdown_tx.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {}
                _ = shutdown.changed() => return,
            }
            let Some(this) = weak.upgrade() else { return };
            let mut groups = this.lock();
            if let Some(group) = groups.get_mut(&group_id) {
                act(&this, group);
            }
        });
    }
}
