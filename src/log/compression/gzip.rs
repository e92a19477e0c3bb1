//! gzip (Kafka's `GzipCompression`): a gzip stream; Java's `GZIPInputStream` reads concatenated
//! members, so every member is read here too.

use std::io::{self, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    super::read_bounded(MultiGzDecoder::new(input), out)
}

/// `level` -1 is `Deflater.DEFAULT_COMPRESSION` (zlib's 6), otherwise 1-9 as configured.
pub(super) fn compress(level: i32, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let level = u32::try_from(level).map_or(Compression::default(), |l| Compression::new(l.min(9)));
    let mut encoder = GzEncoder::new(out, level);
    encoder.write_all(input)?;
    encoder.finish().map(drop)
}
