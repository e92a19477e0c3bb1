//! Reading 4-byte big-endian length-prefixed frames.
//!
//! Frames are cut out of one growing `BytesMut` per connection, so a frame (and the request body
//! sliced from it) is handed on without copying.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a connection's byte stream cannot be framed; each closes the connection, like Kafka's
/// `InvalidReceiveException`.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The size prefix is negative or above `socket.request.max.bytes`.
    #[error("invalid request size {size} (socket.request.max.bytes is {max})")]
    InvalidSize {
        /// The size as sent.
        size: i32,
        /// The limit.
        max: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed after {got} of {want} bytes of a frame")]
    Truncated {
        /// Bytes received of the frame (including its size prefix).
        got: usize,
        /// Bytes the frame needed.
        want: usize,
    },
    /// A socket error.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames from one connection.
#[derive(Debug)]
pub struct FrameReader<R> {
    reader: R,
    buf: BytesMut,
    max: usize,
}

/// How much to ask the socket for at least, so small pipelined requests are read in one call.
const READ_CHUNK: usize = 16 * 1024;
/// Below this much spare room the buffer is grown before the next read.
const MIN_READ: usize = 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps `reader`, rejecting frames above `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        FrameReader {
            reader,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max,
        }
    }

    /// Changes the largest frame accepted (a SASL listener accepts smaller frames until the
    /// connection has authenticated).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The next frame without its size prefix; `Ok(None)` when the peer closed the connection
    /// cleanly between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.try_split()? {
                return Ok(Some(frame));
            }
            // Room for the rest of this frame (its size is checked against the limit before this
            // reserves for it) or at least one read chunk, whichever is larger.
            // Growing only when the spare room is small avoids reallocating for every read.
            let missing = self.wanted().saturating_sub(self.buf.len());
            if self.buf.capacity() - self.buf.len() < missing.max(MIN_READ) {
                self.buf.reserve(missing.max(READ_CHUNK));
            }
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated {
                    got: self.buf.len(),
                    want: self.wanted(),
                });
            }
        }
    }

    /// Resolves once the peer has closed the connection (EOF or a socket error) while the
    /// connection waits on something else (request processing not yet enabled). What arrives
    /// meanwhile is kept for [`Self::next_frame`]; once a read chunk is buffered this stops reading,
    /// as Kafka mutes a channel it is not ready to serve, so a client pipelining requests cannot
    /// grow the buffer without bound. Cancel-safe: bytes are read straight into the buffer.
    pub async fn peer_gone(&mut self) {
        loop {
            if self.buf.len() >= READ_CHUNK {
                return std::future::pending().await;
            }
            self.buf.reserve(READ_CHUNK);
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Total bytes (prefix included) the frame at the front of the buffer needs, as far as known.
    fn wanted(&self) -> usize {
        match self.size_prefix() {
            Some(size) => 4 + usize::try_from(size).unwrap_or(0),
            None => 4,
        }
    }

    fn size_prefix(&self) -> Option<i32> {
        (self.buf.len() >= 4)
            .then(|| i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]))
    }

    /// Cuts a complete frame off the buffer, validating the size as soon as the prefix is in.
    fn try_split(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(size) = self.size_prefix() else {
            return Ok(None);
        };
        let len = match usize::try_from(size) {
            Ok(len) if len <= self.max => len,
            _ => {
                return Err(FrameError::InvalidSize {
                    size,
                    max: self.max,
                })
            }
        };
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for p in payloads {
            v.extend_from_slice(&(p.len() as i32).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    }

    #[tokio::test]
    async fn splits_pipelined_frames_and_ends_cleanly() {
        let data = framed(&[b"abc", b"", b"defgh"]);
        let mut r = FrameReader::new(&data[..], 100);
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b""[..]);
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b"defgh"[..]);
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rejects_oversized_and_negative_sizes() {
        let data = framed(&[&[0u8; 11]]);
        let mut r = FrameReader::new(&data[..], 10);
        let err = r.next_frame().await.unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidSize { size: 11, max: 10 }),
            "{err}"
        );
        let data = (-5i32).to_be_bytes();
        let mut r = FrameReader::new(&data[..], 10);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::InvalidSize { size: -5, .. })
        ));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let mut data = framed(&[b"abcdef"]);
        data.truncate(7);
        let mut r = FrameReader::new(&data[..], 100);
        let err = r.next_frame().await.unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 7, want: 10 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn peer_gone_keeps_what_arrived_for_the_next_frame() {
        let data = framed(&[b"abc"]);
        let mut r = FrameReader::new(&data[..], 100);
        // The slice ends: the peer is gone, but the frame read meanwhile is still handed out.
        tokio::time::timeout(std::time::Duration::from_secs(1), r.peer_gone())
            .await
            .expect("EOF seen");
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b"abc"[..]);
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn peer_gone_stops_reading_a_busy_peer() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(server, 1 << 20);
        tokio::io::AsyncWriteExt::write_all(&mut client, &vec![0u8; 4 * READ_CHUNK])
            .await
            .unwrap();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(200), r.peer_gone()).await;
        assert!(waited.is_err(), "a connected peer is not gone");
        assert!(r.buf.len() < 3 * READ_CHUNK, "read {} bytes", r.buf.len());
        drop(client);
    }

    #[tokio::test]
    async fn large_frame_spanning_many_reads() {
        let big = vec![7u8; 200_000];
        let data = framed(&[&big, b"x"]);
        let mut r = FrameReader::new(&data[..], 1 << 20);
        assert_eq!(r.next_frame().await.unwrap().unwrap().len(), 200_000);
        assert_eq!(r.next_frame().await.unwrap().unwrap(), &b"x"[..]);
    }
}
