//! A response body as a sequence of parts: bytes in memory and ranges of open files.
//!
//! Fetch responses are mostly stored record batches. Keeping those as file ranges lets the
//! connection writer hand them to `sendfile(2)`, so consumed bytes go from the page cache to the
//! socket without being read into user space or copied into an encode buffer.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// `len` bytes of `file` from `position`. The `Arc` keeps the file open (and, once a segment is
/// deleted by retention, its unlinked inode alive) until the bytes are sent.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileRange {
    /// Reads the range into memory (the path for writers that are not sockets, and for tests).
    /// A file shorter than the range (truncated since it was read) is an `UnexpectedEof` error,
    /// never a short body: the response length was already promised.
    pub fn read_to_bytes(&self) -> std::io::Result<Bytes> {
        let mut buf = BytesMut::zeroed(self.len);
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf.freeze())
    }
}

/// One piece of a response body.
#[derive(Debug, Clone)]
pub enum BodyPart {
    Bytes(Bytes),
    File(FileRange),
}

impl BodyPart {
    pub fn len(&self) -> usize {
        match self {
            BodyPart::Bytes(b) => b.len(),
            BodyPart::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An encoded response body (without the length prefix and response header).
#[derive(Debug, Clone, Default)]
pub struct ResponseBody {
    parts: Vec<BodyPart>,
}

impl ResponseBody {
    /// The body's parts in wire order; none of them is empty.
    pub fn parts(&self) -> &[BodyPart] {
        &self.parts
    }

    pub fn into_parts(self) -> Vec<BodyPart> {
        self.parts
    }

    /// Total length on the wire: what the frame's length prefix must count.
    pub fn len(&self) -> usize {
        self.parts.iter().map(BodyPart::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// All parts as one buffer (file ranges read with `pread`).
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        if let [BodyPart::Bytes(b)] = &self.parts[..] {
            return Ok(b.clone());
        }
        let mut out = BytesMut::with_capacity(self.len());
        for part in &self.parts {
            match part {
                BodyPart::Bytes(b) => out.extend_from_slice(b),
                BodyPart::File(f) => out.extend_from_slice(&f.read_to_bytes()?),
            }
        }
        Ok(out.freeze())
    }
}

impl From<Bytes> for ResponseBody {
    fn from(b: Bytes) -> Self {
        let mut body = ResponseBody::default();
        if !b.is_empty() {
            body.parts.push(BodyPart::Bytes(b));
        }
        body
    }
}

/// Builds a [`ResponseBody`]: encoded fields go into one growing buffer, which is cut into a part
/// whenever a file range comes between them.
#[derive(Debug, Default)]
pub struct BodyBuilder {
    parts: Vec<BodyPart>,
    buf: BytesMut,
}

impl BodyBuilder {
    /// The buffer encoders write into.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub fn push_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn push_file(&mut self, range: FileRange) {
        self.cut();
        if range.len > 0 {
            self.parts.push(BodyPart::File(range));
        }
    }

    fn cut(&mut self) {
        if !self.buf.is_empty() {
            self.parts.push(BodyPart::Bytes(self.buf.split().freeze()));
        }
    }

    pub fn finish(mut self) -> ResponseBody {
        self.cut();
        ResponseBody { parts: self.parts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> Arc<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Arc::new(f)
    }

    #[test]
    fn builder_interleaves_memory_and_file_parts() {
        let file = file_with(b"0123456789");
        let mut b = BodyBuilder::default();
        b.push_bytes(b"ab");
        b.buf().extend_from_slice(b"c");
        b.push_file(FileRange {
            file: file.clone(),
            position: 2,
            len: 3,
        });
        b.push_file(FileRange {
            file,
            position: 0,
            len: 0,
        });
        b.push_bytes(b"z");
        let body = b.finish();
        assert_eq!(body.parts().len(), 3);
        assert_eq!(body.len(), 7);
        assert_eq!(&body.to_bytes().unwrap()[..], b"abc234z");
    }

    #[test]
    fn a_truncated_file_is_an_error_not_a_short_body() {
        let file = file_with(b"0123");
        let range = FileRange {
            file,
            position: 2,
            len: 5,
        };
        let err = range.read_to_bytes().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
