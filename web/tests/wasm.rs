//! The JS-facing exports against `../shared/vectors.json`, on wasm32 in Node and in headless
//! Chrome (web/test.sh runs this suite in both; `WASM_BINDGEN_USE_BROWSER=1` picks the browser).
#![cfg(target_arch = "wasm32")]

use pow_core::chain::Entry;
use pow_core::Hash32;
use powrace_web::{
    hash_hex, leading_zero_bits, meets_difficulty, verify_entry, verify_ledger, Miner,
};
use serde_json::Value;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

const VECTORS: &str = include_str!("../../../shared/vectors.json");

fn vectors() -> Vec<Value> {
    let json: Value = serde_json::from_str(VECTORS).expect("vectors.json parses");
    let list = json["vectors"].as_array().expect("a vectors array").clone();
    assert!(list.len() >= 16);
    list
}

/// A JS value back as serde_json, to compare.
fn json(v: &JsValue) -> Value {
    let text: String = js_sys::JSON::stringify(v).unwrap().into();
    serde_json::from_str(&text).unwrap()
}

fn sealed_ledger(n: usize) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for v in vectors()
        .iter()
        .filter(|v| v["difficulty"].as_u64().unwrap() > 0)
        .take(n)
    {
        let data = v["transaction_data"].as_str().unwrap();
        let prev = out.last().map_or(Hash32::ZERO, |e| e.entry_hash);
        out.push(
            Entry {
                node: format!("Node{}", out.len() % 3 + 1),
                transaction_data: data.into(),
                nonce: v["nonce"].as_u64().unwrap(),
                hash: v["hash"].as_str().unwrap().parse().unwrap(),
                time_taken: 0.012_345_678_9,
                start_time: "2025-02-13 19:16:07.019815".into(),
                end_time: "2025-02-13 19:16:07.032161".into(),
                difficulty: v["difficulty"].as_u64().unwrap() as u32,
                index: out.len() as u64,
                tx_id: Hash32::digest(data.as_bytes()),
                prev_hash: prev,
                entry_hash: Hash32::ZERO,
            }
            .seal(),
        );
    }
    out
}

#[wasm_bindgen_test]
fn every_vector_hashes_and_meets_its_difficulty() {
    for v in vectors() {
        let data = v["transaction_data"].as_str().unwrap();
        let d = v["difficulty"].as_u64().unwrap() as u32;
        let hash = hash_hex(data, v["nonce"].as_u64().unwrap());
        assert_eq!(hash, v["hash"].as_str().unwrap(), "{}", v["why"]);
        assert!(meets_difficulty(&hash, d).unwrap());
        assert!(leading_zero_bits(&hash).unwrap() >= 8 * d);
        if d < 32 {
            // Each vector's hash has fewer than 5 zero bytes.
            assert!(!meets_difficulty(&hash, 5).unwrap());
        }
    }
}

#[wasm_bindgen_test]
fn the_miner_finds_the_smallest_nonce_in_slices() {
    for v in vectors()
        .iter()
        .filter(|v| v["difficulty"].as_u64().unwrap() <= 2)
    {
        let data = v["transaction_data"].as_str().unwrap();
        let mut m = Miner::new(data, v["difficulty"].as_u64().unwrap() as u32).unwrap();
        let mut slices = 0;
        let nonce = loop {
            slices += 1;
            if let Some(n) = m.step(7_777) {
                break n;
            }
            assert!(!m.done());
        };
        assert_eq!(nonce, v["nonce"].as_u64().unwrap(), "{}", v["why"]);
        assert_eq!(m.hash().unwrap(), v["hash"].as_str().unwrap());
        assert_eq!(m.hashes() as u64, nonce + 1);
        assert_eq!(slices, nonce / 7_777 + 1);
        assert!(m.done());
        // Stepping again changes nothing.
        assert_eq!(m.step(10), Some(nonce));
    }
}

#[wasm_bindgen_test]
fn a_ledger_of_the_vectors_verifies_entry_by_entry() {
    let l = sealed_ledger(5);
    let text = serde_json::to_string_pretty(&l).unwrap();
    let r = json(&verify_ledger(&text));
    assert_eq!(r["ok"], true);
    assert_eq!(r["count"], 5);
    assert_eq!(r["head"], l[4].entry_hash.to_string());
    for e in r["entries"].as_array().unwrap() {
        assert_eq!(e["status"], "ok");
    }
    // One entry alone, as an object and as text.
    let one = serde_json::to_string(&l[2]).unwrap();
    assert_eq!(
        json(&verify_entry(JsValue::from_str(&one)).unwrap())["ok"],
        true
    );
    let obj = js_sys::JSON::parse(&one).unwrap();
    assert_eq!(json(&verify_entry(obj).unwrap())["ok"], true);
}

#[wasm_bindgen_test]
fn a_tampered_ledger_names_the_entry_and_why() {
    let l = sealed_ledger(5);
    let mut raw: Vec<Value> = l.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    raw[2]["node"] = "Mallory".into();
    let r = json(&verify_ledger(&Value::Array(raw).to_string()));
    assert_eq!(r["ok"], false);
    assert_eq!(r["first_bad"], 2);
    let statuses: Vec<&str> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["ok", "ok", "bad", "after_break", "after_break"]);
    let mut changed = l[2].clone();
    changed.node = "Mallory".into();
    let want = format!(
        "entry_hash {} does not match the entry's fields ({}): a field was changed",
        l[2].entry_hash,
        changed.compute_hash()
    );
    assert_eq!(r["entries"][2]["reason"], want.as_str());

    // A nonce that is not a solution.
    let mut bad = l[1].clone();
    bad.nonce += 1;
    let r = json(&verify_entry(JsValue::from_str(&serde_json::to_string(&bad).unwrap())).unwrap());
    assert_eq!(r["ok"], false);
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .starts_with("proof of work does not hold"));
}
