//! The controller event stream (`zkafka.controller.events.file`): while this broker is the active
//! controller, one JSON line per phase of each controller event, appended and flushed line by line,
//! so the downtime lab (`zkafka lab failover`) can put the controller's work on the same clock as
//! the clients' unavailability. The schema is in docs/controller-events.md; the metrics endpoint may
//! read the same phase points, so the format only changes with that document.
//!
//! It is a low-rate stream (a few lines per controller event, never one per partition), so lines
//! are written with one `write` each under a mutex, without a background task.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::warn;

/// The phases are the metrics' (`zkafka_controller_phase_ms`): one vocabulary for both views.
pub use crate::metrics::Phase;

/// One line of the stream.
#[derive(Debug, Serialize)]
struct Line<'a> {
    ts_ms: u64,
    broker: i32,
    controller_epoch: i32,
    event: &'a str,
    seq: u64,
    phase: &'static str,
    partitions: usize,
    brokers: &'a [i32],
}

/// The open stream of one controller term, or nothing when the key is unset.
#[derive(Clone, Default)]
pub struct EventStream {
    file: Option<Arc<Mutex<File>>>,
}

impl EventStream {
    /// Opens `path` for appending; a file that cannot be opened turns the stream off with a warning,
    /// since the stream is an observation aid and must not keep a controller from serving.
    pub fn open(path: Option<&Path>) -> EventStream {
        let Some(path) = path else {
            return EventStream::default();
        };
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => EventStream {
                file: Some(Arc::new(Mutex::new(f))),
            },
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot open zkafka.controller.events.file; no events will be written");
                EventStream::default()
            }
        }
    }
}

/// The event being handled: the stream plus what every line of that event repeats. Cloned into the
/// tasks that wait for acknowledgements, which write the event's last phases.
#[derive(Clone)]
pub struct EventMark {
    stream: EventStream,
    broker: i32,
    controller_epoch: i32,
    event: &'static str,
    seq: u64,
}

impl EventMark {
    pub fn new(
        stream: &EventStream,
        broker: i32,
        controller_epoch: i32,
        event: &'static str,
        seq: u64,
    ) -> Self {
        EventMark {
            stream: stream.clone(),
            broker,
            controller_epoch,
            event,
            seq,
        }
    }

    /// Writes one phase line stamped now.
    pub fn emit(&self, phase: Phase, partitions: usize, brokers: &[i32]) {
        self.emit_at(SystemTime::now(), phase, partitions, brokers);
    }

    /// Writes one phase line stamped `at` (a moment noted before the line could be written).
    pub fn emit_at(&self, at: SystemTime, phase: Phase, partitions: usize, brokers: &[i32]) {
        let Some(file) = &self.stream.file else {
            return;
        };
        let line = Line {
            ts_ms: at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            broker: self.broker,
            controller_epoch: self.controller_epoch,
            event: self.event,
            seq: self.seq,
            phase: phase.name(),
            partitions,
            brokers,
        };
        let mut text = match serde_json::to_string(&line) {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "cannot encode a controller event line");
                return;
            }
        };
        text.push('\n');
        // A poisoned lock only means another writer panicked mid-line; the file is still usable.
        let mut f = match file.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = f.write_all(text.as_bytes()).and_then(|_| f.flush()) {
            warn!(error = %e, phase = ?phase, "cannot write the controller event stream");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_documented_schema() {
        let dir = std::env::temp_dir().join(format!("zkafka-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("events.jsonl");
        let _ = std::fs::remove_file(&path);
        let stream = EventStream::open(Some(&path));
        let mark = EventMark::new(&stream, 2, 7, "BrokerChange", 3);
        mark.emit(Phase::BrokerLostSeen, 10, &[1]);
        mark.emit(Phase::LeaderAndIsrAcked, 10, &[]);
        // A second term appends to the same file.
        EventMark::new(&EventStream::open(Some(&path)), 2, 8, "Startup", 1).emit(
            Phase::ControllerElected,
            0,
            &[],
        );
        let text = std::fs::read_to_string(&path).expect("read back");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 3);
        let first = &lines[0];
        assert_eq!(first["broker"], 2);
        assert_eq!(first["controller_epoch"], 7);
        assert_eq!(first["event"], "BrokerChange");
        assert_eq!(first["seq"], 3);
        assert_eq!(first["phase"], "broker_lost_seen");
        assert_eq!(first["partitions"], 10);
        assert_eq!(first["brokers"], serde_json::json!([1]));
        assert!(first["ts_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000));
        assert_eq!(lines[1]["phase"], "leader_and_isr_acked");
        assert_eq!(lines[2]["phase"], "controller_elected");
        assert_eq!(lines[2]["controller_epoch"], 8);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unset_stream_writes_nothing() {
        let stream = EventStream::open(None);
        assert!(stream.file.is_none());
        EventMark::new(&stream, 1, 1, "Startup", 1).emit(Phase::EventDone, 0, &[]);
    }
}
