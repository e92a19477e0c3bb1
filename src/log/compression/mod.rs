//! Record batch codecs (Kafka's `org.apache.kafka.common.compress`): the payload after a
//! magic-2 batch header, compressed as a whole with the codec named by attribute bits 0-2.
//!
//! Each codec writes exactly the framing Kafka's writes, so Kafka's consumers and brokers read
//! what this broker stores, and reads every framing a Kafka client sends. Decompression is
//! bounded (see [`MAX_DECOMPRESSED_BYTES`]): a few KiB of zeros compress to a size limit nobody
//! would otherwise notice, and the produce path decompresses untrusted bytes.

mod gzip;
mod lz4;
mod snappy;
mod zstd;

use std::io::Read;

use crate::log::LogError;

/// Largest payload a batch may decompress to. Kafka streams records out of a compressed batch
/// and so has no limit; this broker decompresses a batch whole, and a producer's 1 MiB batch
/// of very repetitive records stays far below this.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// A batch codec, numbered as attribute bits 0-2 (Kafka's `CompressionType.id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Codec {
    /// The codec of attribute bits 0-2; `None` for the ids Kafka does not define.
    pub fn from_id(id: i16) -> Option<Codec> {
        Some(match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            _ => return None,
        })
    }

    pub fn id(self) -> i16 {
        self as i16
    }
}

/// The levels of `compression.gzip.level` and `compression.zstd.level` (KIP-390), with Kafka's
/// defaults. (`compression.lz4.level` is a harmless key: `lz4_flex` has one, fast, level.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// -1 is zlib's default (6).
    pub gzip: i32,
    pub zstd: i32,
}

impl Default for Levels {
    fn default() -> Self {
        Levels { gzip: -1, zstd: 3 }
    }
}

/// A topic's `compression.type` (Kafka's `BrokerCompressionType`): keep the producer's codec,
/// or store every batch with one codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetCompression {
    Producer,
    Codec(Codec),
}

impl TargetCompression {
    /// `producer`, `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd` (validated by the config).
    pub fn from_config(name: &str) -> TargetCompression {
        match name {
            "uncompressed" => TargetCompression::Codec(Codec::None),
            "gzip" => TargetCompression::Codec(Codec::Gzip),
            "snappy" => TargetCompression::Codec(Codec::Snappy),
            "lz4" => TargetCompression::Codec(Codec::Lz4),
            "zstd" => TargetCompression::Codec(Codec::Zstd),
            _ => TargetCompression::Producer,
        }
    }

    /// The codec a batch sent with `source` is stored with.
    pub fn resolve(self, source: Codec) -> Codec {
        match self {
            TargetCompression::Producer => source,
            TargetCompression::Codec(codec) => codec,
        }
    }
}

/// Appends the decompressed `input` to `out`. A payload that does not decompress, or that
/// decompresses beyond [`MAX_DECOMPRESSED_BYTES`], is corrupt.
pub fn decompress(codec: Codec, input: &[u8], out: &mut Vec<u8>) -> Result<(), LogError> {
    let start = out.len();
    let result = match codec {
        Codec::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Gzip => gzip::decompress(input, out),
        Codec::Snappy => snappy::decompress(input, out),
        Codec::Lz4 => lz4::decompress(input, out),
        Codec::Zstd => zstd::decompress(input, out),
    };
    result.map_err(|e| {
        out.truncate(start);
        LogError::Corrupt(format!("{codec:?} payload does not decompress: {e}"))
    })
}

/// Appends `input` compressed with `codec` to `out`, in Kafka's framing for that codec.
pub fn compress(
    codec: Codec,
    levels: &Levels,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), LogError> {
    let result = match codec {
        Codec::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Gzip => gzip::compress(levels.gzip, input, out),
        Codec::Snappy => snappy::compress(input, out),
        Codec::Lz4 => lz4::compress(input, out),
        Codec::Zstd => zstd::compress(levels.zstd, input, out),
    };
    result.map_err(|e| LogError::InvalidRecord(format!("cannot compress with {codec:?}: {e}")))
}

/// Reads `reader` to its end into `out`, failing once more than the bound would be appended.
fn read_bounded(reader: impl Read, out: &mut Vec<u8>) -> std::io::Result<()> {
    let room = MAX_DECOMPRESSED_BYTES.saturating_sub(out.len());
    let read = reader.take(room as u64 + 1).read_to_end(out)?;
    if read > room {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> std::io::Error {
    std::io::Error::other(format!(
        "decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    fn sample() -> Vec<u8> {
        // Larger than one snappy (32 KiB) and lz4 (64 KiB) block, partly repetitive.
        (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in CODECS {
            for levels in [Levels::default(), Levels { gzip: 1, zstd: 19 }] {
                let mut packed = b"prefix".to_vec();
                compress(codec, &levels, &data, &mut packed).unwrap();
                if codec != Codec::None {
                    assert!(packed.len() < data.len(), "{codec:?} did not compress");
                }
                let mut back = b"kept".to_vec();
                decompress(codec, &packed[6..], &mut back).unwrap();
                assert_eq!(&back[..4], b"kept");
                assert_eq!(&back[4..], &data[..], "{codec:?}");
            }
        }
    }

    #[test]
    fn empty_payloads_round_trip() {
        for codec in CODECS {
            let mut packed = Vec::new();
            compress(codec, &Levels::default(), &[], &mut packed).unwrap();
            let mut back = Vec::new();
            decompress(codec, &packed, &mut back).unwrap();
            assert!(back.is_empty(), "{codec:?}");
        }
    }

    #[test]
    fn garbage_is_corrupt_and_leaves_the_buffer_as_it_was() {
        for codec in &CODECS[1..] {
            let mut out = b"kept".to_vec();
            let garbage = [0x5au8; 64];
            let err = decompress(*codec, &garbage, &mut out).unwrap_err();
            assert!(matches!(err, LogError::Corrupt(_)), "{codec:?}: {err}");
            assert_eq!(out, b"kept");
        }
    }

    #[test]
    fn a_truncated_payload_is_corrupt() {
        let data = sample();
        for codec in &CODECS[1..] {
            let mut packed = Vec::new();
            compress(*codec, &Levels::default(), &data, &mut packed).unwrap();
            let mut out = Vec::new();
            let cut = &packed[..packed.len() / 2];
            assert!(decompress(*codec, cut, &mut out).is_err(), "{codec:?}");
        }
    }

    #[test]
    fn decompression_is_bounded() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1];
        for codec in &CODECS[1..] {
            let mut packed = Vec::new();
            compress(*codec, &Levels::default(), &zeros, &mut packed).unwrap();
            let mut out = Vec::new();
            let err = decompress(*codec, &packed, &mut out).unwrap_err();
            assert!(err.to_string().contains("more than"), "{codec:?}: {err}");
        }
    }

    #[test]
    fn config_names_map_to_codecs() {
        assert_eq!(
            TargetCompression::from_config("producer").resolve(Codec::Lz4),
            Codec::Lz4
        );
        assert_eq!(
            TargetCompression::from_config("uncompressed").resolve(Codec::Gzip),
            Codec::None
        );
        assert_eq!(
            TargetCompression::from_config("zstd").resolve(Codec::None),
            Codec::Zstd
        );
        assert_eq!(Codec::from_id(4), Some(Codec::Zstd));
        assert_eq!(Codec::from_id(5), None);
    }
}
