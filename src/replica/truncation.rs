//! Where a follower cuts its log after a leader change (KIP-101/KIP-279, Kafka's
//! `AbstractFetcherThread.getOffsetTruncationState`), and which fetcher serves a partition. Both are
//! pure functions so the decisions can be tested on their own.

/// "No epoch" in OffsetForLeaderEpoch answers (Kafka's `UNDEFINED_EPOCH`).
pub const UNDEFINED_EPOCH: i32 = -1;
/// "No offset" in OffsetForLeaderEpoch answers (Kafka's `UNDEFINED_EPOCH_OFFSET`).
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// The offset to truncate to, and whether the follower may fetch afterwards (`complete`) or must ask
/// the leader again for the next lower epoch it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub offset: i64,
    pub complete: bool,
}

/// Decides the truncation from the leader's answer `(leader_epoch, leader_end_offset)` to our
/// OffsetForLeaderEpoch request (or a fetch response's diverging epoch).
///
/// - The leader knows no such epoch (end offset undefined): fall back to our high watermark.
/// - The leader answered without an epoch (an old protocol): trust its end offset.
/// - We know the leader's epoch: cut at the smaller of both ends of that epoch.
/// - We know only a lower epoch: cut at its end and ask again (the leader may know it too).
/// - We know no epoch at or below it: trust the leader's end offset.
///
/// Never beyond our own log end.
pub fn truncation_offset(
    leader_epoch: i32,
    leader_end_offset: i64,
    local_log_end: i64,
    local_high_watermark: i64,
    local_end_offset_for: impl Fn(i32) -> Option<(i32, i64)>,
) -> Truncation {
    let done = |offset: i64| Truncation {
        offset: offset.min(local_log_end),
        complete: true,
    };
    if leader_end_offset == UNDEFINED_EPOCH_OFFSET {
        return done(local_high_watermark);
    }
    if leader_epoch == UNDEFINED_EPOCH {
        return done(leader_end_offset);
    }
    match local_end_offset_for(leader_epoch) {
        Some((epoch, end)) if epoch != leader_epoch => Truncation {
            offset: end.min(local_log_end),
            complete: false,
        },
        Some((_, end)) => done(end.min(leader_end_offset)),
        None => done(leader_end_offset),
    }
}

/// Java's `String.hashCode` over UTF-16 code units, as Kafka computes it for topics.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The fetcher (0..n) that serves a partition: Kafka's `getFetcherId`,
/// `Utils.abs(31 * topic.hashCode() + partition) % numFetchers`, where `Utils.abs(MIN_VALUE)` is 0.
pub fn fetcher_id(topic: &str, partition: i32, num_fetchers: i32) -> i32 {
    let n = num_fetchers.max(1);
    let h = java_string_hash(topic)
        .wrapping_mul(31)
        .wrapping_add(partition);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follower log with epochs 0 at 0, 2 at 10, 3 at 20, ending at 30.
    fn local(epoch: i32) -> Option<(i32, i64)> {
        let entries = [(0, 0), (2, 10), (3, 20)];
        let floor = entries.iter().rev().find(|e| e.0 <= epoch)?;
        let next = entries.iter().find(|e| e.0 > epoch).map_or(30, |e| e.1);
        Some((floor.0, next))
    }

    #[test]
    fn same_epoch_cuts_at_the_smaller_end() {
        assert_eq!(
            truncation_offset(3, 25, 30, 5, local),
            Truncation {
                offset: 25,
                complete: true
            }
        );
        // Our epoch 2 ended at 20; the leader's went on to 22: we keep ours.
        assert_eq!(
            truncation_offset(2, 22, 30, 5, local),
            Truncation {
                offset: 20,
                complete: true
            }
        );
        // Never beyond our log end.
        assert_eq!(
            truncation_offset(3, 40, 30, 5, local),
            Truncation {
                offset: 30,
                complete: true
            }
        );
    }

    #[test]
    fn unknown_leader_epoch_cuts_at_our_lower_epoch_and_asks_again() {
        // The leader's epoch 1 is one we never saw: we end our epoch 0 (at 10) and ask again.
        assert_eq!(
            truncation_offset(1, 8, 30, 5, local),
            Truncation {
                offset: 10,
                complete: false
            }
        );
    }

    #[test]
    fn fallbacks_without_epochs() {
        // The leader knows no epoch this old: our high watermark.
        assert_eq!(
            truncation_offset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, 30, 5, local),
            Truncation {
                offset: 5,
                complete: true
            }
        );
        // An old leader answers an offset without epoch.
        assert_eq!(
            truncation_offset(UNDEFINED_EPOCH, 12, 30, 5, local),
            Truncation {
                offset: 12,
                complete: true
            }
        );
        // We know nothing at or below the leader's epoch.
        assert_eq!(
            truncation_offset(4, 50, 30, 5, |_| None),
            Truncation {
                offset: 30,
                complete: true
            }
        );
        assert_eq!(
            truncation_offset(4, 7, 30, 5, |_| None),
            Truncation {
                offset: 7,
                complete: true
            }
        );
    }

    #[test]
    fn java_hash_matches_the_jvm() {
        // Values from `"...".hashCode()` on a JVM.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("__consumer_offsets"), -970_371_369);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Outside the BMP: two UTF-16 units (U+1F600 = D83D DE00).
        assert_eq!(java_string_hash("\u{1F600}"), 1_772_899);
    }

    #[test]
    fn fetcher_ids_follow_kafka() {
        assert_eq!(fetcher_id("a", 0, 1), 0);
        // 31 * 97 + 3 = 3010
        assert_eq!(fetcher_id("a", 3, 4), 3010 % 4);
        // Math.abs(31 * "hello".hashCode() + 1) % 3 on a JVM (the multiplication overflows).
        assert_eq!(fetcher_id("hello", 1, 3), 2);
        assert_eq!(fetcher_id("__consumer_offsets", 7, 5), 0);
        // 31 * MIN_VALUE + 0 wraps to MIN_VALUE, and Kafka's Utils.abs(MIN_VALUE) is 0.
        assert_eq!(fetcher_id("polygenelubricants", 0, 7), 0);
        // Fewer than one fetcher configured still means one.
        assert_eq!(fetcher_id("x", 5, 0), 0);
    }
}
