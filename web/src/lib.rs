//! pow-core for the browser: the dashboard's WebAssembly module.
//!
//! A thin layer of `wasm-bindgen` exports over [`pow_core`], so the page checks hashes, ledger
//! entries and whole ledgers with the same code as the nodes, mines in the browser, and computes
//! the experiment's figures with the code of `node-server report`.
//!
//! # Layout
//! - [`check`]: the checks as plain Rust returning JSON values (tested natively and in wasm).
//! - [`figures`]: [`pow_core::stats`] behind JSON in and out, for the experiment's panel.
//! - this file: the JS-facing exports — [`hash_hex`], [`verify_entry`], [`verify_ledger`] (a
//!   whole file), [`verify_page`] (one page of `GET /ledger?from=&limit=`), the
//!   [`LedgerVerifier`] that walks a long ledger page by page or a file as a byte stream,
//!   [`own_page`] (a page's entries checked on their own, for helper workers),
//!   [`meets_difficulty`], [`leading_zero_bits`] and the cancellable [`Miner`]; the figures
//!   [`fairness`], [`race_times`], [`observed_histogram`], [`goodness_of_fit`],
//!   [`wilson_interval`], [`arrival_order`], [`wasted_work`], [`expected_wasted_share`] and the
//!   level [`stats_alpha`].
//!
//! The generated glue and `.wasm` live in `web/pkg/` (see `web/build.sh`).

pub mod check;
pub mod figures;

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

/// Checks one page of a ledger on its own: `text` is a JSON array of the entries from
/// `first_index` on (as `GET /ledger?from=&limit=` serves them), `prev_hash` the `entry_hash` of
/// the entry before (64 zeros for index 0). Returns what [`verify_ledger`] does for these
/// entries plus `first_index`, `next_index` and `head` (the new head, when the page holds), to
/// check the next page against. A transaction repeated from an earlier page is caught by a
/// [`LedgerVerifier`] that saw it, not here.
#[wasm_bindgen(js_name = verifyPage)]
pub fn verify_page(text: &str, first_index: f64, prev_hash: &str) -> Result<JsValue, JsError> {
    let prev: Hash32 = prev_hash
        .parse()
        .map_err(|e| JsError::new(&format!("prev_hash: {e}")))?;
    Ok(to_js(&check::page(text, index_from_js(first_index)?, prev)))
}

/// Checks every entry of a page on its own, without the chain — the part of the work that
/// workers can share page by page; a [`LedgerVerifier`] then places them in order
/// ([`LedgerVerifier::place_own_page`]). Returns `{count, records: Uint8Array (105 bytes per
/// entry), reasons: [[entry within the page, reason], …], error}`.
#[wasm_bindgen(js_name = ownPage)]
pub fn own_page(page: &[u8]) -> JsValue {
    let own = check::own_page(page);
    let o = js_sys::Object::new();
    let set = |k: &str, v: &JsValue| {
        js_sys::Reflect::set(&o, &JsValue::from_str(k), v).expect("a plain object");
    };
    set("count", &JsValue::from_f64(own.len() as f64));
    set(
        "records",
        &js_sys::Uint8Array::from(&own.records[..]).into(),
    );
    let reasons = js_sys::Array::new();
    for (k, why) in &own.reasons {
        reasons.push(&js_sys::Array::of2(
            &JsValue::from_f64(f64::from(*k)),
            &JsValue::from_str(why),
        ));
    }
    set("reasons", &reasons.into());
    set(
        "error",
        &own.error
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
    );
    o.into()
}

/// A whole number from JavaScript as an index.
fn index_from_js(x: f64) -> Result<u64, JsError> {
    if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_INTEGER {
        Ok(x as u64)
    } else {
        Err(JsError::new(&format!("{x} is not an entry index")))
    }
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A long ledger checked from entry 0 in pieces, keeping only its place between them: the next
/// index, the last `entry_hash` and the transactions seen (to catch one recorded twice, however
/// far apart). Feed it pages in order ([`LedgerVerifier::verify_page`]) or a file's bytes in
/// chunks of any size ([`LedgerVerifier::push_bytes`], then [`LedgerVerifier::finish`]); each
/// call returns a compact batch:
/// `{from, count, statuses: Uint8Array (1 ok, 2 bad, 3 after the break), reasons: [[position,
/// reason], …] (bad entries only), error, nextIndex, head, firstBad}` and, for bytes,
/// `starts: Float64Array` and `lengths: Float64Array`, each entry's place in the file.
#[wasm_bindgen]
pub struct LedgerVerifier {
    chain: check::Chain,
    splitter: check::Splitter,
}

impl Default for LedgerVerifier {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl LedgerVerifier {
    /// A verifier at entry 0.
    #[wasm_bindgen(constructor)]
    pub fn new() -> LedgerVerifier {
        Self {
            chain: check::Chain::new(),
            splitter: check::Splitter::new(),
        }
    }

    /// Makes room for the transactions of a ledger of about `entries` entries in all, so that a
    /// ledger of known length takes the memory it needs (~40 bytes an entry) and no more.
    pub fn reserve(&mut self, entries: f64) {
        if entries.is_finite() && entries > 0.0 {
            self.chain.reserve(entries as u64);
        }
    }

    /// Checks the next page (the bytes of a JSON array of entries), which must start at
    /// `first_index`, the verifier's next index.
    #[wasm_bindgen(js_name = verifyPage)]
    pub fn verify_page(&mut self, page: &[u8], first_index: f64) -> Result<JsValue, JsError> {
        let first = index_from_js(first_index)?;
        if first != self.chain.next_index() {
            return Err(JsError::new(&format!(
                "the page starts at entry {first}, but the verifier is at entry {}",
                self.chain.next_index()
            )));
        }
        let batch = self.chain.page(page);
        Ok(self.batch_to_js(&batch))
    }

    /// Places the next page's entries, checked on their own elsewhere by [`own_page`] (its
    /// `records` and `reasons`); the page must start at `first_index`, the verifier's next index.
    /// Together they give what [`LedgerVerifier::verify_page`] gives for the page.
    #[wasm_bindgen(js_name = placeOwnPage)]
    pub fn place_own_page(
        &mut self,
        records: &[u8],
        reasons: &js_sys::Array,
        first_index: f64,
    ) -> Result<JsValue, JsError> {
        let first = index_from_js(first_index)?;
        if first != self.chain.next_index() {
            return Err(JsError::new(&format!(
                "the page starts at entry {first}, but the verifier is at entry {}",
                self.chain.next_index()
            )));
        }
        let mut page = check::OwnPage {
            records: records.to_vec(),
            ..check::OwnPage::default()
        };
        for r in reasons.iter() {
            let r = js_sys::Array::from(&r);
            let at = r.get(0).as_f64().filter(|k| k.fract() == 0.0 && *k >= 0.0);
            match (at, r.get(1).as_string()) {
                (Some(k), Some(why)) => page.reasons.push((k as u32, why)),
                _ => return Err(JsError::new("a reason is [entry within the page, text]")),
            }
        }
        let batch = self.chain.push_own_page(&page);
        Ok(self.batch_to_js(&batch))
    }

    /// Checks the entries completed by the next chunk of a ledger file.
    #[wasm_bindgen(js_name = pushBytes)]
    pub fn push_bytes(&mut self, chunk: &[u8]) -> JsValue {
        let batch = self.chain.push_bytes(&mut self.splitter, chunk);
        self.batch_to_js(&batch)
    }

    /// Ends a file: an error when it stopped before the array's closing `]`.
    pub fn finish(&mut self) -> Option<String> {
        self.splitter.finish().err()
    }

    /// The index the next entry must have (the number of entries checked).
    #[wasm_bindgen(getter, js_name = nextIndex)]
    pub fn next_index(&self) -> f64 {
        self.chain.next_index() as f64
    }

    /// The last `entry_hash` while the chain holds (64 zeros before any entry), else undefined.
    #[wasm_bindgen(getter)]
    pub fn head(&self) -> Option<String> {
        self.chain.head().map(|h| h.to_string())
    }

    /// The position of the first bad entry, if any.
    #[wasm_bindgen(getter, js_name = firstBad)]
    pub fn first_bad(&self) -> Option<f64> {
        self.chain.first_bad().map(|p| p as f64)
    }

    /// Bytes of the file read so far.
    #[wasm_bindgen(getter, js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.splitter.offset() as f64
    }

    fn batch_to_js(&self, b: &check::Batch) -> JsValue {
        let o = js_sys::Object::new();
        let set = |k: &str, v: &JsValue| {
            js_sys::Reflect::set(&o, &JsValue::from_str(k), v).expect("a plain object");
        };
        set("from", &JsValue::from_f64(b.from as f64));
        set("count", &JsValue::from_f64(b.statuses.len() as f64));
        set(
            "statuses",
            &js_sys::Uint8Array::from(&b.statuses[..]).into(),
        );
        let reasons = js_sys::Array::new();
        for (position, reason) in &b.reasons {
            reasons.push(&js_sys::Array::of2(
                &JsValue::from_f64(*position as f64),
                &JsValue::from_str(reason),
            ));
        }
        set("reasons", &reasons.into());
        if !b.spans.is_empty() {
            let starts: Vec<f64> = b.spans.iter().map(|s| s.0 as f64).collect();
            let lengths: Vec<f64> = b.spans.iter().map(|s| s.1 as f64).collect();
            set("starts", &js_sys::Float64Array::from(&starts[..]).into());
            set("lengths", &js_sys::Float64Array::from(&lengths[..]).into());
        }
        set(
            "error",
            &b.error.as_deref().map_or(JsValue::NULL, JsValue::from_str),
        );
        set("nextIndex", &JsValue::from_f64(self.next_index()));
        set("head", &self.head().map_or(JsValue::NULL, |h| h.into()));
        set(
            "firstBad",
            &self.first_bad().map_or(JsValue::NULL, JsValue::from_f64),
        );
        o.into()
    }
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

// ---------------------------------------------------------------------------------------------
// The experiment's figures: each takes a JSON object (or its text) and returns the figure in
// `node-server report --json`'s shape, or throws the reason it cannot be computed.

/// A figure's JSON as a JS value, or its reason as an exception.
fn figure(value: Result<serde_json::Value, String>) -> Result<JsValue, JsError> {
    value.map(|v| to_js(&v)).map_err(|e| JsError::new(&e))
}

/// The significance level of the experiment's tests, `report`'s: [`pow_core::stats::ALPHA`].
#[wasm_bindgen(js_name = statsAlpha)]
pub fn stats_alpha() -> f64 {
    pow_core::stats::ALPHA
}

/// Win share against hash share: `{nodes: [{name, wins, races, hashes, mining_secs}], alpha?}`;
/// see [`figures::fairness`].
#[wasm_bindgen]
pub fn fairness(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::fairness(&json_text(&input)?))
}

/// Race times against the exponential law: `{races: [{time_secs, difficulty_bits}],
/// total_hash_rate, alpha?}`; see [`figures::race_times`].
#[wasm_bindgen(js_name = raceTimes)]
pub fn race_times(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::race_times(&json_text(&input)?))
}

/// Race times (`[seconds, …]`) in the report's bins, with no law to predict them.
#[wasm_bindgen(js_name = observedHistogram)]
pub fn observed_histogram(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::observed_histogram(&json_text(&input)?))
}

/// Counts against probabilities: `{observed, probs, alpha?}`; see [`figures::goodness_of_fit`].
#[wasm_bindgen(js_name = goodnessOfFit)]
pub fn goodness_of_fit(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::goodness_of_fit(&json_text(&input)?))
}

/// Win share by arrival rank: `{winner_ranks, nodes, alpha?}`; see [`figures::arrival_order`].
#[wasm_bindgen(js_name = arrivalOrder)]
pub fn arrival_order(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::arrival_order(&json_text(&input)?))
}

/// The losers' hashes: `[{winner_hashes, loser_hashes}, …]`; see [`figures::wasted_work`].
#[wasm_bindgen(js_name = wastedWork)]
pub fn wasted_work(input: JsValue) -> Result<JsValue, JsError> {
    figure(figures::wasted_work(&json_text(&input)?))
}

/// What a fair lottery whose losers stop at once wastes, from the hash shares: 1 − Σ share².
#[wasm_bindgen(js_name = expectedWastedShare)]
pub fn expected_wasted_share(shares: JsValue) -> Result<f64, JsError> {
    figures::expected_wasted_share(&json_text(&shares)?).map_err(|e| JsError::new(&e))
}

/// The 95% Wilson interval `{lo, hi}` of `successes` out of `trials`, or `null` without trials.
#[wasm_bindgen(js_name = wilsonInterval)]
pub fn wilson_interval(successes: f64, trials: f64) -> Result<JsValue, JsError> {
    let count = |x: f64| {
        index_from_js(x).map_err(|_| JsError::new(&format!("{x} is not a number of races")))
    };
    Ok(to_js(&figures::wilson_interval(
        count(successes)?,
        count(trials)?,
    )))
}
