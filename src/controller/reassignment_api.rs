//! The reassignment Admin APIs as Kafka 3.9's ZooKeeper-mode controller serves them
//! (`processApiPartitionReassignment`, `processListPartitionReassignments`): only the active
//! controller answers (any other broker says NOT_CONTROLLER and the admin client retries against
//! the controller). An API reassignment takes precedence over the same partition's entry in
//! `/admin/reassign_partitions`, which is removed; both then share the controller path of
//! [`super::reassignment`].

use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tracing::info;

use super::context::{ClusterModel, TopicPartition};
use super::event_loop::Controller;
use super::{ControllerEvent, ControllerHandle};
use crate::zk::ZkError;

/// One partition's outcome: accepted, or Kafka's error code and message.
pub type ReassignOutcome = Result<(), (ResponseError, Option<String>)>;

/// What an AlterPartitionReassignments request gets back: each partition's outcome, or
/// NOT_CONTROLLER.
pub type AlterReassignmentsOutcome = Result<Vec<(TopicPartition, ReassignOutcome)>, ResponseError>;

/// A reassignment in progress as ListPartitionReassignments shows it: RS, AR and RR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// What a ListPartitionReassignments request gets back.
pub type ListReassignmentsOutcome =
    Result<Vec<(TopicPartition, OngoingReassignment)>, ResponseError>;

/// Kafka's `validateReplicas`: a non-empty list without duplicates or negative ids, whose new
/// replicas are all live brokers.
pub fn validate_replicas(
    model: &ClusterModel,
    tp: &TopicPartition,
    target: &[i32],
) -> ReassignOutcome {
    let invalid = |m: String| Err((ResponseError::InvalidReplicaAssignment, Some(m)));
    let mut distinct = target.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if target.is_empty() {
        return invalid("Empty replica list specified in partition reassignment.".into());
    }
    if distinct.len() != target.len() {
        return invalid(format!(
            "Duplicate replica ids in partition reassignment replica list: {}",
            scala_seq("ArrayBuffer", target)
        ));
    }
    if target.iter().any(|b| *b < 0) {
        return invalid(format!(
            "Invalid broker id in replica list: {}",
            scala_seq("ArrayBuffer", target)
        ));
    }
    let origin = origin_replicas(model, tp);
    let adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|b| !origin.contains(b))
        .collect();
    let eligible = model.eligible();
    if adding.iter().all(|b| eligible.contains_key(b)) {
        return Ok(());
    }
    let live: Vec<i32> = eligible.keys().copied().collect();
    invalid(format!(
        "Replica assignment has brokers that are not alive. Replica list: {}, live broker list: {}",
        scala_seq("ArrayBuffer", &adding),
        scala_seq("Set", &live)
    ))
}

/// How Scala prints a collection of ids in Kafka's messages, e.g. `ArrayBuffer(1, 2)`.
fn scala_seq(kind: &str, ids: &[i32]) -> String {
    let items: Vec<String> = ids.iter().map(i32::to_string).collect();
    format!("{kind}({})", items.join(", "))
}

/// ORS: the replicas before the reassignment in progress, else the current replicas (empty for a
/// partition that does not exist).
fn origin_replicas(model: &ClusterModel, tp: &TopicPartition) -> Vec<i32> {
    match model.reassignments.get(tp) {
        Some(r) => r.original.clone(),
        None => model.replicas(tp).to_vec(),
    }
}

/// Kafka's `maybeBuildReassignment`: the target of a request (a cancellation targets ORS); None for
/// a cancellation of a partition that is not being reassigned.
fn build(model: &ClusterModel, tp: &TopicPartition, target: Option<Vec<i32>>) -> Option<Vec<i32>> {
    match (model.reassignments.get(tp), target) {
        (_, Some(t)) => Some(t),
        (Some(r), None) => Some(r.original.clone()),
        (None, None) => None,
    }
}

fn unknown_partition() -> (ResponseError, Option<String>) {
    (
        ResponseError::UnknownTopicOrPartition,
        Some("The partition does not exist.".into()),
    )
}

impl Controller {
    /// An AlterPartitionReassignments request: each partition validated, then started (or
    /// cancelled) through the same path as `/admin/reassign_partitions`.
    pub(super) async fn on_alter_reassignments(
        &mut self,
        partitions: Vec<(TopicPartition, Option<Vec<i32>>)>,
    ) -> Result<Vec<(TopicPartition, ReassignOutcome)>, ZkError> {
        let mut results = Vec::with_capacity(partitions.len());
        let mut accepted = Vec::new();
        for (tp, target) in partitions {
            if let Some(Err(e)) = target
                .as_deref()
                .map(|t| validate_replicas(&self.model, &tp, t))
            {
                results.push((tp, Err(e)));
                continue;
            }
            match build(&self.model, &tp, target) {
                Some(t) => accepted.push((tp, t)),
                None => results.push((
                    tp,
                    Err((
                        ResponseError::NoReassignmentInProgress,
                        Some("No partition reassignment is in progress.".into()),
                    )),
                )),
            }
        }
        // The latest reassignment, by the API or ZooKeeper, takes precedence.
        let tps: Vec<TopicPartition> = accepted.iter().map(|(tp, _)| tp.clone()).collect();
        self.remove_reassignment_entries(&tps).await?;
        let mut start = Vec::new();
        for (tp, target) in accepted {
            if self.model.replicas(&tp).is_empty() || self.model.deleting.contains_key(&tp.topic) {
                results.push((tp, Err(unknown_partition())));
                continue;
            }
            info!(topic = %tp.topic, partition = tp.partition, target = ?target, "reassignment requested through the API");
            start.push((tp.clone(), origin_replicas(&self.model, &tp), target));
            results.push((tp, Ok(())));
        }
        if !start.is_empty() {
            self.start_reassignments(start).await?;
        }
        Ok(results)
    }

    /// A ListPartitionReassignments request: the listed partitions (every one when None) that are
    /// being reassigned.
    pub(super) fn on_list_reassignments(
        &self,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<(TopicPartition, OngoingReassignment)> {
        let view = |tp: &TopicPartition| {
            let r = self.model.reassignments.get(tp)?;
            (!r.adding().is_empty() || !r.removing().is_empty()).then(|| OngoingReassignment {
                replicas: self.model.replicas(tp).to_vec(),
                adding: r.adding(),
                removing: r.removing(),
            })
        };
        let tps: Vec<TopicPartition> = match partitions {
            Some(tps) => tps,
            None => self.model.reassignments.keys().cloned().collect(),
        };
        tps.into_iter()
            .filter_map(|tp| Some((tp.clone(), view(&tp)?)))
            .collect()
    }
}

impl ControllerHandle {
    /// Hands an AlterPartitionReassignments request (None: cancel) to the controller and waits for
    /// its answer.
    pub async fn alter_reassignments(
        &self,
        partitions: Vec<(TopicPartition, Option<Vec<i32>>)>,
    ) -> AlterReassignmentsOutcome {
        if !self.is_active() {
            return Err(ResponseError::NotController);
        }
        let (reply, rx) = oneshot::channel();
        self.send(ControllerEvent::AlterReassignments { partitions, reply });
        rx.await.unwrap_or(Err(ResponseError::NotController))
    }

    /// Hands a ListPartitionReassignments request (None: all) to the controller.
    pub async fn list_reassignments(
        &self,
        partitions: Option<Vec<TopicPartition>>,
    ) -> ListReassignmentsOutcome {
        if !self.is_active() {
            return Err(ResponseError::NotController);
        }
        let (reply, rx) = oneshot::channel();
        self.send(ControllerEvent::ListReassignments { partitions, reply });
        rx.await.unwrap_or(Err(ResponseError::NotController))
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::super::context::Reassignment;
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn code(o: ReassignOutcome) -> Option<(ResponseError, String)> {
        o.err().map(|(e, m)| (e, m.unwrap_or_default()))
    }

    #[test]
    fn replicas_are_validated_as_kafka_does() {
        let m = model(&[1, 2, 3], &[(&[1, 2], 1, &[1, 2])]);
        assert!(validate_replicas(&m, &tp(), &[3, 2]).is_ok());
        let (e, msg) = code(validate_replicas(&m, &tp(), &[])).unwrap();
        assert_eq!(e, ResponseError::InvalidReplicaAssignment);
        assert_eq!(
            msg,
            "Empty replica list specified in partition reassignment."
        );
        let (_, msg) = code(validate_replicas(&m, &tp(), &[2, 2])).unwrap();
        assert_eq!(
            msg,
            "Duplicate replica ids in partition reassignment replica list: ArrayBuffer(2, 2)"
        );
        let (_, msg) = code(validate_replicas(&m, &tp(), &[-1])).unwrap();
        assert_eq!(msg, "Invalid broker id in replica list: ArrayBuffer(-1)");
        let (_, msg) = code(validate_replicas(&m, &tp(), &[1, 4])).unwrap();
        assert_eq!(
            msg,
            "Replica assignment has brokers that are not alive. Replica list: ArrayBuffer(4), \
             live broker list: Set(1, 2, 3)"
        );
    }

    #[test]
    fn a_cancellation_targets_the_original_replicas() {
        let mut m = model(&[1, 2, 3], &[(&[3, 1, 2], 1, &[1, 2])]);
        assert_eq!(build(&m, &tp(), None), None);
        m.reassignments.insert(
            tp(),
            Reassignment {
                original: vec![1, 2],
                target: vec![3, 1],
            },
        );
        assert_eq!(build(&m, &tp(), None), Some(vec![1, 2]));
        assert_eq!(build(&m, &tp(), Some(vec![2])), Some(vec![2]));
        // Replicas already there are not "added": a dead original replica does not refuse.
        assert!(validate_replicas(&m, &tp(), &[2, 1]).is_ok());
    }
}
