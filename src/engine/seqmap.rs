//! Maps keyed by a call's sequence number, the engine's hottest lookups: an advance looks each
//! firing call up several times, and with hundreds of thousands of calls in flight a B-tree's
//! search was a sixth of a burst's time on one core (cache misses at every level).
//!
//! The keys are numbers the engine hands out itself, never input from outside, so a keyed
//! hash (SipHash, std's default, there to resist chosen keys) buys nothing here: one
//! multiplication spreads consecutive numbers over the table.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from call sequence numbers. Iterates in no particular order: sort where order shows.
pub(super) type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// Hashes one `u64` by a multiplication by an odd constant (2⁶⁴ / φ): a bijection, so no two
/// sequence numbers collide, with the high bits (the table's control bytes) well mixed.
#[derive(Default)]
pub(super) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys use this hasher; anything else still hashes correctly, byte by byte.
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_sequence_numbers_are_found_again_and_spread_over_the_table() {
        let mut map: SeqMap<u64> = SeqMap::default();
        for seq in 1..=100_000u64 {
            map.insert(seq, seq * 2);
        }
        assert_eq!(map.len(), 100_000);
        assert!((1..=100_000u64).all(|seq| map.get(&seq) == Some(&(seq * 2))));
        // The top seven bits (hashbrown's control byte) differ between neighbours.
        let top = |n: u64| {
            let mut h = SeqHasher::default();
            h.write_u64(n);
            h.finish() >> 57
        };
        let distinct: std::collections::HashSet<u64> = (1..=128).map(top).collect();
        assert!(distinct.len() > 64, "{} distinct", distinct.len());
    }
}
