//! The search engine's kernels: each scans a range of nonces for the smallest that meets the
//! difficulty. [`Kernel::fastest`] picks the fastest one this CPU runs, at run time
//! (AVX-512 → SHA-NI → AVX2 → portable; `cpufeatures`, no `-C target-cpu` needed).
//!
//! The x86-64 kernels work on 10^4-aligned chunks, where only the last four ASCII digits change
//! (`Layout` says where they sit): one compression per nonce from the midstate (two when the
//! digits start in the first of two final blocks), rounds before the first changing word
//! precomputed, only the first state word tested, hits confirmed with `sha2`. The four-digit
//! nonces `1000..10^4` are scanned as one more such chunk; only `0..1000` goes to the portable
//! kernel. Files: `lanes.rs` (the rounds, shared as macros), `avx512.rs`,
//! `avx2.rs`, `shani.rs`.
//!
//! Every kernel has the same contract as [`Kernel::Portable`], the reference: the answer is
//! the smallest nonce in the range whose hash meets the difficulty, confirmed with `sha2`.

use crate::puzzle::{Prepared, Solution, MAX_NONCE_DIGITS};

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod lanes;
#[cfg(target_arch = "x86_64")]
mod avx2;
// AVX-512 intrinsics and target features are stable since Rust 1.89.
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod shani;

/// Nonces are handed out in chunks of this many, aligned to it, so that within a chunk only
/// the last four ASCII digits change (and the digit count is fixed once past 10^4).
/// At ~150 MH/s a chunk takes ~65 µs: the cadence at which a search sees cancellation.
pub const CHUNK: u64 = 10_000;

/// The environment variable that forces a kernel by name (`portable`, ...), for tests and
/// comparisons. An unknown or unavailable name is reported, never silently ignored.
pub const KERNEL_ENV: &str = "POWRACE_KERNEL";

/// What a scan found, and how many nonces it hashed to find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The smallest solution in the range, if any.
    pub found: Option<Solution>,
    /// Nonces hashed.
    pub hashed: u64,
}

/// A way to scan nonces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kernel {
    /// AVX-512F, two interleaved groups of 16 lanes: 32 nonces per step (x86-64).
    Avx512,
    /// The SHA extensions (`sha256rnds2`), four messages interleaved (x86-64).
    ShaNi,
    /// AVX2, two interleaved groups of 8 lanes: 16 nonces per step (x86-64).
    Avx2,
    /// Plain Rust over `sha2::compress256`: midstate, digits incremented in place. Runs
    /// everywhere, wasm32 included.
    Portable,
}

/// A kernel name that is unknown or that this CPU cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    /// The name asked for.
    pub name: heapless_name::Name,
    /// Whether the name is known (but unavailable on this CPU).
    pub known: bool,
}

/// A short kernel name without allocation, for [`KernelError`].
pub mod heapless_name {
    /// Up to 16 bytes of a name.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct Name {
        bytes: [u8; 16],
        len: u8,
    }

    impl Name {
        /// Keeps the first 16 bytes of `s` (cut at a character boundary).
        pub fn new(s: &str) -> Self {
            let mut end = s.len().min(16);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let mut bytes = [0u8; 16];
            bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
            Self {
                bytes,
                len: end as u8,
            }
        }

        /// The name.
        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
        }
    }

    impl core::fmt::Debug for Name {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            core::fmt::Debug::fmt(self.as_str(), f)
        }
    }
}

impl core::fmt::Display for KernelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = self.name.as_str();
        if self.known {
            write!(f, "kernel {name:?} is not supported by this CPU")?;
        } else {
            write!(f, "unknown kernel {name:?}")?;
        }
        f.write_str("; kernels: ")?;
        for (i, k) in Kernel::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(k.name())?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KernelError {}

impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: &'static [Kernel] = &[
        Kernel::Avx512,
        Kernel::ShaNi,
        Kernel::Avx2,
        Kernel::Portable,
    ];

    /// The kernel's name, as [`KERNEL_ENV`] and `--kernel` take it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::ShaNi => "sha-ni",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Whether this CPU can run the kernel (detected once, at run time).
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => shani::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::available(),
            Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernel named `name`, if this CPU runs it.
    pub fn by_name(name: &str) -> Result<Kernel, KernelError> {
        let name_trim = name.trim();
        match Self::ALL
            .iter()
            .find(|k| k.name().eq_ignore_ascii_case(name_trim))
        {
            Some(k) if k.is_available() => Ok(*k),
            found => Err(KernelError {
                name: heapless_name::Name::new(name_trim),
                known: found.is_some(),
            }),
        }
    }

    /// The fastest kernel this CPU runs.
    pub fn fastest() -> Kernel {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.is_available())
            .unwrap_or(Kernel::Portable)
    }

    /// The kernel named by [`KERNEL_ENV`] when it is set, else [`Kernel::fastest`].
    #[cfg(feature = "std")]
    pub fn from_env() -> Result<Kernel, KernelError> {
        match std::env::var(KERNEL_ENV) {
            Ok(name) if !name.trim().is_empty() => Self::by_name(&name),
            _ => Ok(Self::fastest()),
        }
    }

    /// Scans nonces `start..end` and returns the smallest that solves `p`.
    ///
    /// A kernel this CPU cannot run falls back to [`Kernel::Portable`] (same answer, slower).
    pub fn scan(self, p: &Prepared, start: u64, end: u64) -> Scan {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 if avx512::available() => {
                scan_chunked(p, start, end, avx512::scan_chunk)
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi if shani::available() => scan_chunked(p, start, end, shani::scan_chunk),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 if avx2::available() => scan_chunked(p, start, end, avx2::scan_chunk),
            _ => scan_portable(p, start, end),
        }
    }
}

/// The first nonce with one more digit than `n`, or `u64::MAX` when there is none.
pub fn next_power_of_ten(n: u64) -> u64 {
    let mut p = 10u64;
    while p <= n {
        match p.checked_mul(10) {
            Some(q) => p = q,
            None => return u64::MAX,
        }
    }
    p
}

/// The reference kernel: for each run of nonces with the same digit count, lay out the final
/// block(s) once, then increment the ASCII digits in place and compress from the midstate.
pub fn scan_portable(p: &Prepared, start: u64, end: u64) -> Scan {
    use sha2::digest::generic_array::GenericArray;

    let mask = p.difficulty().first_word_mask();
    let mut hashed = 0;
    let mut lo = start;
    while lo < end {
        let hi = end.min(next_power_of_ten(lo));
        let mut block = [0u8; 128];
        let blocks = p.final_template(lo, &mut block);
        let digits_at = p.tail().len();
        let digits = crate::puzzle::digit_count(lo);
        debug_assert!(digits <= MAX_NONCE_DIGITS);
        let mut nonce = lo;
        loop {
            let mut state = *p.midstate();
            for b in block[..blocks * 64].chunks_exact(64) {
                sha2::compress256(&mut state, &[*GenericArray::from_slice(b)]);
            }
            hashed += 1;
            if state[0] & mask == 0 {
                if let Some(found) = p.confirm(nonce) {
                    return Scan {
                        found: Some(found),
                        hashed,
                    };
                }
            }
            if nonce + 1 >= hi {
                break;
            }
            nonce += 1;
            increment_ascii(&mut block[digits_at..digits_at + digits]);
        }
        lo = hi;
    }
    Scan {
        found: None,
        hashed,
    }
}

/// Adds one to ASCII decimal digits in place; the caller keeps the digit count fixed.
#[inline]
pub fn increment_ascii(digits: &mut [u8]) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
}

/// The nonces below this have fewer than five digits, so a chunk there has no fixed layout.
pub const FIRST_ALIGNED_NONCE: u64 = CHUNK;

/// The first nonce with four digits. The fast kernels scan `1000..10^4` as the first chunk
/// with a four-digit layout (nonce = offset); only `0..1000` goes to the portable kernel.
pub const FIRST_FOUR_DIGIT_NONCE: u64 = 1_000;

/// A chunk scanner of one instruction set: offsets `s..e` of the aligned chunk `lay`, or `None`
/// when it cannot (CPU or layout), and the portable kernel takes the chunk.
#[cfg(target_arch = "x86_64")]
type ChunkFn = fn(&Prepared, &Layout, u32, u32) -> Option<(Option<Solution>, u64)>;

/// Splits `start..end` at the 10^4-aligned chunk boundaries and hands each piece to `chunk`;
/// nonces below [`FIRST_FOUR_DIGIT_NONCE`] go to the portable kernel.
#[cfg(target_arch = "x86_64")]
fn scan_chunked(p: &Prepared, start: u64, end: u64, chunk: ChunkFn) -> Scan {
    let mut hashed = 0;
    let mut lo = start;
    while lo < end {
        let (found, n, hi) = if lo < FIRST_FOUR_DIGIT_NONCE {
            let hi = end.min(FIRST_FOUR_DIGIT_NONCE);
            let scan = scan_portable(p, lo, hi);
            (scan.found, scan.hashed, hi)
        } else {
            let base = lo - lo % CHUNK;
            let hi = end.min(base.saturating_add(CHUNK));
            let lay = if base == 0 {
                // 1000..9999: four digits, the whole nonce, which is its own offset in the
                // digit table; a lab race at difficulty 2 often ends here (e.g. nonce 6907).
                Layout::with_template(p, 0, FIRST_FOUR_DIGIT_NONCE)
            } else {
                Layout::new(p, base)
            };
            // Offsets within one chunk fit in u32 (CHUNK = 10^4).
            let (s, e) = ((lo - base) as u32, (hi - base) as u32);
            match chunk(p, &lay, s, e) {
                Some((found, n)) => (found, n, hi),
                None => {
                    let scan = scan_portable(p, lo, hi);
                    (scan.found, scan.hashed, hi)
                }
            }
        };
        hashed += n;
        if found.is_some() {
            return Scan { found, hashed };
        }
        lo = hi;
    }
    Scan {
        found: None,
        hashed,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{puzzle, Difficulty};

    #[test]
    fn portable_scan_finds_the_smallest_across_digit_boundaries() {
        let d = Difficulty::from_zero_bits(6).unwrap();
        for len in [0usize, 30, 35, 36, 50, 63, 64, 70] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let p = Prepared::new(&data, d);
            for (start, end) in [(0u64, 300u64), (95, 1_005), (99_990, 100_400)] {
                let want = (start..end)
                    .map(|n| (n, puzzle::hash(&data, n)))
                    .find(|(_, h)| d.is_met_by(&h.0));
                let got = scan_portable(&p, start, end);
                assert_eq!(
                    got.found.map(|s| (s.nonce, s.hash)),
                    want,
                    "len {len} {start}..{end}"
                );
            }
        }
    }

    #[test]
    fn kernel_names_round_trip() {
        for k in Kernel::ALL {
            if k.is_available() {
                assert_eq!(Kernel::by_name(k.name()), Ok(*k));
            }
        }
        let e = Kernel::by_name("quantum").unwrap_err();
        assert!(!e.known);
        assert!(std::format!("{e}").contains("unknown kernel \"quantum\""));
    }
}
