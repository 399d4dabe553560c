//! Every kernel this CPU runs against the portable reference: every tail length (so every
//! layout of the changing digits in the final block or blocks), every digit count, digit-count
//! boundaries up to 10^19 and `u64::MAX`, odd bit difficulties, non-ASCII data, the known
//! answers of `../shared/vectors.json`, and the parallel search. Kernels the CPU lacks are
//! reported as skipped. Native: the x86 kernels, the file and threads.
#![cfg(not(target_family = "wasm"))]

mod common;

use std::sync::atomic::AtomicBool;

use pow_core::engine::{scan_portable, Kernel, Scan};
use pow_core::search::{self, parallel};
use pow_core::{Difficulty, Prepared};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Reproducible cases: ChaCha8 from a fixed seed per test (stable across platforms and
/// releases).
struct Rng(ChaCha8Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.0.fill_bytes(&mut out);
        out
    }
}

/// The kernels other than the reference that this CPU runs; says which ran and which not.
fn fast_kernels(test: &str) -> Vec<Kernel> {
    let mut ran = Vec::new();
    for &k in Kernel::ALL.iter().filter(|&&k| k != Kernel::Portable) {
        if k.is_available() {
            ran.push(k);
        } else {
            eprintln!(
                "{test}: skipped kernel {} (not supported by this CPU)",
                k.name()
            );
        }
    }
    let names: Vec<_> = ran.iter().map(|k| k.name()).collect();
    eprintln!("{test}: ran kernels {names:?} against portable");
    ran
}

/// Every solution in `start..end`, in order, found by rescanning past each hit.
fn all_solutions(kernel: Kernel, p: &Prepared, start: u64, end: u64) -> Vec<(u64, Scan)> {
    let mut out = Vec::new();
    let mut lo = start;
    while lo < end {
        let scan = kernel.scan(p, lo, end);
        match scan.found {
            Some(sol) => {
                out.push((lo, scan));
                lo = sol.nonce + 1;
            }
            None => {
                out.push((lo, scan));
                break;
            }
        }
    }
    out
}

fn assert_agree(kernel: Kernel, p: &Prepared, start: u64, end: u64, what: &str) -> usize {
    let want = all_solutions(Kernel::Portable, p, start, end);
    let got = all_solutions(kernel, p, start, end);
    assert_eq!(
        got,
        want,
        "{} on {what}, nonces {start}..{end}, {} bits",
        kernel.name(),
        p.difficulty().zero_bits()
    );
    want.iter().filter(|(_, s)| s.found.is_some()).count()
}

/// A random nonce with `digits` digits that leaves room for `len` nonces after it in its
/// 10^4-aligned chunk or right across a chunk boundary.
fn nonce_with_digits(rng: &mut Rng, digits: u32) -> u64 {
    let lo = 10u64.pow(digits - 1);
    let hi = if digits == 20 {
        u64::MAX - 20_000
    } else {
        10u64.pow(digits) - 20_000
    };
    lo + rng.below(hi - lo)
}

#[test]
fn every_layout_and_digit_count_agrees_with_portable() {
    let kernels = fast_kernels("every_layout");
    let mut rng = Rng::new(0x5eed_0001);
    let mut hits = 0;
    for tail in 0..64usize {
        // Data of 0..300 bytes with this tail length, random bytes (mostly not ASCII).
        let len = tail + 64 * rng.below(4) as usize;
        let data = rng.bytes(len.min(299));
        for digits in 5..=20u32 {
            let bits = 6 + rng.below(5);
            let p = Prepared::new(&data, Difficulty::from_zero_bits(bits).unwrap());
            let start = nonce_with_digits(&mut rng, digits);
            // Sometimes across a chunk boundary, sometimes not lane-aligned at either end.
            let start = if rng.below(4) == 0 {
                start - start % 10_000 + 10_000 - rng.below(100)
            } else {
                start
            };
            let end = start + 1 + rng.below(400);
            for &k in &kernels {
                hits += assert_agree(k, &p, start, end, &format!("{len} bytes"));
            }
        }
    }
    eprintln!("every_layout: {hits} solutions compared");
    assert!(kernels.is_empty() || hits > 100);
}

#[test]
fn digit_count_boundaries_agree_with_portable() {
    let kernels = fast_kernels("digit_boundaries");
    let mut rng = Rng::new(0x5eed_0002);
    for len in [
        0usize, 1, 34, 45, 50, 52, 55, 56, 57, 59, 60, 61, 63, 64, 100, 119, 127, 250,
    ] {
        let data = rng.bytes(len);
        let p = Prepared::new(&data, Difficulty::from_zero_bits(7).unwrap());
        let mut ranges = vec![(0u64, 300u64), (u64::MAX - 3_000, u64::MAX)];
        for k in 1..=19 {
            let edge = 10u64.pow(k);
            ranges.push((edge.saturating_sub(150), edge + 150));
        }
        for (start, end) in ranges {
            for &k in &kernels {
                assert_agree(k, &p, start, end, &format!("{len} bytes"));
            }
        }
    }
}

#[test]
fn four_digit_nonces_agree_with_portable_for_every_tail() {
    // 1000..9999 is scanned by the fast kernels as a chunk with base 0 (nonce = offset): every
    // layout of four digits in the final block(s), and the edges at 1000 and 10^4.
    let kernels = fast_kernels("four_digits");
    let mut rng = Rng::new(0x5eed_0005);
    let mut hits = 0;
    for tail in 0..64usize {
        let len = tail + 64 * rng.below(2) as usize;
        let data = rng.bytes(len);
        let p = Prepared::new(&data, Difficulty::from_zero_bits(8).unwrap());
        for (start, end) in [
            (0u64, 10_050u64),
            (999, 1_001),
            (1_000, 1_017),
            (9_990, 10_001),
        ] {
            for &k in &kernels {
                hits += assert_agree(k, &p, start, end, &format!("{} bytes", data.len()));
            }
        }
    }
    eprintln!("four_digits: {hits} solutions compared");
    assert!(kernels.is_empty() || hits > 1_000);
}

#[test]
fn difficulties_in_bits_and_bytes_agree_with_portable() {
    let kernels = fast_kernels("difficulties");
    let mut rng = Rng::new(0x5eed_0003);
    let utf8 = "Ωmega ₿ — 区块链 ✓ ".repeat(8);
    for bits in [0u64, 1, 7, 8, 9, 11, 13, 16, 24, 31, 32, 33, 40] {
        for cut in [0usize, 17, 28, 40, 55, 59, 62, 90] {
            let data = &utf8.as_bytes()[..cut];
            let p = Prepared::new(data, Difficulty::from_zero_bits(bits).unwrap());
            let digits = 5 + rng.below(16) as u32;
            let start = nonce_with_digits(&mut rng, digits);
            let len = if bits <= 8 { 200 } else { 20_000 };
            for &k in &kernels {
                assert_agree(k, &p, start, start + len, &format!("{cut} UTF-8 bytes"));
            }
        }
    }
}

#[test]
fn every_kernel_finds_the_vectors_answers() {
    let kernels = fast_kernels("vectors");
    for v in common::vectors() {
        let (data, difficulty, nonce, hash) = (v.data.as_str(), v.difficulty, v.nonce, v.hash);
        let p = Prepared::new(
            data.as_bytes(),
            Difficulty::from_zero_bytes(difficulty).unwrap(),
        );
        for &k in &kernels {
            let got = search::solve_with(k, &p, &|| false).solution.unwrap();
            assert_eq!(got.nonce, nonce, "{} on {data:?}", k.name());
            assert_eq!(got.hash, hash, "{} on {data:?}", k.name());
            let par = parallel::search(&p, 2, k, &AtomicBool::new(false));
            assert_eq!(par.solution, Some(got), "{} x2 on {data:?}", k.name());
        }
    }
}

#[test]
fn parallel_search_agrees_for_every_kernel_and_thread_count() {
    let kernels = fast_kernels("parallel");
    let mut rng = Rng::new(0x5eed_0004);
    for len in [3usize, 34, 58, 61, 70] {
        let data = rng.bytes(len);
        let p = Prepared::new(&data, Difficulty::from_zero_bits(17).unwrap());
        let want = search::solve_with(Kernel::Portable, &p, &|| false).solution;
        for &k in &kernels {
            for threads in [1, 2, 3] {
                let got = parallel::search(&p, threads, k, &AtomicBool::new(false));
                assert_eq!(got.solution, want, "{} x{threads}, {len} bytes", k.name());
            }
        }
    }
}

#[test]
fn portable_scan_is_the_reference_for_a_whole_chunk() {
    // The reference itself against sha2 one nonce at a time, over one full aligned chunk.
    let p = Prepared::new(
        b"Gova and Emmanuel Blockchain Lab 3",
        Difficulty::from_zero_bits(9).unwrap(),
    );
    let mut lo = 120_000;
    while let Some(sol) = scan_portable(&p, lo, 130_000).found {
        for n in lo..sol.nonce {
            assert!(p.confirm(n).is_none(), "missed {n}");
        }
        lo = sol.nonce + 1;
    }
    for n in lo..130_000 {
        assert!(p.confirm(n).is_none(), "missed {n}");
    }
}

#[test]
fn forcing_an_unknown_kernel_says_which_exist() {
    let e = Kernel::by_name("avx1024").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("unknown kernel \"avx1024\""), "{msg}");
    for k in Kernel::ALL {
        assert!(msg.contains(k.name()), "{msg}");
        match Kernel::by_name(&k.name().to_uppercase()) {
            Ok(got) => assert_eq!(got, *k),
            Err(e) => {
                assert!(!k.is_available());
                assert!(e.to_string().contains("not supported by this CPU"));
            }
        }
    }
}
