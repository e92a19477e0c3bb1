//! Kafka's random ids: a v4 UUID as base64url without padding (22 characters), as
//! `org.apache.kafka.common.Uuid.toString()` prints it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A new `topic_id` for `/brokers/topics/<t>`.
pub fn new_topic_id() -> String {
    random_uuid()
}

/// A new cluster id for `/cluster/id` and `meta.properties`.
pub fn new_cluster_id() -> String {
    random_uuid()
}

/// Kafka's text form of a topic id (the protocol carries the 16 raw bytes).
pub fn topic_id_to_string(id: &uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Parses a `topic_id` read from ZooKeeper; `None` if it is not 22 base64url characters.
pub fn topic_id_from_str(text: &str) -> Option<uuid::Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// Like Kafka's `Uuid.randomUuid()`, never returns an id starting with `-` (it would read as a
/// command-line flag) nor the all-zero id.
fn random_uuid() -> String {
    loop {
        let uuid = uuid::Uuid::new_v4();
        let text = URL_SAFE_NO_PAD.encode(uuid.as_bytes());
        if !uuid.is_nil() && !text.starts_with('-') {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_22_base64url_chars() {
        let id = super::new_topic_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(id, super::new_cluster_id());
        let parsed = super::topic_id_from_str(&id).unwrap();
        assert_eq!(super::topic_id_to_string(&parsed), id);
        assert_eq!(super::topic_id_from_str("not-an-id"), None);
    }
}
