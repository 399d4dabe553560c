//! The JS-facing exports against `../shared/vectors.json`, on wasm32 in Node and in headless
//! Chrome (web/test.sh runs this suite in both; `WASM_BINDGEN_USE_BROWSER=1` picks the browser).
#![cfg(target_arch = "wasm32")]

use pow_core::chain::Entry;
use pow_core::Hash32;
use powrace_web::{
    hash_hex, leading_zero_bits, meets_difficulty, verify_entry, verify_ledger, verify_page,
    LedgerVerifier, Miner,
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

/// The difficulty of the ledgers sealed here: a chain's first entry fixes every entry's, and a
/// proof at a higher difficulty meets a lower one.
const CHAIN_DIFFICULTY: u32 = 2;

/// A ledger of the first `n` vectors with a proof of work at [`CHAIN_DIFFICULTY`] or more, one
/// entry per transaction.
fn sealed_ledger(n: usize) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for v in vectors()
        .iter()
        .filter(|v| v["difficulty"].as_u64().unwrap() >= CHAIN_DIFFICULTY as u64)
        .filter(|v| seen.insert(v["transaction_data"].as_str().unwrap().to_string()))
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
                difficulty: CHAIN_DIFFICULTY,
                index: out.len() as u64,
                tx_id: Hash32::digest(data.as_bytes()),
                prev_hash: prev,
                entry_hash: Hash32::ZERO,
                ..Entry::default()
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

/// A field of a JS object.
fn field(o: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

/// Statuses, reasons and the end state of a ledger checked by one [`LedgerVerifier`] in pages.
struct Paged {
    statuses: Vec<u8>,
    reasons: Vec<(u64, String)>,
    head: Option<String>,
    first_bad: Option<f64>,
}

fn by_pages(raw: &[Value], size: usize) -> Paged {
    let mut v = LedgerVerifier::new();
    let mut out = Paged {
        statuses: vec![],
        reasons: vec![],
        head: None,
        first_bad: None,
    };
    for (k, page) in raw.chunks(size).enumerate() {
        let text = serde_json::to_vec(page).unwrap();
        let b = v.verify_page(&text, (k * size) as f64).unwrap();
        assert!(field(&b, "error").is_null());
        assert_eq!(field(&b, "from").as_f64(), Some((k * size) as f64));
        out.statuses
            .extend(js_sys::Uint8Array::new(&field(&b, "statuses")).to_vec());
        for r in js_sys::Array::from(&field(&b, "reasons")).iter() {
            let r = js_sys::Array::from(&r);
            out.reasons.push((
                r.get(0).as_f64().unwrap() as u64,
                r.get(1).as_string().unwrap(),
            ));
        }
    }
    out.head = v.head();
    out.first_bad = v.first_bad();
    assert_eq!(v.next_index() as usize, raw.len());
    out
}

fn values(l: &[Entry]) -> Vec<Value> {
    l.iter().map(|e| serde_json::to_value(e).unwrap()).collect()
}

#[wasm_bindgen_test]
fn a_ledger_checked_page_by_page_holds_and_ends_at_its_head() {
    let l = sealed_ledger(9);
    for size in [1, 2, 4, 9] {
        let p = by_pages(&values(&l), size);
        assert_eq!(p.statuses, vec![1; 9]);
        assert_eq!(p.head, Some(l[8].entry_hash.to_string()));
        assert_eq!(p.first_bad, None);
    }
    // One page on its own, from the hash before it.
    let text = serde_json::to_string(&l[4..7]).unwrap();
    let r = json(&verify_page(&text, 4.0, &l[3].entry_hash.to_string()).unwrap());
    assert_eq!(r["ok"], true);
    assert_eq!(r["first_index"], 4);
    assert_eq!(r["next_index"], 7);
    assert_eq!(r["head"], l[6].entry_hash.to_string());
    assert_eq!(r["entries"][0]["position"], 4);
    // From the wrong hash: its first entry's link is broken.
    let r = json(&verify_page(&text, 4.0, &l[2].entry_hash.to_string()).unwrap());
    assert_eq!(r["first_bad"], 4);
    assert!(r["entries"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("prev_hash "));
    // Not an index, not a hash, not the verifier's next page.
    assert!(verify_page(&text, -1.0, &l[3].entry_hash.to_string()).is_err());
    assert!(verify_page(&text, 4.0, "zz").is_err());
    let mut v = LedgerVerifier::new();
    assert!(v.verify_page(b"[]", 3.0).is_err());
}

#[wasm_bindgen_test]
fn a_tampered_entry_in_a_later_page_is_named_and_the_rest_follow_the_break() {
    let l = sealed_ledger(9);
    let mut raw = values(&l);
    raw[6]["node"] = "Mallory".into();
    let p = by_pages(&raw, 4);
    assert_eq!(p.statuses, [1, 1, 1, 1, 1, 1, 2, 3, 3]);
    assert_eq!(p.first_bad, Some(6.0));
    assert_eq!(p.head, None);
    let mut changed = l[6].clone();
    changed.node = "Mallory".into();
    assert_eq!(
        p.reasons,
        [(
            6,
            format!(
                "entry_hash {} does not match the entry's fields ({}): a field was changed",
                l[6].entry_hash,
                changed.compute_hash()
            )
        )]
    );
}

#[wasm_bindgen_test]
fn a_link_broken_across_a_page_boundary_is_caught() {
    let mut l = sealed_ledger(8);
    // Entry 3 resealed with another time: it holds, but entry 4, first of the next page, no
    // longer links to it.
    l[3].time_taken = 1.5;
    l[3] = l[3].clone().seal();
    let p = by_pages(&values(&l), 4);
    assert_eq!(p.statuses, [1, 1, 1, 1, 2, 3, 3, 3]);
    assert_eq!(p.first_bad, Some(4.0));
    assert_eq!(
        p.reasons[0].1,
        format!(
            "prev_hash {} is not the previous entry's entry_hash {} (an entry before it was changed, removed or moved)",
            l[4].prev_hash, l[3].entry_hash
        )
    );
}

#[wasm_bindgen_test]
fn a_transaction_repeated_pages_later_is_caught() {
    let mut l = sealed_ledger(7);
    let mut again = l[1].clone();
    again.index = 7;
    again.prev_hash = l[6].entry_hash;
    l.push(again.seal());
    let p = by_pages(&values(&l), 3);
    assert_eq!(p.statuses, [1, 1, 1, 1, 1, 1, 1, 2]);
    assert_eq!(
        p.reasons,
        [(
            7,
            "the transaction is already recorded at index 1".to_string()
        )]
    );
}

#[wasm_bindgen_test]
fn a_duplicate_key_is_refused_in_pages_streams_and_whole_files() {
    let l = sealed_ledger(4);
    let text = serde_json::to_string_pretty(&l).unwrap();
    let key = format!("\"node\": \"{}\"", l[2].node);
    let dup = text.replacen(&key, &format!("\"node\": \"Mallory\",\n    {key}"), 1);
    // The first occurrence of that node name may be an earlier entry's: find where it went.
    let at: Vec<Value> = serde_json::from_str::<Vec<Value>>(&text).unwrap();
    let first = at
        .iter()
        .position(|e| e["node"] == l[2].node.as_str())
        .unwrap();
    let want: Vec<u8> = (0..4)
        .map(|i| match i.cmp(&first) {
            std::cmp::Ordering::Less => 1,
            std::cmp::Ordering::Equal => 2,
            std::cmp::Ordering::Greater => 3,
        })
        .collect();

    let r = json(&verify_ledger(&dup));
    assert_eq!(r["first_bad"], first);
    let reason = r["entries"][first]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the entry does not parse: duplicate field `node`"),
        "{reason}"
    );
    let mut v = LedgerVerifier::new();
    let b = v.verify_page(dup.as_bytes(), 0.0).unwrap();
    assert_eq!(
        js_sys::Uint8Array::new(&field(&b, "statuses")).to_vec(),
        want
    );
    let mut s = LedgerVerifier::new();
    let mut got = Vec::new();
    for chunk in dup.as_bytes().chunks(5) {
        got.extend(js_sys::Uint8Array::new(&field(&s.push_bytes(chunk), "statuses")).to_vec());
    }
    assert_eq!(s.finish(), None);
    assert_eq!(got, want);
}
