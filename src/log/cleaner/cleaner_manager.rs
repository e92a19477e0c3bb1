//! Which log to clean next (Kafka's `LogCleanerManager`): the compacted log whose dirty share of
//! bytes is largest and above its `min.cleanable.dirty.ratio` (or whose dirty data is older than
//! `max.compaction.lag.ms`), never one already being cleaned; plus the
//! `cleaner-offset-checkpoint` of each log dir, where each log's first dirty offset survives
//! restarts.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use tracing::{info, warn};

use super::cleaner::LogToClean;
use super::CleanableLog;
use crate::log::checkpoint::{read_offsets, write_offsets, PartitionOffset};
use crate::log::log_dir::partition_dir_name;
use crate::log::{Log, LogError};

/// Kafka's file name for the cleaner's checkpoint, one per log dir.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

use crate::topic_partition::TopicPartition;

/// A log handed to a cleaner thread.
pub struct Grabbed {
    pub tp: TopicPartition,
    pub handle: Weak<dyn CleanableLog>,
    /// The log dir (parent of the partition directory), whose checkpoint records the result.
    pub log_dir: PathBuf,
    pub log: LogToClean,
    pub ratio: f64,
}

#[derive(Default)]
struct State {
    in_progress: HashSet<TopicPartition>,
    checkpoints: HashMap<PathBuf, HashMap<TopicPartition, i64>>,
}

pub struct CleanerManager {
    state: Mutex<State>,
}

/// The offsets and sizes that decide whether a log is worth cleaning (Kafka's
/// `cleanableOffsets`, `calculateCleanableBytes` and `maxCompactionDelay`).
struct Dirtiness {
    first_dirty: i64,
    /// The checkpointed offset was outside the log and was reset to the log start.
    reset: bool,
    first_uncleanable: i64,
    clean_bytes: u64,
    cleanable_bytes: u64,
    needs_compaction_now: bool,
}

impl Dirtiness {
    fn ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / total as f64
        }
    }
}

fn dirtiness(
    log: &Log,
    checkpoint: Option<i64>,
    high_watermark: i64,
    now_ms: i64,
) -> Result<Dirtiness, LogError> {
    let segments = &log.segments;
    let checkpointed = checkpoint.unwrap_or(log.log_start_offset);
    let reset = checkpointed < log.log_start_offset || checkpointed > log.log_end_offset;
    let first_dirty = if reset {
        log.log_start_offset
    } else {
        checkpointed
    };
    let active = segments.len().saturating_sub(1);
    let active_base = segments.last().map_or(0, |s| s.base_offset());
    let floor = |offset: i64| {
        segments
            .iter()
            .rposition(|s| s.base_offset() <= offset)
            .unwrap_or(0)
    };
    let mut uncleanable = high_watermark.min(log.log_end_offset).min(active_base);
    if log.config.min_compaction_lag_ms > 0 {
        let horizon = now_ms - log.config.min_compaction_lag_ms;
        for s in &segments[floor(first_dirty)..active] {
            if s.largest_timestamp()? > horizon {
                uncleanable = uncleanable.min(s.base_offset());
                break;
            }
        }
    }
    let uncleanable = uncleanable.max(first_dirty);
    let first_uncleanable = if uncleanable >= active_base {
        active_base
    } else {
        segments[floor(uncleanable)].base_offset()
    };
    let from = floor(first_dirty.min(first_uncleanable));
    let cleanable_bytes = segments[from..]
        .iter()
        .take_while(|s| s.base_offset() < first_uncleanable)
        .map(|s| s.size())
        .sum();
    let clean_bytes = segments
        .iter()
        .take_while(|s| s.base_offset() < first_dirty)
        .map(|s| s.size())
        .sum();
    let mut needs_compaction_now = false;
    if log.config.max_compaction_lag_ms < i64::MAX {
        let clean_until = now_ms.saturating_sub(log.config.max_compaction_lag_ms.max(0));
        for s in &segments[floor(first_dirty)..active] {
            if s.first_batch_timestamp()?
                .is_some_and(|ts| ts > 0 && ts < clean_until)
            {
                needs_compaction_now = true;
                break;
            }
        }
    }
    Ok(Dirtiness {
        first_dirty,
        reset,
        first_uncleanable,
        clean_bytes,
        cleanable_bytes,
        needs_compaction_now,
    })
}

impl CleanerManager {
    /// Reads each log dir's `cleaner-offset-checkpoint` (a missing file is an empty one).
    pub fn load(log_dirs: &[PathBuf]) -> Result<CleanerManager, LogError> {
        let mut state = State::default();
        for dir in log_dirs {
            let entries = read_offsets(&dir.join(CLEANER_OFFSET_CHECKPOINT))?;
            state.checkpoints.insert(
                dir.clone(),
                entries
                    .into_iter()
                    .map(|e| (TopicPartition::new(e.topic, e.partition), e.offset))
                    .collect(),
            );
        }
        Ok(CleanerManager {
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kafka's `grabFilthiestCompactedLog`: copies what the cleaner needs of the dirtiest
    /// cleanable log and marks it in progress.
    pub fn grab_filthiest(
        &self,
        logs: &[Arc<dyn CleanableLog>],
        now_ms: i64,
    ) -> Result<Option<Grabbed>, LogError> {
        let mut best: Option<Grabbed> = None;
        for handle in logs {
            let tp = TopicPartition::new(handle.topic(), handle.partition());
            let hw = handle.high_watermark();
            let log = handle.lock_log();
            if !log.config.cleanup_compact {
                continue;
            }
            let log_dir = log.dir.parent().map(Path::to_path_buf).unwrap_or_default();
            let checkpoint = {
                let state = self.state();
                if state.in_progress.contains(&tp) {
                    continue;
                }
                state
                    .checkpoints
                    .get(&log_dir)
                    .and_then(|m| m.get(&tp))
                    .copied()
            };
            let d = dirtiness(&log, checkpoint, hw, now_ms)?;
            if d.reset {
                info!(topic = %tp.topic, partition = tp.partition, checkpoint, first_dirty = d.first_dirty,
                    "cleaner checkpoint outside the log, cleaning from the log start");
                self.state()
                    .checkpoints
                    .entry(log_dir.clone())
                    .or_default()
                    .insert(tp.clone(), d.first_dirty);
            }
            let ratio = d.ratio();
            let eligible = (d.needs_compaction_now && d.cleanable_bytes > 0)
                || ratio > log.config.min_cleanable_dirty_ratio;
            if !eligible || best.as_ref().is_some_and(|b| b.ratio >= ratio) {
                continue;
            }
            let active = log.segments.len().saturating_sub(1);
            best = Some(Grabbed {
                tp,
                handle: Arc::downgrade(handle),
                log_dir,
                log: LogToClean {
                    dir: log.dir.clone(),
                    config: log.config.clone(),
                    segments: log.segments[..active]
                        .iter()
                        .map(|s| s.files().clone())
                        .collect(),
                    first_dirty_offset: d.first_dirty,
                    first_uncleanable_offset: d.first_uncleanable,
                    producer_last_offsets: log.producers.last_batch_offsets(),
                    truncations: log.truncations,
                },
                ratio,
            });
        }
        if let Some(g) = &best {
            self.state().in_progress.insert(g.tp.clone());
            info!(topic = %g.tp.topic, partition = g.tp.partition, dirty_ratio = g.ratio,
                first_dirty = g.log.first_dirty_offset,
                first_uncleanable = g.log.first_uncleanable_offset, "log cleaning started");
        }
        Ok(best)
    }

    /// Kafka's `doneCleaning`: the log is no longer in progress, and a finished cleaning's end
    /// offset becomes its checkpointed first dirty offset.
    pub fn done_cleaning(
        &self,
        tp: &TopicPartition,
        log_dir: &Path,
        end_offset: Option<i64>,
    ) -> Result<(), LogError> {
        let mut state = self.state();
        state.in_progress.remove(tp);
        let Some(end) = end_offset else {
            return Ok(());
        };
        let offsets = state.checkpoints.entry(log_dir.to_path_buf()).or_default();
        offsets.insert(tp.clone(), end);
        // Logs deleted since are dropped, as Kafka removes their entries.
        offsets.retain(
            |TopicPartition {
                 topic: t,
                 partition: p,
             },
             _| log_dir.join(partition_dir_name(t, *p)).is_dir(),
        );
        let mut entries: Vec<PartitionOffset> = offsets
            .iter()
            .map(
                |(TopicPartition { topic, partition }, offset)| PartitionOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                },
            )
            .collect();
        entries.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let path = log_dir.join(CLEANER_OFFSET_CHECKPOINT);
        if let Err(e) = write_offsets(&path, &entries) {
            warn!(path = %path.display(), error = %e, "cannot write the cleaner checkpoint");
            return Err(e);
        }
        Ok(())
    }

    /// The checkpointed first dirty offset of a log, if any.
    #[cfg(test)]
    pub fn checkpoint(&self, log_dir: &Path, tp: &TopicPartition) -> Option<i64> {
        self.state()
            .checkpoints
            .get(log_dir)
            .and_then(|m| m.get(tp))
            .copied()
    }
}
