//! The bytes one append writes, without copying them: the batches exactly as received, except
//! that a leader gives each batch its offsets and leader epoch. Those live in the first 16 bytes
//! of the batch header (base offset, batch length, partition leader epoch), outside the CRC, so
//! the leader keeps a patched copy of just those 16 bytes per batch and the segment writes the
//! pieces with one vectored write. The request buffer is shared with the decoded request and
//! cannot be patched in place; copying whole batches to patch them cost a fifth of the broker's
//! CPU at high produce rates.

use std::io::IoSlice;

use super::record_batch::{set_base_offset, set_partition_leader_epoch};

/// Bytes of a batch header a leader rewrites: base offset (8), length (4), leader epoch (4).
const PREFIX: usize = 16;

/// Stored batches as received, with per-batch header prefixes as assigned by this leader.
#[derive(Debug)]
pub(crate) struct AppendBytes<'a> {
    records: &'a [u8],
    /// `(start of the batch in records, its new first 16 bytes)`, in increasing order of start.
    prefixes: Vec<(usize, [u8; PREFIX])>,
}

impl<'a> AppendBytes<'a> {
    /// `records` written as they are (a follower's append: the leader assigned everything).
    pub fn unchanged(records: &'a [u8]) -> Self {
        AppendBytes {
            records,
            prefixes: Vec::new(),
        }
    }

    /// Like [`Self::unchanged`], with room for `batches` patched headers.
    pub fn with_capacity(records: &'a [u8], batches: usize) -> Self {
        AppendBytes {
            records,
            prefixes: Vec::with_capacity(batches),
        }
    }

    /// Gives the batch starting at `start` (a validated batch, so at least a header long) its base
    /// offset and leader epoch. Batches must be patched in the order they appear.
    pub fn patch(&mut self, start: usize, base_offset: i64, leader_epoch: i32) {
        let mut prefix = [0u8; PREFIX];
        prefix.copy_from_slice(&self.records[start..start + PREFIX]);
        set_base_offset(&mut prefix, base_offset);
        set_partition_leader_epoch(&mut prefix, leader_epoch);
        debug_assert!(self
            .prefixes
            .last()
            .is_none_or(|(s, _)| *s + PREFIX <= start));
        self.prefixes.push((start, prefix));
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// The pieces in file order: unchanged runs of `records` and patched prefixes.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(self.prefixes.len() * 2 + 1);
        let mut cursor = 0;
        for (start, prefix) in &self.prefixes {
            if *start > cursor {
                out.push(IoSlice::new(&self.records[cursor..*start]));
            }
            out.push(IoSlice::new(prefix));
            cursor = start + PREFIX;
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
}
