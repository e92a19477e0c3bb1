//! Broker-wide group settings (`group.*` keys of `server.properties`).

/// Limits the coordinator enforces on every group, with Kafka's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: shorter sessions are refused (INVALID_SESSION_TIMEOUT).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longer sessions are refused (INVALID_SESSION_TIMEOUT).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members, so a starting fleet does not rebalance once per member.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`: joins beyond this many members get GROUP_MAX_SIZE_REACHED.
    pub max_size: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: i32::MAX,
        }
    }
}

/// `offset.metadata.max.bytes`: longer commit metadata gets OFFSET_METADATA_TOO_LARGE.
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;
