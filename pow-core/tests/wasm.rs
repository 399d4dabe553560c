//! The known answers of `../shared/vectors.json` on wasm32, where the browser runs pow-core:
//! `wasm-pack test --node pow-core -- --test wasm` (and `--chrome --headless` with
//! `WASM_BINDGEN_USE_BROWSER=1`). wasm cannot read files, so the vectors are built in.
#![cfg(target_arch = "wasm32")]

mod common;

use common::vectors;
use pow_core::chain::{verify_chain, Entry, EntryError, NewEntry};
use pow_core::engine::Kernel;
use pow_core::puzzle::{self, verify_claim};
use pow_core::search;
use pow_core::{Difficulty, Prepared};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn every_vector_hashes_and_verifies() {
    for v in vectors() {
        let data = v.data.as_bytes();
        assert_eq!(puzzle::hash(data, v.nonce), v.hash, "{}", v.why);
        let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
        assert_eq!(puzzle::verify(data, v.nonce, d), Ok(v.hash), "{}", v.why);
        assert_eq!(verify_claim(data, v.nonce, &v.hash, v.difficulty), Ok(()));
        assert_eq!(
            Prepared::new(data, d).hash_nonce(v.nonce),
            v.hash,
            "{}",
            v.why
        );
    }
}

#[wasm_bindgen_test]
fn the_portable_kernel_finds_the_smallest_nonce() {
    assert_eq!(Kernel::fastest(), Kernel::Portable);
    // Difficulty 3 takes ~10^7 hashes each: left to the native tests.
    for v in vectors().into_iter().filter(|v| v.difficulty <= 2) {
        let d = Difficulty::from_zero_bytes(v.difficulty).unwrap();
        let p = Prepared::new(v.data.as_bytes(), d);
        let got = search::solve_with(Kernel::Portable, &p, &|| false);
        let sol = got
            .solution
            .unwrap_or_else(|| panic!("{}: no solution", v.why));
        assert_eq!((sol.nonce, sol.hash), (v.nonce, v.hash), "{}", v.why);
        assert_eq!(got.hashes, v.nonce + 1, "{}", v.why);
    }
}

#[wasm_bindgen_test]
fn one_field_mutations_fail() {
    for v in vectors().into_iter().filter(|v| v.difficulty > 0) {
        common::assert_one_field_mutations_fail(&v);
    }
}

#[wasm_bindgen_test]
fn a_ledger_of_the_vectors_verifies_and_a_changed_field_is_caught() {
    let mut entries: Vec<Entry> = Vec::new();
    // One chain, one difficulty (its first entry fixes every entry's): the vectors with a proof
    // of work at 2 zero bytes or more, each recorded at 2.
    let mut seen = std::collections::BTreeSet::new();
    for v in vectors()
        .into_iter()
        .filter(|v| v.difficulty >= 2 && seen.insert(v.data.clone()))
        .take(4)
    {
        let next = NewEntry {
            node: "Node1".into(),
            transaction_data: v.data.clone(),
            nonce: v.nonce,
            hash: v.hash,
            time_taken: 0.012_345_678,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.032161".into(),
            difficulty: 2,
            ..Default::default()
        }
        .chain_onto(entries.last());
        entries.push(next);
    }
    assert_eq!(verify_chain(&entries), Ok(entries[3].entry_hash));
    let mut tampered = entries.clone();
    tampered[2].time_taken += 1e-9;
    let err = verify_chain(&tampered).unwrap_err();
    assert_eq!(err.position, 2);
    assert!(matches!(err.reason, EntryError::EntryHashMismatch { .. }));
}

mod retarget_fixture;

/// The retarget schedule in the browser is the native one, bit for bit (`tests/retarget.rs`).
#[wasm_bindgen_test]
fn retargeting_agrees_with_native() {
    let chain = retarget_fixture::chain();
    assert_eq!(
        retarget_fixture::window_bits(&chain),
        retarget_fixture::WINDOW_BITS
    );
    assert_eq!(
        retarget_fixture::odd_window_bits(),
        retarget_fixture::ODD_WINDOW_BITS
    );
}
