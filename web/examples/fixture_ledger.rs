//! Writes a long, valid ledger for tests and measurements, in the text format of node-server's
//! `ledger::to_text` (a pretty JSON array, two-space indent, one object per entry), built with
//! pow-core's own [`NewEntry::chain_onto`] so every proof of work, `tx_id`, link and
//! `entry_hash` is real.
//!
//! ```sh
//! cargo run --release -p powrace-web --example fixture_ledger -- \
//!     --entries 100000 [--difficulty 1] [--tamper 76543] [--duplicate-key 500] --out ledger.json
//! ```
//!
//! `--tamper K` changes entry K's `node` to `Mallory` after it is sealed (its `entry_hash` no
//! longer matches); `--duplicate-key K` writes entry K with a first `"node": "Mallory"` key
//! before its real one, which a reader that keeps the last key accepts. Entry K's transaction is
//! `fixture K: …`, so a test can find it.

use std::io::Write;
use std::time::Instant;

use pow_core::chain::{Entry, NewEntry};
use pow_core::engine::Kernel;
use pow_core::search::solve_with;
use pow_core::{Difficulty, Prepared};

/// The gap between two entries' start times; a million entries fit in one day.
const SPACING_US: u64 = 80_000;

struct Args {
    entries: u64,
    difficulty: u32,
    tamper: Option<u64>,
    duplicate_key: Option<u64>,
    out: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        entries: 100_000,
        difficulty: 1,
        tamper: None,
        duplicate_key: None,
        out: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--entries" => a.entries = number(value()?)?,
            "--difficulty" => {
                a.difficulty = u32::try_from(number(value()?)?).map_err(|e| e.to_string())?
            }
            "--tamper" => a.tamper = Some(number(value()?)?),
            "--duplicate-key" => a.duplicate_key = Some(number(value()?)?),
            "--out" => a.out = value()?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if a.out.is_empty() {
        return Err("--out PATH is required".into());
    }
    if a.difficulty > 2 {
        return Err("--difficulty above 2 would take too long for a fixture".into());
    }
    Ok(a)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of `us` microseconds after 2026-01-01 00:00:00 UTC (under a day).
fn timestamp(us: u64) -> String {
    let s = us / 1_000_000;
    format!(
        "2026-01-01 {:02}:{:02}:{:02}.{:06}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        us % 1_000_000
    )
}

/// The transaction of entry `i`.
fn transaction(i: u64) -> String {
    format!("fixture {i}: Alice pays Bob {} coins", i % 1000)
}

/// The smallest nonces of `range`'s transactions, on this thread.
fn solve_range(range: std::ops::Range<u64>, d: Difficulty) -> Vec<(u64, pow_core::Hash32)> {
    range
        .map(|i| {
            let p = Prepared::new(transaction(i).as_bytes(), d);
            let s = solve_with(Kernel::Portable, &p, &|| false)
                .solution
                .expect("a nonce exists at difficulty <= 2");
            (s.nonce, s.hash)
        })
        .collect()
}

/// node-server's `ledger::to_text` for one entry: its pretty JSON, indented two more spaces.
fn write_entry(out: &mut Vec<u8>, e: &Entry, duplicate_key: bool) {
    let mut pretty = serde_json::to_vec_pretty(e).expect("an entry serializes");
    if duplicate_key {
        pretty.splice(2..2, b"  \"node\": \"Mallory\",\n".iter().copied());
    }
    out.extend_from_slice(b"  ");
    for &b in &pretty {
        out.push(b);
        if b == b'\n' {
            out.extend_from_slice(b"  ");
        }
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fixture_ledger: {e}");
            std::process::exit(2);
        }
    };
    let t0 = Instant::now();
    let d = Difficulty::from_zero_bytes(u64::from(args.difficulty)).expect("0..=2");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = args.entries.div_ceil(threads.max(1)).max(1);
    let solutions: Vec<(u64, pow_core::Hash32)> = std::thread::scope(|s| {
        let parts: Vec<_> = (0..args.entries)
            .step_by(per as usize)
            .map(|a| s.spawn(move || solve_range(a..(a + per).min(args.entries), d)))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("a solver thread"))
            .collect()
    });

    let mut out = Vec::with_capacity(args.entries as usize * 620 + 4);
    out.extend_from_slice(if args.entries == 0 { b"[]\n" } else { b"[\n" });
    let mut prev: Option<Entry> = None;
    for (i, (nonce, hash)) in (0..args.entries).zip(solutions) {
        let start = i * SPACING_US;
        let took = 300 + (i * 7919) % 2000;
        let mut e = NewEntry {
            node: format!("Node{}", i % 3 + 1),
            transaction_data: transaction(i),
            nonce,
            hash,
            time_taken: took as f64 / 1e6,
            start_time: timestamp(start),
            end_time: timestamp(start + took),
            difficulty: args.difficulty,
            ..NewEntry::default()
        }
        .chain_onto(prev.as_ref());
        let sealed = e.clone();
        if args.tamper == Some(i) {
            e.node = "Mallory".into();
        }
        write_entry(&mut out, &e, args.duplicate_key == Some(i));
        out.extend_from_slice(if i + 1 < args.entries { b",\n" } else { b"\n" });
        prev = Some(sealed);
    }
    if args.entries > 0 {
        out.extend_from_slice(b"]\n");
    }
    let written = std::fs::File::create(&args.out).and_then(|mut f| f.write_all(&out));
    if let Err(e) = written {
        eprintln!("fixture_ledger: {}: {e}", args.out);
        std::process::exit(2);
    }
    let head = prev.map_or(pow_core::Hash32::ZERO, |e| e.entry_hash);
    eprintln!(
        "fixture_ledger: {} entries at difficulty {} ({} bytes) in {:.1} s to {}; head {head}",
        args.entries,
        args.difficulty,
        out.len(),
        t0.elapsed().as_secs_f64(),
        args.out
    );
}
