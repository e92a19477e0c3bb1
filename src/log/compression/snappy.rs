//! snappy (Kafka's `SnappyCompression`): snappy-java's `SnappyOutputStream` framing, as Kafka
//! writes it — an 8-byte magic, version and compatible version (both 1), then chunks of a 4-byte
//! big-endian length and one raw snappy block. `SnappyInputStream` also reads a bare raw snappy
//! block (what librdkafka sent before it framed its output), so both are read here.

use std::io;

const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const HEADER_LEN: usize = MAGIC.len() + 8;
/// snappy-java's default block size: each chunk holds at most this many uncompressed bytes.
const BLOCK_SIZE: usize = 32 * 1024;

pub(super) fn decompress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    if input.len() < HEADER_LEN || input[..MAGIC.len()] != MAGIC {
        return decompress_block(input, out);
    }
    let mut rest = &input[HEADER_LEN..];
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(invalid("a chunk length is cut short"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        let Some((chunk, tail)) = tail.split_at_checked(len) else {
            return Err(invalid("a chunk is cut short"));
        };
        decompress_block(chunk, out)?;
        rest = tail;
    }
    Ok(())
}

/// No raw snappy block expands more than this: its densest element, a copy with a 2-byte offset,
/// is 3 bytes for at most 64. A larger declared length is a lie, refused before any memory is
/// zeroed for it (the fuzzer's find: a few bytes declaring 256 MiB).
const MAX_EXPANSION: usize = 22;

fn decompress_block(block: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let len = snap::raw::decompress_len(block).map_err(io::Error::other)?;
    if len > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(invalid("a block declares more than snappy can expand to"));
    }
    if out.len().saturating_add(len) > super::MAX_DECOMPRESSED_BYTES {
        return Err(super::too_large());
    }
    let start = out.len();
    out.resize(start + len, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[start..]) {
        Ok(n) if n == len => Ok(()),
        Ok(_) => Err(invalid("a block is shorter than its declared length")),
        Err(e) => Err(io::Error::other(e)),
    }
}

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(BLOCK_SIZE) {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(block.len()), 0);
        let n = encoder
            .compress(block, &mut out[start..])
            .map_err(io::Error::other)?;
        out.truncate(start + n);
        out[len_at..start].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_bare_raw_block_and_writes_the_xerial_framing() {
        let data = b"hello hello hello hello snappy".repeat(10);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut out = Vec::new();
        decompress(&raw, &mut out).unwrap();
        assert_eq!(out, data);
        let mut framed = Vec::new();
        compress(&data, &mut framed).unwrap();
        assert_eq!(framed[..8], MAGIC);
        assert_eq!(framed[8..16], [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn the_densest_real_block_passes_and_a_block_declaring_more_is_refused_at_once() {
        // All zeros compress as densely as snappy can.
        let data = vec![0u8; 1 << 20];
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert!(
            data.len() <= raw.len() * MAX_EXPANSION,
            "{} from {}",
            data.len(),
            raw.len()
        );
        let mut out = Vec::new();
        decompress(&raw, &mut out).unwrap();
        assert_eq!(out.len(), data.len());
        // A varint declaring 256 MiB, then one literal byte.
        let lie = [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, b'x'];
        let mut out = Vec::new();
        let err = decompress(&lie, &mut out).unwrap_err();
        assert!(
            err.to_string().contains("more than snappy can expand"),
            "{err}"
        );
        assert!(out.capacity() < 1024);
    }
}
