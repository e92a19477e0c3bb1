//! Random and forged bytes fed to the request decoders of every API and version the broker serves:
//! a decode may fail, but it must never panic or try to allocate what the bytes cannot hold (an
//! allocation failure aborts the whole broker). See vendor/kafka-protocol/ZKAFKA-PATCH.md.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::RequestKind;
use proptest::prelude::*;
use zkafka::api::versions::SUPPORTED;

fn decode_all_versions(body: &Bytes) {
    for (key, min, max) in SUPPORTED {
        for version in *min..=*max {
            let mut buf = body.clone();
            let _ = RequestKind::decode(*key, &mut buf, version);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all_versions(&Bytes::from(bytes));
    }

    /// Bodies made of length prefixes near i32::MAX and varints near u32::MAX, where the unpatched
    /// decoders preallocated from the prefix.
    #[test]
    fn forged_lengths_never_allocate_from_the_prefix(prefix in 0usize..12, fill in any::<u8>()) {
        let mut b = BytesMut::new();
        for _ in 0..prefix {
            b.put_u8(fill);
        }
        b.put_i32(i32::MAX);
        b.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        b.put_i32(i32::MAX);
        decode_all_versions(&b.freeze());
    }
}

/// The 20-byte Produce request that aborted the broker before the patch: acks, timeout, then a
/// topic array that claims 2^31-1 entries.
#[test]
fn produce_with_a_forged_topic_count_is_a_decode_error() {
    let mut b = BytesMut::new();
    b.put_i16(-1); // transactional id: null
    b.put_i16(1); // acks
    b.put_i32(1000); // timeout
    b.put_i32(i32::MAX); // topic count
    let mut body = b.freeze();
    let decoded = RequestKind::decode(kafka_protocol::messages::ApiKey::Produce, &mut body, 3);
    assert!(decoded.is_err());
}
