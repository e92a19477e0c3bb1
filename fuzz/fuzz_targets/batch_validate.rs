//! A producer's record batches through the leader's checks, as `Log::append_as_leader` runs them:
//! `record_batch::validate` (framing, CRC, client rules), then `validator::validate_batch` on each
//! batch (decompression, every record decoded, keys, timestamps, stamping and recompression).
//!
//! Input: one byte of settings, one byte choosing how the rest is used, then the bytes.
//! - even mode byte: the rest is a record set; each batch's CRC is recomputed first (the fuzzer
//!   cannot forge CRC-32C, and a wrong CRC only tests the CRC check), so compressed payloads that
//!   do not decompress, forged lengths and odd headers reach the validator;
//! - odd mode byte: the rest is a batch header followed by uncompressed records; the harness
//!   compresses the records with the codec the mode byte names, so that garbage *records* reach
//!   the record decoder through every codec.
//!
//! Properties: no panic; allocation bounded (`-malloc_limit_mb`: decompression stops at
//! `compression::MAX_DECOMPRESSED_BYTES`, a record's claimed lengths are checked against its
//! bytes); every error maps to one of the Kafka error codes a Produce response may carry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkafka::log::compression::{self, Codec, Levels, TargetCompression};
use zkafka::log::record_batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use zkafka::log::validator::{validate_batch, Stored, ValidatorConfig};
use zkafka::log::LogError;

const NOW: i64 = 1_700_000_000_000;
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, INVALID_TIMESTAMP, UNSUPPORTED_FOR_MESSAGE_FORMAT,
/// INVALID_RECORD.
const PRODUCE_CODES: &[i16] = &[2, 10, 32, 43, 87];

fn config(settings: u8) -> ValidatorConfig {
    let compression = match settings & 0x07 {
        0 | 6 | 7 => TargetCompression::Producer,
        id => TargetCompression::Codec(Codec::from_id(i16::from(id) - 1).unwrap_or(Codec::None)),
    };
    ValidatorConfig {
        log_append_time: settings & 0x08 != 0,
        compact: settings & 0x10 != 0,
        timestamp_before_max_ms: if settings & 0x20 != 0 {
            3_600_000
        } else {
            i64::MAX
        },
        timestamp_after_max_ms: if settings & 0x40 != 0 {
            3_600_000
        } else {
            i64::MAX
        },
        compression,
        levels: Levels::default(),
    }
}

/// Recomputes the CRC of every complete batch in `buf`, in place.
fn reseal(buf: &mut [u8]) {
    let mut pos = 0;
    while let Some(h) = BatchHeader::parse(&buf[pos..]) {
        let size = h.size();
        if size < HEADER_SIZE || buf.len() - pos < size {
            return;
        }
        h.write_sealed(&mut buf[pos..pos + size]);
        pos += size;
    }
}

/// A batch whose header comes from `input` and whose records are `input`'s remainder compressed
/// with `codec`.
fn build(codec: Codec, input: &[u8]) -> Option<Vec<u8>> {
    let mut h = BatchHeader::parse(input)?;
    let mut out = input[..HEADER_SIZE].to_vec();
    compression::compress(codec, &Levels::default(), &input[HEADER_SIZE..], &mut out).ok()?;
    h.magic = 2;
    h.attributes = (h.attributes & !0x07) | codec.id();
    h.batch_length = i32::try_from(out.len() - LOG_OVERHEAD).ok()?;
    h.write_sealed(&mut out);
    Some(out)
}

fn check(result: Result<(), LogError>) {
    if let Err(e) = result {
        let code = e.kafka_error_code();
        assert!(PRODUCE_CODES.contains(&code), "{e} maps to {code}");
    }
}

fn run(records: &[u8], config: &ValidatorConfig) -> Result<(), LogError> {
    let batches = record_batch::validate(records, Some(MAX_MESSAGE_BYTES))?;
    let mut scratch = Vec::new();
    for batch in &batches {
        let bytes = &records[batch.range.clone()];
        let validated = validate_batch(bytes, &batch.header, config, NOW, "fuzz-0", &mut scratch)?;
        // What is stored must itself be a valid batch: a follower re-validates it.
        let stored = match validated.stored {
            Stored::AsSent => bytes.to_vec(),
            Stored::NewHeader => {
                let mut b = bytes.to_vec();
                validated.header.write_fields(&mut b);
                b
            }
            Stored::Rebuilt(b) => b,
        };
        let again = record_batch::validate_replicated(&stored)
            .unwrap_or_else(|e| panic!("stored batch does not validate: {e}"));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].header.records_count, batch.header.records_count);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let [settings, mode, rest @ ..] = data else {
        return;
    };
    let config = config(*settings);
    if mode & 1 == 0 {
        let mut records = rest.to_vec();
        reseal(&mut records);
        check(run(&records, &config));
    } else {
        let codec = Codec::from_id(i16::from(mode >> 1) % 5).unwrap_or(Codec::None);
        if let Some(batch) = build(codec, rest) {
            check(run(&batch, &config));
        }
    }
});
