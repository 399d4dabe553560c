//! The search engine's kernels: each scans a range of nonces for the smallest that meets the
//! difficulty. [`Kernel::fastest`] picks the fastest one this CPU runs, at run time
//! (AVX-512 → SHA-NI → AVX2 → portable; `cpufeatures`, no `-C target-cpu` needed).
//!
//! The x86-64 kernels work on 10^4-aligned chunks, where only the last four ASCII digits change
//! (`Layout` says where they sit): one compression per nonce from the midstate (two when the
//! digits start in the first of two final blocks), rounds before the first changing word
//! precomputed, only the first state word tested, hits confirmed with `sha2`. The four-digit
//! nonces `1000..10^4` are scanned as one more such chunk; only `0..1000` goes to the portable
//! kernel. Files: `chunk.rs` (the chunk, its layout and the kernels' shared tables),
//! `lanes.rs` (the rounds, shared as macros), `avx512.rs`, `avx2.rs`, `shani.rs`.
//!
//! Every kernel has the same contract as [`Kernel::Portable`], the reference: the answer is
//! the smallest nonce in the range whose hash meets the difficulty, confirmed with `sha2`.

use crate::puzzle::{Prepared, Solution, MAX_NONCE_DIGITS};

mod chunk;
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

#[cfg(target_arch = "x86_64")]
use chunk::Layout;
pub use chunk::{CHUNK, FIRST_ALIGNED_NONCE, FIRST_FOUR_DIGIT_NONCE};

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
