//! Which control requests a broker obeys (Kafka's controller-epoch checks in `ReplicaManager` and
//! `KafkaApis.isBrokerEpochStale`): LeaderAndIsr, UpdateMetadata and StopReplica can delete logs,
//! replace metadata and move leaderships, so they are applied only when they come from the
//! controller ZooKeeper names, addressed to this broker's current registration.
//!
//! The broker remembers the newest (controller id, epoch) it has verified. A request naming exactly
//! that controller passes without a ZooKeeper read; an older epoch is stale; a newer epoch, or the
//! same epoch with another controller id, is checked against `/controller` and `/controller_epoch`
//! and never simply adopted, so a forged "epoch 1000" cannot take over the broker.

use std::sync::Mutex;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ApiKey;
use tracing::{info, warn};

use super::KafkaApis;
use crate::network::{Reply, RequestContext};

/// The newest controller this broker has confirmed in ZooKeeper.
#[derive(Debug)]
pub struct ControllerFence {
    /// (controller broker id, controller epoch); (-1, 0) before any control request.
    seen: Mutex<(i32, i32)>,
}

impl Default for ControllerFence {
    fn default() -> Self {
        ControllerFence {
            seen: Mutex::new((-1, 0)),
        }
    }
}

/// What a control request claims about its sender and its addressee.
#[derive(Debug, Clone, Copy)]
pub(super) struct ControlClaim {
    /// The API, for the log line of a refusal.
    pub api: &'static str,
    pub controller_id: i32,
    pub controller_epoch: i32,
    pub broker_epoch: i64,
}

/// The verdict on a claim against what is known without ZooKeeper.
#[derive(Debug, PartialEq, Eq)]
enum Known {
    /// The claimed controller is the one already confirmed.
    Confirmed,
    /// Older than the confirmed controller.
    Stale,
    /// Newer, or another id at the same epoch: only ZooKeeper can say.
    AskZooKeeper,
}

impl ControllerFence {
    fn seen(&self) -> (i32, i32) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn judge(&self, controller_id: i32, epoch: i32) -> Known {
        let (id, seen_epoch) = self.seen();
        if epoch < seen_epoch {
            Known::Stale
        } else if epoch == seen_epoch && controller_id == id {
            Known::Confirmed
        } else {
            Known::AskZooKeeper
        }
    }

    /// Records what ZooKeeper said, unless a newer controller was confirmed meanwhile.
    fn confirm(&self, controller_id: i32, epoch: i32) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if epoch > seen.1 || (epoch == seen.1 && controller_id != seen.0) {
            *seen = (controller_id, epoch);
            return true;
        }
        false
    }
}

/// The requests only controllers and brokers send each other: LeaderAndIsr, UpdateMetadata and
/// StopReplica from the controller, ControlledShutdown and AlterPartition to it.
fn is_control_api(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::LeaderAndIsr
            | ApiKey::UpdateMetadata
            | ApiKey::StopReplica
            | ApiKey::ControlledShutdown
            | ApiKey::AlterPartition
    )
}

impl KafkaApis {
    /// Control requests are served only on the control listener (`control.plane.listener.name`,
    /// else `inter.broker.listener.name`); on any other listener the connection is closed, so a
    /// client-facing listener never reaches them.
    pub(super) fn check_control_listener(&self, ctx: &RequestContext) -> Result<(), Reply> {
        let control = self.config.control_listener_name();
        if is_control_api(ctx.api_key) && &*ctx.listener != control {
            return Err(Reply::Close(format!(
                "{:?} from {} arrived on listener {}, not on the control listener {control}",
                ctx.api_key, ctx.peer, ctx.listener
            )));
        }
        Ok(())
    }

    /// Ok when `claim` comes from the controller ZooKeeper names and is addressed to this broker's
    /// current registration; else STALE_BROKER_EPOCH or STALE_CONTROLLER_EPOCH (logged once).
    pub(super) async fn authorize_control(&self, claim: ControlClaim) -> Result<(), ResponseError> {
        let verdict = self.check_claim(&claim).await;
        if let Err(code) = verdict {
            let (seen_controller, seen_epoch) = self.fence.seen();
            warn!(api = claim.api, controller = claim.controller_id,
                controller_epoch = claim.controller_epoch, broker_epoch = claim.broker_epoch,
                seen_controller, seen_epoch, broker_epoch_now = self.replicas.broker_epoch(),
                error = ?code, "refusing a control request that does not come from the controller");
        }
        verdict
    }

    async fn check_claim(&self, claim: &ControlClaim) -> Result<(), ResponseError> {
        self.check_broker_epoch(claim.broker_epoch).await?;
        match self
            .fence
            .judge(claim.controller_id, claim.controller_epoch)
        {
            Known::Confirmed => return Ok(()),
            Known::Stale => return Err(ResponseError::StaleControllerEpoch),
            Known::AskZooKeeper => {}
        }
        let active = self.zk().get_active_controller().await.map_err(|e| {
            warn!(error = %e, "cannot read /controller to check a control request");
            ResponseError::StaleControllerEpoch
        })?;
        let Some((id, epoch)) = active else {
            return Err(ResponseError::StaleControllerEpoch);
        };
        if self.fence.confirm(id, epoch) {
            info!(
                controller = id,
                controller_epoch = epoch,
                "confirmed the controller in ZooKeeper"
            );
        }
        if (claim.controller_id, claim.controller_epoch) == (id, epoch) {
            Ok(())
        } else {
            Err(ResponseError::StaleControllerEpoch)
        }
    }

    /// The broker epoch must be this broker's registration. A higher one may be a registration this
    /// broker has just made (after a session loss) and not yet recorded, so it is checked against
    /// `/brokers/ids/<id>`; anything else (older, -1, forged) is STALE_BROKER_EPOCH.
    async fn check_broker_epoch(&self, claimed: i64) -> Result<(), ResponseError> {
        let current = self.replicas.broker_epoch();
        if claimed == current {
            return Ok(());
        }
        if claimed > current {
            if let Ok(Some(registered)) = self.zk().get_broker_epoch(self.broker_id).await {
                if registered == claimed {
                    return Ok(());
                }
            }
        }
        Err(ResponseError::StaleBrokerEpoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_confirmed_controller_passes_without_zookeeper() {
        let fence = ControllerFence::default();
        assert_eq!(fence.judge(1, 1), Known::AskZooKeeper);
        assert!(fence.confirm(1, 3));
        assert_eq!(fence.judge(1, 3), Known::Confirmed);
        assert_eq!(fence.judge(2, 3), Known::AskZooKeeper);
        assert_eq!(fence.judge(1, 4), Known::AskZooKeeper);
        assert_eq!(fence.judge(1, 2), Known::Stale);
        // An answer read before a newer controller was confirmed does not roll the fence back.
        assert!(fence.confirm(2, 5));
        assert!(!fence.confirm(1, 4));
        assert_eq!(fence.judge(2, 5), Known::Confirmed);
        assert_eq!(fence.judge(1, 4), Known::Stale);
    }
}
