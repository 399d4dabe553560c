//! The retarget schedule of a fixed chain, natively; `tests/wasm.rs` checks the same figures
//! on wasm32, so the node, `verify` and the browser agree bit for bit.

mod retarget_fixture;

use retarget_fixture::{chain, odd_window_bits, window_bits, ODD_WINDOW_BITS, WINDOW_BITS};

#[test]
fn the_fixture_chain_has_the_recorded_schedule() {
    let got = window_bits(&chain());
    println!("WINDOW_BITS = {got:?}");
    assert_eq!(got, WINDOW_BITS);
}

#[test]
fn odd_windows_retarget_as_recorded() {
    let got = odd_window_bits();
    println!("ODD_WINDOW_BITS = {got:?}");
    assert_eq!(got, ODD_WINDOW_BITS);
}
