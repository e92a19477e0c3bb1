//! Idempotent-producer state (Kafka's `ProducerStateManager` / `ProducerAppendInfo`): per
//! producer id, the current epoch and the last five batches' sequence ranges, so a retried batch
//! is answered with its original offsets and a gap or a fenced epoch is refused.
//!
//! Kafka persists `.snapshot` files at segment rolls; this broker rebuilds the state from batch
//! headers when the log is opened instead (more read I/O at start-up, no extra file format).

use std::collections::{HashMap, VecDeque};

use crate::log::record_batch::BatchHeader;
use crate::log::LogError;

/// Kafka's `NUM_BATCHES_TO_RETAIN`: the in-flight request limit of an idempotent producer.
const BATCHES_TO_RETAIN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMetadata {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

/// What a leader append should do with a producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// Already in the log at (first offset, last offset): answer with those, append nothing.
    Duplicate(i64, i64),
}

/// Kafka's `inSequence`: the next sequence follows the last, wrapping at `i32::MAX`.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

#[derive(Debug, Default)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// A checker for the batches of one request: each is checked against the stored state plus
    /// the batches accepted before it, in constant time per batch (only the producers the request
    /// names are copied), so a request of n batches costs O(n), not O(n²).
    pub fn checker(&self) -> SequenceChecker<'_> {
        SequenceChecker {
            stored: self,
            pending: HashMap::new(),
        }
    }

    /// Records an appended batch (leader, follower or recovery). `base_offset` is the batch's
    /// offset in the log.
    pub fn update(&mut self, h: &BatchHeader, base_offset: i64) {
        if !h.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        Self::record(entry, h, base_offset);
    }

    fn record(entry: &mut ProducerEntry, h: &BatchHeader, base_offset: i64) {
        if entry.epoch != h.producer_epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: base_offset,
            last_offset: base_offset + i64::from(h.last_offset_delta),
        });
    }

    /// Forgets batches at or after `offset` (the log was truncated there); producers left with
    /// no batch are forgotten entirely, so their next sequence is accepted as for a new one.
    pub fn truncate_from(&mut self, offset: i64) {
        self.producers.retain(|_, entry| {
            entry.batches.retain(|b| b.last_offset < offset);
            !entry.batches.is_empty()
        });
    }

    /// The last offset of each producer's last batch (Kafka's `lastRecordsOfActiveProducers`
    /// for non-transactional producers): the cleaner keeps those batches, emptied if need be,
    /// so a producer's sequence survives compaction.
    pub fn last_batch_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    pub fn clear(&mut self) {
        self.producers.clear();
    }
}

/// The sequence rules for batch `h` given its producer's state (`None`: a producer this log has
/// not seen, which may start anywhere).
fn check_entry(entry: Option<&ProducerEntry>, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
    if !h.has_producer_id() {
        return Ok(SequenceCheck::Append);
    }
    let Some(entry) = entry else {
        return Ok(SequenceCheck::Append);
    };
    if h.producer_epoch == entry.epoch {
        let dup = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence());
        if let Some(b) = dup {
            return Ok(SequenceCheck::Duplicate(b.first_offset, b.last_offset));
        }
    }
    if h.producer_epoch < entry.epoch {
        return Err(LogError::InvalidProducerEpoch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            current: entry.epoch,
        });
    }
    if h.producer_epoch != entry.epoch {
        if h.base_sequence != 0 {
            return Err(LogError::OutOfOrderSequence {
                producer_id: h.producer_id,
                reason: format!(
                    "new epoch {} must start at sequence 0, got {}",
                    h.producer_epoch, h.base_sequence
                ),
            });
        }
    } else if let Some(last) = entry.last_seq() {
        if !in_sequence(last, h.base_sequence) {
            return Err(LogError::OutOfOrderSequence {
                producer_id: h.producer_id,
                reason: format!(
                    "expected sequence {}, got {} (epoch {})",
                    i64::from(last) + 1,
                    h.base_sequence,
                    h.producer_epoch
                ),
            });
        }
    }
    Ok(SequenceCheck::Append)
}

/// The producer state as one leader append in progress sees it (see
/// [`ProducerStateManager::checker`]).
pub struct SequenceChecker<'a> {
    stored: &'a ProducerStateManager,
    /// Producers named by batches already accepted in this request, with those batches recorded.
    pending: HashMap<i64, ProducerEntry>,
}

impl SequenceChecker<'_> {
    /// Checks `h` against the stored state and the batches accepted so far.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        let entry = self
            .pending
            .get(&h.producer_id)
            .or_else(|| self.stored.producers.get(&h.producer_id));
        check_entry(entry, h)
    }

    /// Records `h` (its `base_offset` already assigned) as accepted, for the batches after it.
    pub fn accept(&mut self, h: &BatchHeader) {
        if !h.has_producer_id() {
            return;
        }
        let stored = self.stored;
        let entry = self.pending.entry(h.producer_id).or_insert_with(|| {
            stored
                .producers
                .get(&h.producer_id)
                .cloned()
                .unwrap_or_default()
        });
        ProducerStateManager::record(entry, h, h.base_offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut s = ProducerStateManager::new();
        let first = header(1, 0, 0, 3, 0);
        assert_eq!(s.checker().check(&first).unwrap(), SequenceCheck::Append);
        s.update(&first, 10);
        assert_eq!(
            s.checker().check(&first).unwrap(),
            SequenceCheck::Duplicate(10, 12)
        );
        assert!(matches!(
            s.checker().check(&header(1, 0, 5, 1, 0)),
            Err(LogError::OutOfOrderSequence { .. })
        ));
        assert_eq!(
            s.checker().check(&header(1, 0, 3, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
        // A bumped epoch must restart at 0; after it, the old epoch is fenced.
        assert!(s.checker().check(&header(1, 1, 3, 1, 0)).is_err());
        s.update(&header(1, 1, 0, 1, 0), 13);
        assert!(matches!(
            s.checker().check(&header(1, 0, 3, 1, 0)),
            Err(LogError::InvalidProducerEpoch { current: 1, .. })
        ));
        // Unknown producers may start at any sequence.
        assert_eq!(
            s.checker().check(&header(2, 0, 42, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn only_last_five_batches_are_remembered_and_pending_counts() {
        let mut s = ProducerStateManager::new();
        for i in 0..6 {
            s.update(&header(7, 0, i, 1, 0), i64::from(i));
        }
        assert!(s.checker().check(&header(7, 0, 0, 1, 0)).is_err());
        assert_eq!(
            s.checker().check(&header(7, 0, 1, 1, 0)).unwrap(),
            SequenceCheck::Duplicate(1, 1)
        );
        let mut request = s.checker();
        request.accept(&header(7, 0, 6, 1, 6));
        assert_eq!(
            request.check(&header(7, 0, 7, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
        assert_eq!(
            request.check(&header(7, 0, 6, 1, 0)).unwrap(),
            SequenceCheck::Duplicate(6, 6)
        );
        assert!(request.check(&header(7, 0, 8, 1, 0)).is_err());
        // The stored state is untouched until the append happens.
        assert!(s.checker().check(&header(7, 0, 7, 1, 0)).is_err());
    }

    #[test]
    fn truncation_forgets_later_batches() {
        let mut s = ProducerStateManager::new();
        s.update(&header(4, 0, 0, 2, 0), 0);
        s.update(&header(4, 0, 2, 2, 0), 2);
        s.update(&header(5, 0, 0, 1, 0), 4);
        s.truncate_from(2);
        assert_eq!(
            s.checker().check(&header(4, 0, 2, 2, 0)).unwrap(),
            SequenceCheck::Append
        );
        assert_eq!(
            s.checker().check(&header(5, 0, 9, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerStateManager::new();
        s.update(&header(3, 0, i32::MAX - 1, 2, 0), 0);
        assert_eq!(
            s.checker().check(&header(3, 0, 0, 1, 0)).unwrap(),
            SequenceCheck::Append
        );
    }

    #[test]
    fn a_request_of_many_batches_is_checked_in_linear_time() {
        let s = ProducerStateManager::new();
        let mut request = s.checker();
        let started = std::time::Instant::now();
        for i in 0..200_000 {
            let h = header(9, 0, i, 1, i64::from(i));
            assert_eq!(request.check(&h).unwrap(), SequenceCheck::Append);
            request.accept(&h);
        }
        // Quadratic checking took minutes here; linear takes milliseconds even unoptimised.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(request.check(&header(9, 0, 5, 1, 0)).is_err());
    }
}
