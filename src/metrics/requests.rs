//! Kafka's `kafka.network:type=RequestMetrics` for every request the network layer answers:
//! `RequestsPerSec` per request type and version, and `TotalTimeMs` per request type (from the
//! request's frame being read to its response being ready to write). Fixed arrays indexed by API
//! key and version: counting is one atomic add, whatever the request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::histogram::Histogram;

/// API keys below this are counted (Kafka 3.9's highest is 74); others are not.
pub(crate) const MAX_API_KEY: usize = 96;
/// Versions below this are counted per version (Kafka 3.9's highest is 17).
pub(crate) const MAX_VERSION: usize = 24;

#[derive(Debug)]
pub(crate) struct RequestMetrics {
    counts: [[AtomicU64; MAX_VERSION]; MAX_API_KEY],
    total_time: [Histogram; MAX_API_KEY],
}

impl RequestMetrics {
    pub(crate) const fn new() -> Self {
        RequestMetrics {
            counts: [const { [const { AtomicU64::new(0) }; MAX_VERSION] }; MAX_API_KEY],
            total_time: [const { Histogram::new() }; MAX_API_KEY],
        }
    }

    pub(crate) fn record(&self, api_key: i16, version: i16, total: Duration) {
        let (Ok(key), Ok(v)) = (usize::try_from(api_key), usize::try_from(version)) else {
            return;
        };
        if let (Some(counts), Some(time)) = (self.counts.get(key), self.total_time.get(key)) {
            if let Some(c) = counts.get(v) {
                c.fetch_add(1, Ordering::Relaxed);
            }
            time.observe(total);
        }
    }

    /// `(api key, version, count)` for every version seen at least once.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (i16, i16, u64)> + '_ {
        self.counts.iter().enumerate().flat_map(|(k, versions)| {
            versions.iter().enumerate().filter_map(move |(v, c)| {
                let n = c.load(Ordering::Relaxed);
                (n > 0).then_some((k as i16, v as i16, n))
            })
        })
    }

    /// `(api key, histogram)` for every request type seen at least once.
    pub(crate) fn total_times(&self) -> impl Iterator<Item = (i16, &Histogram)> + '_ {
        self.total_time
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                self.counts[*k]
                    .iter()
                    .any(|c| c.load(Ordering::Relaxed) > 0)
            })
            .map(|(k, h)| (k as i16, h))
    }
}

/// Kafka's name of a request type (`ApiKeys.name`, e.g. `Produce`, `ListOffsets`), which the
/// `request` label carries; `None` for a key this build does not know.
pub(crate) fn request_name(api_key: i16) -> Option<String> {
    kafka_protocol::messages::ApiKey::try_from(api_key)
        .ok()
        .map(|k| format!("{k:?}"))
}
