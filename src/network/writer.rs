//! The ordered response writer of one connection.
//!
//! The reader queues one [`Pending`] per request in arrival order; this side resolves them in that
//! same order (awaiting a spawned [`super::Reply::Later`] when it is next) and writes each behind its
//! length prefix and response header. Responses already complete when the head of the queue is
//! written are gathered into the same vectored write, so pipelined small responses cost one
//! syscall, and bodies are never copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::header::encode_response_header;

/// One queued request's outcome, in request order.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A response to write (if the body is `Some`).
    Response {
        correlation_id: i32,
        header_version: i16,
        body: Body,
    },
    /// Close the connection once everything before this is written.
    Close,
}

/// A response body, ready or still being computed.
#[derive(Debug)]
pub(crate) enum Body {
    Ready(Option<Bytes>),
    Later(JoinHandle<Option<Bytes>>),
}

/// Why the writer stopped early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("response task for correlation id {correlation_id} failed: {source}")]
    Task {
        correlation_id: i32,
        source: tokio::task::JoinError,
    },
}

/// Stop gathering more responses into one write beyond this many buffers or bytes.
const MAX_CHUNKS: usize = 128;
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Writes responses until the queue closes or a [`Pending::Close`] arrives, then shuts the write
/// side down (the peer sees EOF after the last response).
pub(crate) async fn write_responses<W: AsyncWrite + Unpin>(
    mut out: W,
    mut rx: mpsc::Receiver<Pending>,
) -> Result<(), WriteError> {
    let mut headers = BytesMut::with_capacity(MAX_CHUNKS * 9);
    let mut chunks = Chunks::default();
    let mut peeked: Option<Pending> = None;
    'outer: loop {
        let first = match peeked.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => break,
            },
        };
        let mut closing = !push(first, &mut headers, &mut chunks).await?;
        // Gather whatever else is already complete behind it.
        while !closing && chunks.bufs.len() < MAX_CHUNKS && chunks.remaining() < MAX_BATCH_BYTES {
            let Ok(next) = rx.try_recv() else { break };
            if let Pending::Response {
                body: Body::Later(h),
                ..
            } = &next
            {
                if !h.is_finished() {
                    peeked = Some(next);
                    break;
                }
            }
            closing = !push(next, &mut headers, &mut chunks).await?;
        }
        if chunks.has_remaining() {
            out.write_all_buf(&mut chunks).await?;
        }
        if closing {
            break 'outer;
        }
    }
    out.flush().await?;
    // Best effort: the peer may already be gone.
    let _ = out.shutdown().await;
    Ok(())
}

/// Resolves `p` and appends its header and body to `chunks`; `false` means close after writing.
async fn push(p: Pending, headers: &mut BytesMut, chunks: &mut Chunks) -> Result<bool, WriteError> {
    let (correlation_id, header_version, body) = match p {
        Pending::Close => return Ok(false),
        Pending::Response {
            correlation_id,
            header_version,
            body,
        } => (correlation_id, header_version, body),
    };
    let body = match body {
        Body::Ready(b) => b,
        Body::Later(h) => h.await.map_err(|source| WriteError::Task {
            correlation_id,
            source,
        })?,
    };
    if let Some(body) = body {
        headers.reserve(9);
        encode_response_header(headers, correlation_id, header_version, body.len());
        chunks.bufs.push_back(headers.split().freeze());
        if !body.is_empty() {
            chunks.bufs.push_back(body);
        }
    }
    Ok(true)
}

/// A queue of buffers read as one [`Buf`], so `write_all_buf` can hand them to `writev`.
#[derive(Debug, Default)]
struct Chunks {
    bufs: VecDeque<Bytes>,
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.bufs.iter().map(Bytes::len).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.bufs.front().map(|b| &b[..]).unwrap_or(&[])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(self.bufs.iter()) {
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.bufs.front_mut() else {
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.bufs.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_advance_across_buffers() {
        let mut c = Chunks::default();
        c.bufs.push_back(Bytes::from_static(b"abc"));
        c.bufs.push_back(Bytes::from_static(b"de"));
        c.advance(4);
        assert_eq!(c.chunk(), b"e");
        assert_eq!(c.remaining(), 1);
        c.advance(1);
        assert!(!c.has_remaining());
    }

    #[tokio::test]
    async fn later_bodies_keep_request_order() {
        let (tx, rx) = mpsc::channel(8);
        let (slow_tx, slow_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = tokio::spawn(async move {
            let _ = slow_rx.await;
            Some(Bytes::from_static(b"first"))
        });
        tx.send(Pending::Response {
            correlation_id: 1,
            header_version: 0,
            body: Body::Later(slow),
        })
        .await
        .unwrap();
        tx.send(Pending::Response {
            correlation_id: 2,
            header_version: 1,
            body: Body::Ready(Some(Bytes::from_static(b"second"))),
        })
        .await
        .unwrap();
        tx.send(Pending::Response {
            correlation_id: 3,
            header_version: 0,
            body: Body::Ready(None),
        })
        .await
        .unwrap();
        drop(tx);
        let mut out = Vec::new();
        let writer = write_responses(&mut out, rx);
        let release = async {
            tokio::task::yield_now().await;
            let _ = slow_tx.send(());
        };
        let (res, ()) = tokio::join!(writer, release);
        res.unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 1]);
        want.extend_from_slice(b"first");
        want.extend_from_slice(&[0, 0, 0, 11, 0, 0, 0, 2, 0]);
        want.extend_from_slice(b"second");
        assert_eq!(out, want);
    }
}
