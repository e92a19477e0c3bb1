//! `log.cleaner.io.max.bytes.per.second` (Kafka's `Throttler`): the cleaner threads report every
//! byte they read and write; once per check interval the observed rate is compared with the
//! allowed one and the reporting thread sleeps long enough to bring it back down. Shared by all
//! cleaner threads, so the limit is the broker's, as in Kafka.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Kafka's check interval for the cleaner's throttler.
const CHECK_INTERVAL: Duration = Duration::from_millis(300);

#[derive(Debug)]
struct Period {
    start: Instant,
    observed: f64,
}

#[derive(Debug)]
pub struct Throttler {
    max_bytes_per_sec: f64,
    period: Mutex<Period>,
}

impl Throttler {
    pub fn new(max_bytes_per_sec: f64, now: Instant) -> Throttler {
        Throttler {
            max_bytes_per_sec,
            period: Mutex::new(Period {
                start: now,
                observed: 0.0,
            }),
        }
    }

    /// Counts `bytes` and sleeps if the rate since the period began is above the limit.
    pub fn maybe_throttle(&self, bytes: usize) {
        let pause = self.observe(bytes, Instant::now());
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }

    /// Counts `bytes` at `now` and says how long to sleep; starts a new period when one ended.
    pub fn observe(&self, bytes: usize, now: Instant) -> Duration {
        if self.max_bytes_per_sec >= f64::MAX {
            return Duration::ZERO;
        }
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        period.observed += bytes as f64;
        let elapsed = now.saturating_duration_since(period.start);
        if elapsed <= CHECK_INTERVAL || period.observed <= 0.0 {
            return Duration::ZERO;
        }
        let allowed_secs = period.observed / self.max_bytes_per_sec.max(1.0);
        let pause = Duration::from_secs_f64(allowed_secs).saturating_sub(elapsed);
        period.start = now + pause;
        period.observed = 0.0;
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_off_the_excess_once_per_interval() {
        let t0 = Instant::now();
        let throttler = Throttler::new(1000.0, t0);
        // Within the first interval nothing is checked.
        assert_eq!(
            throttler.observe(5000, t0 + Duration::from_millis(100)),
            Duration::ZERO
        );
        // 5000 bytes + 1000 at 1000 B/s need 6 s; 400 ms passed.
        let pause = throttler.observe(1000, t0 + Duration::from_millis(400));
        assert_eq!(pause, Duration::from_millis(5600));
        // Under the limit: no pause.
        let t1 = t0 + Duration::from_millis(6000);
        assert_eq!(
            throttler.observe(100, t1 + Duration::from_millis(500)),
            Duration::ZERO
        );
        let unlimited = Throttler::new(f64::MAX, t0);
        assert_eq!(
            unlimited.observe(usize::MAX, t0 + Duration::from_secs(1)),
            Duration::ZERO
        );
    }
}
