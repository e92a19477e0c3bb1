use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::*;
use crate::log::record::Records;
use crate::log::record_batch::ensure_valid;

fn record(offset: i64, timestamp: i64, value: &str) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key: Some(Bytes::from(format!("k{offset}"))),
        value: Some(Bytes::from(value.to_string())),
        headers: Default::default(),
    }
}

/// Legacy messages written by kafka-protocol's encoder (an independent implementation).
fn legacy(version: i8, values: &[&str]) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as i64, 1_000 + i as i64, v))
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    buf.to_vec()
}

/// A wrapper message of `magic` holding `values`, compressed with `codec` (inner offsets
/// relative in v1, as Kafka's producers write them).
fn wrapped(magic: i8, codec: Codec, values: &[&str]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        write_message(
            &mut inner,
            i as i64,
            magic,
            0,
            2_000 + i as i64,
            Some(key.as_bytes()),
            Some(v.as_bytes()),
        );
    }
    let mut compressed = Vec::new();
    compress(codec, magic, &inner, &mut compressed).unwrap();
    let mut out = Vec::new();
    let last = values.len() as i64 - 1;
    write_message(
        &mut out,
        last,
        magic,
        codec.id() as i8,
        2_000 + last,
        None,
        Some(&compressed),
    );
    out
}

/// The records of a v2 batch: (offset delta, timestamp, key, value).
fn v2_contents(b: &[u8]) -> Vec<(i32, i64, Vec<u8>, Vec<u8>)> {
    let h = BatchHeader::parse(b).unwrap();
    ensure_valid(b, &h).unwrap();
    let codec = Codec::from_id(h.compression_codec()).unwrap();
    let mut payload = Vec::new();
    compression::decompress(codec, &b[HEADER_SIZE..], &mut payload).unwrap();
    Records::in_payload(&payload, h.records_count)
        .map(|r| {
            let r = r.unwrap();
            (
                r.offset_delta,
                h.base_timestamp + r.timestamp_delta,
                r.key.unwrap().to_vec(),
                r.value.unwrap().to_vec(),
            )
        })
        .collect()
}

#[test]
fn parses_what_kafka_protocol_writes_and_checks_crc32() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        let set = legacy(magic, &["a", "bb"]);
        assert!(is_legacy(&set));
        let msgs: Vec<_> = Messages::new(&set).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1].value, Some(&b"bb"[..]));
        assert_eq!(msgs[1].key, Some(&b"k1"[..]));
        let ts = if magic == MAGIC_V0 {
            NO_TIMESTAMP
        } else {
            1_001
        };
        assert_eq!(msgs[1].timestamp, ts);
        let mut bad = set.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let err = Messages::new(&bad).find_map(Result::err).unwrap();
        assert_eq!(err.kafka_error_code(), 2, "{err}"); // CORRUPT_MESSAGE
        let err = Messages::new(&set[..set.len() - 3])
            .find_map(Result::err)
            .unwrap();
        assert_eq!(err.kafka_error_code(), 2, "{err}");
    }
}

#[test]
fn up_converts_uncompressed_sets_keeping_v1_timestamps() {
    let v1 = up_convert(&legacy(MAGIC_V1, &["a", "bb", "c"])).unwrap();
    let h = BatchHeader::parse(&v1).unwrap();
    assert_eq!((h.magic, h.records_count, h.last_offset_delta), (2, 3, 2));
    assert_eq!(
        (h.base_timestamp, h.max_timestamp, h.producer_id),
        (1_000, 1_002, -1)
    );
    let recs = v2_contents(&v1);
    assert_eq!(recs[2], (2, 1_002, b"k2".to_vec(), b"c".to_vec()));

    let v0 = up_convert(&legacy(MAGIC_V0, &["a", "bb"])).unwrap();
    let h = BatchHeader::parse(&v0).unwrap();
    assert_eq!(
        (h.base_timestamp, h.max_timestamp),
        (NO_TIMESTAMP, NO_TIMESTAMP)
    );
    assert_eq!(v2_contents(&v0)[1].1, NO_TIMESTAMP);
}

#[test]
fn up_converts_compressed_wrappers_with_their_codec() {
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
        for magic in [MAGIC_V0, MAGIC_V1] {
            let set = wrapped(magic, codec, &["x", "yy", "zzz"]);
            let v2 = up_convert(&set).unwrap();
            let h = BatchHeader::parse(&v2).unwrap();
            assert_eq!(h.compression_codec(), codec.id(), "{codec:?} magic {magic}");
            let recs = v2_contents(&v2);
            assert_eq!(recs.len(), 3);
            assert_eq!(recs[1].3, b"yy");
            let ts = if magic == MAGIC_V0 {
                NO_TIMESTAMP
            } else {
                2_001
            };
            assert_eq!(recs[1].1, ts);
        }
    }
}

#[test]
fn magic0_lz4_uses_kafka_3160s_header_checksum_and_is_read_back() {
    let mut plain = Vec::new();
    compression::compress(Codec::Lz4, &Levels::default(), b"hello", &mut plain).unwrap();
    let mut broken = Vec::new();
    compress(Codec::Lz4, MAGIC_V0, b"hello", &mut broken).unwrap();
    assert_ne!(
        plain[6], broken[6],
        "magic 0 frames carry the broken checksum"
    );
    assert_eq!(plain[..6], broken[..6]);
    let mut out = Vec::new();
    assert!(compression::decompress(Codec::Lz4, &broken, &mut out).is_err());
    decompress(Codec::Lz4, MAGIC_V0, &broken, &mut out).unwrap();
    assert_eq!(out, b"hello");
}

#[test]
fn refuses_corrupt_nested_and_mismatched_sets() {
    let mut set = wrapped(MAGIC_V1, Codec::Gzip, &["x"]);
    let at = set.len() - 2;
    set[at] ^= 0xff;
    assert_eq!(up_convert(&set).unwrap_err().kafka_error_code(), 2);
    // A v1 wrapper around v0 messages.
    let mut inner = Vec::new();
    write_message(&mut inner, 0, MAGIC_V0, 0, -1, None, Some(b"v"));
    let mut gz = Vec::new();
    compress(Codec::Gzip, MAGIC_V1, &inner, &mut gz).unwrap();
    let mut outer = Vec::new();
    write_message(&mut outer, 0, MAGIC_V1, 1, 5, None, Some(&gz));
    assert_eq!(up_convert(&outer).unwrap_err().kafka_error_code(), 87);
    // A wrapper that does not decompress.
    let mut outer = Vec::new();
    write_message(&mut outer, 0, MAGIC_V1, 1, 5, None, Some(b"not gzip"));
    assert_eq!(up_convert(&outer).unwrap_err().kafka_error_code(), 87);
    assert!(up_convert(&[]).is_err());
    // zstd has no legacy framing: Kafka refuses the wrapper before reading its payload.
    let mut outer = Vec::new();
    write_message(&mut outer, 0, MAGIC_V1, 4, 5, None, Some(b"junk"));
    assert_eq!(up_convert(&outer).unwrap_err().kafka_error_code(), 87);
}

/// A v2 batch at `base` of `values` with `codec`, timestamps from 5_000.
fn v2(base: i64, codec: Codec, values: &[&str]) -> Vec<u8> {
    let mut b = up_convert(&legacy(MAGIC_V1, values)).unwrap();
    let mut h = BatchHeader::parse(&b).unwrap();
    h.base_offset = base;
    h.base_timestamp = 5_000;
    h.attributes |= codec.id();
    let mut out = vec![0u8; HEADER_SIZE];
    compression::compress(
        codec,
        &Levels::default(),
        &b.split_off(HEADER_SIZE),
        &mut out,
    )
    .unwrap();
    h.batch_length = (out.len() - 12) as i32;
    h.write_sealed(&mut out);
    out
}

fn decoded(bytes: Vec<u8>) -> Vec<(i8, i64, i64, String)> {
    let mut buf = Bytes::from(bytes);
    let mut out = Vec::new();
    for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
        for r in set.records {
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            out.push((set.version, r.offset, r.timestamp, v));
        }
    }
    out
}

#[test]
fn down_converts_uncompressed_batches_from_the_fetch_offset() {
    let mut log = v2(10, Codec::None, &["a", "b"]);
    log.extend(v2(12, Codec::None, &["c"]));
    let out = down_convert(&log, MAGIC_V1, 11).unwrap();
    let got = decoded(out);
    assert_eq!(
        got,
        vec![(1, 11, 5_001, "b".into()), (1, 12, 5_000, "c".into())]
    );
    let got = decoded(down_convert(&log, MAGIC_V0, 0).unwrap());
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.0 == 0));
}

#[test]
fn down_converts_compressed_batches_to_wrappers() {
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
        for magic in [MAGIC_V0, MAGIC_V1] {
            let log = v2(20, codec, &["a", "b", "c"]);
            let out = down_convert(&log, magic, 21).unwrap();
            let wrapper = Messages::new(&out).next().unwrap().unwrap();
            assert_eq!((wrapper.offset, wrapper.codec()), (22, codec.id()));
            // Read back as an old consumer would: our up-conversion parses it.
            let back = up_convert(&out).unwrap();
            let values: Vec<_> = v2_contents(&back).into_iter().map(|r| r.3).collect();
            assert_eq!(values, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
            let mut inner = Vec::new();
            decompress(codec, magic, wrapper.value.unwrap(), &mut inner).unwrap();
            let offsets: Vec<i64> = Messages::new(&inner).map(|m| m.unwrap().offset).collect();
            let want = if magic == MAGIC_V1 {
                [0, 1, 2]
            } else {
                [20, 21, 22]
            };
            assert_eq!(offsets, want);
        }
    }
}

#[test]
fn down_conversion_is_bounded_but_the_first_batch_is_whole() {
    let mut log = Vec::new();
    for i in 0..50 {
        log.extend(v2(i, Codec::None, &[""]));
    }
    // Tiny v2 records grow as v0 messages (26 bytes each + overhead vs ~70 per batch): shrink
    // instead with many records in one batch.
    let many: Vec<&str> = vec![""; 200];
    let big = v2(0, Codec::None, &many);
    let out = down_convert(&big, MAGIC_V1, 0).unwrap();
    assert!(
        out.len() > big.len(),
        "the first batch grows and is sent whole"
    );
    assert_eq!(Messages::new(&out).count(), 200);
    let mut two = big.clone();
    two.extend(v2(200, Codec::None, &["x"]));
    let out2 = down_convert(&two, MAGIC_V1, 0).unwrap();
    assert_eq!(
        out2, out,
        "a second batch that does not fit is left for the next fetch"
    );
    let out = down_convert(&log, MAGIC_V0, 0).unwrap();
    assert!(out.len() <= log.len());
    let mut zstd = v2(0, Codec::Zstd, &["z"]);
    assert_eq!(
        down_convert(&zstd, MAGIC_V1, 0),
        Err(DownConvertError::Zstd)
    );
    zstd.truncate(30);
    assert_eq!(down_convert(&zstd, MAGIC_V1, 0), Ok(Vec::new()));
}
