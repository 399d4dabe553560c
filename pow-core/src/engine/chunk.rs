//! The 10^4-aligned chunks the search hands out, and what the x86-64 kernels share to scan one
//! (`avx512.rs`, `avx2.rs`, `shani.rs` and the `lanes.rs` macros): the [`Layout`] of a chunk's
//! final block(s), the four-digit table, SHA-256's round constants, the lane helpers. A leaf:
//! the kernels and the dispatch in `engine` use it; it uses only the puzzle.

#[cfg(target_arch = "x86_64")]
use crate::puzzle::{Prepared, Solution};

/// Nonces are handed out in chunks of this many, aligned to it, so that within a chunk only
/// the last four ASCII digits change (and the digit count is fixed once past 10^4).
/// At ~150 MH/s a chunk takes ~65 µs: the cadence at which a search sees cancellation.
pub const CHUNK: u64 = 10_000;

/// The nonces below this have fewer than five digits, so a chunk there has no fixed layout.
pub const FIRST_ALIGNED_NONCE: u64 = CHUNK;

/// The first nonce with four digits. The fast kernels scan `1000..10^4` as the first chunk
/// with a four-digit layout (nonce = offset); only `0..1000` goes to the portable kernel.
pub const FIRST_FOUR_DIGIT_NONCE: u64 = 1_000;

#[cfg(target_arch = "x86_64")]
/// SHA-256's round constants.
pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

#[cfg(target_arch = "x86_64")]
/// Extra table entries past 10^4 so that a full vector load at the end of a chunk stays inside
/// the table (those lanes are masked off).
const DIGITS4_PAD: usize = 32;

#[cfg(target_arch = "x86_64")]
/// `DIGITS4[i]`: the four ASCII digits of `i % 10^4` (leading zeros kept) as a big-endian word,
/// so 16 consecutive nonces' changing digits are one vector load (40 KB).
pub(crate) static DIGITS4: [u32; CHUNK as usize + DIGITS4_PAD] = digits4_table();

#[cfg(target_arch = "x86_64")]
const fn digits4_table() -> [u32; CHUNK as usize + DIGITS4_PAD] {
    let mut t = [0u32; CHUNK as usize + DIGITS4_PAD];
    let mut i = 0;
    while i < t.len() {
        let n = (i % CHUNK as usize) as u32;
        t[i] = (b'0' as u32 + n / 1000) << 24
            | (b'0' as u32 + n / 100 % 10) << 16
            | (b'0' as u32 + n / 10 % 10) << 8
            | (b'0' as u32 + n % 10);
        i += 1;
    }
    t
}

#[cfg(target_arch = "x86_64")]
/// Where the four changing digits of a 10^4-aligned chunk sit in the final block(s), and
/// everything around them, which is constant over the chunk.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// The first nonce of the chunk (a multiple of 10^4, at least 10^4).
    pub base: u64,
    /// The state the per-nonce compression starts from: the midstate, or the state after a
    /// first final block that holds no changing digit.
    pub state: [u32; 8],
    /// The big-endian message words of the final block(s) with the four changing digit bytes
    /// zeroed; words 16.. are used only when `two`.
    pub words: [u32; 32],
    /// The first word holding a changing digit.
    pub i0: usize,
    /// Two compressions per nonce: the digits start in the first of two final blocks.
    pub two: bool,
    /// The digits word goes into `words[i0]` shifted right by `shr` bits...
    pub shr: u32,
    /// ...and into `words[i0 + 1]` shifted left by `shl` bits (32: not at all).
    pub shl: u32,
}

#[cfg(target_arch = "x86_64")]
impl Layout {
    /// The layout of the chunk starting at `base` (a multiple of 10^4, at least 10^4).
    pub fn new(p: &Prepared, base: u64) -> Self {
        debug_assert!(base >= FIRST_ALIGNED_NONCE && base.is_multiple_of(CHUNK));
        Self::with_template(p, base, base)
    }

    /// The layout of nonces `base + offset` laid out like `template`, whose last four digits
    /// are the ones that change: `base` = `template` for an aligned chunk, or base 0 with
    /// template 1000 for the four-digit nonces `1000..10^4`.
    pub fn with_template(p: &Prepared, base: u64, template: u64) -> Self {
        use sha2::digest::generic_array::GenericArray;
        debug_assert!(template >= FIRST_FOUR_DIGIT_NONCE);
        let mut block = [0u8; 128];
        let blocks = p.final_template(template, &mut block);
        let mut pos = p.tail().len() + crate::puzzle::digit_count(template) - 4;
        block[pos..pos + 4].fill(0);
        let mut state = *p.midstate();
        let mut bytes = &block[..];
        let two = blocks == 2 && pos < 64;
        if blocks == 2 && pos >= 64 {
            sha2::compress256(&mut state, &[*GenericArray::from_slice(&block[..64])]);
            bytes = &block[64..];
            pos -= 64;
        }
        let mut words = [0u32; 32];
        for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        }
        let shr = 8 * (pos % 4) as u32;
        Layout {
            base,
            state,
            words,
            i0: pos / 4,
            two,
            shr,
            shl: 32 - shr,
        }
    }

    /// The state after the first `rounds` (at most 16, none past `i0`) rounds of the first
    /// per-nonce compression: the part every nonce of the chunk shares.
    pub fn state_after(&self, rounds: usize) -> [u32; 8] {
        debug_assert!(rounds <= 16 && rounds <= self.i0);
        let mut s = self.state;
        for (&k, &w) in K.iter().zip(&self.words).take(rounds) {
            let [a, b, c, d, e, f, g, h] = s;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(k)
                .wrapping_add(w);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        s
    }

    /// `K[t] + W[t]` for the 64 rounds of the second final block, whose words (`words[16..]`)
    /// hold no changing digit when the digits end inside the first block (`i0 < 15`): the
    /// whole schedule is the same for every nonce of the chunk.
    pub fn second_block_kw(&self) -> [u32; 64] {
        let mut w = [0u32; 64];
        w[..16].copy_from_slice(&self.words[16..]);
        for t in 16..64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        core::array::from_fn(|t| K[t].wrapping_add(w[t]))
    }
}

#[cfg(target_arch = "x86_64")]
/// Bits `0..remaining` set (all `lanes` bits when `remaining >= lanes`): the lanes of a step
/// that lie inside the range.
#[inline(always)]
pub(crate) fn lane_mask(remaining: u32, lanes: u32) -> u32 {
    if remaining >= lanes {
        u32::MAX >> (32 - lanes)
    } else {
        (1u32 << remaining) - 1
    }
}

#[cfg(target_arch = "x86_64")]
/// The smallest nonce among the candidate lanes `bits` (bit `k` is nonce `first + k`) that
/// `sha2` confirms. Candidates passed only the first-word test.
#[cold]
pub(crate) fn first_confirmed(p: &Prepared, first: u64, mut bits: u32) -> Option<Solution> {
    while bits != 0 {
        let k = bits.trailing_zeros();
        if let Some(sol) = p.confirm(first + u64::from(k)) {
            return Some(sol);
        }
        bits &= bits - 1;
    }
    None
}
