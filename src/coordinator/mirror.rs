//! Mirroring live members and partition owners into the store (`/consumers/<group>/ids` and
//! `/owners`) for legacy tools.
//!
//! The state machine only publishes the latest desired picture into a per-group `watch`; one
//! worker task per group writes whatever is newest. Writes therefore never block a request,
//! never reorder (an old picture cannot overwrite a newer one), and a failure is only a warning.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use super::consumer_protocol::{assigned_partitions, subscribed_topics};
use super::group::{Group, GroupState};
use super::group_coordinator::GroupCoordinator;
use super::store::{MemberMirror, OffsetStore, TopicPartition};

/// What the mirror of one group should show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MirrorState {
    pub members: Vec<MemberMirror>,
    pub owners: Vec<(TopicPartition, String)>,
}

fn desired(group: &Group) -> MirrorState {
    let protocol = group.protocol_name.as_deref();
    let consumer = group.protocol_type.as_deref() == Some("consumer");
    let members = group
        .members
        .values()
        .map(|m| {
            let metadata = protocol
                .map(|p| m.metadata_for(p))
                .or_else(|| m.protocols.first().map(|(_, b)| b.clone()));
            let topics = match metadata {
                Some(md) if consumer => subscribed_topics(&md).unwrap_or_default(),
                _ => Vec::new(),
            };
            MemberMirror {
                member_id: m.member_id.clone(),
                topics,
                timestamp_ms: m.joined_at_ms,
            }
        })
        .collect();
    let mut owners = Vec::new();
    if consumer && group.state == GroupState::Stable {
        for m in group.members.values() {
            for tp in assigned_partitions(&m.assignment).unwrap_or_default() {
                owners.push((tp, m.member_id.clone()));
            }
        }
    }
    owners.sort();
    MirrorState { members, owners }
}

impl GroupCoordinator {
    /// Publishes the group's current membership to its mirror worker (starting it if needed).
    pub(crate) fn publish_mirror(&self, group: &Group) {
        if self.is_shut_down() {
            return;
        }
        let state = desired(group);
        let Ok(mut mirrors) = self.mirrors.lock() else {
            return;
        };
        if let Some(tx) = mirrors.get(&group.id) {
            tx.send_if_modified(|cur| {
                let changed = *cur != state;
                *cur = state.clone();
                changed
            });
            return;
        }
        let (tx, rx) = watch::channel(state);
        mirrors.insert(group.id.clone(), tx);
        let store = self.store.clone();
        let shutdown = self.shutdown_tx.subscribe();
        tokio::spawn(mirror_worker(store, group.id.clone(), rx, shutdown));
    }

    /// Rewrites every group's mirror. The glue calls this after the broker's ZooKeeper session
    /// was replaced: the ephemeral `ids`/`owners` znodes died with the old session.
    pub fn refresh_mirrors(&self) {
        if let Ok(mirrors) = self.mirrors.lock() {
            for tx in mirrors.values() {
                tx.send_modify(|_| {});
            }
        }
    }

    /// Stops mirroring a group (it was deleted).
    pub(crate) fn forget_mirror(&self, group: &str) {
        if let Ok(mut mirrors) = self.mirrors.lock() {
            mirrors.remove(group);
        }
    }
}

/// Retries of a failed mirror write back off from 1 s to 30 s (unless a newer picture arrives).
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

async fn mirror_worker(
    store: Arc<dyn OffsetStore>,
    group: String,
    mut rx: watch::Receiver<MirrorState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = RETRY_MIN;
    loop {
        let state = rx.borrow_and_update().clone();
        let mut failed = false;
        if let Err(e) = store.mirror_members(&group, state.members).await {
            warn!(group = %group, error = %e, "could not mirror group members");
            failed = true;
        }
        if let Err(e) = store.mirror_owners(&group, state.owners).await {
            warn!(group = %group, error = %e, "could not mirror partition owners");
            failed = true;
        }
        let retry = async {
            if failed {
                tokio::time::sleep(backoff).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return;
                }
                backoff = RETRY_MIN;
            }
            _ = retry => backoff = (backoff * 2).min(RETRY_MAX),
            _ = shutdown.changed() => return,
        }
    }
}
