//! A request frame (without its 4-byte size prefix) through what the connection does with it:
//! `network::decode_request_header`, then `api::decode_request` for the API and version the header
//! names. Properties: no panic; no allocation beyond what the frame's bytes can hold (run with
//! `-malloc_limit_mb`, see scripts/fuzz.sh: a forged array or string length must be a decode error,
//! not a `Vec::with_capacity` of the claimed count); every refusal of a body is one of Kafka's
//! error codes, UNSUPPORTED_VERSION exactly when the version is outside the advertised range.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use zkafka::api::versions;
use zkafka::api::{decode_request, RequestDecodeError};
use zkafka::network::decode_request_header;

const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_REQUEST: i16 = 42;

fuzz_target!(|data: &[u8]| {
    let Ok((header, api_key, body)) = decode_request_header(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert!(body.len() <= data.len());
    // ApiVersions is answered from its header alone (KafkaApis::api_versions).
    if api_key == ApiKey::ApiVersions {
        return;
    }
    let version = header.request_api_version;
    let served = versions::range(api_key).is_some_and(|(min, max)| (min..=max).contains(&version));
    match decode_request(api_key, version, &body) {
        Ok(_) => assert!(served, "{api_key:?} v{version} decoded but is not served"),
        Err(e) => {
            let code = e.error().code();
            match e {
                RequestDecodeError::Unsupported { .. } => {
                    assert!(!served);
                    assert_eq!(code, UNSUPPORTED_VERSION);
                }
                RequestDecodeError::Malformed { .. } => {
                    assert!(served);
                    assert_eq!(code, INVALID_REQUEST);
                }
            }
        }
    }
});
