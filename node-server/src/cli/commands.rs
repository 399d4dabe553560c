//! `mine` and `verify`: the commands that work on puzzles and files, not nodes (`report` is
//! [`crate::experiment::report`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use pow_core::engine::Kernel;
use pow_core::search::{self, parallel};
use pow_core::{Difficulty, Prepared};

use crate::clock::Stamp;
use crate::events::attempts;
use crate::ledger;

/// The result of `mine`, the lab's `pow.py`.
#[derive(Debug, serde::Serialize)]
pub struct Mined {
    /// The transaction.
    pub transaction_data: String,
    /// Difficulty in zero bytes, when whole.
    pub difficulty: Option<u32>,
    /// Difficulty in zero bits.
    pub difficulty_bits: u32,
    /// The smallest nonce.
    pub nonce: u64,
    /// Its hash.
    pub hash: pow_core::Hash32,
    /// Seconds, unrounded.
    pub time_taken: f64,
    /// When the search started: UTC, in the ledger's layout (to the microsecond).
    pub start_time: String,
    /// End.
    pub end_time: String,
    /// Nonces hashed.
    pub hashes: u64,
    /// Hashes per second.
    pub hash_rate: f64,
    /// The kernel used.
    pub kernel: &'static str,
    /// Threads used.
    pub threads: usize,
}

/// Solves one puzzle.
pub fn mine(
    data: &str,
    difficulty: Difficulty,
    threads: usize,
    kernel: Kernel,
) -> anyhow::Result<Mined> {
    let start = Stamp::now();
    let t0 = Instant::now();
    let p = Prepared::new(data.as_bytes(), difficulty);
    let out = parallel::search(&p, threads, kernel, &AtomicBool::new(false));
    let time_taken = t0.elapsed().as_secs_f64();
    let end = Stamp::now();
    let s = out
        .solution
        .context("no nonce below 2^64 solves this puzzle")?;
    Ok(Mined {
        transaction_data: data.to_owned(),
        difficulty: difficulty.zero_bytes(),
        difficulty_bits: difficulty.zero_bits(),
        nonce: s.nonce,
        hash: s.hash,
        time_taken,
        start_time: start.text(),
        end_time: end.text(),
        hashes: out.hashes,
        hash_rate: out.hashes as f64 / time_taken.max(1e-9),
        kernel: out.kernel.name(),
        threads,
    })
}

/// What `verify` found.
#[derive(Debug)]
pub enum Verdict {
    /// Every entry and link holds.
    Valid {
        /// Entries checked.
        entries: u64,
        /// The last entry_hash.
        head: pow_core::Hash32,
        /// What the reader should know that does not make the ledger bad (attempts that belong
        /// to another ledger, say).
        notes: Vec<String>,
    },
    /// The first problem.
    Invalid(String),
}

/// Verifies a ledger file in bounded memory: every hash, difficulty and link; with `smallest`,
/// also that every lab entry's nonce is the smallest (a lottery entry's need not be); with an
/// attempts log, that every win the log recorded for this ledger is in it (which catches
/// entries removed from the end). Wins the
/// log recorded for another ledger (one started over after `rm ledger.json`) are counted and
/// said, not held against this one.
pub fn verify(path: &Path, smallest: bool, attempts_log: Option<&Path>) -> anyhow::Result<Verdict> {
    // The first 8 bytes of each entry's hash, by index: enough to cross-check the attempts
    // log without holding the entries.
    let mut hashes: Vec<u64> = Vec::new();
    let mut first = None;
    let mut not_smallest = None;
    let prefix = |h: &pow_core::Hash32| u64::from_le_bytes(h.0[..8].try_into().expect("8 bytes"));
    let checked = ledger::verify_file(path, |e| {
        hashes.push(prefix(&e.entry_hash));
        if e.index == 0 {
            first = Some(e.entry_hash);
        }
        // A lottery's nonce is the first one its winner found, not the smallest.
        if smallest && not_smallest.is_none() && e.race.is_lab() {
            let p = Prepared::new(
                e.transaction_data.as_bytes(),
                e.difficulty()
                    .expect("a verified entry has a valid difficulty"),
            );
            if let Some(s) = search::smaller_solution(&p, e.nonce) {
                not_smallest = Some(format!(
                    "{}: entry {}: nonce {} is not the smallest: {} also solves it",
                    path.display(),
                    e.index,
                    e.nonce,
                    s.nonce
                ));
            }
        }
    });
    let (entries, head) = match checked {
        Ok(v) => v,
        Err(e) if e.is_damage() => return Ok(Verdict::Invalid(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    if let Some(why) = not_smallest {
        return Ok(Verdict::Invalid(why));
    }
    let mut notes = Vec::new();
    if let Some(log) = attempts_log {
        let mut other: HashMap<Option<pow_core::Hash32>, u64> = HashMap::new();
        let mut checked_wins = 0u64;
        let mut bad = None;
        let skipped = attempts::for_each(log, attempts::LongLines::Skip, |a| {
            if a.outcome != "won" || bad.is_some() {
                return;
            }
            let (Some(index), Some(hash)) = (a.entry_index, a.entry_hash) else {
                return;
            };
            let ours = match a.ledger_id {
                Some(id) => Some(id) == first,
                // A log written before attempts named their ledger: it is ours if the entry
                // it names is there.
                None => hashes.get(index as usize) == Some(&prefix(&hash)),
            };
            if !ours {
                *other.entry(a.ledger_id).or_default() += 1;
                return;
            }
            checked_wins += 1;
            let found = hashes.get(index as usize);
            if found != Some(&prefix(&hash)) {
                bad = Some(format!(
                    "{}: entry {index} ({} won {:?}) is {} (the attempts log {} recorded it)",
                    path.display(),
                    a.node,
                    a.transaction_data,
                    if found.is_some() {
                        "different"
                    } else {
                        "missing: entries were removed from the end"
                    },
                    log.display()
                ));
            }
        })
        .with_context(|| format!("cannot read {}", log.display()))?;
        if let Some(why) = bad {
            return Ok(Verdict::Invalid(why));
        }
        notes.push(format!(
            "{}: {checked_wins} recorded wins cross-checked",
            log.display()
        ));
        if skipped > 0 {
            notes.push(format!(
                "{}: {skipped} lines longer than {} bytes skipped: no attempt is that long",
                log.display(),
                crate::limits::MAX_ATTEMPT_LINE_BYTES
            ));
        }
        for (id, n) in other {
            notes.push(match (id, first) {
                (Some(id), Some(_)) => format!(
                    "{}: {n} wins belong to another ledger (first entry {id}), not this one: \
                     it was started over; they were not checked against it",
                    log.display()
                ),
                (Some(id), None) => format!(
                    "{}: {n} wins belong to a ledger whose first entry is {id}, and this \
                     ledger is empty: either it was started over, or every entry was removed",
                    log.display()
                ),
                (None, _) => format!(
                    "{}: {n} wins from an older log name entries this ledger does not have \
                     (another ledger's, or removed ones); they were not checked",
                    log.display()
                ),
            });
        }
    }
    Ok(Verdict::Valid {
        entries,
        head,
        notes,
    })
}
