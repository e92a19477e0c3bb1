//! The coordinator's ZooKeeper store against a real ZooKeeper, started on a free port per test
//! and killed when the test ends.

mod groups;
mod harness;
mod store;

use zkafka::coordinator::{java_string_hash, partition_for};

#[test]
fn java_string_hash_matches_java() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("a"), 97);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash("héllo"), 103_094_734);
    assert_eq!(java_string_hash("😀"), 1_772_899);
    assert_eq!(partition_for("polygenelubricants", 50), 0);
}
