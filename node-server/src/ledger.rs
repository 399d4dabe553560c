//! `ledger.json`: a JSON array of winning entries, valid at every instant, crash-safe,
//! tamper-evident, shared safely by several processes.
//!
//! - **Format**: [`pow_core::chain::Entry`], a hash chain checked by
//!   [`pow_core::chain::verify_chain`].
//! - **Durability**: a commit writes the whole array to a temporary file beside the ledger,
//!   fsyncs it, renames it over `ledger.json` and fsyncs the directory; a reader (or a crash)
//!   sees the old array or the new one, never a mix. Claims are committed in groups
//!   ([`MAX_COMMIT_GROUP`]): under load one fsync serves many races.
//! - **One winner**: a single writer thread decides each claim under an OS lock on the sibling
//!   file `ledger.json.lock` (never on the file that gets renamed); before deciding it reloads
//!   the ledger if another process changed it. The first claim for a transaction wins; every
//!   later one is told who won. Claimants are answered only once the decision is durable.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use pow_core::chain::{self, ChainError, Entry, NewEntry};
use pow_core::Hash32;
use tokio::sync::{mpsc, oneshot};

use crate::limits::{LEDGER_QUEUE, MAX_COMMIT_GROUP};

/// Why the ledger could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a JSON array of entries.
    #[error("{path}: not a valid ledger: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where and why, with the last good entry.
        detail: String,
    },
    /// An entry does not verify.
    #[error("{path}: {error}; entries before index {} verify", error.position)]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The first bad entry and why.
        error: ChainError,
    },
    /// The writer has stopped (the node is shutting down).
    #[error("the ledger writer has stopped")]
    Closed,
}

impl LedgerError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A node's claim to have solved a transaction first: a ledger entry without its place in
/// the chain, which the writer gives it if the claim wins.
pub type Claim = NewEntry;

/// The ledger's answer to a claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The claim was first: this entry is now durable.
    Won(Entry),
    /// Another claim was first: its (durable) entry.
    Lost(Entry),
}

/// The file's identity and version, to notice another process's commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp_of(path: &Path) -> io::Result<Option<Stamp>> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(m) => Ok(Some(Stamp {
            len: m.len(),
            modified: m.modified().ok(),
            inode: m.ino(),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The entries as committed, with an index by transaction.
#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    by_tx: HashMap<Hash32, usize>,
    stamp: Option<Stamp>,
}

impl State {
    fn from_entries(entries: Vec<Entry>, stamp: Option<Stamp>) -> Self {
        let by_tx = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.tx_id, i))
            .collect();
        Self {
            entries,
            by_tx,
            stamp,
        }
    }
}

struct Shared {
    path: PathBuf,
    lock_path: PathBuf,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reloads the file if another process committed since we last looked.
    fn refresh(&self) -> Result<(), LedgerError> {
        let now = stamp_of(&self.path).map_err(|e| LedgerError::io(&self.path, e))?;
        if now == self.state().stamp {
            return Ok(());
        }
        let entries = load(&self.path)?;
        *self.state() = State::from_entries(entries, now);
        Ok(())
    }
}

struct Request {
    claim: Claim,
    reply: oneshot::Sender<Result<Decision, Arc<LedgerError>>>,
}

/// A handle on the ledger; clones share one writer.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Request>,
}

impl Ledger {
    /// Loads and verifies the ledger at `path` (a missing or empty file is an empty ledger)
    /// and starts its writer thread. Refuses a ledger that does not verify, and never
    /// overwrites it.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let lock_path = lock_path_for(path);
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            lock_path,
            state: Mutex::new(State::default()),
        });
        {
            let lock = lock_file(&shared.lock_path)?;
            shared.refresh()?;
            drop(lock);
        }
        let (queue, rx) = mpsc::channel(LEDGER_QUEUE);
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || write_loop(&writer, rx))
            .map_err(|e| LedgerError::io(path, e))?;
        Ok(Ledger { shared, queue })
    }

    /// The ledger's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Decides a claim: the first for its transaction wins and is recorded. Answers once the
    /// decision is durable.
    pub async fn decide(&self, claim: Claim) -> Result<Decision, Arc<LedgerError>> {
        let (reply, rx) = oneshot::channel();
        self.queue
            .send(Request { claim, reply })
            .await
            .map_err(|_| Arc::new(LedgerError::Closed))?;
        rx.await.map_err(|_| Arc::new(LedgerError::Closed))?
    }

    /// Queues a claim now, waiting for room if the queue is full, and returns the decision
    /// to come. Claims are decided in the order they are queued. It blocks: call it from a
    /// plain thread (a search thread), never from the async runtime.
    pub fn submit(
        &self,
        claim: Claim,
    ) -> impl std::future::Future<Output = Result<Decision, Arc<LedgerError>>> + Send + 'static
    {
        let (reply, rx) = oneshot::channel();
        let queued = self.queue.blocking_send(Request { claim, reply }).is_ok();
        async move {
            if !queued {
                return Err(Arc::new(LedgerError::Closed));
            }
            rx.await.map_err(|_| Arc::new(LedgerError::Closed))?
        }
    }

    /// The recorded entry for a transaction, if any (rereading the file if another process
    /// changed it).
    pub fn get(&self, tx_id: &Hash32) -> Option<Entry> {
        if let Err(e) = self.shared.refresh() {
            tracing::warn!("ledger reload failed: {e}");
        }
        let state = self.shared.state();
        state.by_tx.get(tx_id).map(|&i| state.entries[i].clone())
    }

    /// Every recorded entry.
    pub fn entries(&self) -> Vec<Entry> {
        if let Err(e) = self.shared.refresh() {
            tracing::warn!("ledger reload failed: {e}");
        }
        self.shared.state().entries.clone()
    }

    /// How many entries are recorded (rereading the file if another process changed it).
    pub fn len(&self) -> usize {
        if let Err(e) = self.shared.refresh() {
            tracing::warn!("ledger reload failed: {e}");
        }
        self.shared.state().entries.len()
    }

    /// Whether nothing is recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `ledger.json` → `ledger.json.lock`.
pub fn lock_path_for(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn lock_file(lock_path: &Path) -> Result<File, LedgerError> {
    use fs4::fs_std::FileExt;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path)
        .map_err(|e| LedgerError::io(lock_path, e))?;
    file.lock_exclusive()
        .map_err(|e| LedgerError::io(lock_path, e))?;
    Ok(file)
}

fn write_loop(shared: &Shared, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_COMMIT_GROUP {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let outcome = commit_group(shared, &group);
        for (req, decision) in group.into_iter().zip(outcome) {
            let _ = req.reply.send(decision);
        }
    }
}

type Outcome = Result<Decision, Arc<LedgerError>>;

/// Decides and commits one group of claims under the lock.
fn commit_group(shared: &Shared, group: &[Request]) -> Vec<Outcome> {
    let fail_all = |e: LedgerError| {
        let e = Arc::new(e);
        group.iter().map(|_| Err(e.clone())).collect()
    };
    let lock = match lock_file(&shared.lock_path) {
        Ok(l) => l,
        Err(e) => return fail_all(e),
    };
    if let Err(e) = shared.refresh() {
        return fail_all(e);
    }
    let mut state = shared.state();
    let committed = state.entries.len();
    let mut decisions = Vec::with_capacity(group.len());
    for req in group {
        let tx_id = Hash32::digest(req.claim.transaction_data.as_bytes());
        if let Some(&i) = state.by_tx.get(&tx_id) {
            decisions.push(Decision::Lost(state.entries[i].clone()));
            continue;
        }
        let entry = req.claim.clone().chain_onto(state.entries.last());
        let i = state.entries.len();
        state.by_tx.insert(entry.tx_id, i);
        state.entries.push(entry.clone());
        decisions.push(Decision::Won(entry));
    }
    if state.entries.len() > committed {
        match write_atomically(&shared.path, &state.entries) {
            Ok(stamp) => state.stamp = stamp,
            Err(e) => {
                // Nothing was half-written: the file still holds the old array. Forget the
                // group's entries so a later claim can win once the disk is writable again.
                let dropped: Vec<Entry> = state.entries.drain(committed..).collect();
                for e in dropped {
                    state.by_tx.remove(&e.tx_id);
                }
                drop(state);
                drop(lock);
                return fail_all(LedgerError::io(&shared.path, e));
            }
        }
    }
    drop(state);
    drop(lock);
    decisions.into_iter().map(Ok).collect()
}

/// Serializes entries as the ledger's text: a pretty JSON array, two-space indent, like the
/// lab's file.
pub fn to_text(entries: &[Entry]) -> Vec<u8> {
    if entries.is_empty() {
        return b"[]\n".to_vec();
    }
    let mut out = Vec::with_capacity(entries.len() * 600);
    out.extend_from_slice(b"[\n");
    for (i, e) in entries.iter().enumerate() {
        let pretty = serde_json::to_vec_pretty(e).expect("an entry serializes");
        out.extend_from_slice(b"  ");
        for &b in &pretty {
            out.push(b);
            if b == b'\n' {
                out.extend_from_slice(b"  ");
            }
        }
        out.extend_from_slice(if i + 1 < entries.len() { b",\n" } else { b"\n" });
    }
    out.extend_from_slice(b"]\n");
    out
}

/// Replaces `path` with `entries`: temp file, fsync, rename, fsync the directory.
fn write_atomically(path: &Path, entries: &[Entry]) -> io::Result<Option<Stamp>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&to_text(entries))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    stamp_of(path)
}

/// Reads and verifies a ledger file. A missing file, or one with only white space, is an
/// empty ledger.
pub fn load(path: &Path) -> Result<Vec<Entry>, LedgerError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LedgerError::io(path, e)),
    };
    let entries = parse(&bytes).map_err(|detail| LedgerError::Malformed {
        path: path.to_owned(),
        detail,
    })?;
    chain::verify_chain(&entries).map_err(|error| LedgerError::Invalid {
        path: path.to_owned(),
        error,
    })?;
    Ok(entries)
}

/// Parses the ledger's text entry by entry, so that a truncated or corrupted file is reported
/// with the position of the first entry that does not parse.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 at byte {}", e.valid_up_to()))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let mut rest = trimmed
        .strip_prefix('[')
        .ok_or("does not start with '[' (a ledger is a JSON array)")?;
    let mut entries: Vec<Entry> = Vec::new();
    let good = |n: usize| match n {
        0 => "no entry before it parses".to_owned(),
        n => format!("entries 0 to {} parse", n - 1),
    };
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            if !after.trim().is_empty() {
                return Err("text after the closing ']'".into());
            }
            return Ok(entries);
        }
        if !entries.is_empty() {
            rest = rest
                .strip_prefix(',')
                .ok_or_else(|| {
                    format!(
                        "expected ',' or ']' after entry {} ({}; the file is truncated or corrupted)",
                        entries.len() - 1,
                        good(entries.len())
                    )
                })?
                .trim_start();
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                return Err(format!(
                    "entry {} is not valid JSON ({e}; {}; the file is truncated or corrupted)",
                    entries.len(),
                    good(entries.len())
                ))
            }
            None => {
                return Err(format!(
                    "the array ends without ']' after entry {} ({}; the file is truncated)",
                    entries.len().saturating_sub(1),
                    good(entries.len())
                ))
            }
        };
        let used = stream.byte_offset();
        let entry: Entry = serde_json::from_value(value).map_err(|e| {
            format!(
                "entry {} is not a ledger entry: {e} ({})",
                entries.len(),
                good(entries.len())
            )
        })?;
        entries.push(entry);
        rest = &rest[used..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(node: &str, data: &str) -> Claim {
        let d = pow_core::Difficulty::from_zero_bytes(1).unwrap();
        let s = pow_core::search::solve(data.as_bytes(), d)
            .solution
            .unwrap();
        Claim {
            node: node.into(),
            transaction_data: data.into(),
            nonce: s.nonce,
            hash: s.hash,
            time_taken: 0.25,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.269815".into(),
            difficulty: 1,
        }
    }

    #[tokio::test]
    async fn first_claim_wins_and_the_file_is_always_an_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let ledger = Ledger::open(&path).unwrap();
        let won = ledger.decide(claim("Node2", "a")).await.unwrap();
        let Decision::Won(entry) = won else {
            panic!("the first claim wins")
        };
        assert_eq!(entry.index, 0);
        let lost = ledger.decide(claim("Node1", "a")).await.unwrap();
        assert_eq!(lost, Decision::Lost(entry.clone()));
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["node"], "Node2");
        assert_eq!(load(&path).unwrap(), vec![entry]);
        // A second handle (as another process would) sees it and does not record it twice.
        let other = Ledger::open(&path).unwrap();
        assert!(matches!(
            other.decide(claim("Node3", "a")).await.unwrap(),
            Decision::Lost(_)
        ));
        assert!(matches!(
            other.decide(claim("Node3", "b")).await.unwrap(),
            Decision::Won(Entry { index: 1, .. })
        ));
        assert_eq!(ledger.get(&Hash32::digest(b"b")).unwrap().index, 1);
    }

    #[test]
    fn text_round_trips_and_reads_like_the_lab() {
        assert_eq!(to_text(&[]), b"[]\n");
        assert_eq!(parse(b"[]").unwrap(), vec![]);
        assert_eq!(parse(b"  ").unwrap(), vec![]);
        let e = Entry {
            node: "Node2".into(),
            transaction_data: "tab\t\"q\"".into(),
            nonce: 1,
            hash: Hash32::ZERO,
            time_taken: 0.05589103698730469,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.087422".into(),
            difficulty: 0,
            index: 0,
            tx_id: Hash32::ZERO,
            prev_hash: Hash32::ZERO,
            entry_hash: Hash32::ZERO,
        };
        let text = to_text(&[e.clone(), e.clone()]);
        let s = std::str::from_utf8(&text).unwrap();
        assert!(s.starts_with("[\n  {\n    \"node\": \"Node2\",\n    \"transaction_data\""));
        assert!(s.ends_with("  }\n]\n"));
        assert_eq!(parse(&text).unwrap(), vec![e.clone(), e]);
        let cut = &text[..text.len() / 2 + 40];
        let err = parse(cut).unwrap_err();
        assert!(
            err.contains("entry 1") && err.contains("entries 0 to 0 parse"),
            "{err}"
        );
    }
}
