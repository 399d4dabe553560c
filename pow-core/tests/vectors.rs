//! Known answers from `../shared/vectors.json`, through every entry point of the puzzle and
//! every kernel this CPU runs, plus one-field mutations that must fail. Native: it reads the
//! file and runs threads (`tests/wasm.rs` holds the vectors for wasm32).
#![cfg(not(target_family = "wasm"))]

mod common;

use std::sync::atomic::AtomicBool;

use common::vectors;
use pow_core::engine::Kernel;
use pow_core::puzzle::{self, verify_claim};
use pow_core::search::{self, parallel};
use pow_core::{Difficulty, Prepared};

#[test]
fn every_vector_hashes_and_verifies() {
    for v in vectors() {
        assert_eq!(
            puzzle::hash(v.data.as_bytes(), v.nonce),
            v.hash,
            "{}",
            v.why
        );
        let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
        assert_eq!(
            puzzle::verify(v.data.as_bytes(), v.nonce, d),
            Ok(v.hash),
            "{}",
            v.why
        );
        assert_eq!(
            verify_claim(v.data.as_bytes(), v.nonce, &v.hash, v.difficulty),
            Ok(())
        );
    }
}

#[test]
fn every_available_kernel_finds_the_smallest_nonce() {
    for kernel in Kernel::ALL.iter().copied().filter(|k| k.is_available()) {
        for v in vectors() {
            let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
            let p = Prepared::new(v.data.as_bytes(), d);
            // Difficulty 3 vectors take ~10^7 hashes: the portable kernel still does them in
            // about a second in the test profile.
            let got = search::solve_with(kernel, &p, &|| false);
            let sol = got
                .solution
                .unwrap_or_else(|| panic!("{}: no solution", v.why));
            assert_eq!(
                (sol.nonce, sol.hash),
                (v.nonce, v.hash),
                "{} with {kernel:?}",
                v.why
            );
            assert!(got.hashes > v.nonce, "hashes counts every nonce tried");
        }
    }
}

#[test]
fn parallel_search_gives_the_vectors_answer_for_any_thread_count() {
    for v in vectors().into_iter().filter(|v| v.difficulty <= 2) {
        let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
        let p = Prepared::new(v.data.as_bytes(), d);
        for threads in [1, 2, 4] {
            let got = parallel::search(&p, threads, Kernel::fastest(), &AtomicBool::new(false));
            assert_eq!(
                got.solution.map(|s| s.nonce),
                Some(v.nonce),
                "{} x{threads}",
                v.why
            );
        }
    }
}

#[test]
fn one_field_mutations_fail() {
    for v in vectors().into_iter().filter(|v| v.difficulty > 0) {
        common::assert_one_field_mutations_fail(&v);
        let data = v.data.as_bytes();
        // The smallest nonce: nothing below it solves the puzzle.
        let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
        if v.difficulty <= 2 {
            assert_eq!(
                search::smaller_solution(&Prepared::new(data, d), v.nonce),
                None
            );
        }
    }
}
