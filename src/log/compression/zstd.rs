//! zstd (Kafka's `ZstdCompression`): zstd frames; every frame of the payload is read, as
//! zstd-jni's stream does.

use std::io;

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    super::read_bounded(::zstd::stream::read::Decoder::new(input)?, out)
}

/// `level` as `compression.zstd.level` (Kafka's default 3; negative levels are zstd's fast ones).
pub(super) fn compress(level: i32, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let mut encoder = ::zstd::stream::write::Encoder::new(out, level)?;
    io::Write::write_all(&mut encoder, input)?;
    encoder.finish().map(drop)
}
