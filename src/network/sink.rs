//! Where a connection's responses go: any [`AsyncWrite`], plus a way to send a range of a file.
//! On a TCP socket that is `sendfile(2)`: the bytes go from the page cache to the socket without
//! passing through user space.

use std::future::Future;
use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;

use super::body::FileRange;

/// A response destination: any [`AsyncWrite`], plus a way to send a file range. A TCP socket uses
/// `sendfile(2)`; other writers (in-memory ones in tests) get the default, which reads the range
/// with `pread` and writes it.
pub(crate) trait ResponseSink: AsyncWrite + Unpin + Send {
    /// Writes all of `range`; a file that ends before the range does (a segment truncated since
    /// the fetch read it) is an error, so the connection closes instead of sending a short frame.
    fn send_file(&mut self, range: &FileRange) -> impl Future<Output = io::Result<()>> + Send {
        async move {
            let bytes = range.read_to_bytes()?;
            self.write_all(&bytes).await
        }
    }
}

impl ResponseSink for &mut Vec<u8> {}

/// TLS: the kernel cannot encrypt, so file ranges are read into memory (`pread`) and written
/// through rustls, which costs a copy and the encryption per fetched byte.
impl ResponseSink for tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {}

impl ResponseSink for OwnedWriteHalf {
    async fn send_file(&mut self, range: &FileRange) -> io::Result<()> {
        sendfile_all(self.as_ref(), range).await
    }
}

/// Linux sends at most this much per `sendfile` call.
const MAX_SENDFILE: usize = 0x7fff_f000;

/// `sendfile(2)` from the page cache to the socket until the range is sent, waiting for
/// writability whenever the socket buffer is full (EAGAIN) and going on after partial sends.
async fn sendfile_all(stream: &tokio::net::TcpStream, range: &FileRange) -> io::Result<()> {
    let mut offset = range.position;
    let mut left = range.len;
    while left > 0 {
        // Kafka's `FileRecords.writeTo` check: a file cut below the range since the fetch found it
        // (a follower truncating its log) fails the write instead of sending what is there now.
        if range.file.metadata()?.len() < offset + left as u64 {
            return Err(truncated(offset, left));
        }
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(
                stream,
                &*range.file,
                Some(&mut offset),
                left.min(MAX_SENDFILE),
            )
            .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(truncated(offset, left)),
            Ok(n) => left -= n.min(left),
            // `try_io` cleared the readiness; wait for it again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn truncated(offset: u64, left: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file ends before {offset} + {left} bytes still to send (segment truncated)"),
    )
}
