//! Kafka's topic name rules (`org.apache.kafka.common.internals.Topic.validate`). A topic name
//! becomes a log directory (`<topic>-<partition>`) and a znode (`/brokers/topics/<topic>`), so every
//! name that can reach either, whether from a client, a control request, ZooKeeper or a file on
//! disk, is checked here first: `[a-zA-Z0-9._-]`, 1 to 249 characters, not `.` or `..`. Such a name
//! has no `/`, no NUL and cannot climb out of a log dir.

/// Kafka's longest topic name: 255 (a file name) minus room for `-<partition>` suffixes.
pub const MAX_NAME_LENGTH: usize = 249;

/// Ok for a legal topic name; else Kafka's message for the illegal one.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether `name` is a legal topic name.
pub fn is_valid(name: &str) -> bool {
    validate(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(validate("orders.v1_x-2").is_ok());
        assert!(validate(&"x".repeat(249)).is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "../x",
            "/etc/passwd",
            "x/../../y",
            "nul\0",
            "é",
            &"x".repeat(250),
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
