//! The attempts log: every node's attempt, won or lost, as JSON Lines beside the ledger, and
//! the per-node comparison `node-server report` prints from it.
//!
//! The log consumes the event stream (a [`Sink`]): each `won` or `lost` event becomes one
//! line. A writer thread appends lines in groups and fsyncs each group; several processes
//! may append to one log (each line is a single `O_APPEND` write).

use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use pow_core::Hash32;
use serde::{Deserialize, Serialize};

use crate::events::{Event, EventKind, Sink};
use crate::limits::ATTEMPTS_QUEUE;

/// One node's attempt at one transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The node.
    pub node: String,
    /// SHA-256 of the transaction.
    pub tx_id: Hash32,
    /// The transaction.
    pub transaction_data: String,
    /// Zero bytes required.
    pub difficulty: u32,
    /// `won`, `lost` or `aborted`.
    pub outcome: String,
    /// The node whose entry is recorded.
    pub winner: String,
    /// The nonce found (absent when aborted).
    pub nonce: Option<u64>,
    /// Its hash.
    pub hash: Option<Hash32>,
    /// When this node started.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Seconds, unrounded.
    pub time_taken: Option<f64>,
    /// Nonces hashed.
    pub hashes: Option<u64>,
    /// Lost: seconds behind the winner.
    pub margin: Option<f64>,
    /// Won: the ledger entry's index and hash, to cross-check the ledger.
    pub entry_index: Option<u64>,
    /// Won: the entry's `entry_hash`.
    pub entry_hash: Option<Hash32>,
    /// Won: the `entry_hash` of the first entry of the ledger the entry went into, which ties
    /// the attempt to that ledger (a ledger started over has another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_id: Option<Hash32>,
}

impl Attempt {
    /// The attempt an event records, for `won` and `lost` events.
    pub fn from_event(e: &Event) -> Option<Attempt> {
        let (tx_id, data) = (e.tx_id?, e.transaction_data.as_deref()?.to_owned());
        let base = |outcome: &str, winner: &str| Attempt {
            node: e.node.to_string(),
            tx_id,
            transaction_data: data.clone(),
            difficulty: e.difficulty,
            outcome: outcome.to_owned(),
            winner: winner.to_owned(),
            nonce: None,
            hash: None,
            start_time: None,
            end_time: None,
            time_taken: None,
            hashes: None,
            margin: None,
            entry_index: None,
            entry_hash: None,
            ledger_id: None,
        };
        let with_work = |mut a: Attempt, w: &crate::events::Work| {
            a.nonce = Some(w.nonce);
            a.hash = Some(w.hash);
            a.start_time = Some(w.start_time.clone());
            a.end_time = Some(w.end_time.clone());
            a.time_taken = Some(w.time_taken);
            a.hashes = Some(w.hashes);
            a
        };
        match &e.kind {
            EventKind::Won {
                work,
                entry,
                ledger_id,
            } => {
                let mut a = with_work(base("won", &entry.node), work);
                a.entry_index = Some(entry.index);
                a.entry_hash = Some(entry.entry_hash);
                a.ledger_id = Some(*ledger_id);
                Some(a)
            }
            EventKind::Lost {
                winner,
                margin,
                work,
                aborted,
            } => {
                let a = base(if *aborted { "aborted" } else { "lost" }, winner);
                let mut a = match work {
                    Some(w) => with_work(a, w),
                    None => a,
                };
                a.margin = *margin;
                Some(a)
            }
            _ => None,
        }
    }
}

/// `ledger.json` → `ledger.attempts.jsonl`, beside it.
pub fn path_for(ledger: &Path) -> PathBuf {
    let stem = ledger.file_stem().unwrap_or_default().to_os_string();
    let mut name = stem;
    name.push(".attempts.jsonl");
    ledger.with_file_name(name)
}

/// The attempts log's sink: queues each attempt for the writer thread.
pub struct AttemptsLog {
    queue: SyncSender<Attempt>,
}

impl AttemptsLog {
    /// Opens (creating) the log at `path` and starts its writer thread.
    pub fn open(path: &Path) -> io::Result<AttemptsLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (queue, rx) = sync_channel(ATTEMPTS_QUEUE);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("attempts-writer".into())
            .spawn(move || write_loop(file, &path, rx))?;
        Ok(AttemptsLog { queue })
    }
}

fn write_loop(mut file: std::fs::File, path: &Path, rx: Receiver<Attempt>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter().take(ATTEMPTS_QUEUE));
        let mut result = Ok(());
        for a in &group {
            let mut line = crate::json::to_vec(a).expect("attempts serialize");
            line.push(b'\n');
            result = result.and_then(|()| file.write_all(&line));
        }
        if let Err(e) = result.and_then(|()| file.sync_data()) {
            tracing::error!("{}: attempts not written: {e}", path.display());
        }
    }
}

impl Sink for AttemptsLog {
    fn event(&self, e: &Event) {
        if let Some(a) = Attempt::from_event(e) {
            // Waits when the writer is behind; the queue is bounded.
            let _ = self.queue.send(a);
        }
    }
}

/// Reads every attempt in a log; a torn last line (a crash mid-append) is skipped.
pub fn read(path: &Path) -> io::Result<Vec<Attempt>> {
    let mut out = Vec::new();
    for_each(path, |a| out.push(a))?;
    Ok(out)
}

/// Calls `each` for every attempt in a log, in order, in bounded memory; a line that is not
/// an attempt (a torn last line after a crash mid-append) is skipped.
pub fn for_each(path: &Path, mut each: impl FnMut(Attempt)) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    for line in io::BufReader::new(file).split(b'\n') {
        if let Ok(a) = serde_json::from_slice(&line?) {
            each(a);
        }
    }
    Ok(())
}

/// One node's figures in the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSummary {
    /// The node.
    pub node: String,
    /// Attempts with a result.
    pub attempts: usize,
    /// Races won.
    pub wins: usize,
    /// Mean time taken, seconds.
    pub mean_time: f64,
    /// Median time taken, seconds.
    pub median_time: f64,
    /// Nonces hashed per second over all attempts.
    pub hash_rate: f64,
    /// Mean seconds behind the winner, over lost races.
    pub mean_margin: Option<f64>,
}

/// Per-node comparison, sorted by node name.
pub fn summarize(attempts: &[Attempt]) -> Vec<NodeSummary> {
    let mut nodes: Vec<&str> = attempts.iter().map(|a| a.node.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .into_iter()
        .map(|node| {
            let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.node == node).collect();
            let mut times: Vec<f64> = mine.iter().filter_map(|a| a.time_taken).collect();
            times.sort_by(f64::total_cmp);
            let total_time: f64 = times.iter().sum();
            let hashes: u64 = mine.iter().filter_map(|a| a.hashes).sum();
            let margins: Vec<f64> = mine.iter().filter_map(|a| a.margin).collect();
            NodeSummary {
                node: node.to_owned(),
                attempts: mine.len(),
                wins: mine.iter().filter(|a| a.outcome == "won").count(),
                mean_time: mean(&times),
                median_time: median(&times),
                hash_rate: if total_time > 0.0 {
                    hashes as f64 / total_time
                } else {
                    0.0
                },
                mean_margin: (!margins.is_empty()).then(|| mean(&margins)),
            }
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if !n.is_multiple_of(2) => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(node: &str, outcome: &str, t: f64, margin: Option<f64>) -> Attempt {
        Attempt {
            node: node.into(),
            tx_id: Hash32::ZERO,
            transaction_data: "x".into(),
            difficulty: 2,
            outcome: outcome.into(),
            winner: "Node1".into(),
            nonce: Some(1),
            hash: Some(Hash32::ZERO),
            start_time: None,
            end_time: None,
            time_taken: Some(t),
            hashes: Some(1000),
            margin,
            entry_index: None,
            entry_hash: None,
            ledger_id: None,
        }
    }

    #[test]
    fn summary_counts_wins_means_medians_and_rates() {
        let a = [
            attempt("Node1", "won", 1.0, None),
            attempt("Node1", "won", 3.0, None),
            attempt("Node2", "lost", 2.0, Some(0.5)),
            attempt("Node2", "lost", 4.0, Some(1.5)),
            attempt("Node2", "won", 9.0, None),
        ];
        let s = summarize(&a);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].wins, s[0].mean_time, s[0].median_time), (2, 2.0, 2.0));
        assert_eq!(s[0].hash_rate, 500.0);
        assert_eq!(
            (s[1].wins, s[1].median_time, s[1].mean_margin),
            (1, 4.0, Some(1.0))
        );
        assert_eq!(
            path_for(Path::new("/a/ledger.json")),
            Path::new("/a/ledger.attempts.jsonl")
        );
    }
}
