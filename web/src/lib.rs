//! pow-core for the browser: the dashboard's WebAssembly module.
//!
//! A thin layer of `wasm-bindgen` exports over [`pow_core`], so the page checks hashes, ledger
//! entries and whole ledgers with the same code as the nodes, and mines in the browser.
//!
//! # Layout
//! - [`check`]: the checks as plain Rust returning JSON values (tested natively and in wasm).
//! - this file: the JS-facing exports — [`hash_hex`], [`verify_entry`], [`verify_ledger`],
//!   [`meets_difficulty`], [`leading_zero_bits`] and the cancellable [`Miner`].
//!
//! The generated glue and `.wasm` live in `web/pkg/` (see `web/build.sh`).

pub mod check;

use pow_core::engine::Kernel;
use pow_core::{Difficulty, Hash32, Prepared, Solution};
use wasm_bindgen::prelude::*;

/// Parses a JSON document produced by [`check`] into a JS value.
fn to_js(value: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).expect("serde_json writes valid JSON")
}

/// The JSON text of `value`: a string is taken as JSON text, anything else is stringified.
fn json_text(value: &JsValue) -> Result<String, JsError> {
    if let Some(s) = value.as_string() {
        return Ok(s);
    }
    js_sys::JSON::stringify(value)
        .map(String::from)
        .map_err(|_| JsError::new("the value cannot be written as JSON"))
}

/// `SHA-256(data ‖ decimal(nonce))` as 64 hex digits.
#[wasm_bindgen(js_name = hashHex)]
pub fn hash_hex(data: &str, nonce: u64) -> String {
    pow_core::puzzle::hash(data.as_bytes(), nonce).to_string()
}

/// Checks one ledger entry on its own (a JSON object or its JSON text):
/// `{ok, reason, entry_hash}`; `reason` says why when `ok` is false.
#[wasm_bindgen(js_name = verifyEntry)]
pub fn verify_entry(entry: JsValue) -> Result<JsValue, JsError> {
    Ok(to_js(&check::entry(&json_text(&entry)?)))
}

/// Checks a whole `ledger.json` text entry by entry; see [`check::ledger`] for the result.
#[wasm_bindgen(js_name = verifyLedger)]
pub fn verify_ledger(text: &str) -> JsValue {
    to_js(&check::ledger(text))
}

/// Whether `hash_hex` has `difficulty_bytes` leading zero bytes.
#[wasm_bindgen(js_name = meetsDifficulty)]
pub fn meets_difficulty(hash_hex: &str, difficulty_bytes: u32) -> Result<bool, JsError> {
    let hash: Hash32 = hash_hex
        .parse()
        .map_err(|e| JsError::new(&format!("{e}")))?;
    let d = Difficulty::from_zero_bytes(u64::from(difficulty_bytes))
        .map_err(|e| JsError::new(&format!("{e}")))?;
    Ok(d.is_met_by(&hash.0))
}

/// The number of leading zero bits of `hash_hex`.
#[wasm_bindgen(js_name = leadingZeroBits)]
pub fn leading_zero_bits(hash_hex: &str) -> Result<u32, JsError> {
    let hash: Hash32 = hash_hex
        .parse()
        .map_err(|e| JsError::new(&format!("{e}")))?;
    Ok(hash.leading_zero_bits())
}

/// The name of the kernel the browser mines with.
#[wasm_bindgen(js_name = kernelName)]
pub fn kernel_name() -> String {
    Kernel::Portable.name().into()
}

/// A search the page drives in slices: each [`Miner::step`] hashes at most `budget` nonces, in
/// increasing order from 0, so the first solution found is the smallest. Cancelling is simply
/// not calling `step` again.
#[wasm_bindgen]
pub struct Miner {
    prepared: Prepared,
    next: u64,
    hashes: u64,
    found: Option<Solution>,
    exhausted: bool,
}

#[wasm_bindgen]
impl Miner {
    /// A search for `data` at `difficulty_bytes` leading zero bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(data: &str, difficulty_bytes: u32) -> Result<Miner, JsError> {
        let d = Difficulty::from_zero_bytes(u64::from(difficulty_bytes))
            .map_err(|e| JsError::new(&format!("{e}")))?;
        Ok(Self::with_difficulty(data, d))
    }

    /// A search at `bits` leading zero bits (finer steps than bytes).
    #[wasm_bindgen(js_name = withZeroBits)]
    pub fn with_zero_bits(data: &str, bits: u32) -> Result<Miner, JsError> {
        let d = Difficulty::from_zero_bits(u64::from(bits))
            .map_err(|e| JsError::new(&format!("{e}")))?;
        Ok(Self::with_difficulty(data, d))
    }

    /// Hashes up to `budget` more nonces; returns the solution's nonce once found (and on every
    /// later call).
    pub fn step(&mut self, budget: u32) -> Option<u64> {
        if let Some(s) = self.found {
            return Some(s.nonce);
        }
        if self.exhausted {
            return None;
        }
        let end = self.next.saturating_add(u64::from(budget.max(1)));
        let scan = Kernel::Portable.scan(&self.prepared, self.next, end);
        self.hashes += scan.hashed;
        self.found = scan.found;
        self.exhausted = end == u64::MAX;
        self.next = end;
        self.found.map(|s| s.nonce)
    }

    /// Nonces hashed so far.
    #[wasm_bindgen(getter)]
    pub fn hashes(&self) -> f64 {
        self.hashes as f64
    }

    /// The next nonce to try (the search's progress).
    #[wasm_bindgen(getter, js_name = nextNonce)]
    pub fn next_nonce(&self) -> f64 {
        self.next as f64
    }

    /// The solution's hash in hex, once found.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Option<String> {
        self.found.map(|s| s.hash.to_string())
    }

    /// Whether the search is over (found, or out of nonces).
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.found.is_some() || self.exhausted
    }
}

impl Miner {
    fn with_difficulty(data: &str, d: Difficulty) -> Self {
        Self {
            prepared: Prepared::new(data.as_bytes(), d),
            next: 0,
            hashes: 0,
            found: None,
            exhausted: false,
        }
    }
}
