//! AVX-512F: two groups of 16 lanes interleaved op by op, 32 nonces per step, their match
//! masks combined before the one branch (PERF-NOTES.md items 5 and 6).
//!
//! The AVX-512 intrinsics and the `avx512f` target feature are stable since Rust 1.89: this
//! module needs it (the workspace's `rust-version` must say 1.89 or later).

use core::arch::asm;
use core::arch::x86_64::*;

use super::chunk::{Layout, DIGITS4};
use crate::puzzle::{Prepared, Solution};

cpufeatures::new!(cpuid_avx512, "avx512f");

/// Whether this CPU (and OS) runs AVX-512F.
pub(super) fn available() -> bool {
    cpuid_avx512::get()
}

/// Groups of 16 lanes processed side by side so their dependency chains overlap.
const G: usize = 2;
/// `G` 16-lane vectors.
type V = [__m512i; G];
/// Nonces per step.
const LANES: u32 = 16 * G as u32;

/// `[$f(a[0], b[0]), ...]` for every group.
macro_rules! each {
    ($f:expr, $($x:expr),+) => {{
        let mut r = [_mm512_setzero_si512(); G];
        for (i, r) in r.iter_mut().enumerate() {
            *r = $f($($x[i]),+);
        }
        r
    }};
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn splat(x: u32) -> V {
    [_mm512_set1_epi32(x as i32); G]
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add(a: V, b: V) -> V {
    each!(_mm512_add_epi32, a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add_pin1(a: __m512i, b: __m512i) -> __m512i {
    let x: __m512i;
    asm!("vpaddd {x}, {a}, {b}", x = lateout(zmm_reg) x, a = in(zmm_reg) a, b = in(zmm_reg) b,
        options(pure, nomem, nostack, preserves_flags));
    x
}

/// `a + b` in exactly this place: LLVM may not reassociate it with the adds around it.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add_pin(a: V, b: V) -> V {
    each!(add_pin1, a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn or(a: V, b: V) -> V {
    each!(_mm512_or_si512, a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ch(e: V, f: V, g: V) -> V {
    each!(_mm512_ternarylogic_epi32::<0xCA>, e, f, g)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn maj(a: V, b: V, c: V) -> V {
    each!(_mm512_ternarylogic_epi32::<0xE8>, a, b, c)
}

macro_rules! sigma {
    ($name:ident, $one:ident, $a:expr, $b:expr, $c:expr) => {
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn $one(x: __m512i) -> __m512i {
            _mm512_ternarylogic_epi32::<0x96>($a(x), $b(x), $c(x))
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn $name(x: V) -> V {
            each!($one, x)
        }
    };
}

sigma!(
    bsig0,
    bsig0_1,
    _mm512_ror_epi32::<2>,
    _mm512_ror_epi32::<13>,
    _mm512_ror_epi32::<22>
);
sigma!(
    bsig1,
    bsig1_1,
    _mm512_ror_epi32::<6>,
    _mm512_ror_epi32::<11>,
    _mm512_ror_epi32::<25>
);
sigma!(
    ssig0,
    ssig0_1,
    _mm512_ror_epi32::<7>,
    _mm512_ror_epi32::<18>,
    _mm512_srli_epi32::<3>
);
sigma!(
    ssig1,
    ssig1_1,
    _mm512_ror_epi32::<17>,
    _mm512_ror_epi32::<19>,
    _mm512_srli_epi32::<10>
);

/// `a >> n` per lane (0 when `n` is 32).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn srl(a: V, n: u32) -> V {
    let n = _mm_cvtsi32_si128(n as i32);
    each!(|x| _mm512_srl_epi32(x, n), a)
}

/// `a << n` per lane (0 when `n` is 32).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn sll(a: V, n: u32) -> V {
    let n = _mm_cvtsi32_si128(n as i32);
    each!(|x| _mm512_sll_epi32(x, n), a)
}

/// The changing digits of offsets `i..i + LANES` of a chunk.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_digits(i: u32) -> V {
    let at = &DIGITS4[i as usize..i as usize + LANES as usize];
    let mut r = [_mm512_setzero_si512(); G];
    for (g, r) in r.iter_mut().enumerate() {
        *r = _mm512_loadu_si512(at.as_ptr().add(16 * g).cast());
    }
    r
}

/// Bit `k` set when lane `k`'s `a & mask` is zero: all groups in one mask, one branch.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn zero_bits(a: V, mask: V) -> u32 {
    let mut bits = 0;
    for g in 0..G {
        bits |= u32::from(_mm512_testn_epi32_mask(a[g], mask[g])) << (16 * g);
    }
    bits
}

lanes_kernel!("avx512f");
