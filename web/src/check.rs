//! Ledger checks as plain Rust, returning the JSON the page renders.
//!
//! [`ledger`] reports every entry, not only the first bad one: entries before the first bad one
//! are `"ok"`; the first bad one carries [`verify_chain`]'s exact reason; each entry after it
//! gets its own check against the entry recorded before it — `"bad"` with its reason, or
//! `"after_break"` when it holds on its own but follows a broken entry and so is not trusted.

use std::collections::BTreeMap;

use pow_core::chain::{verify_chain, Entry, EntryError};
use pow_core::Hash32;
use serde_json::{json, Value};

/// The status of an entry that holds and follows an intact chain.
pub const OK: &str = "ok";
/// The status of an entry that does not hold.
pub const BAD: &str = "bad";
/// The status of an entry that holds on its own but comes after a bad one.
pub const AFTER_BREAK: &str = "after_break";

/// Checks one entry's JSON text on its own: `{ok, reason, entry_hash}`.
pub fn entry(text: &str) -> Value {
    match serde_json::from_str::<Entry>(text) {
        Err(e) => json!({"ok": false, "reason": format!("the entry does not parse: {e}")}),
        Ok(entry) => {
            let computed = entry.compute_hash().to_string();
            match entry.verify() {
                Ok(()) => json!({"ok": true, "reason": "", "entry_hash": computed}),
                Err(e) => json!({"ok": false, "reason": e.to_string(), "entry_hash": computed}),
            }
        }
    }
}

/// One entry's place in the ledger, checked against its recorded predecessor — the same rules
/// as [`verify_chain`], position by position.
fn check_at(
    entries: &[Result<Entry, String>],
    position: usize,
    seen: &BTreeMap<Hash32, u64>,
) -> Result<(), String> {
    let e = entries[position].as_ref().map_err(Clone::clone)?;
    if e.index != position as u64 {
        return Err(EntryError::IndexMismatch {
            expected: position as u64,
            found: e.index,
        }
        .to_string());
    }
    let expected = match position.checked_sub(1).map(|p| &entries[p]) {
        None => Some(Hash32::ZERO),
        Some(Ok(prev)) => Some(prev.entry_hash),
        // An unparsable predecessor has no entry_hash to link to.
        Some(Err(_)) => None,
    };
    if let Some(expected) = expected.filter(|h| *h != e.prev_hash) {
        return Err(EntryError::BrokenLink {
            expected,
            found: e.prev_hash,
        }
        .to_string());
    }
    e.verify().map_err(|r| r.to_string())?;
    if let Some(&first_index) = seen.get(&e.tx_id) {
        return Err(EntryError::DuplicateTransaction { first_index }.to_string());
    }
    Ok(())
}

/// The fields the page shows for an entry, from its JSON even when it does not parse.
fn summary(raw: &Value, position: usize) -> Value {
    let field = |k: &str| raw.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "position": position,
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

/// Checks a whole `ledger.json` text. Returns
/// `{ok, count, head, first_bad, error, entries: [{position, status, ok, reason, …fields}]}`:
/// `head` is the last `entry_hash` when the chain holds, `first_bad` the position of the first
/// bad entry (or null), `error` a reason the text as a whole is refused (not a JSON array).
pub fn ledger(text: &str) -> Value {
    let raws: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return refused("a ledger is a JSON array of entries"),
        Err(e) => return refused(&format!("the file is not JSON: {e}")),
    };
    let entries: Vec<Result<Entry, String>> = raws
        .iter()
        .map(|raw| {
            serde_json::from_value::<Entry>(raw.clone())
                .map_err(|e| format!("the entry does not parse: {e}"))
        })
        .collect();

    // The chain as pow-core sees it: every entry up to the first one that does not parse.
    let parsed: Vec<Entry> = entries.iter().map_while(|e| e.clone().ok()).collect();
    let (first_bad, first_reason, head) = match verify_chain(&parsed) {
        Err(e) => (Some(e.position), Some(e.reason.to_string()), None),
        Ok(_) if parsed.len() < entries.len() => {
            let p = parsed.len();
            (Some(p), entries[p].clone().err(), None)
        }
        Ok(head) => (None, None, Some(head.to_string())),
    };

    let mut seen: BTreeMap<Hash32, u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(raws.len());
    for (position, raw) in raws.iter().enumerate() {
        let (status, reason) = match first_bad {
            Some(bad) if position == bad => (BAD, first_reason.clone().unwrap_or_default()),
            Some(bad) if position > bad => match check_at(&entries, position, &seen) {
                Ok(()) => (
                    AFTER_BREAK,
                    format!("holds on its own, but follows the bad entry {bad}"),
                ),
                Err(reason) => (BAD, reason),
            },
            _ => (OK, String::new()),
        };
        if let Ok(e) = &entries[position] {
            seen.entry(e.tx_id).or_insert(e.index);
        }
        let mut row = summary(raw, position);
        row["status"] = json!(status);
        row["ok"] = json!(status == OK);
        row["reason"] = json!(reason);
        out.push(row);
    }
    json!({
        "ok": first_bad.is_none(),
        "count": out.len(),
        "head": head,
        "first_bad": first_bad,
        "error": Value::Null,
        "entries": out,
    })
}

fn refused(error: &str) -> Value {
    json!({"ok": false, "count": 0, "head": null, "first_bad": null, "error": error, "entries": []})
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_core::chain::NewEntry;
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

    #[test]
    fn a_sealed_ledger_is_all_ok() {
        let l = ledger_of(3);
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(v["ok"], true);
        assert_eq!(statuses(&v), [OK, OK, OK]);
        assert_eq!(v["head"], l[2].entry_hash.to_string());
    }

    #[test]
    fn a_changed_field_is_reported_exactly_and_later_entries_have_their_own_status() {
        let mut l = ledger_of(4);
        l[1].node = "Node3".into();
        let v = ledger(&serde_json::to_string(&l).unwrap());
        assert_eq!(v["first_bad"], 1);
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
        let mut raw: Vec<Value> = l.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
        raw[1]["hash"] = json!("not hex");
        let v = ledger(&Value::Array(raw).to_string());
        assert_eq!(statuses(&v), [OK, BAD, AFTER_BREAK]);
        assert!(v["entries"][1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("the entry does not parse"));
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

    #[test]
    fn not_a_ledger_is_refused() {
        assert_eq!(ledger("{}")["error"], "a ledger is a JSON array of entries");
        assert!(ledger("[").to_string().contains("not JSON"));
        assert_eq!(ledger("[]")["ok"], true);
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
}
