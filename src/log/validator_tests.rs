use super::*;
use crate::log::record_batch::{ensure_valid, validate};
use crate::log::test_util::{batch, keyed_batch, open, simple};

const NOW: i64 = 1_700_000_000_000;

fn header(b: &[u8]) -> BatchHeader {
    BatchHeader::parse(b).unwrap()
}

fn check(b: &[u8], config: &ValidatorConfig) -> Result<Validated, LogError> {
    validate_batch(b, &header(b), config, NOW, "t-0", &mut Vec::new())
}

/// `b` with its records compressed with `codec`, sealed with a correct CRC.
fn compressed(b: &[u8], codec: Codec) -> Vec<u8> {
    let mut h = header(b);
    let mut out = b[..HEADER_SIZE].to_vec();
    compression::compress(codec, &Levels::default(), &b[HEADER_SIZE..], &mut out).unwrap();
    h.attributes |= codec.id();
    h.batch_length = (out.len() - LOG_OVERHEAD) as i32;
    h.write_sealed(&mut out);
    out
}

/// `b` with its payload replaced by `payload`, the header resealed so the CRC is right.
fn with_payload(b: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut h = header(b);
    let mut out = b[..HEADER_SIZE].to_vec();
    out.extend_from_slice(payload);
    h.batch_length = (out.len() - LOG_OVERHEAD) as i32;
    h.write_sealed(&mut out);
    out
}

/// The records of a stored batch, decompressed: `(offset delta, timestamp delta, value)`.
fn contents(b: &[u8]) -> Vec<(i32, i64, Option<Vec<u8>>)> {
    let h = header(b);
    let codec = Codec::from_id(h.compression_codec()).unwrap();
    let mut payload = Vec::new();
    compression::decompress(codec, &b[HEADER_SIZE..], &mut payload).unwrap();
    Records::in_payload(&payload, h.records_count)
        .map(|r| {
            let r = r.unwrap();
            (
                r.offset_delta,
                r.timestamp_delta,
                r.value.map(<[u8]>::to_vec),
            )
        })
        .collect()
}

#[test]
fn a_valid_uncompressed_batch_is_stored_as_sent() {
    let b = simple(5, NOW - 10);
    let v = check(&b, &ValidatorConfig::default()).unwrap();
    assert_eq!(v.stored, Stored::AsSent);
    assert_eq!(v.header, header(&b));
}

#[test]
fn a_poisoned_batch_with_a_valid_crc_is_refused() {
    let b = simple(3, NOW);
    for garbage in [vec![0xff; 40], vec![0x7f; 3], Vec::new(), vec![1, 0, 0]] {
        let poisoned = with_payload(&b, &garbage);
        // The batch-level checks (CRC, sizes, count) all pass...
        assert!(validate(&poisoned, Some(1 << 20)).is_ok());
        // ...but its records do not decode.
        let err = check(&poisoned, &ValidatorConfig::default()).unwrap_err();
        assert!(matches!(err, LogError::InvalidRecord(_)), "{err}");
        assert_eq!(err.kafka_error_code(), 87);
    }
}

#[test]
fn a_poisoned_batch_is_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    log.append_as_leader(&simple(2, NOW), 0, NOW).unwrap();
    let poisoned = with_payload(&simple(3, NOW), &[0x55; 30]);
    assert!(log.append_as_leader(&poisoned, 0, NOW).is_err());
    assert_eq!(log.log_end_offset(), 2);
    log.append_as_leader(&simple(1, NOW), 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn offset_deltas_must_count_from_zero() {
    // Two records, the second claiming offset delta 0 again: the bytes of record 1 patched.
    let b = keyed_batch(
        (-1, -1, -1),
        NOW,
        &[(Some("a"), Some("1")), (Some("b"), Some("2"))],
    );
    let mut payload = b[HEADER_SIZE..].to_vec();
    // Record 0 is a 1-byte zigzag length and its body; record 1's offset delta is its 4th byte.
    let second = 1 + usize::from(payload[0] / 2);
    assert_eq!(payload[second + 3], 2); // zigzag(1)
    payload[second + 3] = 0;
    let err = check(&with_payload(&b, &payload), &ValidatorConfig::default()).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidRecord(ref m) if m.contains("offset delta")),
        "{err}"
    );
}

#[test]
fn log_append_time_stamps_the_header_with_a_correct_crc() {
    let b = simple(3, 1000);
    let config = ValidatorConfig {
        log_append_time: true,
        ..ValidatorConfig::default()
    };
    let v = check(&b, &config).unwrap();
    assert_eq!(v.stored, Stored::NewHeader);
    assert!(v.header.is_log_append_time());
    assert_eq!(v.header.max_timestamp, NOW);
    assert_eq!(v.header.base_timestamp, 1000);
    let mut stamped = b.to_vec();
    v.header.write_fields(&mut stamped);
    ensure_valid(&stamped, &header(&stamped)).unwrap();
    assert_eq!(header(&stamped).crc, compute_crc_of(&stamped));
}

fn compute_crc_of(b: &[u8]) -> u32 {
    crate::log::record_batch::compute_crc(b)
}

#[test]
fn log_append_time_reaches_the_log_and_the_append_info() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let mut config = log.config.clone();
    config.log_append_time = true;
    log.update_config(config);
    let info = log.append_as_leader(&simple(4, 5), 0, NOW).unwrap();
    assert_eq!(info.log_append_time_ms, NOW);
    assert_eq!(info.max_timestamp, NOW);
    let bytes = log.reader().read(0, 1 << 20, 4, true).unwrap();
    let refs = crate::log::record_batch::validate_replicated(&bytes).unwrap();
    assert!(refs[0].header.is_log_append_time());
    assert_eq!(refs[0].header.max_timestamp, NOW);
    // CreateTime topics answer -1.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let info = log.append_as_leader(&simple(1, 5), 0, NOW).unwrap();
    assert_eq!(info.log_append_time_ms, -1);
}

#[test]
fn a_wrong_max_timestamp_is_corrected_as_kafka_does() {
    let b = simple(3, 1000);
    let mut h = header(&b);
    h.max_timestamp = 5;
    let mut forged = b.to_vec();
    h.write_sealed(&mut forged);
    let v = check(&forged, &ValidatorConfig::default()).unwrap();
    assert_eq!(v.stored, Stored::NewHeader);
    assert_eq!(v.header.max_timestamp, 1002);
    assert_eq!(v.header.crc, compute_crc_of(&b));
}

#[test]
fn create_time_timestamps_are_bounded_before_and_after() {
    let config = ValidatorConfig {
        timestamp_before_max_ms: 1000,
        timestamp_after_max_ms: 500,
        ..ValidatorConfig::default()
    };
    // Records at NOW-1000 .. NOW-998: the first is exactly on the bound.
    assert!(check(&simple(3, NOW - 1000), &config).is_ok());
    // Records at NOW-1001, NOW-1000: only the first is refused.
    let err = check(&simple(2, NOW - 1001), &config).unwrap_err();
    assert_eq!(err.kafka_error_code(), 32);
    let LogError::InvalidTimestamp(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].batch_index, 0);
    assert!(
        errors[0].message.contains("out of range"),
        "{}",
        errors[0].message
    );
    // After: NOW+500 passes, NOW+501 does not.
    assert!(check(&simple(1, NOW + 500), &config).is_ok());
    let err = check(&simple(2, NOW + 500), &config).unwrap_err();
    let LogError::InvalidTimestamp(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors[0].batch_index, 1);
    // LogAppendTime topics ignore producer timestamps.
    let stamped = ValidatorConfig {
        log_append_time: true,
        ..config
    };
    assert!(check(&simple(2, 0), &stamped).is_ok());
}

#[test]
fn keyless_records_are_refused_on_compacted_topics_even_compressed() {
    let b = keyed_batch(
        (-1, -1, -1),
        NOW,
        &[(Some("a"), Some("1")), (None, Some("2"))],
    );
    let config = ValidatorConfig {
        compact: true,
        ..ValidatorConfig::default()
    };
    for codec in [Codec::None, Codec::Gzip, Codec::Zstd] {
        let b = compressed(&b, codec);
        let err = check(&b, &config).unwrap_err();
        let LogError::RecordErrors(errors) = &err else {
            panic!("{codec:?}: {err}")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].batch_index, 1);
        assert!(errors[0]
            .message
            .contains("without key in topic partition t-0"));
    }
}

#[test]
fn every_codec_is_kept_under_producer_and_converted_otherwise() {
    let b = batch(20, NOW, (7, 0, 0), 300);
    let want = contents(&b);
    let codecs = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];
    for source in codecs {
        let sent = compressed(&b, source);
        let v = check(&sent, &ValidatorConfig::default()).unwrap();
        assert_eq!(v.stored, Stored::AsSent, "{source:?}");
        for target in codecs {
            let config = ValidatorConfig {
                compression: TargetCompression::Codec(target),
                ..ValidatorConfig::default()
            };
            let v = check(&sent, &config).unwrap();
            if source == target {
                assert_eq!(v.stored, Stored::AsSent);
                continue;
            }
            let Stored::Rebuilt(stored) = v.stored else {
                panic!("{source:?} -> {target:?} was not rebuilt")
            };
            let h = header(&stored);
            assert_eq!(h, v.header);
            ensure_valid(&stored, &h).unwrap();
            assert_eq!(h.compression_codec(), target.id());
            assert_eq!(
                (h.producer_id, h.base_sequence, h.records_count),
                (7, 0, 20)
            );
            assert_eq!(h.max_timestamp, NOW + 19);
            assert_eq!(contents(&stored), want, "{source:?} -> {target:?}");
        }
    }
}

#[test]
fn a_compressed_payload_that_does_not_decompress_is_invalid() {
    let b = simple(2, NOW);
    let mut h = header(&b);
    let mut out = b[..HEADER_SIZE].to_vec();
    out.extend_from_slice(&[0x42; 50]);
    h.attributes |= Codec::Zstd.id();
    h.batch_length = (out.len() - LOG_OVERHEAD) as i32;
    h.write_sealed(&mut out);
    let err = check(&out, &ValidatorConfig::default()).unwrap_err();
    assert!(matches!(err, LogError::InvalidRecord(_)), "{err}");
}

#[test]
fn a_producer_may_not_claim_log_append_time() {
    let b = simple(1, NOW);
    let mut h = header(&b);
    h.attributes |= LOG_APPEND_TIME_FLAG;
    let mut forged = b.to_vec();
    h.write_sealed(&mut forged);
    let stamped = ValidatorConfig {
        log_append_time: true,
        ..ValidatorConfig::default()
    };
    let err = check(&forged, &stamped).unwrap_err();
    assert_eq!(err.kafka_error_code(), 32);
}
