//! Any bytes as `ledger.json`: never a panic; what parses is written back and parses to the
//! same entries (and verifying it never panics either).
#![no_main]

use libfuzzer_sys::fuzz_target;
use node_server::ledger::{parse, to_text};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse(data) {
        let text = to_text(&entries);
        assert_eq!(parse(&text).as_ref(), Ok(&entries));
        let _ = pow_core::chain::verify_chain(&entries);
    }
});
