//! API version negotiation: the broker says which versions of each API it serves (ApiVersions),
//! we pick the highest version both sides speak, as Kafka's `NetworkClient` does.

use std::collections::HashMap;

use kafka_protocol::messages::ApiVersionsResponse;

/// The broker's advertised `(min, max)` version per API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// Builds the table from an ApiVersions response.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let ranges = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Self { ranges }
    }

    /// The broker's range for `api_key`, if it serves that API at all.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&api_key).copied()
    }

    /// Highest version in both `ours` and the broker's range for `api_key`, or `None`
    /// if the ranges do not overlap or the broker lacks the API.
    pub fn pick(&self, api_key: i16, ours: (i16, i16)) -> Option<i16> {
        let (bmin, bmax) = self.range(api_key)?;
        negotiate(ours, (bmin, bmax))
    }
}

/// Highest version in the intersection of two inclusive ranges.
pub fn negotiate(ours: (i16, i16), theirs: (i16, i16)) -> Option<i16> {
    let low = ours.0.max(theirs.0);
    let high = ours.1.min(theirs.1);
    (low <= high).then_some(high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    #[test]
    fn picks_highest_common_version() {
        assert_eq!(negotiate((0, 9), (3, 11)), Some(9));
        assert_eq!(negotiate((0, 12), (0, 4)), Some(4));
        assert_eq!(negotiate((5, 9), (0, 4)), None);
        assert_eq!(negotiate((4, 4), (4, 4)), Some(4));
    }

    #[test]
    fn table_from_response() {
        let resp = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(0)
                .with_min_version(3)
                .with_max_version(9),
            ApiVersion::default()
                .with_api_key(1)
                .with_min_version(4)
                .with_max_version(12),
        ]);
        let t = ApiVersionTable::from_response(&resp);
        assert_eq!(t.range(0), Some((3, 9)));
        assert_eq!(t.pick(1, (0, 17)), Some(12));
        assert_eq!(t.pick(1, (0, 3)), None);
        assert_eq!(t.pick(18, (0, 3)), None);
    }
}
