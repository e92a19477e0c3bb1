//! Request/response framing: a 4-byte big-endian length, then the header, then the body.
//! Pure functions so the byte layout is tested without sockets.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request};

use super::error::ClientError;
use crate::metadata::str_bytes;

/// Largest response frame we accept; Kafka's clients have no hard limit, but a garbage length
/// (e.g. talking to something that is not Kafka) must not make us allocate gigabytes.
pub const MAX_RESPONSE_FRAME: usize = 512 * 1024 * 1024;

/// Encodes `req` at `version` with its header into one length-prefixed frame.
pub fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, ClientError> {
    let encode_err = |e: anyhow::Error| ClientError::Encode {
        api: R::KEY,
        version,
        message: format!("{e:#}"),
    };
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(str_bytes(client_id)));
    let header_version = R::header_version(version);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + req.compute_size(version)?))
        .map_err(encode_err)?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_u32(size as u32);
    header
        .encode(&mut buf, header_version)
        .map_err(encode_err)?;
    req.encode(&mut buf, version).map_err(encode_err)?;
    Ok(buf.freeze())
}

/// Reads the correlation id that starts every response header (all header versions).
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Decodes a response frame (without its length prefix) as the response to `R` at `version`.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, R::Response), ClientError> {
    let decode_err = |e: anyhow::Error| ClientError::Decode {
        api: R::KEY,
        version,
        message: format!("{e:#}"),
    };
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::decode(&mut frame, header_version).map_err(decode_err)?;
    let body = R::Response::decode(&mut frame, version).map_err(decode_err)?;
    if frame.has_remaining() {
        tracing::debug!(
            api = R::KEY,
            version,
            trailing = frame.remaining(),
            "response has trailing bytes"
        );
    }
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::error::ResponseError;
    use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};

    #[test]
    fn request_frame_has_length_prefix_and_header() {
        let frame = encode_request(&MetadataRequest::default(), 1, 42, "me").unwrap();
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let mut body = frame.slice(4..);
        let header = RequestHeader::decode(&mut body, 1).unwrap();
        assert_eq!(header.request_api_key, 3);
        assert_eq!(header.request_api_version, 1);
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("me"));
        let decoded = MetadataRequest::decode(&mut body, 1).unwrap();
        assert_eq!(decoded, MetadataRequest::default());
    }

    #[test]
    fn response_round_trip_and_correlation_peek() {
        // ApiVersions responses always use header v0, even at flexible versions.
        let resp = ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code());
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut buf, 0)
            .unwrap();
        resp.encode(&mut buf, 3).unwrap();
        let frame = buf.freeze();
        assert_eq!(peek_correlation_id(&frame), Some(7));
        let (h, r) = decode_response::<ApiVersionsRequest>(frame, 3).unwrap();
        assert_eq!(h.correlation_id, 7);
        assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    }

    #[test]
    fn truncated_response_is_a_decode_error() {
        let err = decode_response::<ApiVersionsRequest>(Bytes::from_static(&[0, 0, 0, 1, 0]), 3)
            .unwrap_err();
        assert!(matches!(err, ClientError::Decode { api: 18, .. }), "{err}");
        assert_eq!(peek_correlation_id(&[0, 1]), None);
    }
}
