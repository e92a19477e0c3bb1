//! Turning a request body into a typed request, as Kafka's `RequestContext.parseRequest` does: the
//! one place where a peer's bytes (after the header) meet the schema decoders. It is a pure function
//! of (API key, version, body) so that the fuzz target in `fuzz/` exercises exactly what the
//! connection runs.
//!
//! Kafka answers neither kind of failure with a response: it cannot encode one for a request it
//! could not read, so it closes the connection (`InvalidRequestException`). The error code each
//! failure stands for is still kept, for the log line and for the fuzz target's assertion that every
//! refusal is one of Kafka's codes.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind};
use thiserror::Error;

use super::versions;

/// Why a request body was not turned into a request.
#[derive(Debug, Error)]
pub enum RequestDecodeError {
    /// An API this broker does not serve, or a version outside the range it advertises.
    #[error("unsupported request {api_key:?} v{api_version}")]
    Unsupported {
        /// The API key.
        api_key: ApiKey,
        /// The version sent.
        api_version: i16,
    },
    /// The body does not decode at that version (truncated, a length beyond the body, bad UTF-8...).
    #[error("cannot decode {api_key:?} v{api_version}: {reason}")]
    Malformed {
        /// The API key.
        api_key: ApiKey,
        /// The version sent.
        api_version: i16,
        /// The decoder's message.
        reason: String,
    },
}

impl RequestDecodeError {
    /// The Kafka error this failure is: UNSUPPORTED_VERSION or INVALID_REQUEST.
    pub fn error(&self) -> ResponseError {
        match self {
            RequestDecodeError::Unsupported { .. } => ResponseError::UnsupportedVersion,
            RequestDecodeError::Malformed { .. } => ResponseError::InvalidRequest,
        }
    }
}

/// Decodes `body` as `api_key` at `api_version`, refusing APIs and versions not in
/// [`versions::SUPPORTED`] before looking at the body. ApiVersions is not decoded here: it is
/// answered whatever its version and body (see `KafkaApis::api_versions`).
pub fn decode_request(
    api_key: ApiKey,
    api_version: i16,
    body: &Bytes,
) -> Result<RequestKind, RequestDecodeError> {
    match versions::range(api_key) {
        Some((min, max)) if (min..=max).contains(&api_version) => {}
        _ => {
            return Err(RequestDecodeError::Unsupported {
                api_key,
                api_version,
            })
        }
    }
    // A clone of `Bytes` is a reference count, not a copy of the body.
    let mut buf = body.clone();
    RequestKind::decode(api_key, &mut buf, api_version).map_err(|e| RequestDecodeError::Malformed {
        api_key,
        api_version,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn unsupported_versions_are_refused_before_the_body_is_read() {
        let err = decode_request(ApiKey::Produce, 12, &Bytes::new()).unwrap_err();
        assert_eq!(err.error(), ResponseError::UnsupportedVersion);
        let err = decode_request(ApiKey::SaslHandshake, 0, &Bytes::new()).unwrap_err();
        assert_eq!(err.error(), ResponseError::UnsupportedVersion);
    }

    #[test]
    fn a_truncated_body_is_invalid_request() {
        let mut b = BytesMut::new();
        b.put_i16(-1); // transactional id: null
        b.put_i16(1); // acks
        b.put_i32(1000); // timeout
        b.put_i32(i32::MAX); // topic count, with no topics after it
        let err = decode_request(ApiKey::Produce, 3, &b.freeze()).unwrap_err();
        assert_eq!(err.error(), ResponseError::InvalidRequest);
    }

    #[test]
    fn a_valid_body_decodes() {
        let mut b = BytesMut::new();
        b.put_i32(-1); // Metadata v1: topics null = all topics
        let req = decode_request(ApiKey::Metadata, 1, &b.freeze()).unwrap();
        assert!(matches!(req, RequestKind::Metadata(m) if m.topics.is_none()));
    }
}
