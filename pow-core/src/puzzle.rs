//! The puzzle itself, pure and without I/O: hash one nonce, verify a claimed solution, and
//! prepare a transaction for scanning (its midstate and final-block template).

use core::fmt;

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

use crate::{Difficulty, DifficultyError, Hash32};

/// The most decimal digits a `u64` nonce has.
pub const MAX_NONCE_DIGITS: usize = 20;

/// SHA-256's initial state.
pub const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A nonce and the hash it gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solution {
    /// The nonce, the smallest that meets the difficulty when a search found it.
    pub nonce: u64,
    /// `SHA-256(data ‖ decimal(nonce))`.
    pub hash: Hash32,
}

/// Why a claimed solution does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The difficulty is not one a SHA-256 digest can meet.
    BadDifficulty(DifficultyError),
    /// The hash does not have enough leading zero bits.
    HashAboveTarget {
        /// The hash of the data and nonce.
        hash: Hash32,
        /// How many leading zero bits it has.
        zero_bits: u32,
        /// What the difficulty requires.
        required: Difficulty,
    },
    /// The claimed hash is not the hash of the data and nonce.
    HashMismatch {
        /// The hash that was claimed.
        claimed: Hash32,
        /// The hash of the data and nonce.
        computed: Hash32,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadDifficulty(e) => e.fmt(f),
            Self::HashAboveTarget {
                hash,
                zero_bits,
                required,
            } => write!(
                f,
                "hash {hash} has {zero_bits} leading zero bits; difficulty {required} needs {}",
                required.zero_bits()
            ),
            Self::HashMismatch { claimed, computed } => {
                write!(
                    f,
                    "claimed hash {claimed} is not the hash of the data and nonce ({computed})"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for VerifyError {}

impl From<DifficultyError> for VerifyError {
    fn from(e: DifficultyError) -> Self {
        Self::BadDifficulty(e)
    }
}

/// Writes `n` in ASCII decimal at the end of `buf` and returns the digits.
pub fn decimal(n: u64, buf: &mut [u8; MAX_NONCE_DIGITS]) -> &[u8] {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How many decimal digits `n` has.
pub fn digit_count(n: u64) -> usize {
    let mut buf = [0u8; MAX_NONCE_DIGITS];
    decimal(n, &mut buf).len()
}

/// `SHA-256(data ‖ decimal(nonce))`.
pub fn hash(data: &[u8], nonce: u64) -> Hash32 {
    let mut buf = [0u8; MAX_NONCE_DIGITS];
    let mut h = Sha256::new();
    h.update(data);
    h.update(decimal(nonce, &mut buf));
    Hash32(h.finalize().into())
}

/// Checks that `nonce` solves the puzzle for `data` at `difficulty` and returns its hash.
pub fn verify(data: &[u8], nonce: u64, difficulty: Difficulty) -> Result<Hash32, VerifyError> {
    let hash = hash(data, nonce);
    if difficulty.is_met_by(&hash.0) {
        Ok(hash)
    } else {
        Err(VerifyError::HashAboveTarget {
            hash,
            zero_bits: hash.leading_zero_bits(),
            required: difficulty,
        })
    }
}

/// Checks a whole claim: the hash is that of `data ‖ nonce`, and it meets the difficulty,
/// given in zero bytes as on every interface.
pub fn verify_claim(
    data: &[u8],
    nonce: u64,
    claimed: &Hash32,
    difficulty_bytes: u64,
) -> Result<(), VerifyError> {
    check_claim(
        data,
        nonce,
        claimed,
        Difficulty::from_zero_bytes(difficulty_bytes)?,
    )
}

/// Checks a claimed solution at a [`Difficulty`] (zero bytes or bits): the hash must be the
/// hash of the data and nonce, and meet the difficulty. Hashes once.
pub fn check_claim(
    data: &[u8],
    nonce: u64,
    claimed: &Hash32,
    difficulty: Difficulty,
) -> Result<(), VerifyError> {
    let computed = hash(data, nonce);
    if computed != *claimed {
        return Err(VerifyError::HashMismatch {
            claimed: *claimed,
            computed,
        });
    }
    if difficulty.is_met_by(&computed.0) {
        Ok(())
    } else {
        Err(VerifyError::HashAboveTarget {
            hash: computed,
            zero_bits: computed.leading_zero_bits(),
            required: difficulty,
        })
    }
}

/// A transaction ready to scan: the SHA-256 state after its full 64-byte blocks (the midstate)
/// and the bytes that remain, which share the final block(s) with the nonce's digits.
#[derive(Clone, Debug)]
pub struct Prepared {
    midstate: [u32; 8],
    tail: [u8; 64],
    tail_len: usize,
    data_len: u64,
    difficulty: Difficulty,
}

impl Prepared {
    /// Compresses the full blocks of `data` once.
    pub fn new(data: &[u8], difficulty: Difficulty) -> Self {
        let full = data.len() / 64 * 64;
        let mut midstate = SHA256_IV;
        for block in data[..full].chunks_exact(64) {
            sha2::compress256(&mut midstate, &[*GenericArray::from_slice(block)]);
        }
        let mut tail = [0u8; 64];
        tail[..data.len() - full].copy_from_slice(&data[full..]);
        Self {
            midstate,
            tail,
            tail_len: data.len() - full,
            data_len: data.len() as u64,
            difficulty,
        }
    }

    /// The state after the data's full blocks.
    pub fn midstate(&self) -> &[u32; 8] {
        &self.midstate
    }

    /// The data's bytes after its last full block (fewer than 64).
    pub fn tail(&self) -> &[u8] {
        &self.tail[..self.tail_len]
    }

    /// The data's length in bytes.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The difficulty a solution must meet.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// How many blocks follow the midstate for a nonce of `digits` digits: 1 while the tail,
    /// the digits and 9 bytes of padding fit in 64 bytes, else 2.
    pub fn final_blocks(&self, digits: usize) -> usize {
        if self.tail_len + digits + 9 <= 64 {
            1
        } else {
            2
        }
    }

    /// Lays out the final block(s) for `nonce`: tail, digits, 0x80, zeros, bit length.
    /// Returns the block count; the digits start at byte `self.tail().len()`.
    pub fn final_template(&self, nonce: u64, out: &mut [u8; 128]) -> usize {
        let mut buf = [0u8; MAX_NONCE_DIGITS];
        let digits = decimal(nonce, &mut buf);
        let blocks = self.final_blocks(digits.len());
        *out = [0u8; 128];
        out[..self.tail_len].copy_from_slice(self.tail());
        let end = self.tail_len + digits.len();
        out[self.tail_len..end].copy_from_slice(digits);
        out[end] = 0x80;
        let bits = (self.data_len + digits.len() as u64) * 8;
        out[blocks * 64 - 8..blocks * 64].copy_from_slice(&bits.to_be_bytes());
        blocks
    }

    /// The digest from a final state (big-endian words).
    pub fn digest_of(state: &[u32; 8]) -> Hash32 {
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Hash32(out)
    }

    /// The hash of `nonce`, from the midstate through `sha2`'s own compression function.
    pub fn hash_nonce(&self, nonce: u64) -> Hash32 {
        let mut block = [0u8; 128];
        let blocks = self.final_template(nonce, &mut block);
        let mut state = self.midstate;
        for b in block[..blocks * 64].chunks_exact(64) {
            sha2::compress256(&mut state, &[*GenericArray::from_slice(b)]);
        }
        Self::digest_of(&state)
    }

    /// Confirms a kernel's candidate (kernels test only the first state word) with `sha2`;
    /// returns the solution when it meets the difficulty.
    pub fn confirm(&self, nonce: u64) -> Option<Solution> {
        let hash = self.hash_nonce(nonce);
        self.difficulty
            .is_met_by(&hash.0)
            .then_some(Solution { nonce, hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits() {
        let mut b = [0u8; MAX_NONCE_DIGITS];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(6907, &mut b), b"6907");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(digit_count(99_999), 5);
        assert_eq!(digit_count(100_000), 6);
    }

    #[test]
    fn template_compresses_to_the_real_hash() {
        for len in [0usize, 1, 34, 35, 36, 54, 55, 56, 63, 64, 65, 119, 200] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let p = Prepared::new(&data, Difficulty::from_zero_bytes(0).unwrap());
            for nonce in [0u64, 9, 10, 12345, 99_999_999, u64::MAX] {
                assert_eq!(
                    p.hash_nonce(nonce),
                    hash(&data, nonce),
                    "len {len} nonce {nonce}"
                );
            }
        }
    }

    #[test]
    fn verify_says_why() {
        let d2 = Difficulty::from_zero_bytes(2).unwrap();
        let data = b"Gova and Emmanuel Blockchain Lab 3";
        assert!(verify(data, 6907, d2).is_ok());
        match verify(data, 6906, d2) {
            Err(VerifyError::HashAboveTarget { required, .. }) => assert_eq!(required, d2),
            other => panic!("expected HashAboveTarget, got {other:?}"),
        }
        let good = hash(data, 6907);
        let mut bad = good;
        bad.0[31] ^= 1;
        assert!(matches!(
            verify_claim(data, 6907, &bad, 2),
            Err(VerifyError::HashMismatch { .. })
        ));
        assert!(matches!(
            verify_claim(data, 6907, &good, 33),
            Err(VerifyError::BadDifficulty(_))
        ));
        assert_eq!(verify_claim(data, 6907, &good, 2), Ok(()));
    }
}
