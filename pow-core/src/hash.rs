//! [`Hash32`]: a SHA-256 digest that prints as lowercase hex.

use core::fmt;
use core::str::FromStr;

/// A 32-byte SHA-256 digest. Displays and parses as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero digest, used as the "previous hash" of a chain's first entry.
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(Sha256::digest(bytes).into())
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Leading zero bits of the digest.
    pub fn leading_zero_bits(&self) -> u32 {
        crate::difficulty::leading_zero_bits(&self.0)
    }

    /// Writes the 64 hex digits into `out` and returns them as a `&str`.
    pub fn to_hex<'a>(&self, out: &'a mut [u8; 64]) -> &'a str {
        hex::encode_to_slice(self.0, out).expect("64 bytes hold 32 in hex");
        core::str::from_utf8(out).expect("hex is ASCII")
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        f.write_str(self.to_hex(&mut buf))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({self})")
    }
}

/// Text that is not 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseHashError;

impl fmt::Display for ParseHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hash is 64 hex digits")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ParseHashError {}

impl FromStr for Hash32 {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A table lookup per digit: loading a ledger parses four hashes an entry, and the
        // `hex` crate's digit-by-digit match was a third of the time it took.
        const INVALID: u8 = 0xff;
        const TABLE: [u8; 256] = {
            let mut t = [INVALID; 256];
            let mut i = 0;
            while i < 10 {
                t[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                t[b'a' as usize + i] = 10 + i as u8;
                t[b'A' as usize + i] = 10 + i as u8;
                i += 1;
            }
            t
        };
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(ParseHashError);
        }
        let mut out = [0u8; 32];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let (hi, lo) = (TABLE[pair[0] as usize], TABLE[pair[1] as usize]);
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0f);
        }
        // Valid digits are below 16; INVALID has the high bits set.
        if bad & 0xf0 != 0 {
            return Err(ParseHashError);
        }
        Ok(Self(out))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 64];
        s.serialize_str(self.to_hex(&mut buf))
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, so the text is parsed where it lies: a ledger holds four hashes an entry.
        struct Hex;
        impl serde::de::Visitor<'_> for Hex {
            type Value = Hash32;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 hex digits")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Hash32, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = Hash32::digest(b"abc");
        let s = format!("{h}");
        assert_eq!(
            s,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(s.parse::<Hash32>().unwrap(), h);
        assert_eq!(s.to_uppercase().parse::<Hash32>().unwrap(), h);
        assert_eq!("zz".parse::<Hash32>(), Err(ParseHashError));
        assert_eq!(s[..63].parse::<Hash32>(), Err(ParseHashError));
        let mut t = s.clone().into_bytes();
        for i in 0..64 {
            for c in [b'g', b'/', b':', b'@', b'G', b'`', 0xff] {
                let keep = t[i];
                t[i] = c;
                let text = String::from_utf8_lossy(&t).into_owned();
                assert!(text.parse::<Hash32>().is_err(), "{text}");
                t[i] = keep;
            }
        }
    }
}
