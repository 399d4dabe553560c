//! Ledger checks as plain Rust, returning what the page renders.
//!
//! [`Chain`] is the one rule book: it takes a ledger's entries in order, one at a time, and gives
//! each its status. Entries before the first bad one are [`Status::Ok`]; the first bad one carries
//! [`verify_chain`](pow_core::chain::verify_chain)'s exact reason; each entry after it gets its
//! own check against the entry recorded before it — [`Status::Bad`] with its reason, or
//! [`Status::AfterBreak`] when it holds on its own but follows a broken entry and so is not
//! trusted. Because it keeps its place (next index, previous `entry_hash`, the transactions seen),
//! a ledger can be fed to it whole ([`ledger`]), a page at a time ([`Chain::page`]) or as a byte
//! stream cut anywhere ([`Splitter`], [`Chain::push_bytes`]) with the same result. The part of
//! the work that needs no neighbour — an entry checked on its own ([`Own`]) — can also be done
//! apart, a page at a time and in parallel ([`own_page`]), and placed in order afterwards
//! ([`Chain::push_own_page`]): the same rules, in the same order, from the same code.
//!
//! Entries are parsed straight into [`Entry`] (serde derive, unknown fields refused), never
//! through `serde_json::Value`, so a key given twice (`"node":"Mallory","node":"Node3"`) is an
//! error: a reader that keeps the first value and one that keeps the last would see different
//! winners.

use std::collections::BTreeMap;

use pow_core::chain::{ChainCheck, Entry, EntryError};
use pow_core::Hash32;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// The status of an entry that holds and follows an intact chain.
pub const OK: &str = "ok";
/// The status of an entry that does not hold.
pub const BAD: &str = "bad";
/// The status of an entry that holds on its own but comes after a bad one.
pub const AFTER_BREAK: &str = "after_break";

/// The longest entry a stream keeps in memory to parse (the node refuses transactions over
/// 64 KiB, which JSON escaping can grow sixfold); a longer one is reported bad and skipped.
pub const MAX_ENTRY_BYTES: usize = 4 << 20;

/// When the recent transaction ids outnumber `1 / TX_MERGE_RATIO` of the sorted ones (and at
/// least [`TX_MERGE_MIN`]), they are merged in: memory stays ~40 bytes per transaction.
const TX_MERGE_RATIO: usize = 8;
/// See [`TX_MERGE_RATIO`].
const TX_MERGE_MIN: usize = 4096;

/// An entry's status; `code()` is what the page keeps per entry (0 means "not checked yet").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Holds, and so does the chain up to it.
    Ok,
    /// Does not hold.
    Bad,
    /// Holds on its own, but follows a bad entry.
    AfterBreak,
}

impl Status {
    /// The name the page uses (`ok`, `bad`, `after_break`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => OK,
            Status::Bad => BAD,
            Status::AfterBreak => AFTER_BREAK,
        }
    }

    /// The compact code: 1 ok, 2 bad, 3 after the break.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 1,
            Status::Bad => 2,
            Status::AfterBreak => 3,
        }
    }
}

/// One entry's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Its status.
    pub status: Status,
    /// Why, when it is not [`Status::Ok`].
    pub reason: String,
}

/// Checks one entry's JSON text on its own: `{ok, reason, entry_hash}`.
pub fn entry(text: &str) -> Value {
    match parse_entry(text.as_bytes()) {
        Err(reason) => json!({"ok": false, "reason": reason}),
        Ok(entry) => {
            let computed = entry.compute_hash().to_string();
            match entry.verify() {
                Ok(()) => json!({"ok": true, "reason": "", "entry_hash": computed}),
                Err(e) => json!({"ok": false, "reason": e.to_string(), "entry_hash": computed}),
            }
        }
    }
}

/// One entry's JSON straight into pow-core's [`Entry`] (serde derive, unknown fields refused):
/// a duplicate key is an error, where `serde_json::Value` would keep the last one.
fn parse_entry(raw: &[u8]) -> Result<Entry, String> {
    serde_json::from_slice::<Entry>(raw).map_err(|e| format!("the entry does not parse: {e}"))
}

/// A transaction id as four big-endian words: ordered as its bytes, compared a word at a time.
type TxKey = [u64; 4];

fn tx_key(id: &Hash32) -> TxKey {
    let w = |k: usize| u64::from_be_bytes(id.0[8 * k..8 * k + 8].try_into().expect("8 bytes"));
    [w(0), w(1), w(2), w(3)]
}

/// The transaction ids seen so far, with the index of their first entry: a sorted vector plus a
/// small map of recent ones, merged now and then (a million ids take ~40 MB, not a hash table's
/// ~90 MB, and a lookup is a binary search whatever ids a crafted ledger holds).
#[derive(Default)]
struct TxIds {
    sorted: Vec<(TxKey, u64)>,
    recent: BTreeMap<TxKey, u64>,
}

impl TxIds {
    fn get(&self, id: &Hash32) -> Option<u64> {
        let key = tx_key(id);
        if let Some(&i) = self.recent.get(&key) {
            return Some(i);
        }
        self.sorted
            .binary_search_by(|(k, _)| k.cmp(&key))
            .ok()
            .map(|at| self.sorted[at].1)
    }

    /// Records `id` at `index` unless it is already known (the first entry keeps it).
    fn insert_first(&mut self, id: &Hash32, index: u64) {
        if self.get(id).is_some() {
            return;
        }
        self.recent.insert(tx_key(id), index);
        if self.recent.len() > TX_MERGE_MIN.max(self.sorted.len() / TX_MERGE_RATIO) {
            self.merge();
        }
    }

    /// Merges the recent ids into the sorted vector in place, from the back: no second copy of
    /// the vector (a sort would borrow half of it as scratch).
    fn merge(&mut self) {
        let recent: Vec<(TxKey, u64)> = std::mem::take(&mut self.recent).into_iter().collect();
        let (mut i, mut j) = (self.sorted.len(), recent.len());
        self.sorted.resize(i + j, ([0; 4], 0));
        let mut w = i + j;
        while j > 0 {
            w -= 1;
            // Keys are distinct: only absent ones are inserted.
            if i > 0 && self.sorted[i - 1].0 > recent[j - 1].0 {
                i -= 1;
                self.sorted[w] = self.sorted[i];
            } else {
                j -= 1;
                self.sorted[w] = recent[j];
            }
        }
    }

    /// Makes room for `n` ids in all, so a ledger of known length grows the vector once.
    fn reserve(&mut self, n: usize) {
        self.sorted
            .reserve_exact(n.saturating_sub(self.sorted.len() + self.recent.len()));
    }
}

/// A ledger checked entry by entry, in order; see the module documentation for the rules.
pub struct Chain {
    /// The position the next entry must have.
    next: u64,
    /// The recorded `entry_hash` of the entry before `next` (zeros before the first); `None`
    /// when that entry did not parse, so there is nothing to link to.
    prev: Option<Hash32>,
    /// pow-core's rules between entries (index, link, a retargeted entry's difficulty from the
    /// window before it), the node's own code, for a chain checked from entry 0 while it holds.
    /// After the first bad entry, or for a chain resumed mid-way (which has not seen the window
    /// before it), the index and the link to the recorded entry before are checked alone.
    rules: Option<ChainCheck>,
    first_bad: Option<u64>,
    seen: TxIds,
    counts: [u64; 3],
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A chain that starts at entry 0.
    pub fn new() -> Self {
        Self {
            rules: Some(ChainCheck::new()),
            ..Self::resume(0, Hash32::ZERO)
        }
    }

    /// A chain that continues after `next - 1` entries whose last `entry_hash` is `prev` (zeros
    /// when `next` is 0), taken as intact. It has not seen the entries before, so it cannot tell
    /// that a later transaction repeats one of theirs, nor check a retargeted difficulty that
    /// depends on them; a [`Chain`] fed from entry 0 does both.
    pub fn resume(next: u64, prev: Hash32) -> Self {
        Self {
            next,
            prev: Some(prev),
            rules: None,
            first_bad: None,
            seen: TxIds::default(),
            counts: [0; 3],
        }
    }

    /// The index the next entry must have (the number of entries checked, from 0).
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// The last `entry_hash` while the chain holds (zeros for an empty ledger), else `None`.
    pub fn head(&self) -> Option<Hash32> {
        self.prev.filter(|_| self.first_bad.is_none())
    }

    /// The position of the first bad entry, if any.
    pub fn first_bad(&self) -> Option<u64> {
        self.first_bad
    }

    /// Makes room to remember the transactions of a ledger of `n` entries in all (an estimate:
    /// more still fit), so memory holds what they need and no more.
    pub fn reserve(&mut self, n: u64) {
        self.seen.reserve(usize::try_from(n).unwrap_or(usize::MAX));
    }

    /// How many entries are ok, bad and after the break.
    pub fn counts(&self) -> [u64; 3] {
        self.counts
    }

    /// Checks the next entry, given as its JSON text.
    pub fn push(&mut self, raw: &[u8]) -> Verdict {
        self.push_own(Own::check(raw))
    }

    /// Checks the next entry, already parsed (or the reason it does not parse); returns the
    /// verdict and the entry back.
    pub fn push_parsed(&mut self, parsed: Result<Entry, String>) -> (Verdict, Option<Entry>) {
        let own = Own::of(&parsed);
        (self.push_own(own), parsed.ok())
    }

    /// Places the next entry, whose own check ([`Own::check`]) may have run elsewhere.
    pub fn push_own(&mut self, own: Own) -> Verdict {
        let position = self.next;
        let holds = match &own.key {
            None => own.holds,
            Some(key) => self.check(key, position, own.holds),
        };
        let (status, reason) = match (holds, self.first_bad) {
            (Ok(()), None) => (Status::Ok, String::new()),
            (Ok(()), Some(bad)) => (
                Status::AfterBreak,
                format!("holds on its own, but follows the bad entry {bad}"),
            ),
            (Err(reason), first_bad) => {
                self.first_bad = first_bad.or(Some(position));
                // pow-core's rules stop at the first bad entry; the rest is checked locally.
                self.rules = None;
                (Status::Bad, reason)
            }
        };
        if let Some(key) = &own.key {
            self.seen.insert_first(&key.tx_id, key.index);
        }
        self.prev = own.key.map(|k| k.entry_hash);
        self.next += 1;
        self.counts[usize::from(status.code() - 1)] += 1;
        Verdict { status, reason }
    }

    /// The rules of `verify_chain`, for one entry against what came before it, in its order:
    /// the index, the link and a retargeted difficulty (pow-core's [`ChainCheck`]), the entry
    /// on its own (`own`), then a repeated transaction.
    fn check(&mut self, key: &Key, position: u64, own: Result<(), String>) -> Result<(), String> {
        if let Some(rules) = &mut self.rules {
            rules.link(&key.skeleton()).map_err(|e| e.to_string())?;
            own?;
            return self.unseen(key);
        }
        if key.index != position {
            return Err(EntryError::IndexMismatch {
                expected: position,
                found: key.index,
            }
            .to_string());
        }
        if let Some(expected) = self.prev.filter(|h| *h != key.prev_hash) {
            return Err(EntryError::BrokenLink {
                expected,
                found: key.prev_hash,
            }
            .to_string());
        }
        own?;
        self.unseen(key)
    }

    /// Refuses a transaction already recorded.
    fn unseen(&self, key: &Key) -> Result<(), String> {
        match self.seen.get(&key.tx_id) {
            Some(first_index) => Err(EntryError::DuplicateTransaction { first_index }.to_string()),
            None => Ok(()),
        }
    }

    /// Places the entries of a page whose own checks ran elsewhere ([`own_page`]), from the
    /// records and reasons [`OwnPage`] carries.
    pub fn push_own_page(&mut self, page: &OwnPage) -> Batch {
        let mut batch = Batch::starting_at(self.next);
        match page.owns() {
            Ok(owns) => {
                for own in owns {
                    let v = self.push_own(own);
                    batch.add(v);
                }
            }
            Err(e) => batch.error = Some(e),
        }
        batch
    }

    /// Checks a page: a JSON array of the entries that come next, as `GET /ledger?from=&limit=`
    /// serves them. A page that is not a JSON array checks nothing and says why.
    pub fn page(&mut self, text: &[u8]) -> Batch {
        let mut batch = Batch::starting_at(self.next);
        match elements(text, "page") {
            Err(error) => batch.error = Some(error),
            Ok(raws) => {
                for raw in raws {
                    let v = self.push(raw.get().as_bytes());
                    batch.add(v);
                }
            }
        }
        batch
    }

    /// Checks the entries completed by the next `chunk` of a ledger file read as a stream;
    /// [`Splitter`] finds where each one starts and ends. Call [`Splitter::finish`] at the end.
    pub fn push_bytes(&mut self, splitter: &mut Splitter, chunk: &[u8]) -> Batch {
        let mut batch = Batch::starting_at(self.next);
        let result = splitter.feed(chunk, |piece| {
            let v = match piece.bytes {
                Some(raw) => self.push(raw),
                None => {
                    let reason = format!(
                        "the entry is {} bytes long, more than the {MAX_ENTRY_BYTES} bytes an entry may have",
                        piece.len
                    );
                    self.push_parsed(Err(reason)).0
                }
            };
            batch.add(v);
            batch.spans.push((piece.start, piece.len));
        });
        if let Err(e) = result {
            batch.error = Some(e);
        }
        batch
    }
}

/// What the chain needs of an entry to place it: its place, and the figures retargeting
/// reads (its race time and difficulty).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Key {
    /// Its recorded index.
    pub index: u64,
    /// Its `tx_id`.
    pub tx_id: Hash32,
    /// Its `prev_hash`.
    pub prev_hash: Hash32,
    /// Its `entry_hash`.
    pub entry_hash: Hash32,
    /// Its `time_taken`.
    pub time_taken: f64,
    /// Its `difficulty` (zero bytes).
    pub difficulty: u32,
    /// Its `difficulty_bits`.
    pub difficulty_bits: Option<u32>,
    /// Its `target_time_us`.
    pub target_time_us: Option<u64>,
}

impl Key {
    fn of(e: &Entry) -> Key {
        Key {
            index: e.index,
            tx_id: e.tx_id,
            prev_hash: e.prev_hash,
            entry_hash: e.entry_hash,
            time_taken: e.time_taken,
            difficulty: e.difficulty,
            difficulty_bits: e.difficulty_bits,
            target_time_us: e.target_time_us,
        }
    }

    /// An entry with these fields and no others: all [`ChainCheck::link`] reads.
    fn skeleton(&self) -> Entry {
        Entry {
            index: self.index,
            tx_id: self.tx_id,
            prev_hash: self.prev_hash,
            entry_hash: self.entry_hash,
            time_taken: self.time_taken,
            difficulty: self.difficulty,
            difficulty_bits: self.difficulty_bits,
            target_time_us: self.target_time_us,
            ..Entry::default()
        }
    }
}

/// An entry checked on its own — parsed, its proof of work, `tx_id`, times and `entry_hash` —
/// which needs nothing of the entries around it and so may run in parallel with other pages;
/// [`Chain::push_own`] then places it (index, link, repeated transaction).
#[derive(Clone, Debug, PartialEq)]
pub struct Own {
    /// `None` when the entry does not parse.
    pub key: Option<Key>,
    /// Whether it holds on its own, or why not (including why it does not parse).
    pub holds: Result<(), String>,
}

impl Own {
    /// Parses and checks one entry's JSON text.
    pub fn check(raw: &[u8]) -> Own {
        Self::of(&parse_entry(raw))
    }

    fn of(parsed: &Result<Entry, String>) -> Own {
        match parsed {
            Err(reason) => Own {
                key: None,
                holds: Err(reason.clone()),
            },
            Ok(e) => Own {
                key: Some(Key::of(e)),
                holds: e.verify().map_err(|r| r.to_string()),
            },
        }
    }
}

/// Bytes per entry in [`OwnPage::records`]: flags (1: parsed, 2: has `difficulty_bits`, 4: has
/// `target_time_us`), then big-endian the index, `tx_id`, `prev_hash`, `entry_hash`, the bits of
/// `time_taken`, `difficulty`, `difficulty_bits`, `target_time_us` (zero when absent).
pub const OWN_RECORD: usize = 1 + 8 + 32 * 3 + 8 + 4 + 4 + 8;

const PARSED: u8 = 1;
const HAS_BITS: u8 = 2;
const HAS_TARGET: u8 = 4;

impl Key {
    fn write(&self, out: &mut Vec<u8>) {
        let flags = PARSED
            | if self.difficulty_bits.is_some() {
                HAS_BITS
            } else {
                0
            }
            | if self.target_time_us.is_some() {
                HAS_TARGET
            } else {
                0
            };
        out.push(flags);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.tx_id.0);
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.entry_hash.0);
        out.extend_from_slice(&self.time_taken.to_bits().to_be_bytes());
        out.extend_from_slice(&self.difficulty.to_be_bytes());
        out.extend_from_slice(&self.difficulty_bits.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&self.target_time_us.unwrap_or(0).to_be_bytes());
    }

    /// A record written by [`Key::write`]; `None` for an entry that did not parse.
    fn read(r: &[u8]) -> Option<Key> {
        let flags = r[0];
        if flags & PARSED == 0 {
            return None;
        }
        let hash = |at: usize| Hash32(r[at..at + 32].try_into().expect("32 bytes"));
        let u64_at = |at: usize| u64::from_be_bytes(r[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_be_bytes(r[at..at + 4].try_into().expect("4 bytes"));
        Some(Key {
            index: u64_at(1),
            tx_id: hash(9),
            prev_hash: hash(41),
            entry_hash: hash(73),
            time_taken: f64::from_bits(u64_at(105)),
            difficulty: u32_at(113),
            difficulty_bits: (flags & HAS_BITS != 0).then(|| u32_at(117)),
            target_time_us: (flags & HAS_TARGET != 0).then(|| u64_at(121)),
        })
    }
}

/// A page's own checks, flat, to send from the worker that made them to the one that walks
/// the chain.
#[derive(Debug, Default, PartialEq)]
pub struct OwnPage {
    /// [`OWN_RECORD`] bytes per entry.
    pub records: Vec<u8>,
    /// `(entry within the page, reason)` of each entry that does not hold on its own.
    pub reasons: Vec<(u32, String)>,
    /// Why the page is not a JSON array, if it is not.
    pub error: Option<String>,
}

impl OwnPage {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.records.len() / OWN_RECORD
    }

    /// Whether it has no entry.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The entries back, or why the records are not well formed.
    pub fn owns(&self) -> Result<Vec<Own>, String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.records.len().is_multiple_of(OWN_RECORD) {
            return Err(format!(
                "{} bytes of records are not whole records of {OWN_RECORD}",
                self.records.len()
            ));
        }
        let mut reasons = self.reasons.iter().peekable();
        let mut out = Vec::with_capacity(self.len());
        for (k, r) in self.records.chunks_exact(OWN_RECORD).enumerate() {
            let reason = match reasons.peek() {
                Some((at, _)) if *at as usize == k => reasons.next().map(|(_, why)| why.clone()),
                _ => None,
            };
            let key = Key::read(r);
            let holds = match (reason, &key) {
                (Some(why), _) => Err(why),
                (None, Some(_)) => Ok(()),
                (None, None) => {
                    return Err(format!("record {k} has neither an entry nor a reason"))
                }
            };
            out.push(Own { key, holds });
        }
        if let Some((at, _)) = reasons.next() {
            return Err(format!(
                "a reason for entry {at}, past the records or out of order"
            ));
        }
        Ok(out)
    }
}

/// Checks every entry of a page on its own (no chain): the part of the work that pages can
/// share between workers.
pub fn own_page(text: &[u8]) -> OwnPage {
    let mut out = OwnPage::default();
    let raws = match elements(text, "page") {
        Ok(raws) => raws,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    out.records.reserve(raws.len() * OWN_RECORD);
    for (k, raw) in raws.iter().enumerate() {
        let own = Own::check(raw.get().as_bytes());
        match own.key {
            Some(key) => key.write(&mut out.records),
            None => out.records.extend_from_slice(&[0; OWN_RECORD]),
        }
        if let Err(why) = own.holds {
            out.reasons.push((k as u32, why));
        }
    }
    out
}

/// What one call of [`Chain::page`] or [`Chain::push_bytes`] checked, compactly: a status code
/// per entry and a reason for the bad ones only.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// The position of the first entry checked.
    pub from: u64,
    /// [`Status::code`] of each entry checked, in order.
    pub statuses: Vec<u8>,
    /// `(position, reason)` of each [`Status::Bad`] entry.
    pub reasons: Vec<(u64, String)>,
    /// For a stream: `(byte offset, length)` of each entry in the file.
    pub spans: Vec<(u64, u64)>,
    /// Why the input stops being a ledger, if it does.
    pub error: Option<String>,
}

impl Batch {
    fn starting_at(from: u64) -> Self {
        Self {
            from,
            ..Self::default()
        }
    }

    fn add(&mut self, v: Verdict) {
        if v.status == Status::Bad {
            self.reasons
                .push((self.from + self.statuses.len() as u64, v.reason));
        }
        self.statuses.push(v.status.code());
    }
}

/// The elements of a JSON array, each as its own text; `what` names the input in errors.
fn elements<'a>(text: &'a [u8], what: &str) -> Result<Vec<&'a RawValue>, String> {
    serde_json::from_slice::<Vec<&RawValue>>(text).map_err(|e| {
        match serde_json::from_slice::<&RawValue>(text) {
            Ok(_) => "a ledger is a JSON array of entries".to_string(),
            Err(_) => format!("the {what} is not JSON: {e}"),
        }
    })
}

/// The fields the page shows for an entry, from the parsed entry or, when it does not parse,
/// from whatever its JSON holds.
fn summary(raw: &RawValue, parsed: Option<&Entry>, position: u64) -> Value {
    let mut row = match parsed {
        Some(e) => json!({
            "index": e.index,
            "node": e.node,
            "transaction_data": e.transaction_data,
            "nonce": e.nonce,
            "hash": e.hash.to_string(),
            "difficulty": e.difficulty,
            "time_taken": e.time_taken,
            "start_time": e.start_time,
            "end_time": e.end_time,
            "entry_hash": e.entry_hash.to_string(),
        }),
        None => {
            let lenient: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let field = |k: &str| lenient.get(k).cloned().unwrap_or(Value::Null);
            json!({
                "index": field("index"),
                "node": field("node"),
                "transaction_data": field("transaction_data"),
                "nonce": field("nonce"),
                "hash": field("hash"),
                "difficulty": field("difficulty"),
                "time_taken": field("time_taken"),
                "start_time": field("start_time"),
                "end_time": field("end_time"),
                "entry_hash": field("entry_hash"),
            })
        }
    };
    row["position"] = json!(position);
    row
}

/// Checks `text` (a JSON array of entries) continuing `chain`, and returns
/// `{ok, count, first_index, next_index, head, first_bad, error, entries: [{position, status,
/// ok, reason, …fields}]}`. `ok` and `first_bad` cover these entries only.
fn rows(chain: &mut Chain, text: &str, what: &str) -> Value {
    let first_index = chain.next_index();
    let raws = match elements(text.as_bytes(), what) {
        Ok(raws) => raws,
        Err(error) => {
            return json!({"ok": false, "count": 0, "first_index": first_index,
                "next_index": first_index, "head": null, "first_bad": null, "error": error,
                "entries": []});
        }
    };
    let mut first_bad = None;
    let mut out = Vec::with_capacity(raws.len());
    for raw in raws {
        let position = chain.next_index();
        let (v, parsed) = chain.push_parsed(parse_entry(raw.get().as_bytes()));
        if v.status != Status::Ok && first_bad.is_none() {
            first_bad = Some(position);
        }
        let mut row = summary(raw, parsed.as_ref(), position);
        row["status"] = json!(v.status.name());
        row["ok"] = json!(v.status == Status::Ok);
        row["reason"] = json!(v.reason);
        out.push(row);
    }
    json!({
        "ok": first_bad.is_none(),
        "count": out.len(),
        "first_index": first_index,
        "next_index": chain.next_index(),
        "head": chain.head().filter(|_| first_bad.is_none()).map(|h| h.to_string()),
        "first_bad": first_bad,
        "error": Value::Null,
        "entries": out,
    })
}

/// Checks a whole `ledger.json` text. Returns
/// `{ok, count, head, first_bad, error, entries: [{position, status, ok, reason, …fields}]}`:
/// `head` is the last `entry_hash` when the chain holds, `first_bad` the position of the first
/// bad entry (or null), `error` a reason the text as a whole is refused (not a JSON array).
pub fn ledger(text: &str) -> Value {
    let mut v = rows(&mut Chain::new(), text, "file");
    if let Some(o) = v.as_object_mut() {
        o.remove("first_index");
        o.remove("next_index");
    }
    v
}

/// Checks one page of a ledger on its own: `text` is a JSON array of the entries from
/// `first_index` on, `prev_hash` the `entry_hash` of the entry before it (zeros for index 0).
/// Returns what [`ledger`] does, plus `first_index` and `next_index`; `head` is the new head
/// when the page holds, to check the next page against. A transaction repeated from an earlier
/// page is caught only by a [`Chain`] that saw that page.
pub fn page(text: &str, first_index: u64, prev_hash: Hash32) -> Value {
    rows(&mut Chain::resume(first_index, prev_hash), text, "page")
}

/// Where each entry of a ledger file starts and ends, found while the file streams past in
/// chunks of any size, without parsing the entries: the scanner tracks only strings, escapes
/// and nesting. The array's own punctuation is checked here; each entry is parsed by
/// [`Chain`].
#[derive(Debug)]
pub struct Splitter {
    state: Scan,
    /// Bytes consumed before the current chunk.
    offset: u64,
    /// The current element's bytes from earlier chunks.
    carry: Vec<u8>,
    start: u64,
    len: u64,
    kind: Kind,
    depth: u32,
    in_string: bool,
    escaped: bool,
    entries: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scan {
    /// Before the array's `[`.
    Open,
    /// After `[`: an element or `]`.
    First,
    /// Inside an element.
    Element,
    /// After an element: `,` or `]`.
    After,
    /// After `,`: an element.
    Next,
    /// After `]`: only white space.
    Closed,
    /// Not a ledger; nothing more is read.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `{…}` or `[…]`.
    Nested,
    /// `"…"`.
    Text,
    /// A number, `true`, `false` or `null`.
    Bare,
}

/// One element found by [`Splitter::feed`].
pub struct Piece<'a> {
    /// Its first byte's offset in the file.
    pub start: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Its bytes, or `None` when it is longer than [`MAX_ENTRY_BYTES`].
    pub bytes: Option<&'a [u8]>,
}

impl Default for Splitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Splitter {
    /// A scanner at the start of a file.
    pub fn new() -> Self {
        Self {
            state: Scan::Open,
            offset: 0,
            carry: Vec::new(),
            start: 0,
            len: 0,
            kind: Kind::Bare,
            depth: 0,
            in_string: false,
            escaped: false,
            entries: 0,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads `chunk`, calling `each` for every element it completes, in order. Returns why the
    /// input is not a JSON array, at the first byte that shows it; later calls do nothing.
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(Piece)) -> Result<(), String> {
        if self.state == Scan::Failed {
            return Err("the scan stopped at an earlier error".into());
        }
        // Where the current element starts in this chunk, when it does.
        let mut from: Option<usize> = (self.state == Scan::Element).then_some(0);
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                Scan::Element => {
                    if let Some(end) = self.element_end(chunk, i) {
                        // `end` is one past the element's last byte in this chunk.
                        let s = from.take().unwrap_or(0);
                        self.len += (end - s) as u64;
                        let bytes = if self.len > MAX_ENTRY_BYTES as u64 {
                            None
                        } else if self.carry.is_empty() {
                            Some(&chunk[s..end])
                        } else {
                            self.carry.extend_from_slice(&chunk[s..end]);
                            Some(&self.carry[..])
                        };
                        each(Piece {
                            start: self.start,
                            len: self.len,
                            bytes,
                        });
                        self.carry.clear();
                        self.entries += 1;
                        self.state = Scan::After;
                        i = end;
                        continue;
                    }
                    // The element goes on past this chunk.
                    let s = from.take().unwrap_or(0);
                    self.len += (chunk.len() - s) as u64;
                    if self.len <= MAX_ENTRY_BYTES as u64 {
                        self.carry.extend_from_slice(&chunk[s..]);
                    } else {
                        self.carry = Vec::new();
                    }
                    break;
                }
                _ if matches!(b, b' ' | b'\n' | b'\r' | b'\t') => {}
                Scan::Open if b == b'[' => self.state = Scan::First,
                Scan::First if b == b']' => self.state = Scan::Closed,
                Scan::After if b == b',' => self.state = Scan::Next,
                Scan::After if b == b']' => self.state = Scan::Closed,
                Scan::First | Scan::Next if b != b']' && b != b',' => {
                    self.kind = match b {
                        b'{' | b'[' => Kind::Nested,
                        b'"' => Kind::Text,
                        _ => Kind::Bare,
                    };
                    self.depth = 0;
                    self.in_string = false;
                    self.escaped = false;
                    self.start = self.offset + i as u64;
                    self.len = 0;
                    self.carry.clear();
                    self.state = Scan::Element;
                    from = Some(i);
                    // The first byte is read again by `element_end`.
                    continue;
                }
                _ => {
                    let at = self.offset + i as u64;
                    let last = self.entries.saturating_sub(1);
                    let what = match self.state {
                        Scan::Open => "a ledger is a JSON array of entries".to_string(),
                        Scan::First => "`[` is followed by neither an entry nor `]`".to_string(),
                        Scan::Next => {
                            format!("a `,` after entry {last} is not followed by an entry")
                        }
                        Scan::Closed => "there is more after the array's closing `]`".to_string(),
                        _ => format!("entry {last} is not followed by `,` or `]`"),
                    };
                    self.state = Scan::Failed;
                    self.offset += chunk.len() as u64;
                    return Err(format!(
                        "the file is not a ledger: unexpected {} at byte {at}: {what}",
                        show_byte(b)
                    ));
                }
            }
            i += 1;
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    /// Scans the current element from `chunk[i]` on; returns one past its last byte when it
    /// ends in this chunk.
    fn element_end(&mut self, chunk: &[u8], mut i: usize) -> Option<usize> {
        while i < chunk.len() {
            let b = chunk[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.kind == Kind::Text {
                        return Some(i + 1);
                    }
                }
                i += 1;
                continue;
            }
            match (self.kind, b) {
                (_, b'"') => self.in_string = true,
                (Kind::Nested, b'{' | b'[') => self.depth += 1,
                (Kind::Nested, b'}' | b']') => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                (Kind::Bare, b',' | b']' | b' ' | b'\n' | b'\r' | b'\t') => return Some(i),
                _ => {}
            }
            i += 1;
        }
        None
    }

    /// Says whether the file ended where a ledger may end (after its `]`).
    pub fn finish(&mut self) -> Result<(), String> {
        match self.state {
            Scan::Closed => Ok(()),
            Scan::Failed => Err("the scan stopped at an earlier error".into()),
            Scan::Open => Err("the file is empty: a ledger is a JSON array of entries".into()),
            _ => {
                self.state = Scan::Failed;
                Err(format!(
                    "the file ends before the array is closed, after {} complete entries (truncated?)",
                    self.entries
                ))
            }
        }
    }
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_core::chain::{verify_chain, NewEntry};
    use pow_core::search::solve;
    use pow_core::Difficulty;

    /// A solved entry at difficulty 1, linked onto `prev`.
    fn entry_for(data: &str, prev: Option<&Entry>) -> Entry {
        let sol = solve(data.as_bytes(), Difficulty::from_zero_bytes(1).unwrap())
            .solution
            .unwrap();
        NewEntry {
            node: "Node1".into(),
            transaction_data: data.into(),
            nonce: sol.nonce,
            hash: sol.hash,
            time_taken: 0.001_234_567,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.021050".into(),
            difficulty: 1,
            ..Default::default()
        }
        .chain_onto(prev)
    }

    fn ledger_of(n: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let next = entry_for(&format!("tx {i}"), out.last());
            out.push(next);
        }
        out
    }

    fn statuses(v: &Value) -> Vec<&str> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect()
    }

    /// `(status code, reason)` of every entry, from the whole-text check.
    fn whole(text: &str) -> Vec<(u8, String)> {
        ledger(text)["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let code = match e["status"].as_str().unwrap() {
                    OK => 1,
                    BAD => 2,
                    _ => 3,
                };
                let reason = if code == 2 {
                    e["reason"].as_str().unwrap().to_string()
                } else {
                    String::new()
                };
                (code, reason)
            })
            .collect()
    }

    /// The same, from batches.
    fn from_batches(batches: &[Batch]) -> Vec<(u8, String)> {
        let reasons: BTreeMap<u64, String> =
            batches.iter().flat_map(|b| b.reasons.clone()).collect();
        let mut out = Vec::new();
        for b in batches {
            for (k, &code) in b.statuses.iter().enumerate() {
                let pos = b.from + k as u64;
                out.push((code, reasons.get(&pos).cloned().unwrap_or_default()));
            }
        }
        out
    }

    fn pretty(raw: &[Value]) -> String {
        serde_json::to_string_pretty(&Value::Array(raw.to_vec())).unwrap()
    }

    fn values(l: &[Entry]) -> Vec<Value> {
        l.iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }

    /// Pages of `size` entries, checked by one chain, as the page's background walk does.
    fn by_pages(raw: &[Value], size: usize) -> Vec<Batch> {
        let mut chain = Chain::new();
        raw.chunks(size)
            .map(|p| chain.page(serde_json::to_string(p).unwrap().as_bytes()))
            .collect()
    }

    /// The file streamed in chunks of `size` bytes.
    fn by_stream(text: &[u8], size: usize) -> (Vec<Batch>, Result<(), String>) {
        let mut chain = Chain::new();
        let mut split = Splitter::new();
        let batches: Vec<Batch> = text
            .chunks(size)
            .map(|c| chain.push_bytes(&mut split, c))
            .collect();
        let end = match batches.iter().find_map(|b| b.error.clone()) {
            Some(e) => Err(e),
            None => split.finish(),
        };
        (batches, end)
    }

    #[test]
    fn a_sealed_ledger_is_all_ok() {
        let l = ledger_of(3);
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(v["ok"], true);
        assert_eq!(statuses(&v), [OK, OK, OK]);
        assert_eq!(v["head"], l[2].entry_hash.to_string());
        assert_eq!(v["entries"][1]["node"], "Node1");
        assert_eq!(v["entries"][1]["position"], 1);
    }

    #[test]
    fn a_changed_field_is_reported_exactly_and_later_entries_have_their_own_status() {
        let mut l = ledger_of(4);
        l[1].node = "Node3".into();
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(v["first_bad"], 1);
        assert_eq!(v["head"], Value::Null);
        assert_eq!(statuses(&v), [OK, BAD, AFTER_BREAK, AFTER_BREAK]);
        let want = verify_chain(&l).unwrap_err().reason.to_string();
        assert!(want.starts_with("entry_hash ") && want.ends_with("a field was changed"));
        assert_eq!(v["entries"][1]["reason"], want);
    }

    #[test]
    fn a_resealed_entry_breaks_the_next_link() {
        let mut l = ledger_of(3);
        l[0].node = "Node3".into();
        l[0] = l[0].clone().seal();
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(statuses(&v), [OK, BAD, AFTER_BREAK]);
        assert!(v["entries"][1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("prev_hash "));
    }

    #[test]
    fn an_unparsable_entry_is_bad_and_the_rest_still_checked() {
        let l = ledger_of(3);
        let mut raw = values(&l);
        raw[1]["hash"] = json!("not hex");
        let v = ledger(&Value::Array(raw).to_string());
        assert_eq!(statuses(&v), [OK, BAD, AFTER_BREAK]);
        assert!(v["entries"][1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the entry does not parse"));
        // What the row shows comes from the JSON as it is.
        assert_eq!(v["entries"][1]["hash"], "not hex");
    }

    #[test]
    fn a_duplicate_after_the_break_is_bad() {
        let mut l = ledger_of(3);
        l[0].time_taken = 9.0;
        let dup = entry_for("tx 0", Some(&l[2]));
        l.push(dup);
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(statuses(&v), [BAD, AFTER_BREAK, AFTER_BREAK, BAD]);
        assert_eq!(
            v["entries"][3]["reason"],
            "the transaction is already recorded at index 0"
        );
    }

    /// Issue 8 §7: `"node":"Mallory","node":"Node1"` verifies for a reader that keeps the last
    /// key (serde_json::Value, JavaScript's JSON.parse) but names another winner for one that
    /// keeps the first. Refused, with the key named.
    #[test]
    fn a_duplicate_key_is_refused_with_the_key_named() {
        let l = ledger_of(3);
        let text = serde_json::to_string_pretty(&l).unwrap();
        let needle = "\"node\": \"Node1\"";
        let at = text.match_indices(needle).nth(1).unwrap().0;
        let dup = format!("{}\"node\": \"Mallory\",\n    {}", &text[..at], &text[at..]);
        // A last-key-wins reader sees a valid ledger.
        let lenient: Vec<Entry> = serde_json::from_value(serde_json::from_str(&dup).unwrap())
            .expect("a last-key-wins reader accepts it");
        assert!(verify_chain(&lenient).is_ok());

        let v = ledger(&dup);
        assert_eq!(statuses(&v), [OK, BAD, AFTER_BREAK]);
        let reason = v["entries"][1]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("the entry does not parse: duplicate field `node`"),
            "{reason}"
        );
        assert_eq!(entry(&serde_json::to_string(&l[0]).unwrap())["ok"], true);
        let one = format!(
            "{{\"node\":\"Mallory\",{}",
            &serde_json::to_string(&l[0]).unwrap()[1..]
        );
        assert!(entry(&one)["reason"]
            .as_str()
            .unwrap()
            .contains("duplicate field `node`"));
        // Pages and streams refuse it the same way.
        for size in [1, 2, 3] {
            let (batches, end) = by_stream(dup.as_bytes(), 7 * size);
            assert_eq!(end, Ok(()));
            assert_eq!(from_batches(&batches), whole(&dup));
        }
        let mut chain = Chain::new();
        let b = chain.page(dup.as_bytes());
        assert_eq!(b.statuses, [1, 2, 3]);
        assert_eq!(b.reasons[0].0, 1);
        assert!(b.reasons[0].1.contains("duplicate field `node`"));
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let l = ledger_of(1);
        let mut raw = values(&l);
        raw[0]["winner"] = json!("Mallory");
        let v = ledger(&Value::Array(raw).to_string());
        assert!(v["entries"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown field `winner`"));
    }

    #[test]
    fn not_a_ledger_is_refused() {
        assert_eq!(ledger("{}")["error"], "a ledger is a JSON array of entries");
        assert!(ledger("[").to_string().contains("not JSON"));
        assert_eq!(ledger("[]")["ok"], true);
        assert_eq!(ledger("[]")["head"], Hash32::ZERO.to_string());
        let b = Chain::new().page(b"{\"a\": 1}");
        assert_eq!(
            b.error.as_deref(),
            Some("a ledger is a JSON array of entries")
        );
        assert!(b.statuses.is_empty());
        assert!(Chain::new()
            .page(b"[{")
            .error
            .unwrap()
            .starts_with("the page is not JSON"));
    }

    #[test]
    fn one_entry_on_its_own() {
        let l = ledger_of(2);
        let good = serde_json::to_string(&l[1]).unwrap();
        assert_eq!(entry(&good)["ok"], true);
        let mut bad = l[1].clone();
        bad.nonce += 1;
        let v = entry(&serde_json::to_string(&bad).unwrap());
        assert_eq!(v["ok"], false);
        assert!(v["reason"].as_str().unwrap().contains("proof of work"));
    }

    /// Every way of cutting the ledger into pages gives the whole-text answer, for an intact
    /// ledger and for each kind of damage, including a transaction repeated across pages (only
    /// a chain that saw the earlier page can tell) and a link broken at a page boundary.
    #[test]
    fn pages_of_any_size_agree_with_the_whole_ledger() {
        let l = ledger_of(9);
        let mut cases: Vec<(&str, Vec<Value>)> = vec![("intact", values(&l))];

        let mut t = l.clone();
        t[6].node = "Mallory".into();
        cases.push(("changed field in a later page", values(&t)));

        // Entry 4 resealed: entry 5's link breaks, at a boundary for pages of 5.
        let mut t = l.clone();
        t[4].time_taken = 1.5;
        t[4] = t[4].clone().seal();
        cases.push(("broken link", values(&t)));

        let mut t = l.clone();
        t.remove(3);
        cases.push(("removed", values(&t)));

        let mut t = l[..8].to_vec();
        t.push(entry_for("tx 1", t.last()));
        cases.push(("repeated transaction", values(&t)));

        let mut raw = values(&l);
        raw[2]["nonce"] = json!("seven");
        cases.push(("unparsable", raw));

        for (what, raw) in cases {
            let want = whole(&Value::Array(raw.clone()).to_string());
            for size in 1..=raw.len() {
                assert_eq!(
                    from_batches(&by_pages(&raw, size)),
                    want,
                    "{what}, pages of {size}"
                );
            }
        }
        // The repeated transaction, named.
        let mut t = l[..8].to_vec();
        t.push(entry_for("tx 1", t.last()));
        let b = by_pages(&values(&t), 4);
        assert_eq!(
            b[2].reasons,
            [(
                8,
                "the transaction is already recorded at index 1".to_string()
            )]
        );
        // The broken link across a page boundary, named.
        let mut t = l.clone();
        t[4].time_taken = 1.5;
        t[4] = t[4].clone().seal();
        let b = by_pages(&values(&t), 5);
        assert_eq!(b[0].statuses, [1, 1, 1, 1, 1]);
        assert_eq!(b[1].statuses, [2, 3, 3, 3]);
        assert!(b[1].reasons[0].1.starts_with(&format!(
            "prev_hash {} is not the previous entry's entry_hash {}",
            l[4].entry_hash, t[4].entry_hash
        )));
    }

    /// The same pages with their own checks made apart ([`own_page`], as helper workers do) and
    /// placed by one chain give the same answers, for every kind of damage.
    #[test]
    fn own_pages_placed_by_one_chain_agree_with_the_whole_ledger() {
        let l = ledger_of(9);
        let mut cases: Vec<(&str, Vec<Value>)> = vec![("intact", values(&l))];
        let mut t = l.clone();
        t[6].node = "Mallory".into();
        cases.push(("changed field", values(&t)));
        let mut t = l.clone();
        t[4].time_taken = 1.5;
        t[4] = t[4].clone().seal();
        cases.push(("broken link", values(&t)));
        let mut t = l.clone();
        t.remove(3);
        cases.push(("removed", values(&t)));
        let mut t = l[..8].to_vec();
        t.push(entry_for("tx 1", t.last()));
        cases.push(("repeated transaction", values(&t)));
        let mut raw = values(&l);
        raw[2]["nonce"] = json!("seven");
        raw[5]["hash"] = json!("0".repeat(64));
        cases.push(("unparsable and a bad proof of work", raw));
        for (what, raw) in cases {
            let want = whole(&Value::Array(raw.clone()).to_string());
            for size in [1, 2, 4, 9] {
                let mut chain = Chain::new();
                let batches: Vec<Batch> = raw
                    .chunks(size)
                    .map(|p| {
                        let own = own_page(serde_json::to_string(p).unwrap().as_bytes());
                        assert_eq!(own.len(), p.len());
                        chain.push_own_page(&own)
                    })
                    .collect();
                assert_eq!(from_batches(&batches), want, "{what}, pages of {size}");
            }
        }
        // Malformed records are refused, not misread.
        let mut own = own_page(serde_json::to_string(&l[..2]).unwrap().as_bytes());
        own.records.pop();
        assert!(Chain::new().push_own_page(&own).error.is_some());
        let mut own = own_page(b"[1]");
        own.reasons.clear();
        assert!(Chain::new()
            .push_own_page(&own)
            .error
            .unwrap()
            .contains("neither"));
        assert!(own_page(b"{}").error.is_some());
    }

    /// Mines `data` at `bits` zero bits.
    fn mined(data: &str, bits: u32) -> (u64, Hash32) {
        let d = Difficulty::from_zero_bits(u64::from(bits)).unwrap();
        (0..)
            .map(|n| (n, pow_core::puzzle::hash(data.as_bytes(), n)))
            .find(|(_, h)| d.is_met_by(&h.0))
            .unwrap()
    }

    /// A retargeted chain of `n` entries (target 0.5 s, races of 0.25 s: the rule raises the
    /// difficulty at each window), sealed by pow-core's own rule ([`ChainCheck::next_bits`]).
    fn retargeted(n: usize) -> Vec<Entry> {
        let target = 500_000;
        let mut chain: Vec<Entry> = Vec::new();
        let mut rules = ChainCheck::new();
        for i in 0..n {
            let bits = rules.next_bits(target, 4);
            let data = format!("retarget {i}");
            let (nonce, hash) = mined(&data, bits);
            let e = NewEntry {
                node: "Node2".into(),
                transaction_data: data,
                nonce,
                hash,
                time_taken: 0.25,
                start_time: "2025-02-13 19:16:07.019815".into(),
                end_time: "2025-02-13 19:16:08.019815".into(),
                difficulty: bits / 8,
                difficulty_bits: Some(bits),
                target_time_us: Some(target),
                ..Default::default()
            }
            .chain_onto(chain.last());
            rules.link(&e).unwrap();
            chain.push(e);
        }
        chain
    }

    /// A retargeted entry whose difficulty is not the rule's (a valid proof of work at an
    /// easier difficulty, sealed) is caught where pow-core catches it, with its words, whole,
    /// by pages of any size, by pages checked apart and as a stream.
    #[test]
    fn a_forged_retargeted_difficulty_is_caught_however_the_ledger_is_read() {
        let good = retargeted(24);
        assert_eq!(good[16].difficulty_bits, Some(5), "the rule moved at 16");
        let v = ledger(&serde_json::to_string(&good).unwrap());
        assert_eq!(v["ok"], true);
        assert_eq!(v["head"], good[23].entry_hash.to_string());

        let mut forged = good[..20].to_vec();
        let data = "retarget 20";
        let (nonce, hash) = mined(data, 4);
        forged.push(
            NewEntry {
                node: "Node2".into(),
                transaction_data: data.into(),
                nonce,
                hash,
                time_taken: 0.25,
                start_time: "2025-02-13 19:16:07.019815".into(),
                end_time: "2025-02-13 19:16:08.019815".into(),
                difficulty: 0,
                difficulty_bits: Some(4),
                target_time_us: Some(500_000),
                ..Default::default()
            }
            .chain_onto(forged.last()),
        );
        let e = good[21].clone();
        let mut next = e;
        next.prev_hash = forged[20].entry_hash;
        forged.push(next.seal());
        let want = verify_chain(&forged).unwrap_err();
        assert_eq!(want.position, 20);
        let text = serde_json::to_string_pretty(&forged).unwrap();
        let whole_answer = whole(&text);
        assert_eq!(whole_answer[20], (2, want.reason.to_string()));
        assert!(whole_answer[20].1.contains("the difficulty was forged"));
        assert_eq!(whole_answer[21].0, 3);
        let raw = values(&forged);
        for size in [1, 3, 7, 16, 22] {
            assert_eq!(
                from_batches(&by_pages(&raw, size)),
                whole_answer,
                "pages of {size}"
            );
            let mut chain = Chain::new();
            let apart: Vec<Batch> = raw
                .chunks(size)
                .map(|p| {
                    chain.push_own_page(&own_page(serde_json::to_string(p).unwrap().as_bytes()))
                })
                .collect();
            assert_eq!(
                from_batches(&apart),
                whole_answer,
                "pages of {size} checked apart"
            );
        }
        let (batches, end) = by_stream(text.as_bytes(), 333);
        assert_eq!(end, Ok(()));
        assert_eq!(from_batches(&batches), whole_answer);
        // A page on its own has not seen the window before it: the rule is the walk's to check.
        let alone = page(
            &serde_json::to_string(&forged[20..]).unwrap(),
            20,
            forged[19].entry_hash,
        );
        assert_eq!(alone["ok"], true);
    }

    /// Records carry every figure the chain reads, absent ones included.
    #[test]
    fn own_records_round_trip() {
        let r = retargeted(2);
        let l = ledger_of(1);
        for e in [&r[1], &l[0]] {
            let key = Key::of(e);
            let mut out = Vec::new();
            key.write(&mut out);
            assert_eq!(out.len(), OWN_RECORD);
            assert_eq!(Key::read(&out), Some(key));
        }
        assert_eq!(Key::read(&[0; OWN_RECORD]), None);
    }

    /// The stateless page check: a page in the middle, checked against the previous hash.
    #[test]
    fn a_page_on_its_own_continues_from_its_previous_hash() {
        let l = ledger_of(6);
        let text = serde_json::to_string(&l[3..]).unwrap();
        let v = page(&text, 3, l[2].entry_hash);
        assert_eq!(v["ok"], true);
        assert_eq!(v["first_index"], 3);
        assert_eq!(v["next_index"], 6);
        assert_eq!(v["head"], l[5].entry_hash.to_string());
        assert_eq!(v["entries"][0]["position"], 3);

        // The wrong previous hash: the first entry's link is broken.
        let v = page(&text, 3, l[1].entry_hash);
        assert_eq!(statuses(&v), [BAD, AFTER_BREAK, AFTER_BREAK]);
        assert_eq!(v["first_bad"], 3);
        assert_eq!(v["head"], Value::Null);
        // The wrong first index.
        let v = page(&text, 4, l[2].entry_hash);
        assert!(v["entries"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("index is 3 but the entry is at position 4"));
        // An empty page: nothing changes.
        let v = page("[]", 6, l[5].entry_hash);
        assert_eq!(v["next_index"], 6);
        assert_eq!(v["head"], l[5].entry_hash.to_string());
    }

    /// A stream cut anywhere gives the whole-text answer, with each entry's byte span.
    #[test]
    fn a_stream_cut_anywhere_agrees_with_the_whole_ledger() {
        let l = ledger_of(4);
        let mut raw = values(&l);
        raw[1]["transaction_data"] = json!("tx 1 \"quoted\" {braces} [brackets] \\ back\u{e9}");
        raw.push(json!([1, {"a": [2, "]"]}]));
        raw.push(json!("a string"));
        raw.push(json!(12.5e3));
        raw.push(json!(null));
        for text in [
            pretty(&raw),
            Value::Array(raw.clone()).to_string(),
            format!(" \n[ {} ,\t{} ]\n\n", raw[0], raw[4]),
        ] {
            let want = whole(&text);
            for size in [1, 2, 3, 5, 8, 13, 64, 1000, text.len()] {
                let (batches, end) = by_stream(text.as_bytes(), size);
                assert_eq!(end, Ok(()), "chunks of {size}");
                assert_eq!(from_batches(&batches), want, "chunks of {size}");
                // Each span is exactly one element.
                let spans: Vec<(u64, u64)> = batches.iter().flat_map(|b| b.spans.clone()).collect();
                assert_eq!(spans.len(), want.len());
                for (k, (s, n)) in spans.iter().enumerate() {
                    let piece = &text.as_bytes()[*s as usize..(*s + *n) as usize];
                    let again: Value = serde_json::from_slice(piece).unwrap();
                    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
                    assert_eq!(again, all[k]);
                }
            }
        }
    }

    #[test]
    fn a_stream_that_is_not_a_ledger_says_where() {
        let l = ledger_of(2);
        let text = serde_json::to_string_pretty(&l).unwrap();
        let cut = &text[..text.len() - 40];
        for size in [1, 7, 4096] {
            let (batches, end) = by_stream(cut.as_bytes(), size);
            assert_eq!(
                from_batches(&batches).len(),
                1,
                "the whole first entry is checked"
            );
            assert_eq!(
                end.unwrap_err(),
                "the file ends before the array is closed, after 1 complete entries (truncated?)"
            );
        }
        let (_, end) = by_stream(format!("{text} x").as_bytes(), 5);
        assert!(end.unwrap_err().contains("unexpected `x`"));
        let (_, end) = by_stream(b"{\"a\":1}", 3);
        assert!(end
            .unwrap_err()
            .contains("a ledger is a JSON array of entries"));
        let (_, end) = by_stream(b"[1,]", 1);
        assert!(end.unwrap_err().contains("is not followed by an entry"));
        let (_, end) = by_stream(b"[1 2]", 2);
        assert!(end
            .unwrap_err()
            .contains("entry 0 is not followed by `,` or `]`"));
        let (_, end) = by_stream(b"  ", 2);
        assert!(end.unwrap_err().contains("empty"));
        let (b, end) = by_stream(b"[]", 1);
        assert_eq!(end, Ok(()));
        assert!(from_batches(&b).is_empty());
    }

    #[test]
    fn an_entry_over_the_limit_is_bad_and_skipped() {
        let l = ledger_of(2);
        let mut raw = values(&l);
        raw.insert(1, json!({ "node": "x".repeat(MAX_ENTRY_BYTES) }));
        let text = Value::Array(raw).to_string();
        let (batches, end) = by_stream(text.as_bytes(), 1 << 16);
        assert_eq!(end, Ok(()));
        let got = from_batches(&batches);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2, 2]);
        assert!(got[1].1.contains("more than the 4194304 bytes"));
    }

    /// The transaction-id set keeps the first index of each id through its merges.
    #[test]
    fn transaction_ids_survive_merges() {
        let mut ids = TxIds::default();
        let n = 3 * TX_MERGE_MIN as u64 + 17;
        for i in 0..n {
            ids.insert_first(&Hash32::digest(&i.to_be_bytes()), i);
        }
        for i in (0..n).step_by(97) {
            ids.insert_first(&Hash32::digest(&i.to_be_bytes()), n + i);
            assert_eq!(ids.get(&Hash32::digest(&i.to_be_bytes())), Some(i));
        }
        assert!(!ids.sorted.is_empty());
        assert!(
            ids.sorted.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no repeats"
        );
        assert_eq!(ids.sorted.len() + ids.recent.len(), n as usize);
        assert_eq!(ids.get(&Hash32::digest(b"never")), None);
    }
}
