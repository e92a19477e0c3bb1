//! The cleaner threads (Kafka's `LogCleaner` and its `CleanerThread`s): each repeatedly takes
//! the dirtiest log from the shared manager and cleans it, and sleeps `log.cleaner.backoff.ms`
//! when no log needs cleaning. Cleaning is blocking file I/O, so these are OS threads, not
//! tasks on the request runtime. Shutdown stops a cleaning between chunks; the cleaned files it
//! leaves are removed at once or, after a crash, by recovery.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing::{info, warn};

use super::cleaner::{Cleaner, CleanerError};
use super::cleaner_manager::CleanerManager;
use super::offset_map::OffsetMap;
use super::throttler::Throttler;
use super::CleanableLog;
use crate::clock::now_ms;
use crate::log::segment::{delete_files, SegmentFiles, CLEANED_SUFFIX};

/// The broker's `log.cleaner.*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.threads`.
    pub threads: i32,
    /// `log.cleaner.dedupe.buffer.size`: shared by all threads.
    pub dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor`.
    pub load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second`.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`.
    pub backoff_ms: i64,
}

/// Lists the hosted logs each time a thread looks for work.
pub type LogSource = Arc<dyn Fn() -> Vec<Arc<dyn CleanableLog>> + Send + Sync>;

/// Running cleaner threads.
pub struct LogCleaner {
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<()>, Condvar)>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts `log.cleaner.threads` threads, or none when the cleaner is disabled. Refuses a
    /// dedupe buffer too small for a single key per thread, as Kafka does.
    pub fn start(
        config: &CleanerConfig,
        log_dirs: &[PathBuf],
        source: LogSource,
    ) -> anyhow::Result<Option<LogCleaner>> {
        if !config.enable || config.threads <= 0 {
            info!("log cleaner disabled");
            return Ok(None);
        }
        let threads = config.threads as usize;
        let memory = (config.dedupe_buffer_size.max(0) as u64 / threads as u64).min(i32::MAX as u64)
            as usize;
        if OffsetMap::slots_for(memory) as f64 * config.load_factor <= 1.0 {
            anyhow::bail!(
                "the cleaner's offset map is too small to fit even a single message, so log \
                 cleaning will never make progress: increase log.cleaner.dedupe.buffer.size \
                 or decrease log.cleaner.threads"
            );
        }
        let manager = Arc::new(CleanerManager::load(log_dirs)?);
        let throttler = Arc::new(Throttler::new(
            config.io_max_bytes_per_second,
            Instant::now(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new((Mutex::new(()), Condvar::new()));
        let backoff = Duration::from_millis(config.backoff_ms.max(0) as u64);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let cleaner = Cleaner::new(memory, config.load_factor, throttler.clone(), stop.clone());
            let (manager, source, stop, wake) =
                (manager.clone(), source.clone(), stop.clone(), wake.clone());
            let handle = std::thread::Builder::new()
                .name(format!("kafka-log-cleaner-thread-{i}"))
                .spawn(move || run(cleaner, &manager, &source, backoff, &stop, &wake))
                .context("cannot start a log cleaner thread")?;
            handles.push(handle);
        }
        info!(
            threads,
            map_memory = memory,
            backoff_ms = config.backoff_ms,
            "log cleaner started"
        );
        Ok(Some(LogCleaner {
            stop,
            wake,
            threads: handles,
        }))
    }

    /// Stops the threads, aborting cleanings in progress, and waits for them.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.1.notify_all();
        for t in self.threads {
            if t.join().is_err() {
                warn!("a log cleaner thread panicked");
            }
        }
        info!("log cleaner stopped");
    }
}

fn run(
    mut cleaner: Cleaner,
    manager: &CleanerManager,
    source: &LogSource,
    backoff: Duration,
    stop: &AtomicBool,
    wake: &(Mutex<()>, Condvar),
) {
    while !stop.load(Ordering::Relaxed) {
        let cleaned = match clean_filthiest(&mut cleaner, manager, source) {
            Ok(cleaned) => cleaned,
            Err(CleanerError::Aborted) => return,
            Err(CleanerError::Log(e)) => {
                warn!(error = %e, "log cleaning failed");
                false
            }
        };
        if !cleaned {
            let guard = wake.0.lock().unwrap_or_else(|e| e.into_inner());
            let _ = wake
                .1
                .wait_timeout_while(guard, backoff, |_| !stop.load(Ordering::Relaxed));
        }
    }
}

/// Kafka's `cleanFilthiestLog`: `true` when a log was cleaned.
fn clean_filthiest(
    cleaner: &mut Cleaner,
    manager: &CleanerManager,
    source: &LogSource,
) -> Result<bool, CleanerError> {
    let now = now_ms();
    let Some(grabbed) = manager.grab_filthiest(&source(), now)? else {
        return Ok(false);
    };
    let (handle, truncations, dir) = (
        grabbed.handle.clone(),
        grabbed.log.truncations,
        grabbed.log.dir.clone(),
    );
    let mut swap = |base: i64, old: &[Arc<SegmentFiles>]| match handle.upgrade() {
        Some(log) => log.lock_log().replace_segments(base, old, truncations),
        None => {
            // The partition left this broker while being cleaned.
            delete_files(&dir, base, CLEANED_SUFFIX)?;
            Ok(false)
        }
    };
    let started = Instant::now();
    let result = cleaner.clean(&grabbed.log, now, &mut swap);
    if let (Err(CleanerError::Log(e)), Some(log)) = (&result, handle.upgrade()) {
        log.cleaning_failed(e);
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let end = match &result {
        Ok(Some(r)) => Some(r.end_offset),
        _ => None,
    };
    manager.done_cleaning(&grabbed.tp, &grabbed.log_dir, end)?;
    let (topic, partition) = (&grabbed.tp.topic, grabbed.tp.partition);
    if let Err(CleanerError::Aborted) = &result {
        // Shutting down: what was swapped in stays, the checkpoint does not move.
        info!(topic = %topic, partition, elapsed_ms, "log cleaning aborted");
    }
    match result? {
        Some(r) => {
            info!(topic = %topic, partition, end_offset = r.end_offset, bytes_read = r.bytes_read,
                bytes_written = r.bytes_written, records_read = r.records_read,
                records_kept = r.records_kept, map_utilization = r.map_utilization, elapsed_ms,
                "log cleaning finished");
            Ok(true)
        }
        None => {
            info!(topic = %topic, partition, "log cleaning made no progress");
            Ok(false)
        }
    }
}
