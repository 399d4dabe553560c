//! `mine`, `verify` and `report`: the commands that work on files and puzzles, not nodes.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context as _;
use pow_core::engine::Kernel;
use pow_core::search::{self, parallel};
use pow_core::{Difficulty, Prepared};
use serde_json::json;

use crate::attempts;
use crate::clock::Stamp;
use crate::ledger::{self, LedgerError};

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
    /// Start, microseconds, UTC.
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
        entries: usize,
        /// The last entry_hash.
        head: pow_core::Hash32,
    },
    /// The first problem.
    Invalid(String),
}

/// Verifies a ledger file: every hash, difficulty and link; with `smallest`, also that every
/// nonce is the smallest; with an attempts log, that every won attempt is in the ledger (which
/// catches entries removed from the end).
pub fn verify(path: &Path, smallest: bool, attempts_log: Option<&Path>) -> anyhow::Result<Verdict> {
    let entries = match ledger::load(path) {
        Ok(e) => e,
        Err(e @ (LedgerError::Malformed { .. } | LedgerError::Invalid { .. })) => {
            return Ok(Verdict::Invalid(e.to_string()))
        }
        Err(e) => return Err(e.into()),
    };
    if smallest {
        for e in &entries {
            let p = Prepared::new(e.transaction_data.as_bytes(), e.difficulty()?);
            if let Some(s) = search::smaller_solution(&p, e.nonce) {
                return Ok(Verdict::Invalid(format!(
                    "{}: entry {}: nonce {} is not the smallest: {} also solves it",
                    path.display(),
                    e.index,
                    e.nonce,
                    s.nonce
                )));
            }
        }
    }
    if let Some(log) = attempts_log {
        let won = attempts::read(log).with_context(|| format!("cannot read {}", log.display()))?;
        for a in won.iter().filter(|a| a.outcome == "won") {
            let (Some(index), Some(hash)) = (a.entry_index, a.entry_hash) else {
                continue;
            };
            let found = entries.get(index as usize).map(|e| e.entry_hash);
            if found != Some(hash) {
                return Ok(Verdict::Invalid(format!(
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
                )));
            }
        }
    }
    let head = entries
        .last()
        .map_or(pow_core::Hash32::ZERO, |e| e.entry_hash);
    Ok(Verdict::Valid {
        entries: entries.len(),
        head,
    })
}

/// `report`: the per-node comparison from the attempts log.
pub fn report(log: &Path, as_json: bool) -> anyhow::Result<String> {
    let all = attempts::read(log).with_context(|| format!("cannot read {}", log.display()))?;
    let rows = attempts::summarize(&all);
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &json!({ "attempts": all.len(), "nodes": rows }),
        )?);
    }
    let mut s = format!(
        "{} attempts in {}\n{:<8} {:>8} {:>6} {:>14} {:>14} {:>12} {:>16}\n",
        all.len(),
        log.display(),
        "node",
        "attempts",
        "wins",
        "mean (s)",
        "median (s)",
        "MH/s",
        "mean margin (s)"
    );
    for r in rows {
        s += &format!(
            "{:<8} {:>8} {:>6} {:>14.6} {:>14.6} {:>12.2} {:>16}\n",
            r.node,
            r.attempts,
            r.wins,
            r.mean_time,
            r.median_time,
            r.hash_rate / 1e6,
            r.mean_margin.map_or("-".into(), |m| format!("+{m:.6}"))
        );
    }
    Ok(s)
}
