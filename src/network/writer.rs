//! The ordered response writer of one connection.
//!
//! The reader queues one [`Pending`] per request in arrival order; this side resolves them in that
//! same order (awaiting a spawned [`super::Reply::Later`] when it is next) and writes each behind its
//! length prefix and response header. Responses already complete when the head of the queue is
//! written are gathered into the same vectored write, so pipelined small responses cost one
//! syscall, and bodies are never copied. File ranges in a body (stored record batches) go to the
//! socket with `sendfile(2)` (see [`super::sink`]), between the vectored writes of the memory
//! parts around them.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::body::{BodyPart, ResponseBody};
use super::connection::Activity;
use super::header::encode_response_header;
use super::sink::ResponseSink;

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
    Ready(Option<ResponseBody>),
    Later(LaterTask),
}

/// A spawned [`super::Reply::Later`], aborted when dropped: once nobody will write its response
/// (the peer went away, the connection was torn down), a delayed fetch, an acks=all produce or an
/// admin request stops waiting at once instead of running to its timeout.
#[derive(Debug)]
pub(crate) struct LaterTask(JoinHandle<Option<ResponseBody>>);

impl LaterTask {
    pub(crate) fn spawn(
        reply: impl Future<Output = Option<ResponseBody>> + Send + 'static,
    ) -> LaterTask {
        LaterTask(tokio::spawn(reply))
    }

    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Future for LaterTask {
    type Output = Result<Option<ResponseBody>, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl Drop for LaterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
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

/// Stop gathering more responses into one write beyond this many parts or bytes.
const MAX_CHUNKS: usize = 128;
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Writes responses until the queue closes or a [`Pending::Close`] arrives, then shuts the write
/// side down (the peer sees EOF after the last response).
/// Every response written (or owed none, as acks=0 produce) is reported to `activity`, which the
/// idle timer reads.
pub(crate) async fn write_responses<W: ResponseSink>(
    mut out: W,
    mut rx: mpsc::Receiver<Pending>,
    activity: &Activity,
) -> Result<(), WriteError> {
    let mut headers = BytesMut::with_capacity(MAX_CHUNKS * 9);
    let mut outgoing = Outgoing::default();
    let mut peeked: Option<Pending> = None;
    'outer: loop {
        let first = match peeked.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => break,
            },
        };
        let mut answered = usize::from(matches!(first, Pending::Response { .. }));
        let mut closing = !push(first, &mut headers, &mut outgoing).await?;
        // Gather whatever else is already complete behind it.
        while !closing && outgoing.parts.len() < MAX_CHUNKS && outgoing.bytes < MAX_BATCH_BYTES {
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
            answered += usize::from(matches!(next, Pending::Response { .. }));
            closing = !push(next, &mut headers, &mut outgoing).await?;
        }
        outgoing.write_to(&mut out).await?;
        activity.responses_written(answered);
        if closing {
            break 'outer;
        }
    }
    out.flush().await?;
    // Best effort: the peer may already be gone.
    let _ = out.shutdown().await;
    Ok(())
}

/// Resolves `p` and appends its header and body to `outgoing`; `false` means close after writing.
async fn push(
    p: Pending,
    headers: &mut BytesMut,
    outgoing: &mut Outgoing,
) -> Result<bool, WriteError> {
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
        outgoing.push(BodyPart::Bytes(headers.split().freeze()));
        for part in body.into_parts() {
            outgoing.push(part);
        }
    }
    Ok(true)
}

/// The parts gathered for one round of writing.
#[derive(Debug, Default)]
struct Outgoing {
    parts: VecDeque<BodyPart>,
    bytes: usize,
}

impl Outgoing {
    fn push(&mut self, part: BodyPart) {
        if !part.is_empty() {
            self.bytes += part.len();
            self.parts.push_back(part);
        }
    }

    /// Writes every part in order: runs of memory parts as one vectored write, file ranges with
    /// [`ResponseSink::send_file`] once the memory before them is out.
    async fn write_to<W: ResponseSink>(&mut self, out: &mut W) -> io::Result<()> {
        let mut run = Chunks::default();
        while let Some(part) = self.parts.pop_front() {
            match part {
                BodyPart::Bytes(b) => run.bufs.push_back(b),
                BodyPart::File(range) => {
                    if run.has_remaining() {
                        out.write_all_buf(&mut run).await?;
                    }
                    out.send_file(&range).await?;
                }
            }
        }
        if run.has_remaining() {
            out.write_all_buf(&mut run).await?;
        }
        self.bytes = 0;
        Ok(())
    }
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
    use crate::network::FileRange;

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
    async fn a_dropped_later_task_stops_waiting_at_once() {
        let (held, dropped) = tokio::sync::oneshot::channel::<()>();
        let task = LaterTask::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
            None
        });
        tokio::task::yield_now().await;
        drop(task);
        // The aborted task drops its future, and with it the sender it held.
        let waited = tokio::time::timeout(std::time::Duration::from_secs(1), dropped).await;
        assert!(
            matches!(waited, Ok(Err(_))),
            "task still running: {waited:?}"
        );
    }

    #[tokio::test]
    async fn later_bodies_keep_request_order() {
        let (tx, rx) = mpsc::channel(8);
        let (slow_tx, slow_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = LaterTask::spawn(async move {
            let _ = slow_rx.await;
            Some(Bytes::from_static(b"first").into())
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
            body: Body::Ready(Some(Bytes::from_static(b"second").into())),
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
        let activity = Activity::default();
        let writer = write_responses(&mut out, rx, &activity);
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

    fn file_with(content: &[u8]) -> std::sync::Arc<std::fs::File> {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        std::sync::Arc::new(f)
    }

    fn mixed_body(file: &std::sync::Arc<std::fs::File>, position: u64, len: usize) -> ResponseBody {
        let mut b = super::super::BodyBuilder::default();
        b.push_bytes(b"head");
        b.push_file(FileRange {
            file: file.clone(),
            position,
            len,
        });
        b.push_bytes(b"tail");
        b.finish()
    }

    fn response(body: ResponseBody) -> Pending {
        Pending::Response {
            correlation_id: 7,
            header_version: 0,
            body: Body::Ready(Some(body)),
        }
    }

    /// Writes `pending` through a real socket pair; returns what the peer read and the writer's
    /// outcome.
    async fn over_tcp(pending: Vec<Pending>) -> (Vec<u8>, Result<(), WriteError>) {
        use tokio::io::AsyncReadExt;
        let (mut client, write) = socket_pair().await;
        let (tx, rx) = mpsc::channel(8);
        for p in pending {
            tx.send(p).await.unwrap();
        }
        drop(tx);
        let writer =
            tokio::spawn(async move { write_responses(write, rx, &Activity::default()).await });
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        (got, writer.await.unwrap())
    }

    #[tokio::test]
    async fn file_ranges_are_sent_with_sendfile_between_memory_parts() {
        // Larger than a socket buffer, so sendfile meets a full buffer (EAGAIN) and partial sends.
        let content: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let file = file_with(&content);
        let (got, res) = over_tcp(vec![
            response(mixed_body(&file, 3, content.len() - 5)),
            response(Bytes::from_static(b"next").into()),
        ])
        .await;
        res.unwrap();
        let len = 4 + 4 + (content.len() - 5) + 4;
        let mut want = (len as u32).to_be_bytes().to_vec();
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(b"head");
        want.extend_from_slice(&content[3..content.len() - 2]);
        want.extend_from_slice(b"tail");
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 7]);
        want.extend_from_slice(b"next");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes differ");
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_range_closes_the_connection() {
        let file = file_with(b"0123456789");
        let (got, res) = over_tcp(vec![
            response(mixed_body(&file, 4, 100)),
            response(Bytes::from_static(b"never").into()),
        ])
        .await;
        assert!(
            matches!(&res, Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{res:?}"
        );
        // The peer got the frame's start, then EOF well before the promised length: nothing of a
        // range the file no longer holds is sent.
        assert_eq!(&got[..4], &(4u32 + 4 + 100 + 4).to_be_bytes());
        assert_eq!(&got[8..], b"head");
    }

    #[tokio::test]
    async fn writers_that_are_not_sockets_get_file_ranges_read_into_memory() {
        let file = file_with(b"0123456789");
        let (tx, rx) = mpsc::channel(8);
        tx.send(response(mixed_body(&file, 2, 3))).await.unwrap();
        drop(tx);
        let mut out = Vec::new();
        write_responses(&mut out, rx, &Activity::default())
            .await
            .unwrap();
        let mut want = vec![0, 0, 0, 15, 0, 0, 0, 7];
        want.extend_from_slice(b"head234tail");
        assert_eq!(out, want);
    }

    /// A connected client socket and the server side's write half (its read half is dropped).
    async fn socket_pair() -> (tokio::net::TcpStream, tokio::net::tcp::OwnedWriteHalf) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        (client, write)
    }

    #[tokio::test]
    async fn a_file_truncated_while_its_range_is_sent_closes_the_connection() {
        use tokio::io::AsyncReadExt;
        let content = vec![5u8; 16 << 20];
        let file = file_with(&content);
        let (mut client, write) = socket_pair().await;
        let (tx, rx) = mpsc::channel(8);
        tx.send(response(mixed_body(&file, 0, content.len())))
            .await
            .unwrap();
        drop(tx);
        let writer =
            tokio::spawn(async move { write_responses(write, rx, &Activity::default()).await });
        // Nobody reads yet: the socket buffers fill and the writer waits for writability.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        file.set_len(1 << 20).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        let res = writer.await.unwrap();
        assert!(
            matches!(&res, Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{res:?}"
        );
        assert!(got.len() < 8 + 4 + content.len(), "a short frame, then EOF");
    }
}
