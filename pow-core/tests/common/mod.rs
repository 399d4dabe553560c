//! The known answers of `../shared/vectors.json`, shared by the test suites. Built in with
//! `include_str!`, so the same list reaches the wasm32 tests, which cannot read files.
#![allow(dead_code)]

use pow_core::puzzle::{verify_claim, VerifyError};
use pow_core::Hash32;
use serde_json::Value;

/// The file, as text.
pub const VECTORS_JSON: &str = include_str!("../../../../shared/vectors.json");

/// One known answer.
pub struct Vector {
    pub data: String,
    pub difficulty: u64,
    pub nonce: u64,
    pub hash: Hash32,
    pub why: String,
}

/// Every vector in the file.
pub fn vectors() -> Vec<Vector> {
    let json: Value = serde_json::from_str(VECTORS_JSON).expect("vectors.json parses");
    let list = json["vectors"].as_array().expect("a vectors array");
    assert!(list.len() >= 16, "vectors.json has {} vectors", list.len());
    list.iter()
        .map(|v| Vector {
            data: v["transaction_data"].as_str().unwrap().to_owned(),
            difficulty: v["difficulty"].as_u64().unwrap(),
            nonce: v["nonce"].as_u64().unwrap(),
            hash: v["hash"].as_str().unwrap().parse().unwrap(),
            why: v["why"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

/// Changing any one field of a vector's claim must fail verification, with the right reason.
pub fn assert_one_field_mutations_fail(v: &Vector) {
    let data = v.data.as_bytes();
    // A different nonce: the hash no longer matches.
    assert!(matches!(
        verify_claim(data, v.nonce + 1, &v.hash, v.difficulty),
        Err(VerifyError::HashMismatch { .. })
    ));
    // A flipped bit in the hash.
    let mut bad = v.hash;
    bad.0[31] ^= 0x01;
    assert!(matches!(
        verify_claim(data, v.nonce, &bad, v.difficulty),
        Err(VerifyError::HashMismatch { .. })
    ));
    // Different data.
    let mut other = v.data.clone();
    other.push('!');
    assert!(verify_claim(other.as_bytes(), v.nonce, &v.hash, v.difficulty).is_err());
    // A higher difficulty than the hash has (each vector's hash has < 5 zero bytes).
    assert!(matches!(
        verify_claim(data, v.nonce, &v.hash, 5),
        Err(VerifyError::HashAboveTarget { .. })
    ));
    // A difficulty no digest can meet.
    assert!(matches!(
        verify_claim(data, v.nonce, &v.hash, 33),
        Err(VerifyError::BadDifficulty(_))
    ));
}
