//! The bytes one append writes, without copying them: the batches exactly as received, except
//! that a leader gives each batch its offsets and leader epoch. Those live in the first 16 bytes
//! of the batch header (base offset, batch length, partition leader epoch), outside the CRC, so
//! the leader keeps a patched copy of just those 16 bytes per batch and the segment writes the
//! pieces with one vectored write. The request buffer is shared with the decoded request and
//! cannot be patched in place; copying whole batches to patch them cost a fifth of the broker's
//! CPU at high produce rates.
//!
//! Validation sometimes changes more (`validator`): a batch stamped with `LogAppendTime` gets a
//! whole new 61-byte header, still without copying its records, and a recompressed batch is
//! replaced by the bytes built for it.

use std::io::IoSlice;

use super::record_batch::{set_base_offset, set_partition_leader_epoch, BatchHeader, HEADER_SIZE};

/// Bytes of a batch header a leader rewrites: base offset (8), length (4), leader epoch (4).
const PREFIX: usize = 16;

/// What replaces the start of a batch (or all of it).
#[derive(Debug)]
enum Piece {
    Prefix([u8; PREFIX]),
    Header([u8; HEADER_SIZE]),
    Batch(Vec<u8>),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Prefix(b) => b,
            Piece::Header(b) => b,
            Piece::Batch(b) => b,
        }
    }
}

/// Stored batches as received, with per-batch replacements as assigned by this leader.
#[derive(Debug)]
pub(crate) struct AppendBytes<'a> {
    records: &'a [u8],
    /// `(start of the batch in records, bytes of records replaced, replacement)`, in
    /// increasing order of start.
    patches: Vec<(usize, usize, Piece)>,
    len: usize,
}

impl<'a> AppendBytes<'a> {
    /// `records` written as they are (a follower's append: the leader assigned everything).
    pub fn unchanged(records: &'a [u8]) -> Self {
        Self::with_capacity(records, 0)
    }

    /// Like [`Self::unchanged`], with room for `batches` patched headers.
    pub fn with_capacity(records: &'a [u8], batches: usize) -> Self {
        AppendBytes {
            records,
            patches: Vec::with_capacity(batches),
            len: records.len(),
        }
    }

    fn push(&mut self, start: usize, replaced: usize, piece: Piece) {
        debug_assert!(self.patches.last().is_none_or(|(s, r, _)| s + r <= start));
        self.len = self.len - replaced + piece.bytes().len();
        self.patches.push((start, replaced, piece));
    }

    /// Gives the batch starting at `start` (a validated batch, so at least a header long) its base
    /// offset and leader epoch. Batches must be patched in the order they appear.
    pub fn patch(&mut self, start: usize, base_offset: i64, leader_epoch: i32) {
        let mut prefix = [0u8; PREFIX];
        prefix.copy_from_slice(&self.records[start..start + PREFIX]);
        set_base_offset(&mut prefix, base_offset);
        set_partition_leader_epoch(&mut prefix, leader_epoch);
        self.push(start, PREFIX, Piece::Prefix(prefix));
    }

    /// Writes `header` (offsets, epoch and CRC included) over the header of the batch at
    /// `start`, keeping its records.
    pub fn patch_header(&mut self, start: usize, header: &BatchHeader) {
        let mut bytes = [0u8; HEADER_SIZE];
        header.write_fields(&mut bytes);
        self.push(start, HEADER_SIZE, Piece::Header(bytes));
    }

    /// Replaces the `replaced` bytes of the batch at `start` by `batch`, a whole sealed batch
    /// given its base offset and leader epoch here.
    pub fn replace(
        &mut self,
        start: usize,
        replaced: usize,
        mut batch: Vec<u8>,
        base_offset: i64,
        leader_epoch: i32,
    ) {
        set_base_offset(&mut batch, base_offset);
        set_partition_leader_epoch(&mut batch, leader_epoch);
        self.push(start, replaced, Piece::Batch(batch));
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The pieces in file order: unchanged runs of `records` and replacements.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(self.patches.len() * 2 + 1);
        let mut cursor = 0;
        for (start, replaced, piece) in &self.patches {
            if *start > cursor {
                out.push(IoSlice::new(&self.records[cursor..*start]));
            }
            out.push(IoSlice::new(piece.bytes()));
            cursor = start + replaced;
        }
        if cursor < self.records.len() {
            out.push(IoSlice::new(&self.records[cursor..]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flatten(a: &AppendBytes<'_>) -> Vec<u8> {
        a.io_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn unchanged_is_the_records() {
        let records: Vec<u8> = (0..100).collect();
        let a = AppendBytes::unchanged(&records);
        assert_eq!(flatten(&a), records);
        assert_eq!(a.len(), 100);
        assert_eq!(AppendBytes::unchanged(&[]).io_slices().len(), 0);
    }

    #[test]
    fn patches_only_offset_and_epoch_of_each_batch() {
        let records: Vec<u8> = (0..100).collect();
        let mut a = AppendBytes::with_capacity(&records, 2);
        a.patch(0, 7, 3);
        a.patch(40, 0x0102_0304_0506_0708, -1);
        let out = flatten(&a);
        let mut want = records.clone();
        set_base_offset(&mut want[0..], 7);
        set_partition_leader_epoch(&mut want[0..], 3);
        set_base_offset(&mut want[40..], 0x0102_0304_0506_0708);
        set_partition_leader_epoch(&mut want[40..], -1);
        assert_eq!(out, want);
        // The batch length between offset and epoch is kept.
        assert_eq!(out[8..12], records[8..12]);
        assert_eq!(out[48..52], records[48..52]);
    }

    #[test]
    fn adjacent_batches_leave_no_empty_pieces() {
        let records = [9u8; 32];
        let mut a = AppendBytes::with_capacity(&records, 2);
        a.patch(0, 1, 1);
        a.patch(16, 2, 2);
        let slices = a.io_slices();
        assert_eq!(slices.len(), 2);
        assert!(slices.iter().all(|s| s.len() == PREFIX));
    }

    #[test]
    fn whole_headers_and_whole_batches_can_be_replaced() {
        let records: Vec<u8> = (0..200).collect();
        let mut a = AppendBytes::with_capacity(&records, 3);
        let mut header = BatchHeader::parse(&records).unwrap();
        header.max_timestamp = 77;
        a.patch_header(0, &header);
        let new_batch = vec![5u8; 70];
        a.replace(100, 80, new_batch, 9, 2);
        let out = flatten(&a);
        assert_eq!(a.len(), 200 - 80 + 70);
        assert_eq!(out.len(), a.len());
        assert_eq!(BatchHeader::parse(&out).unwrap(), header);
        assert_eq!(out[HEADER_SIZE..100], records[HEADER_SIZE..100]);
        let replaced = BatchHeader::parse(&out[100..]).unwrap();
        assert_eq!(
            (replaced.base_offset, replaced.partition_leader_epoch),
            (9, 2)
        );
        assert_eq!(out[116..170], [5u8; 54]);
        assert_eq!(out[170..], records[180..]);
    }
}
