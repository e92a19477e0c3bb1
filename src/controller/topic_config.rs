//! A topic config change that allows unclean leader election (Kafka's
//! `TopicUncleanLeaderElectionEnable` event): the topic's leaderless partitions are elected again
//! at once, now allowed to pick a live replica outside the ISR.

use std::time::Instant;

use tracing::info;

use super::context::TopicPartition;
use super::event_loop::Controller;
use crate::zk::ZkError;

impl Controller {
    pub(super) async fn on_unclean_election_enabled(&mut self, topic: &str) -> Result<(), ZkError> {
        let seen = Instant::now();
        let offline: Vec<TopicPartition> = self
            .model
            .states
            .iter()
            .filter(|(tp, s)| tp.topic == topic && !self.model.live.contains_key(&s.leader))
            .map(|(tp, _)| tp.clone())
            .collect();
        if offline.is_empty() {
            return Ok(());
        }
        // The election re-reads the topic's config for partitions without a live ISR member.
        let changed = self.elect_and_write(&offline).await?;
        info!(
            topic,
            offline = offline.len(),
            elected = changed.len(),
            "unclean leader election enabled for topic"
        );
        if changed.is_empty() {
            return Ok(());
        }
        self.tell_changed(seen, &changed);
        Ok(())
    }
}
