//! AVX2: 8 lanes, 8 nonces per step. One group, not two: with 16 ymm registers a second
//! interleaved group spills more than it gains (27 vs 36 MH/s measured).

use core::arch::asm;
use core::arch::x86_64::*;

use super::chunk::{Layout, DIGITS4};
use crate::puzzle::{Prepared, Solution};

cpufeatures::new!(cpuid_avx2, "avx2");

/// Whether this CPU (and OS) runs AVX2.
pub(super) fn available() -> bool {
    cpuid_avx2::get()
}

/// Groups of 8 lanes processed side by side (1: see the module doc).
const G: usize = 1;
/// `G` 8-lane vectors.
type V = [__m256i; G];
/// Nonces per step.
const LANES: u32 = 8 * G as u32;

/// `[$f(a[0], b[0]), ...]` for every group.
macro_rules! each {
    ($f:expr, $($x:expr),+) => {{
        let mut r = [_mm256_setzero_si256(); G];
        for (i, r) in r.iter_mut().enumerate() {
            *r = $f($($x[i]),+);
        }
        r
    }};
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn splat(x: u32) -> V {
    [_mm256_set1_epi32(x as i32); G]
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add(a: V, b: V) -> V {
    each!(_mm256_add_epi32, a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add_pin1(a: __m256i, b: __m256i) -> __m256i {
    let x: __m256i;
    asm!("vpaddd {x}, {a}, {b}", x = lateout(ymm_reg) x, a = in(ymm_reg) a, b = in(ymm_reg) b,
        options(pure, nomem, nostack, preserves_flags));
    x
}

/// `a + b` in exactly this place: LLVM may not reassociate it with the adds around it.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add_pin(a: V, b: V) -> V {
    each!(add_pin1, a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn or(a: V, b: V) -> V {
    each!(_mm256_or_si256, a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ch1(e: __m256i, f: __m256i, g: __m256i) -> __m256i {
    // g ^ (e & (f ^ g))
    _mm256_xor_si256(g, _mm256_and_si256(e, _mm256_xor_si256(f, g)))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ch(e: V, f: V, g: V) -> V {
    each!(ch1, e, f, g)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn maj1(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    // (a & b) | (c & (a | b))
    _mm256_or_si256(
        _mm256_and_si256(a, b),
        _mm256_and_si256(c, _mm256_or_si256(a, b)),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn maj(a: V, b: V, c: V) -> V {
    each!(maj1, a, b, c)
}

macro_rules! ror {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>($x),
            _mm256_slli_epi32::<{ 32 - $n }>($x),
        )
    };
}

macro_rules! xor3 {
    ($a:expr, $b:expr, $c:expr) => {
        _mm256_xor_si256(_mm256_xor_si256($a, $b), $c)
    };
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsig0_1(x: __m256i) -> __m256i {
    xor3!(ror!(x, 2), ror!(x, 13), ror!(x, 22))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsig1_1(x: __m256i) -> __m256i {
    xor3!(ror!(x, 6), ror!(x, 11), ror!(x, 25))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ssig0_1(x: __m256i) -> __m256i {
    xor3!(ror!(x, 7), ror!(x, 18), _mm256_srli_epi32::<3>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ssig1_1(x: __m256i) -> __m256i {
    xor3!(ror!(x, 17), ror!(x, 19), _mm256_srli_epi32::<10>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsig0(a: V) -> V {
    each!(bsig0_1, a)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsig1(a: V) -> V {
    each!(bsig1_1, a)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ssig0(a: V) -> V {
    each!(ssig0_1, a)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ssig1(a: V) -> V {
    each!(ssig1_1, a)
}

/// `a >> n` per lane (0 when `n` is 32).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn srl(a: V, n: u32) -> V {
    let n = _mm_cvtsi32_si128(n as i32);
    each!(|x| _mm256_srl_epi32(x, n), a)
}

/// `a << n` per lane (0 when `n` is 32).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sll(a: V, n: u32) -> V {
    let n = _mm_cvtsi32_si128(n as i32);
    each!(|x| _mm256_sll_epi32(x, n), a)
}

/// The changing digits of offsets `i..i + LANES` of a chunk.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load_digits(i: u32) -> V {
    let at = &DIGITS4[i as usize..i as usize + LANES as usize];
    let mut r = [_mm256_setzero_si256(); G];
    for (g, r) in r.iter_mut().enumerate() {
        *r = _mm256_loadu_si256(at.as_ptr().add(8 * g).cast());
    }
    r
}

/// Bit `k` set when lane `k`'s `a & mask` is zero: all groups in one mask, one branch.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn zero_bits(a: V, mask: V) -> u32 {
    let zero = _mm256_setzero_si256();
    let mut bits = 0;
    for g in 0..G {
        let z = _mm256_cmpeq_epi32(_mm256_and_si256(a[g], mask[g]), zero);
        bits |= (_mm256_movemask_ps(_mm256_castsi256_ps(z)) as u32) << (8 * g);
    }
    bits
}

lanes_kernel!("avx2");
