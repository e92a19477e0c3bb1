//! Which `__consumer_offsets` partition (and so which broker) coordinates a group.
//!
//! Clients find their coordinator with FindCoordinator; every broker must compute the same
//! partition as Kafka does, or a mixed cluster (and tools that predict the coordinator) disagree.

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, wrapping
/// on overflow. UTF-16 (not bytes, not chars) matters for non-ASCII group ids.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs(groupId.hashCode) % partitions` (`GroupMetadataManager.partitionFor`).
///
/// `Utils.abs` maps `i32::MIN` to 0 (it is `n & 0x7fffffff`), unlike `i32::abs`, which would
/// overflow. A non-positive partition count yields 0 rather than a division by zero.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    (java_string_hash(group) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_java_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        // "Hello, World!".hashCode() in Java
        assert_eq!(java_string_hash("Hello, World!"), 1_498_789_909);
        // "é" is U+00E9 (one UTF-16 unit, two UTF-8 bytes)
        assert_eq!(java_string_hash("é"), 0xe9);
        // "héllo".hashCode() == 99_162_322 + (0xe9 - 'e') * 31^3
        assert_eq!(
            java_string_hash("héllo"),
            99_162_322 + (0xe9 - 0x65) * 29_791
        );
        // U+1F600 is a surrogate pair (0xD83D, 0xDE00): 0xD83D * 31 + 0xDE00
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn partition_uses_kafka_abs() {
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99_162_322 % 50);
        // A negative hash: "Hello, World!!" style values must still land in range.
        for g in ["group-1", "console-consumer-12345", "ÄÖÜ", ""] {
            let p = partition_for(g, 50);
            assert!((0..50).contains(&p), "{g} -> {p}");
        }
        assert_eq!(partition_for("x", 0), 0);
    }
}
