//! The attempts log: every node's attempt, won, lost or aborted, as JSON Lines beside the
//! ledger, and how it is read back (by [`report`](crate::experiment::report), `verify` and
//! `GET /attempts`).
//!
//! The log consumes the event stream (a [`Sink`]): each `won` or `lost` event becomes one
//! line (`aborted` for a search that started after its race was decided). A writer thread appends lines in groups and fsyncs each group; several processes
//! may append to one log (each line is a single `O_APPEND` write).

use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use pow_core::chain::RaceMode;
use pow_core::Hash32;
use serde::{Deserialize, Serialize};

use crate::events::{Event, EventKind, Sink};
use crate::limits::{ATTEMPTS_QUEUE, MAX_ATTEMPT_LINE_BYTES};

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
    /// Won: the ledger entry's index (with `entry_hash`, to cross-check the ledger).
    pub entry_index: Option<u64>,
    /// Won: the entry's `entry_hash`.
    pub entry_hash: Option<Hash32>,
    /// Won: the `entry_hash` of the first entry of the ledger the entry went into, which ties
    /// the attempt to that ledger (a ledger started over has another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_id: Option<Hash32>,
    /// The difficulty mined at, in zero bits (absent in older logs: 8 × `difficulty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty_bits: Option<u32>,
    /// How the race was run (absent in older logs: the lab's race).
    #[serde(default, skip_serializing_if = "RaceMode::is_lab")]
    pub race: RaceMode,
    /// Seconds from the transaction's arrival at the node to its first hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
}

impl Attempt {
    /// The difficulty mined at, in zero bits.
    pub fn bits(&self) -> u32 {
        self.difficulty_bits.unwrap_or(self.difficulty * 8)
    }
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
            difficulty_bits: None,
            race: RaceMode::Lab,
            latency: None,
        };
        let with_work = |mut a: Attempt, w: &crate::events::Work| {
            a.difficulty_bits = Some(w.difficulty_bits);
            a.race = w.race;
            a.latency = w.latency;
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
                hashes,
                time_taken,
                start_time,
            } => {
                let a = base(if *aborted { "aborted" } else { "lost" }, winner);
                let mut a = match work {
                    Some(w) => with_work(a, w),
                    None => a,
                };
                a.margin = *margin;
                a.hashes = a.hashes.or(*hashes);
                a.time_taken = a.time_taken.or(*time_taken);
                a.start_time = a.start_time.clone().or_else(|| start_time.clone());
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

/// What the writer thread is sent: an attempt to append, or a request to say when everything
/// sent before it is written and synced.
enum Message {
    Attempt(Box<Attempt>),
    Flush(SyncSender<()>),
}

/// The attempts log's sink: queues each attempt for the writer thread.
pub struct AttemptsLog {
    queue: SyncSender<Message>,
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

    /// Blocks until every attempt queued before the call is written and synced (at shutdown:
    /// the process would otherwise exit with the last attempts still queued).
    pub fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

fn write_loop(mut file: std::fs::File, path: &Path, rx: Receiver<Message>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter().take(ATTEMPTS_QUEUE));
        let mut result = Ok(());
        let mut flushed = Vec::new();
        for m in group {
            match m {
                Message::Attempt(a) => {
                    let mut line = crate::json::to_vec(&a).expect("attempts serialize");
                    line.push(b'\n');
                    result = result.and_then(|()| file.write_all(&line));
                }
                Message::Flush(done) => flushed.push(done),
            }
        }
        if let Err(e) = result.and_then(|()| file.sync_data()) {
            tracing::error!("{}: attempts not written: {e}", path.display());
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

impl Sink for AttemptsLog {
    fn event(&self, e: &Event) {
        if let Some(a) = Attempt::from_event(e) {
            // Waits when the writer is behind; the queue is bounded.
            let _ = self.queue.send(Message::Attempt(Box::new(a)));
        }
    }
}

/// Reads every attempt in a log; a torn last line (a crash mid-append) is skipped, and so is
/// a line over [`MAX_ATTEMPT_LINE_BYTES`].
pub fn read(path: &Path) -> io::Result<Vec<Attempt>> {
    let mut out = Vec::new();
    for_each(path, LongLines::Skip, |a| out.push(a))?;
    Ok(out)
}

/// What [`read_line`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, its `\n` included (absent on a torn last line).
    Read,
    /// The start of a line over [`MAX_ATTEMPT_LINE_BYTES`]: no attempt. The rest of it is
    /// left unread ([`BufRead::skip_until`] passes over it in bounded memory).
    TooLong,
    /// The end of the log.
    End,
}

/// Reads the next line of a log into `line` (cleared first), holding at most
/// [`MAX_ATTEMPT_LINE_BYTES`] of it.
pub fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<Line> {
    line.clear();
    let limit = MAX_ATTEMPT_LINE_BYTES as u64;
    if io::Read::take(&mut *reader, limit).read_until(b'\n', line)? == 0 {
        return Ok(Line::End);
    }
    Ok(
        if line.len() == MAX_ATTEMPT_LINE_BYTES && !line.ends_with(b"\n") {
            Line::TooLong
        } else {
            Line::Read
        },
    )
}

/// What reading a log does with a line over [`MAX_ATTEMPT_LINE_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongLines {
    /// Skip it (in bounded memory) and count it: a damaged file loses only that line.
    Skip,
    /// Stop with an error: a peer that sends one is not serving an attempts log (and may
    /// never end the line).
    Refuse,
}

/// Calls `each` for every attempt in a log, in order, in bounded memory; a line that is not
/// an attempt (a torn last line after a crash mid-append) is skipped. Returns how many lines
/// over [`MAX_ATTEMPT_LINE_BYTES`] were skipped.
pub fn for_each(path: &Path, long: LongLines, each: impl FnMut(Attempt)) -> io::Result<u64> {
    for_each_in(io::BufReader::new(std::fs::File::open(path)?), long, each)
}

/// [`for_each`] over any reader of JSON Lines (a file, or `GET /attempts`).
pub fn for_each_in(
    mut reader: impl BufRead,
    long: LongLines,
    mut each: impl FnMut(Attempt),
) -> io::Result<u64> {
    let (mut line, mut number, mut skipped) = (Vec::new(), 0u64, 0);
    loop {
        number += 1;
        match read_line(&mut reader, &mut line)? {
            Line::End => return Ok(skipped),
            Line::Read => {
                if let Ok(a) = serde_json::from_slice(&line) {
                    each(a);
                }
            }
            Line::TooLong if long == LongLines::Skip => {
                reader.skip_until(b'\n')?;
                skipped += 1;
            }
            Line::TooLong => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {number} is longer than {MAX_ATTEMPT_LINE_BYTES} bytes, the longest \
                         attempt: this is not an attempts log"
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn attempt(node: &str, outcome: &str, t: f64, margin: Option<f64>) -> Attempt {
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
            difficulty_bits: None,
            race: RaceMode::Lab,
            latency: None,
        }
    }

    #[test]
    fn attempts_round_trip_and_live_beside_the_ledger() {
        let a = attempt("Node1", "won", 1.0, None);
        let line = crate::json::to_vec(&a).unwrap();
        assert_eq!(serde_json::from_slice::<Attempt>(&line).unwrap(), a);
        assert_eq!(
            path_for(Path::new("/a/ledger.json")),
            Path::new("/a/ledger.attempts.jsonl")
        );
    }

    /// A line is read up to MAX_ATTEMPT_LINE_BYTES, its `\n` included: the longest is an
    /// attempt, one byte more is skipped (and counted) or refused, and the lines after it read.
    #[test]
    fn lines_are_capped_at_the_longest_attempt() {
        let good = crate::json::to_vec(&attempt("Node1", "won", 1.0, None)).unwrap();
        let mut longest = good.clone();
        longest.truncate(good.len() - 1);
        longest.resize(MAX_ATTEMPT_LINE_BYTES - 2, b' ');
        longest.extend_from_slice(b"}\n");
        assert_eq!(longest.len(), MAX_ATTEMPT_LINE_BYTES);
        let mut over = longest.clone();
        over.insert(0, b' ');
        let log = [&good[..], b"\n", &over, &longest, &over[..over.len() - 1]].concat();
        let mut seen = 0;
        let skipped = for_each_in(&log[..], LongLines::Skip, |_| seen += 1).unwrap();
        assert_eq!((seen, skipped), (2, 2));
        let err = for_each_in(&log[..], LongLines::Refuse, |_| {}).unwrap_err();
        assert!(
            err.to_string().starts_with("line 2 is longer than"),
            "{err}"
        );
    }

    /// `flush` returns only once every attempt queued before it is in the file: what shutdown
    /// relies on. Thousands queued at once, read back the moment `flush` returns, many times.
    #[test]
    fn flush_returns_when_everything_queued_is_written() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ledger.attempts.jsonl");
            let log = AttemptsLog::open(&path).unwrap();
            for i in 0..ATTEMPTS_QUEUE {
                let a = attempt(&format!("Node{i}"), "lost", 1.0, Some(0.5));
                log.queue.send(Message::Attempt(Box::new(a))).unwrap();
            }
            log.flush();
            assert_eq!(read(&path).unwrap().len(), ATTEMPTS_QUEUE, "round {round}");
        }
    }
}
