//! lz4 (Kafka's `Lz4Compression`): the LZ4 frame format as `KafkaLZ4BlockOutputStream` writes
//! it — 64 KiB independent blocks, no block or content checksum, no content size.

use std::io::{self, Write};

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    super::read_bounded(FrameDecoder::new(input), out)
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(info, out);
    encoder.write_all(input)?;
    encoder.finish().map(drop).map_err(io::Error::other)
}
