//! The SHA extensions: `sha256rnds2` does two rounds; four messages are interleaved so that
//! its latency is hidden (it issues once per two cycles, so ~64 cycles per compression).

use core::arch::x86_64::*;

use super::chunk::{first_confirmed, lane_mask, Layout, DIGITS4, K};
use crate::puzzle::{Prepared, Solution};

cpufeatures::new!(cpuid_shani, "sha", "sse2", "ssse3", "sse4.1");

/// Whether this CPU runs the SHA extensions (and SSE4.1, for the shuffles).
pub(super) fn available() -> bool {
    cpuid_shani::get()
}

/// Messages (nonces) hashed side by side.
const MSGS: usize = 4;

/// The state as `sha256rnds2` keeps it: `[ABEF, CDGH]`.
type State = [__m128i; 2];

/// Converts `[a, b, c, d, e, f, g, h]` to `[ABEF, CDGH]`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn to_ni(s: &[u32; 8]) -> State {
    let dcba = _mm_loadu_si128(s.as_ptr().cast());
    let efgh = _mm_loadu_si128(s.as_ptr().add(4).cast());
    let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1B>(efgh);
    [
        _mm_alignr_epi8::<8>(cdab, efgh),
        _mm_blend_epi16::<0xF0>(efgh, cdab),
    ]
}

/// The next four schedule words from the previous sixteen.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn schedule(v0: __m128i, v1: __m128i, v2: __m128i, v3: __m128i) -> __m128i {
    let t = _mm_add_epi32(_mm_sha256msg1_epu32(v0, v1), _mm_alignr_epi8::<4>(v3, v2));
    _mm_sha256msg2_epu32(t, v3)
}

/// Rounds `4g..4g + 4` with message words `w`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn rounds4(st: &mut State, w: __m128i, g: usize) {
    let kw = _mm_add_epi32(w, _mm_loadu_si128(K[4 * g..4 * g + 4].as_ptr().cast()));
    st[1] = _mm_sha256rnds2_epu32(st[1], st[0], kw);
    st[0] = _mm_sha256rnds2_epu32(st[0], st[1], _mm_shuffle_epi32::<0x0E>(kw));
}

/// Groups `$from..16` (four rounds each) of a compression of `MSGS` messages, in place.
macro_rules! ni_compress {
    ($st:ident, $w:ident, $from:expr) => {
        ni_compress!(@groups $st, $w, $from; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@groups $st:ident, $w:ident, $from:expr; $($g:literal)*) => {
        $(
            if $g >= 4 {
                for m in 0..MSGS {
                    let w = &mut $w[m];
                    w[$g % 4] = schedule(w[$g % 4], w[($g + 1) % 4], w[($g + 2) % 4], w[($g + 3) % 4]);
                }
            }
            if $g >= $from {
                for m in 0..MSGS {
                    rounds4(&mut $st[m], $w[m][$g % 4], $g);
                }
            }
        )*
    };
}

/// Scans offsets `s..e` of the aligned chunk `lay`, four nonces per step; `I0` and `TWO` as in
/// the lane kernels. Rounds before the first group holding a changing digit are precomputed.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[allow(clippy::absurd_extreme_comparisons, unused_comparisons)]
unsafe fn chunk<const I0: usize, const TWO: bool>(
    p: &Prepared,
    lay: &Layout,
    s: u32,
    e: u32,
) -> (Option<Solution>, u64) {
    let g0 = I0 / 4;
    let g1 = (I0 + 1) / 4;
    let mask = p.difficulty().first_word_mask();
    let pre = to_ni(&lay.state_after(4 * g0));
    let ff = to_ni(&lay.state);
    let mut cw = [_mm_setzero_si128(); 8];
    for (c, w) in cw.iter_mut().zip(lay.words.chunks_exact(4)) {
        *c = _mm_loadu_si128(w.as_ptr().cast());
    }
    // The changing digits' share of word `j` (one of the groups `g0`, `g1`).
    let part = |j: usize, d0: u32, d1: u32| {
        if j == I0 {
            d0
        } else if j == I0 + 1 {
            d1
        } else {
            0
        }
    };
    let group = |g: usize, d0: u32, d1: u32| {
        _mm_set_epi32(
            part(4 * g + 3, d0, d1) as i32,
            part(4 * g + 2, d0, d1) as i32,
            part(4 * g + 1, d0, d1) as i32,
            part(4 * g, d0, d1) as i32,
        )
    };
    let mut i = s;
    while i < e {
        let mut st = [pre; MSGS];
        let mut w = [[cw[0], cw[1], cw[2], cw[3]]; MSGS];
        let mut d = [(0u32, 0u32); MSGS];
        for (m, dm) in d.iter_mut().enumerate() {
            let digits = DIGITS4[i as usize + m];
            *dm = (digits >> lay.shr, (u64::from(digits) << lay.shl) as u32);
            w[m][g0] = _mm_or_si128(w[m][g0], group(g0, dm.0, dm.1));
            if g1 != g0 && g1 < 4 {
                w[m][g1 % 4] = _mm_or_si128(w[m][g1 % 4], group(g1, dm.0, dm.1));
            }
        }
        ni_compress!(st, w, g0);
        let mut firsts = [0u32; MSGS];
        if TWO {
            let mut st1 = st;
            for s1 in st1.iter_mut() {
                *s1 = [_mm_add_epi32(s1[0], ff[0]), _mm_add_epi32(s1[1], ff[1])];
            }
            let mut st = st1;
            let mut w = [[cw[4], cw[5], cw[6], cw[7]]; MSGS];
            if I0 + 1 == 16 {
                for (wm, dm) in w.iter_mut().zip(d) {
                    wm[0] = _mm_or_si128(wm[0], _mm_cvtsi32_si128(dm.1 as i32));
                }
            }
            ni_compress!(st, w, 0);
            for m in 0..MSGS {
                firsts[m] = _mm_extract_epi32::<3>(_mm_add_epi32(st[m][0], st1[m][0])) as u32;
            }
        } else {
            for m in 0..MSGS {
                firsts[m] = _mm_extract_epi32::<3>(_mm_add_epi32(st[m][0], ff[0])) as u32;
            }
        }
        let mut bits = 0;
        for (m, a) in firsts.iter().enumerate() {
            bits |= u32::from(a & mask == 0) << m;
        }
        bits &= lane_mask(e - i, MSGS as u32);
        if bits != 0 {
            if let Some(sol) = first_confirmed(p, lay.base + u64::from(i), bits) {
                return (Some(sol), sol.nonce - lay.base - u64::from(s) + 1);
            }
        }
        i += MSGS as u32;
    }
    (None, u64::from(e - s))
}

/// Scans offsets `s..e` of the aligned chunk `lay`; `None` when this CPU lacks the SHA
/// extensions or the layout has no instance (the caller then scans portably).
pub(super) fn scan_chunk(
    p: &Prepared,
    lay: &Layout,
    s: u32,
    e: u32,
) -> Option<(Option<Solution>, u64)> {
    if !available() {
        return None;
    }
    // SAFETY: the CPU has the features `chunk` is compiled for (checked just above).
    unsafe { dispatch_layout!(chunk, p, lay, s, e) }
}
