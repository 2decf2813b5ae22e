//! A hasher for keys that are uniform already (random ids, hashes computed
//! ahead): it folds their bits together instead of doing SipHash's work.
//! Not for keys an attacker chooses: a forged key could then crowd a table.

use std::hash::{BuildHasher, Hasher};

/// Builds [`Folded`] hashers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Uniform;

impl BuildHasher for Uniform {
    type Hasher = Folded;

    fn build_hasher(&self) -> Folded {
        Folded(0)
    }
}

/// Folds what it is given into 64 bits.
pub(crate) struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }
}
