//! How hard a puzzle is: a count of leading zero bits of the hash.
//!
//! The lab (and every interface of powrace) counts zero *bytes*, "00" pairs in hex: each step
//! is 256 times harder. [`Difficulty`] also speaks zero *bits*, steps of 2x, for finer control.

use core::fmt;

/// The largest difficulty in zero bytes: every byte of a SHA-256 digest.
pub const MAX_ZERO_BYTES: u32 = 32;
/// The largest difficulty in zero bits.
pub const MAX_ZERO_BITS: u32 = MAX_ZERO_BYTES * 8;

/// A required count of leading zero bits in the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty {
    zero_bits: u16,
}

/// A difficulty that no SHA-256 digest can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DifficultyError {
    /// More zero bytes than a digest has.
    BytesOutOfRange {
        /// The difficulty asked for.
        requested: u64,
    },
    /// More zero bits than a digest has.
    BitsOutOfRange {
        /// The difficulty asked for.
        requested: u64,
    },
}

impl fmt::Display for DifficultyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BytesOutOfRange { requested } => write!(
                f,
                "difficulty {requested} is out of range: at most {MAX_ZERO_BYTES} zero bytes"
            ),
            Self::BitsOutOfRange { requested } => write!(
                f,
                "difficulty of {requested} zero bits is out of range: at most {MAX_ZERO_BITS}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DifficultyError {}

impl Difficulty {
    /// The lab's unit: `bytes` leading zero bytes ("00" pairs in hex).
    pub fn from_zero_bytes(bytes: u64) -> Result<Self, DifficultyError> {
        if bytes > u64::from(MAX_ZERO_BYTES) {
            return Err(DifficultyError::BytesOutOfRange { requested: bytes });
        }
        Ok(Self {
            zero_bits: (bytes * 8) as u16,
        })
    }

    /// `bits` leading zero bits: each step doubles the expected work.
    pub fn from_zero_bits(bits: u64) -> Result<Self, DifficultyError> {
        if bits > u64::from(MAX_ZERO_BITS) {
            return Err(DifficultyError::BitsOutOfRange { requested: bits });
        }
        Ok(Self {
            zero_bits: bits as u16,
        })
    }

    /// The required count of leading zero bits.
    pub fn zero_bits(self) -> u32 {
        u32::from(self.zero_bits)
    }

    /// The difficulty in zero bytes, when it is a whole number of bytes.
    pub fn zero_bytes(self) -> Option<u32> {
        self.zero_bits
            .is_multiple_of(8)
            .then_some(u32::from(self.zero_bits / 8))
    }

    /// Whether `hash` has at least this many leading zero bits.
    pub fn is_met_by(self, hash: &[u8; 32]) -> bool {
        leading_zero_bits(hash) >= self.zero_bits()
    }

    /// The mask a kernel applies to the first big-endian word of the digest: the digest can
    /// only meet the difficulty when `word & mask == 0`. Exact for up to 32 bits; for more,
    /// a hit must be confirmed against the whole digest.
    pub fn first_word_mask(self) -> u32 {
        match self.zero_bits() {
            0 => 0,
            b if b >= 32 => u32::MAX,
            b => u32::MAX << (32 - b),
        }
    }

    /// The expected number of hashes to find a solution: 2^bits.
    pub fn expected_hashes(self) -> f64 {
        libm_exp2(self.zero_bits())
    }
}

fn libm_exp2(bits: u32) -> f64 {
    let mut v = 1.0f64;
    for _ in 0..bits {
        v *= 2.0;
    }
    v
}

/// Counts the leading zero bits of a digest.
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for &b in hash {
        if b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zero_bytes() {
            Some(bytes) => write!(f, "{bytes}"),
            None => write!(f, "{} bits", self.zero_bits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_bits_agree() {
        let d = Difficulty::from_zero_bytes(2).unwrap();
        assert_eq!(d, Difficulty::from_zero_bits(16).unwrap());
        assert_eq!(d.zero_bytes(), Some(2));
        assert_eq!(Difficulty::from_zero_bits(12).unwrap().zero_bytes(), None);
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert_eq!(
            Difficulty::from_zero_bytes(33),
            Err(DifficultyError::BytesOutOfRange { requested: 33 })
        );
        assert!(Difficulty::from_zero_bits(257).is_err());
        assert!(Difficulty::from_zero_bytes(32).is_ok());
    }

    #[test]
    fn is_met_by_counts_bits() {
        let mut h = [0xffu8; 32];
        h[0] = 0;
        h[1] = 0x0f;
        assert_eq!(leading_zero_bits(&h), 12);
        assert!(Difficulty::from_zero_bits(12).unwrap().is_met_by(&h));
        assert!(!Difficulty::from_zero_bits(13).unwrap().is_met_by(&h));
        assert!(Difficulty::from_zero_bytes(1).unwrap().is_met_by(&h));
        assert!(!Difficulty::from_zero_bytes(2).unwrap().is_met_by(&h));
    }

    #[test]
    fn first_word_mask_matches_bits() {
        assert_eq!(Difficulty::from_zero_bits(0).unwrap().first_word_mask(), 0);
        assert_eq!(
            Difficulty::from_zero_bytes(2).unwrap().first_word_mask(),
            0xffff_0000
        );
        assert_eq!(
            Difficulty::from_zero_bytes(5).unwrap().first_word_mask(),
            u32::MAX
        );
    }
}
