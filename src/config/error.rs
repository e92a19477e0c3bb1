//! The one error type of configuration: every variant displays as a single line naming the key and
//! the value, because it is what an operator sees when the broker refuses to start.

use std::path::PathBuf;

use thiserror::Error;

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key without a default is not set (e.g. `zookeeper.connect`).
    #[error("missing required config {key}: {hint}")]
    Missing {
        /// The key.
        key: String,
        /// What it is for / an example.
        hint: String,
    },
    /// A value does not parse or is out of range.
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A key Kafka knows, set to a value whose effect zkafka does not implement: refused rather
    /// than accepted and ignored, so nobody believes it took effect.
    #[error("{key}={value} is not supported by zkafka ({reason})")]
    Unsupported {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What zkafka lacks.
        reason: String,
    },
    /// A topic-level config name Kafka does not define (Kafka's "Unknown topic config name").
    #[error("unknown topic config {key} (value {value:?})")]
    UnknownTopicConfig {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`ConfigError::Unsupported`].
    pub fn unsupported(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::Unsupported {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    /// The config key this error is about, if any (for Kafka's error messages in CreateTopics and
    /// AlterConfigs responses).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Missing { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Unsupported { key, .. }
            | ConfigError::UnknownTopicConfig { key, .. } => Some(key),
        }
    }
}
