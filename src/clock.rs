//! The wall clock, as Kafka reads it (`Time.milliseconds()`): milliseconds since the Unix epoch.
//! One helper, so every timestamp (record append times, group and offset expiry, znode
//! `timestamp` fields, ISR lag) comes from the same place.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now; 0 if the clock is set before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
