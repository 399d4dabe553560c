//! SHA-256 over SIMD lanes, written once as macros and expanded in each instruction-set module
//! ([`super::avx512`], [`super::avx2`]) next to that module's helpers: `splat`, `add`,
//! `add_pin` (an add the compiler may not reassociate), `or`, `ch`, `maj`, `bsig0`, `bsig1`,
//! `ssig0`, `ssig1`, `srl`, `sll`, `load_digits`, `zero_bits`, the lane type `V` and `LANES`.
//!
//! Macros rather than generic functions: the helpers carry `#[target_feature]`, so the code that
//! calls them must be expanded inside a function with the same features to be inlined, and the
//! 64 rounds must be unrolled so that everything constant over a chunk is hoisted out of the loop.

/// One SHA-256 round on lanes. The three pinned adds keep the dependency chain through `e` and
/// `a` short: left alone, LLVM reassociates them into a longer chain (PERF-NOTES.md item 5).
macro_rules! lanes_round {
    ($s:ident, $kw:expr) => {{
        let [a, b, c, d, e, f, g, h] = $s;
        let hkw = add(h, $kw);
        let t = add(hkw, ch(e, f, g));
        let t1 = add_pin(t, bsig1(e));
        let t2 = add(bsig0(a), maj(a, b, c));
        $s = [add_pin(t1, t2), a, b, c, add_pin(d, t1), e, f, g];
    }};
}

/// Rounds `$from..64` of a compression, from `$s` (the state after `$from` rounds) with the
/// message words `$w` (`[V; 16]`, constant before `$from`). Evaluates to the state before the
/// feed-forward. Schedule words that depend only on constants are hoisted by LLVM.
macro_rules! lanes_compress {
    ($s:expr, $w:expr, $from:expr) => {{
        let mut s = $s;
        let mut w = $w;
        lanes_compress!(@steps s, w, $from;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
            61 62 63);
        s
    }};
    (@steps $s:ident, $w:ident, $from:expr; $($t:literal)*) => {
        $(
            if $t >= 16 {
                $w[$t % 16] = add(
                    add(add(ssig1($w[($t + 14) % 16]), $w[($t + 9) % 16]), ssig0($w[($t + 1) % 16])),
                    $w[$t % 16],
                );
            }
            if $t >= $from {
                lanes_round!($s, add(splat(super::chunk::K[$t]), $w[$t % 16]));
            }
        )*
    };
}

/// All 64 rounds from `$s` with the round constants already added to a message schedule
/// that is the same in every lane (`$kw`: `[u32; 64]`), as for a second block without digits.
/// A broadcast per round instead of a vector schedule: 48 fewer vectors live in the loop.
macro_rules! lanes_compress_kw {
    ($s:expr, $kw:expr) => {{
        let mut s = $s;
        for kw in $kw.iter() {
            lanes_round!(s, splat(*kw));
        }
        s
    }};
}

/// The chunk kernel of a lane module: `chunk::<I0, TWO>` for each layout and `scan_chunk`,
/// which picks the instance for a [`super::chunk::Layout`].
macro_rules! lanes_kernel {
    ($feature:literal) => {
        /// Scans offsets `s..e` of the aligned chunk `lay`, `LANES` nonces per step.
        ///
        /// `I0` is the first message word holding changing digits (rounds before it are
        /// precomputed); `TWO` means the digits sit in the first of two final blocks.
        ///
        /// Never inlined: each instance is one large unrolled loop, and `scan_chunk` would
        /// otherwise inline a varying subset of the 16 into one function, where LLVM's budgets
        /// left some instances three times slower (which ones changed with codegen-units).
        /// The loop heads are aligned by the workspace's `.cargo/config.toml`, for the same
        /// reason: placement alone made a layout run at a third to a half of its speed.
        #[target_feature(enable = $feature)]
        #[inline(never)]
        #[allow(clippy::absurd_extreme_comparisons, unused_comparisons)]
        unsafe fn chunk<const I0: usize, const TWO: bool>(
            p: &Prepared,
            lay: &Layout,
            s: u32,
            e: u32,
        ) -> (Option<Solution>, u64) {
            let mask = splat(p.difficulty().first_word_mask());
            let pre = lay.state_after(I0);
            let mut st0 = [splat(0); 8];
            let mut ff = [splat(0); 8];
            for j in 0..8 {
                st0[j] = splat(pre[j]);
                ff[j] = splat(lay.state[j]);
            }
            let mut cw = [splat(0); 32];
            for (c, &word) in cw.iter_mut().zip(lay.words.iter()) {
                *c = splat(word);
            }
            // The second block's schedule, when no digit reaches it.
            let kw2 = if TWO && I0 + 1 < 16 {
                lay.second_block_kw()
            } else {
                [0; 64]
            };
            let shr = lay.shr;
            let shl = lay.shl;
            let mut i = s;
            while i < e {
                let d = load_digits(i);
                let mut w: [V; 16] = core::array::from_fn(|j| cw[j]);
                w[I0] = or(w[I0], srl(d, shr));
                if I0 + 1 < 16 {
                    w[(I0 + 1) % 16] = or(w[(I0 + 1) % 16], sll(d, shl));
                }
                let out = lanes_compress!(st0, w, I0);
                let a = if TWO {
                    let mut s1 = [splat(0); 8];
                    for j in 0..8 {
                        s1[j] = add(out[j], ff[j]);
                    }
                    let out2 = if I0 + 1 < 16 {
                        lanes_compress_kw!(s1, kw2)
                    } else {
                        let mut w2: [V; 16] = core::array::from_fn(|j| cw[16 + j]);
                        w2[0] = or(w2[0], sll(d, shl));
                        lanes_compress!(s1, w2, 0)
                    };
                    add(out2[0], s1[0])
                } else {
                    add(out[0], ff[0])
                };
                let bits = zero_bits(a, mask) & super::chunk::lane_mask(e - i, LANES);
                if bits != 0 {
                    if let Some(sol) =
                        super::chunk::first_confirmed(p, lay.base + u64::from(i), bits)
                    {
                        return (Some(sol), sol.nonce - lay.base - u64::from(s) + 1);
                    }
                }
                i += LANES;
            }
            (None, u64::from(e - s))
        }

        /// Scans offsets `s..e` of the aligned chunk `lay`; `None` when this CPU lacks the
        /// instructions or the layout has no instance (the caller then scans portably).
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
    };
}

/// Calls `$f::<I0, TWO>` for the layout: one final block with the digits starting in word
/// 0..=12, or two blocks with them in word 13..=15 of the first.
macro_rules! dispatch_layout {
    ($f:ident, $p:expr, $lay:expr, $s:expr, $e:expr) => {
        match ($lay.two, $lay.i0) {
            (false, 0) => Some($f::<0, false>($p, $lay, $s, $e)),
            (false, 1) => Some($f::<1, false>($p, $lay, $s, $e)),
            (false, 2) => Some($f::<2, false>($p, $lay, $s, $e)),
            (false, 3) => Some($f::<3, false>($p, $lay, $s, $e)),
            (false, 4) => Some($f::<4, false>($p, $lay, $s, $e)),
            (false, 5) => Some($f::<5, false>($p, $lay, $s, $e)),
            (false, 6) => Some($f::<6, false>($p, $lay, $s, $e)),
            (false, 7) => Some($f::<7, false>($p, $lay, $s, $e)),
            (false, 8) => Some($f::<8, false>($p, $lay, $s, $e)),
            (false, 9) => Some($f::<9, false>($p, $lay, $s, $e)),
            (false, 10) => Some($f::<10, false>($p, $lay, $s, $e)),
            (false, 11) => Some($f::<11, false>($p, $lay, $s, $e)),
            (false, 12) => Some($f::<12, false>($p, $lay, $s, $e)),
            (true, 13) => Some($f::<13, true>($p, $lay, $s, $e)),
            (true, 14) => Some($f::<14, true>($p, $lay, $s, $e)),
            (true, 15) => Some($f::<15, true>($p, $lay, $s, $e)),
            _ => None,
        }
    };
}
