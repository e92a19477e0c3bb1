//! Fetch response encoding with records left in the segment files.
//!
//! kafka-protocol encodes a `FetchResponse` into one buffer, which would mean copying every record
//! batch into it. Here every byte except the records still comes from kafka-protocol: each level
//! of the response (the response, a topic, a partition) is encoded with its one variable part
//! emptied (the topic array, the partition array, the records), and the bytes are split around
//! where that empty part landed. Between the halves go the array or records length (the only
//! bytes written by hand) and the children, or the records as a [`FileRange`] part of the body,
//! which the connection writer sends with `sendfile(2)`.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::FetchResponse;
use kafka_protocol::protocol::Encodable;

use crate::network::{BodyBuilder, FileRange, ResponseBody};

/// The first version with compact (flexible) encodings and tagged fields.
const FIRST_FLEXIBLE: i16 = 12;

/// Encodes `resp` at `version`. `files[t][p]`, when present, is the records of partition `p` of
/// topic `t` and replaces that partition's inline `records`; otherwise the inline records are
/// encoded as kafka-protocol would.
pub(crate) fn encode_fetch_response(
    mut resp: FetchResponse,
    mut files: Vec<Vec<Option<FileRange>>>,
    version: i16,
) -> anyhow::Result<ResponseBody> {
    let flexible = version >= FIRST_FLEXIBLE;
    let mut out = BodyBuilder::default();
    let topics = std::mem::take(&mut resp.responses);
    let (resp_head, resp_tail) = split_around(
        &resp,
        strip_response_tags,
        array_len_size(flexible),
        version,
    )?;
    out.push_bytes(&resp_head);
    put_len(out.buf(), Some(topics.len()), flexible);
    for (t, mut topic) in topics.into_iter().enumerate() {
        let partitions = std::mem::take(&mut topic.partitions);
        let (topic_head, topic_tail) =
            split_around(&topic, strip_topic_tags, array_len_size(flexible), version)?;
        out.push_bytes(&topic_head);
        put_len(out.buf(), Some(partitions.len()), flexible);
        let mut topic_files = files.get_mut(t).map(std::mem::take).unwrap_or_default();
        for (p, mut partition) in partitions.into_iter().enumerate() {
            match topic_files.get_mut(p).and_then(Option::take) {
                None => {
                    let buf = out.buf();
                    buf.reserve(partition.compute_size(version)?);
                    partition.encode(buf, version)?;
                }
                Some(range) => {
                    partition.records = None;
                    let null = records_null_size(flexible);
                    let (head, tail) =
                        split_around(&partition, strip_partition_tags, null, version)?;
                    out.push_bytes(&head);
                    put_len(out.buf(), Some(range.len), flexible);
                    out.push_file(range);
                    out.push_bytes(&tail);
                }
            }
        }
        out.push_bytes(&topic_tail);
    }
    out.push_bytes(&resp_tail);
    Ok(out.finish())
}

/// Encodes `whole`, whose one variable part is empty and encodes to `hole` bytes, and returns the
/// bytes before and after that part. Only tagged fields follow the part, so the bytes before it
/// are as long as the encoding of `whole` without its tagged fields (`strip`), minus the hole and
/// the one-byte empty tag section of a flexible version.
fn split_around<T: Encodable + Clone>(
    whole: &T,
    strip: fn(&mut T),
    hole: usize,
    version: i16,
) -> anyhow::Result<(Bytes, Bytes)> {
    let mut bytes = BytesMut::with_capacity(whole.compute_size(version)?);
    whole.encode(&mut bytes, version)?;
    let mut bare = whole.clone();
    strip(&mut bare);
    let empty_tags = usize::from(version >= FIRST_FLEXIBLE);
    let head_len = bare
        .compute_size(version)?
        .checked_sub(hole + empty_tags)
        .filter(|h| h + hole <= bytes.len())
        .ok_or_else(|| {
            anyhow::anyhow!("fetch response v{version}: no room for the spliced part")
        })?;
    let mut bytes = bytes.freeze();
    let head = bytes.split_to(head_len);
    Ok((head, bytes.slice(hole..)))
}

fn strip_response_tags(r: &mut FetchResponse) {
    r.node_endpoints.clear();
    r.unknown_tagged_fields.clear();
}

fn strip_topic_tags(t: &mut FetchableTopicResponse) {
    t.unknown_tagged_fields.clear();
}

fn strip_partition_tags(p: &mut PartitionData) {
    p.diverging_epoch = Default::default();
    p.current_leader = Default::default();
    p.snapshot_id = Default::default();
    p.unknown_tagged_fields.clear();
}

/// Bytes of an empty array: INT32 0, or the compact length varint 1.
fn array_len_size(flexible: bool) -> usize {
    if flexible {
        1
    } else {
        4
    }
}

/// Bytes of null records: INT32 -1, or the compact length varint 0.
fn records_null_size(flexible: bool) -> usize {
    array_len_size(flexible)
}

/// An array or bytes length: INT32 (-1 for null), or the compact unsigned varint of length + 1
/// (0 for null).
fn put_len(buf: &mut BytesMut, len: Option<usize>, flexible: bool) {
    if flexible {
        let mut v = len.map_or(0, |n| n as u64 + 1);
        while v >= 0x80 {
            buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        buf.put_u8(v as u8);
    } else {
        buf.put_i32(len.map_or(-1, |n| n as i32));
    }
}

#[cfg(test)]
#[path = "fetch_encode_tests.rs"]
mod tests;
