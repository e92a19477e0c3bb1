//! The cleaner's key -> latest offset map (Kafka's `SkimpyOffsetMap`): a fixed array of slots,
//! each a 128-bit hash of a key and an offset, so the memory is bounded whatever the keys' sizes.
//!
//! Kafka hashes keys with MD5; here each map draws a random SipHash key (`RandomState`) and takes
//! two 64-bit outputs, so keys an attacker picks cannot be made to collide either. A collision
//! would make two keys one (the older record of one would be dropped for the other's newer one),
//! which at 128 bits is as unlikely as it is with Kafka's MD5.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Bytes one slot takes: two 64-bit hash halves and the offset (Kafka: 16-byte MD5 + 8).
pub const BYTES_PER_SLOT: usize = 24;

/// A bounded map from key hashes to the latest offset seen for the key.
pub struct OffsetMap {
    /// `[hash high, hash low, offset + 1]`; an offset field of 0 marks an empty slot, so a
    /// fresh table is all zero bytes (allocated zeroed, touched only as it fills).
    slots: Vec<[u64; 3]>,
    hasher: RandomState,
    entries: usize,
    /// Entries allowed before the map counts as full (`slots * load factor`).
    max_entries: usize,
    latest_offset: i64,
}

impl OffsetMap {
    /// The number of slots `memory` bytes hold.
    pub fn slots_for(memory: usize) -> usize {
        memory / BYTES_PER_SLOT
    }

    /// A map of `slots` slots that counts as full at `load_factor` of them.
    pub fn new(slots: usize, load_factor: f64) -> OffsetMap {
        let slots = slots.max(1);
        OffsetMap {
            slots: vec![[0u64; 3]; slots],
            hasher: RandomState::new(),
            entries: 0,
            max_entries: ((slots as f64 * load_factor) as usize).min(slots),
            latest_offset: -1,
        }
    }

    fn hash(&self, key: &[u8]) -> (u64, u64) {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        let high = h.finish();
        h.write_u8(0xff);
        (high, h.finish())
    }

    /// The slot holding `hash`, or the empty slot where it would go (linear probing); `None`
    /// when every slot holds another key.
    fn position(&self, (high, low): (u64, u64)) -> Option<usize> {
        let n = self.slots.len();
        let start = (high % n as u64) as usize;
        (0..n).map(|i| (start + i) % n).find(|&pos| {
            let slot = &self.slots[pos];
            slot[2] == 0 || (slot[0] == high && slot[1] == low)
        })
    }

    /// Records `offset` as the latest for `key`; `false` (nothing stored) when the key is new
    /// and the map is full (Kafka's `map.size >= maxDesiredMapSize`).
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = self.hash(key);
        let Some(pos) = self.position(hash) else {
            return false;
        };
        let slot = &mut self.slots[pos];
        if slot[2] == 0 {
            if self.entries >= self.max_entries {
                return false;
            }
            self.entries += 1;
            slot[0] = hash.0;
            slot[1] = hash.1;
        }
        slot[2] = (offset + 1) as u64;
        self.latest_offset = offset;
        true
    }

    /// The latest offset recorded for `key`, -1 if none (as Kafka's `get`).
    pub fn get(&self, key: &[u8]) -> i64 {
        match self.position(self.hash(key)) {
            Some(pos) => self.slots[pos][2] as i64 - 1,
            None => -1,
        }
    }

    /// The last offset the map covers: keys of later records were not looked at.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = offset;
    }

    /// Keys stored.
    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Share of the slots in use (Kafka's `utilization`).
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.slots.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key() {
        let mut map = OffsetMap::new(OffsetMap::slots_for(1000 * BYTES_PER_SLOT), 0.9);
        for round in 0..5i64 {
            for k in 0..100i64 {
                assert!(map.put(format!("key-{k}").as_bytes(), round * 100 + k));
            }
        }
        assert_eq!(map.entries(), 100);
        for k in 0..100i64 {
            assert_eq!(map.get(format!("key-{k}").as_bytes()), 400 + k);
        }
        assert_eq!(map.get(b"absent"), -1);
        assert_eq!(map.get(b""), -1);
        assert_eq!(map.latest_offset(), 499);
        assert!((map.utilization() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn a_full_map_refuses_new_keys_but_updates_known_ones() {
        // 10 slots at load factor 0.5: five keys fit.
        let mut map = OffsetMap::new(10, 0.5);
        for k in 0..5u8 {
            assert!(map.put(&[k], i64::from(k)));
        }
        assert!(!map.put(&[9], 9));
        assert_eq!(map.get(&[9]), -1);
        assert_eq!(
            map.latest_offset(),
            4,
            "a refused key does not advance the map"
        );
        assert!(map.put(&[2], 20));
        assert_eq!(map.get(&[2]), 20);
        assert_eq!(map.entries(), 5);
    }

    #[test]
    fn memory_bounds_the_slots() {
        assert_eq!(OffsetMap::slots_for(134_217_728), 5_592_405);
        assert_eq!(OffsetMap::slots_for(23), 0);
        // Even a map of one slot works (and is full at once below load factor 1).
        let mut map = OffsetMap::new(0, 1.0);
        assert!(map.put(b"k", 1));
        assert!(!map.put(b"other", 2));
        assert_eq!(map.get(b"other"), -1);
        assert_eq!(map.get(b"k"), 1);
    }
}
