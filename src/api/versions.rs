//! The API versions this broker serves: advertised in ApiVersions and enforced on every request, so
//! clients never pick a version we cannot answer.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// (api, min, max). Produce v0–2 and Fetch v0–3 carry message formats v0/v1, converted to and
/// from the stored v2 batches (`log::legacy_records`), as Kafka 3.9 still does.
/// Control requests start at the first version carrying the broker epoch (LeaderAndIsr v2,
/// UpdateMetadata v5, StopReplica v1, ControlledShutdown v2): Kafka 3.9's inter-broker protocol
/// never sends older ones, and without the epoch a request to a previous registration of this
/// broker could not be told apart from a current one.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 0, 17),
    (ApiKey::ListOffsets, 0, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::LeaderAndIsr, 2, 7),
    (ApiKey::StopReplica, 1, 4),
    (ApiKey::UpdateMetadata, 5, 8),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeLogDirs, 0, 4),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ControlledShutdown, 2, 3),
    (ApiKey::AlterPartition, 0, 3),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::AllocateProducerIds, 0, 0),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
    // Served by the network layer on SASL listeners (`network::sasl_authenticator`). Handshake v0
    // (raw SASL tokens after it) is not: Kafka's clients since 1.0 use v1.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// The served version range of `key`, if the API is served at all.
pub fn range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, min, max)| (*min, *max))
}

/// The ApiVersions answer; `error_code` is 35 (UNSUPPORTED_VERSION) when the client asked for a version
/// above ours, and that answer is then encoded as v0 so that any client can read it (as Kafka does).
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            SUPPORTED
                .iter()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    #[test]
    fn advertised_ranges_are_within_what_the_protocol_crate_can_decode() {
        for (key, min, max) in SUPPORTED {
            let valid = key.valid_versions();
            assert!(
                *min >= valid.min && *max <= valid.max,
                "{key:?} {min}..{max} vs {valid}"
            );
        }
        assert!(range(ApiKey::Produce) == Some((0, 11)));
        assert!(range(ApiKey::SaslHandshake) == Some((1, 1)));
        let _ = ApiVersionsResponse::VERSIONS;
    }
}
