//! The records inside an uncompressed magic-2 batch (Kafka's `DefaultRecord`), read in place.
//!
//! The leader walks every record a producer sends (Kafka's `LogValidator`: structure, keys of
//! compacted topics, timestamps) and the log cleaner keeps only each key's latest record. Both
//! walk records through [`Records`], which borrows the batch bytes (or, for a compressed batch,
//! its decompressed payload) and allocates nothing, so neither path costs an allocation per
//! record. [`write_record`] is the inverse the cleaner uses to re-frame a kept record under a
//! new base timestamp.
//!
//! A record that does not decode as Kafka's `DefaultRecord.readFrom` would is an
//! `InvalidRecordException` in Kafka (INVALID_RECORD): lengths past the record, a negative
//! header count or header key length, a body whose fields do not add up to its size field, or
//! bytes left over after the batch's declared record count.

use crate::log::LogError;

/// One record of a batch, borrowing the batch's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    /// `None` for a null key (length -1).
    pub key: Option<&'a [u8]>,
    /// `None` for a null value: a tombstone.
    pub value: Option<&'a [u8]>,
    /// The header count and the headers, exactly as stored (copied verbatim when re-framed).
    pub headers: &'a [u8],
}

/// Iterates the records of an uncompressed batch; a malformed record ends the walk with an error.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    left: i32,
}

impl<'a> Records<'a> {
    /// The `count` records of a payload: the bytes after a batch header, decompressed if the
    /// batch is compressed.
    pub fn in_payload(payload: &'a [u8], count: i32) -> Records<'a> {
        Records {
            buf: payload,
            pos: 0,
            left: count.max(0),
        }
    }

    fn invalid(&mut self, what: &str) -> Option<Result<RecordRef<'a>, LogError>> {
        self.left = 0;
        Some(Err(LogError::InvalidRecord(format!(
            "record at payload position {} has {what}",
            self.pos
        ))))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordRef<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut pos = self.pos;
        let Some(len) = read_varint(self.buf, &mut pos) else {
            return self.invalid("an unreadable length");
        };
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&e| e <= self.buf.len())
        else {
            return self.invalid("a length past the batch end");
        };
        let body = &self.buf[..end];
        pos += 1; // attributes (unused in magic 2)
        let parsed = (|| {
            let timestamp_delta = read_varlong(body, &mut pos)?;
            let offset_delta = read_varint(body, &mut pos)?;
            let key = read_bytes(body, &mut pos)?;
            let value = read_bytes(body, &mut pos)?;
            let headers_start = pos;
            skip_headers(body, &mut pos)?;
            (pos == end).then_some(RecordRef {
                offset_delta,
                timestamp_delta,
                key,
                value,
                headers: &body[headers_start..],
            })
        })();
        let Some(record) = parsed else {
            return self.invalid("fields that do not add up to its length");
        };
        self.pos = end;
        if self.left == 0 && self.pos != self.buf.len() {
            return self.invalid("bytes after the batch's last declared record");
        }
        Some(Ok(record))
    }
}

/// Skips the header count and the headers (Kafka's `DefaultRecord.readHeaders`): a negative
/// count or key length, or a field past the record, is unreadable.
fn skip_headers(body: &[u8], pos: &mut usize) -> Option<()> {
    let count = read_varint(body, pos)?;
    if count < 0 {
        return None;
    }
    for _ in 0..count {
        read_bytes(body, pos)??;
        read_bytes(body, pos)?;
    }
    Some(())
}

/// A length-prefixed byte field: `None` (outer) when unreadable, `Some(None)` for length -1.
fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = read_varint(buf, pos)?;
    if len < 0 {
        return Some(None);
    }
    let end = pos.checked_add(len as usize)?;
    let bytes = buf.get(*pos..end)?;
    *pos = end;
    Some(Some(bytes))
}

/// Reads a zigzag varlong (Kafka's `ByteUtils.readVarlong`).
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Reads a zigzag varint; one that does not fit an `i32` is unreadable, as in Kafka.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    read_varlong(buf, pos).and_then(|v| i32::try_from(v).ok())
}

/// Appends a zigzag varlong.
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let (bytes, len) = varlong_bytes(value);
    out.extend_from_slice(&bytes[..len]);
}

/// A zigzag varlong on the stack: the bytes and how many of them are used.
fn varlong_bytes(value: i64) -> ([u8; 10], usize) {
    let mut bytes = [0u8; 10];
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut len = 0;
    while v >= 0x80 {
        bytes[len] = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
        len += 1;
    }
    bytes[len] = v as u8;
    (bytes, len + 1)
}

/// Appends a record in Kafka's `DefaultRecord.writeTo` framing, with the given deltas.
pub fn write_record(out: &mut Vec<u8>, record: &RecordRef<'_>, offset_delta: i32, ts_delta: i64) {
    // The body is written after a length placeholder of at most 5 bytes, then moved up to sit
    // right after the real length: one small copy instead of sizing every field twice.
    let start = out.len();
    out.extend_from_slice(&[0; 5]);
    let body = out.len();
    out.push(0); // attributes
    write_varlong(out, ts_delta);
    write_varlong(out, i64::from(offset_delta));
    for field in [record.key, record.value] {
        match field {
            Some(bytes) => {
                write_varlong(out, bytes.len() as i64);
                out.extend_from_slice(bytes);
            }
            None => write_varlong(out, -1),
        }
    }
    out.extend_from_slice(record.headers);
    let (len, len_size) = varlong_bytes((out.len() - body) as i64);
    out.copy_within(body.., start + len_size);
    out[start..start + len_size].copy_from_slice(&len[..len_size]);
    out.truncate(out.len() - (5 - len_size));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record_batch::{BatchHeader, HEADER_SIZE};
    use crate::log::test_util::keyed_batch;

    #[test]
    fn reads_what_kafka_protocol_encodes() {
        let batch = keyed_batch(
            (-1, -1, -1),
            1000,
            &[(Some("a"), Some("1")), (None, Some("2")), (Some("c"), None)],
        );
        let header = BatchHeader::parse(&batch).unwrap();
        let records: Vec<RecordRef<'_>> =
            Records::in_payload(&batch[HEADER_SIZE..], header.records_count)
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].key, Some(&b"a"[..]));
        assert_eq!(records[0].value, Some(&b"1"[..]));
        assert_eq!(records[1].key, None);
        assert_eq!((records[2].key, records[2].value), (Some(&b"c"[..]), None));
        assert_eq!(
            records.iter().map(|r| r.offset_delta).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(records[2].timestamp_delta, 2);
    }

    #[test]
    fn a_cut_record_is_invalid_not_a_panic() {
        let batch = keyed_batch((-1, -1, -1), 1000, &[(Some("key"), Some("value"))]);
        let header = BatchHeader::parse(&batch).unwrap();
        for cut in HEADER_SIZE..batch.len() {
            let mut it = Records::in_payload(&batch[HEADER_SIZE..cut], header.records_count);
            assert!(
                matches!(it.next(), Some(Err(LogError::InvalidRecord(_)))),
                "{cut}"
            );
            assert!(it.next().is_none());
        }
    }

    /// One record's bytes: length, then `body`.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn headers_are_walked_and_kept_verbatim() {
        // attributes, ts delta 0, offset delta 0, key "k", value null, 1 header "h" -> "v".
        let body = [0, 0, 0, 2, b'k', 1, 2, 2, b'h', 2, b'v'];
        let payload = framed(&body);
        let records: Vec<_> = Records::in_payload(&payload, 1)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(records[0].key, Some(&b"k"[..]));
        assert_eq!(records[0].value, None);
        assert_eq!(records[0].headers, &[2, 2, b'h', 2, b'v']);
    }

    #[test]
    fn malformed_records_are_invalid() {
        let bad_bodies: [&[u8]; 5] = [
            // Header count -1.
            &[0, 0, 0, 2, b'k', 1, 1],
            // Header key length -1.
            &[0, 0, 0, 2, b'k', 1, 2, 1, 0],
            // Header value past the record.
            &[0, 0, 0, 2, b'k', 1, 2, 2, b'h', 8, b'v'],
            // A byte after the headers the length counts.
            &[0, 0, 0, 2, b'k', 1, 0, 9],
            // Key length past the record.
            &[0, 0, 0, 40, b'k', 1, 0],
        ];
        for body in bad_bodies {
            let payload = framed(body);
            let first = Records::in_payload(&payload, 1).next();
            assert!(
                matches!(first, Some(Err(LogError::InvalidRecord(_)))),
                "{body:?}"
            );
        }
        // Bytes left after the declared count.
        let mut payload = framed(&[0, 0, 0, 2, b'k', 1, 0]);
        payload.push(0);
        let first = Records::in_payload(&payload, 1).next();
        assert!(matches!(first, Some(Err(LogError::InvalidRecord(_)))));
        // Fewer records than declared.
        let payload = framed(&[0, 0, 0, 2, b'k', 1, 0]);
        let mut it = Records::in_payload(&payload, 2);
        assert!(matches!(it.next(), Some(Ok(_))));
        assert!(matches!(it.next(), Some(Err(LogError::InvalidRecord(_)))));
    }

    #[test]
    fn varlongs_round_trip() {
        for v in [
            0,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = Vec::new();
            write_varlong(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_varlong(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
    }
}
