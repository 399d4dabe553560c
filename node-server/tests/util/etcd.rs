//! For the etcd store tests: claims (a real proof of work, fixed times) and reading every
//! entry back.
//!
//! Use from a test file with `#[path = "util/etcd.rs"] mod etcd_util;`.
#![allow(dead_code)]

use node_server::etcd::Store;
use pow_core::chain::{Entry, NewEntry as Claim, RaceMode};
use pow_core::Difficulty;

/// A real proof of work for `data` at `bits` zero bits, claimed by `node`, ending at second
/// `end_second` of a fixed minute (the start is a millisecond before).
pub fn claim_with(
    node: &str,
    data: &str,
    bits: u32,
    end_second: u32,
    target_time_us: Option<u64>,
) -> Claim {
    let d = Difficulty::from_zero_bits(u64::from(bits)).unwrap();
    let s = pow_core::search::solve(data.as_bytes(), d)
        .solution
        .unwrap();
    Claim {
        node: node.into(),
        transaction_data: data.into(),
        nonce: s.nonce,
        hash: s.hash,
        time_taken: 0.001,
        start_time: format!("2025-02-13 19:16:{end_second:02}.000000"),
        end_time: format!("2025-02-13 19:16:{end_second:02}.001000"),
        difficulty: bits / 8,
        race: RaceMode::Lab,
        difficulty_bits: (!bits.is_multiple_of(8) || target_time_us.is_some()).then_some(bits),
        target_time_us,
    }
}

/// A difficulty-1 claim (about 256 hashes) ending at second `end_second`.
pub fn claim_at(node: &str, data: &str, end_second: u32) -> Claim {
    claim_with(node, data, 8, end_second, None)
}

/// A difficulty-1 claim with the usual times.
pub fn claim(node: &str, data: &str) -> Claim {
    claim_at(node, data, 7)
}

/// Every entry under the store's prefix, by pages.
pub async fn all_entries(store: &Store) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let (page, _) = store.entries(out.len() as u64, 512).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}
