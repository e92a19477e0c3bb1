//! Request header decoding and response header encoding.
//!
//! The header must be decoded before anything else is known about a request (its correlation id is
//! inside), so this code must cope with any bytes a peer sends: it returns a typed error and never
//! panics (see the proptest in this file).

use bytes::{BufMut, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;
use thiserror::Error;

/// Why a request header could not be decoded; each one makes Kafka close the connection.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than the 8 bytes every header version starts with (api key, api version, correlation id).
    #[error("request of {len} bytes is too short for a request header")]
    TooShort {
        /// Frame length.
        len: usize,
    },
    /// An API key kafka-protocol (Kafka 3.9's schemas) does not define.
    #[error(
        "unknown api key {api_key} (api version {api_version}, correlation id {correlation_id})"
    )]
    UnknownApiKey {
        /// The key sent.
        api_key: i16,
        /// The version sent.
        api_version: i16,
        /// The correlation id sent.
        correlation_id: i32,
    },
    /// The header did not decode at the header version the API key and version call for.
    #[error("malformed v{header_version} header for {api_key:?} v{api_version}: {reason}")]
    Malformed {
        /// The API key.
        api_key: ApiKey,
        /// The API version.
        api_version: i16,
        /// The header version tried.
        header_version: i16,
        /// The decoder's message.
        reason: String,
    },
}

/// The request header version for `api_key` at `api_version`, also for versions kafka-protocol does
/// not know: the header must be decoded to learn the correlation id even when the API layer will
/// answer UNSUPPORTED_VERSION, so out-of-range versions use the header version of the nearest known
/// version (a newer client's ApiVersions v5 has a v2 header, like v3 and v4).
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    let range = api_key.valid_versions();
    api_key.request_header_version(api_version.clamp(range.min, range.max))
}

/// The response header version for `api_key` at `api_version` (clamped like the request's).
/// ApiVersions responses always use v0, so that a client that sent a version the broker does not
/// know can still read the answer.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        return 0;
    }
    let range = api_key.valid_versions();
    api_key.response_header_version(api_version.clamp(range.min, range.max))
}

/// Splits a frame (without its length prefix) into the decoded header, its API key, and the body:
/// a zero-copy slice of `frame`.
pub fn decode_request_header(frame: Bytes) -> Result<(RequestHeader, ApiKey, Bytes), HeaderError> {
    if frame.len() < 8 {
        return Err(HeaderError::TooShort { len: frame.len() });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|()| HeaderError::UnknownApiKey {
        api_key: raw_key,
        api_version,
        correlation_id,
    })?;
    let header_version = request_header_version(api_key, api_version);
    let mut rest = frame.clone();
    match RequestHeader::decode(&mut rest, header_version) {
        Ok(header) => Ok((header, api_key, rest)),
        // A client asking for an ApiVersions version newer than ours may lay its header out the
        // old way; Kafka still reads the correlation id and answers UNSUPPORTED_VERSION.
        Err(_) if api_key == ApiKey::ApiVersions && header_version > 1 => {
            let mut rest = frame;
            let header =
                RequestHeader::decode(&mut rest, 1).map_err(|e| HeaderError::Malformed {
                    api_key,
                    api_version,
                    header_version: 1,
                    reason: e.to_string(),
                })?;
            Ok((header, api_key, rest))
        }
        Err(e) => Err(HeaderError::Malformed {
            api_key,
            api_version,
            header_version,
            reason: e.to_string(),
        }),
    }
}

/// Appends the 4-byte length prefix and the response header for a body of `body_len` bytes:
/// the correlation id, plus an empty tagged-field section for header version 1.
pub fn encode_response_header<B: BufMut>(
    out: &mut B,
    correlation_id: i32,
    header_version: i16,
    body_len: usize,
) {
    let header_len = if header_version >= 1 { 5 } else { 4 };
    // A body never exceeds i32::MAX in practice (fetch responses are bounded by fetch.max.bytes);
    // saturating keeps this infallible and a peer would reject such a frame anyway.
    let total = i32::try_from(header_len + body_len).unwrap_or(i32::MAX);
    out.put_i32(total);
    out.put_i32(correlation_id);
    if header_version >= 1 {
        out.put_u8(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    fn encode(api_key: i16, api_version: i16, header_version: i16) -> BytesMut {
        let header = RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(api_version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("client-1")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, header_version).unwrap();
        buf
    }

    #[test]
    fn decodes_v1_header_and_slices_body() {
        let mut buf = encode(3, 4, 1); // Metadata v4 uses header v1
        buf.extend_from_slice(b"BODY");
        let frame = buf.freeze();
        let (h, key, body) = decode_request_header(frame.clone()).unwrap();
        assert_eq!(key, ApiKey::Metadata);
        assert_eq!(h.correlation_id, 42);
        assert_eq!(h.client_id.as_deref(), Some("client-1"));
        assert_eq!(&body[..], b"BODY");
        // Zero-copy: the body points into the frame's allocation.
        assert_eq!(body.as_ptr(), frame[frame.len() - 4..].as_ptr());
    }

    #[test]
    fn decodes_flexible_header() {
        let mut buf = encode(3, 9, 2); // Metadata v9 is flexible: header v2
        buf.extend_from_slice(b"X");
        let (h, key, body) = decode_request_header(buf.freeze()).unwrap();
        assert_eq!((key, h.request_api_version), (ApiKey::Metadata, 9));
        assert_eq!(&body[..], b"X");
    }

    #[test]
    fn future_api_versions_request_still_decodes() {
        // ApiVersions v99: clamped to v4, header v2.
        let (h, key, body) = decode_request_header(encode(18, 99, 2).freeze()).unwrap();
        assert_eq!(
            (key, h.correlation_id, body.len()),
            (ApiKey::ApiVersions, 42, 0)
        );
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        assert_eq!(response_header_version(ApiKey::Metadata, 8), 0);
    }

    #[test]
    fn unknown_api_key_and_short_frames_are_errors() {
        let err = decode_request_header(encode(9999, 0, 1).freeze()).unwrap_err();
        assert!(matches!(
            err,
            HeaderError::UnknownApiKey {
                api_key: 9999,
                correlation_id: 42,
                ..
            }
        ));
        let err = decode_request_header(Bytes::from_static(&[0, 3, 0])).unwrap_err();
        assert_eq!(err, HeaderError::TooShort { len: 3 });
        // Header v1 with a client id length pointing past the end.
        let err = decode_request_header(Bytes::from_static(&[0, 3, 0, 4, 0, 0, 0, 1, 0, 9, b'a']))
            .unwrap_err();
        assert!(
            matches!(
                err,
                HeaderError::Malformed {
                    header_version: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn response_header_layout() {
        let mut out = BytesMut::new();
        encode_response_header(&mut out, 7, 1, 10);
        assert_eq!(&out[..], &[0, 0, 0, 15, 0, 0, 0, 7, 0]);
        out.clear();
        encode_response_header(&mut out, -1, 0, 0);
        assert_eq!(&out[..], &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
    }

    proptest! {
        #[test]
        fn header_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_request_header(Bytes::from(bytes));
        }

        #[test]
        fn header_decoder_never_panics_on_known_keys(
            key in 0i16..70, version in -2i16..20, rest in proptest::collection::vec(any::<u8>(), 0..48)
        ) {
            let mut b = Vec::with_capacity(8 + rest.len());
            b.extend_from_slice(&key.to_be_bytes());
            b.extend_from_slice(&version.to_be_bytes());
            b.extend_from_slice(&1i32.to_be_bytes());
            b.extend_from_slice(&rest);
            let _ = decode_request_header(Bytes::from(b));
        }
    }
}
