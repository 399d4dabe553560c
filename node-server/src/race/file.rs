//! The embedded arbiter: one host, one ledger file, any number of node processes.
//!
//! **Deciding** happens in a small decision log beside the ledger (`ledger.json.d/claims`),
//! under an OS lock (`ledger.json.d/decide.lock`) that is held for microseconds: a finished
//! search takes the lock, stamps its end on the host's monotonic clock (one clock for every
//! process), reads what others decided, and, if its transaction is undecided, appends its claim
//! as the winner. Decisions are therefore made in the order searches finish, in one process or
//! several, and no one waits behind a disk sync to be decided.
//!
//! **Recording** happens under the ledger's commit lock ([`crate::ledger::Writer`]): whichever
//! process takes it next appends every decided claim not yet in the ledger (its own and
//! others', in decision order: a group commit across processes), syncs, and marks them
//! committed in the log's header. A claimant is answered once the ledger holds its
//! transaction. If the ledger cannot be written (a full or read-only disk), the pending
//! decisions are withdrawn (the log is cut back and its generation bumped), and their claimants
//! and the losers waiting on them are told that nothing was recorded.
//!
//! **Bounded waits**: a process stopped while holding either lock (SIGSTOP, Ctrl-Z) must not
//! freeze the others. Taking the decision lock gives up after [`LEDGER_WAIT`] (nothing is
//! recorded; the client is told so); a decided claim whose recording waits longer than that is
//! answered "unavailable", and is recorded when the lock comes back.
//!
//! The log's first line is a fixed-size header `{"generation":G,"committed":C}`; each decision
//! after it is one JSON line. It is not synced: a decision matters only once recorded in the
//! ledger, and nothing is answered before that.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pow_core::chain::{Entry, EntryError, NewEntry, RaceMode};
use pow_core::Hash32;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Arbiter, BoxFuture, Claim, DecideError, Decision, Submitted};
use crate::clock::Stamp;
use crate::ledger::lock::{FileLock, Wait};
use crate::ledger::{Ledger, LedgerError};
use crate::limits::{LEDGER_WAIT, MAX_COMMIT_GROUP};
use crate::recent::Recent;

/// The decision log's header: one line of exactly this many bytes.
const HEADER_LEN: u64 = 64;

/// Once everything in the log is recorded and it has grown past this, it is emptied (its
/// generation bumped). Until then its decisions give late claims their exact margins.
pub const LOG_RESET_BYTES: u64 = 1 << 20;

/// Winners' monotonic end stamps remembered after their decisions leave the log, to give
/// late copies an exact margin.
const RECENT_WINNERS: usize = 4096;

/// One decision in the log: the winning claim, whole, so any process can record it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    tx_id: Hash32,
    node: String,
    transaction_data: String,
    nonce: u64,
    hash: Hash32,
    difficulty: u32,
    start_time: String,
    end_time: String,
    time_taken: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    difficulty_bits: Option<u32>,
    #[serde(default, skip_serializing_if = "RaceMode::is_lab")]
    race: RaceMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_time_us: Option<u64>,
    mono_end_ns: u64,
    pid: u32,
}

impl Record {
    fn new_entry(&self) -> NewEntry {
        NewEntry {
            node: self.node.clone(),
            transaction_data: self.transaction_data.clone(),
            nonce: self.nonce,
            hash: self.hash,
            time_taken: self.time_taken,
            start_time: self.start_time.clone(),
            end_time: self.end_time.clone(),
            difficulty: self.difficulty,
            race: self.race,
            difficulty_bits: self.difficulty_bits,
            target_time_us: self.target_time_us,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    generation: u64,
    committed: u64,
}

impl Header {
    fn bytes(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("the header serializes");
        line.resize(HEADER_LEN as usize - 1, b' ');
        line.push(b'\n');
        line
    }
}

fn read_header(file: &File) -> io::Result<Option<Header>> {
    if file.metadata()?.len() < HEADER_LEN {
        return Ok(None);
    }
    let mut buf = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut buf, 0)?;
    serde_json::from_slice::<Header>(buf.trim_ascii_end())
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad header: {e}")))
}

/// The complete records in `from..` (a torn last line is left out) and where they end.
fn read_records(file: &File, from: u64) -> io::Result<(Vec<(u64, Record)>, u64)> {
    let len = file.metadata()?.len();
    if len <= from {
        return Ok((Vec::new(), from));
    }
    let mut buf = vec![0u8; (len - from) as usize];
    file.read_exact_at(&mut buf, from)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let line = &buf[at..at + nl];
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => out.push((from + at as u64, r)),
            Err(e) => tracing::warn!("decision log: a line that is not a decision is ignored: {e}"),
        }
        at += nl + 1;
    }
    Ok((out, from + at as u64))
}

/// Who decided a transaction, as a claimant needs to know.
#[derive(Clone, Debug)]
struct Decided {
    mono_end_ns: u64,
}

/// This process's view of the decision log.
struct Log {
    path: PathBuf,
    lock_path: PathBuf,
    side: PathBuf,
    file: Option<File>,
    generation: u64,
    read_to: u64,
    decided: HashMap<Hash32, Decided>,
    /// Winners' monotonic ends, kept after their decisions leave the log.
    recent: Recent<Hash32, u64>,
}

impl Log {
    /// The log file, open; with `create`, created with its header if need be (the caller
    /// holds the decision lock). `None` if it does not exist and `create` is false.
    fn file(&mut self, create: bool) -> io::Result<Option<&File>> {
        let stale = match (&self.file, fs::metadata(&self.path)) {
            (Some(f), Ok(m)) => {
                let held = f.metadata()?;
                held.ino() != m.ino() || held.dev() != m.dev()
            }
            _ => true,
        };
        if stale {
            if create {
                fs::create_dir_all(&self.side)?;
            }
            let f = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(&self.path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
                Err(e) => return Err(e),
            };
            if create && f.metadata()?.len() < HEADER_LEN {
                f.set_len(0)?;
                f.write_all_at(
                    &Header {
                        generation: 0,
                        committed: HEADER_LEN,
                    }
                    .bytes(),
                    0,
                )?;
            }
            self.file = Some(f);
            self.generation = u64::MAX; // Reread from the start.
        }
        Ok(self.file.as_ref())
    }

    fn remember(&mut self, tx: Hash32, mono_end_ns: u64) {
        self.recent.insert(tx, mono_end_ns);
    }

    /// Catches up with the log (under the decision lock): a new generation means the log was
    /// emptied after its decisions were recorded (or withdrawn), so the ledger is reread too.
    fn sync(&mut self, ledger: &Ledger) -> Result<(), DecideError> {
        let path = self.path.clone();
        let io_err = |e| DecideError::Ledger(Arc::new(LedgerError::io(&path, e)));
        let file = self
            .file(true)
            .map_err(|e| DecideError::Ledger(Arc::new(LedgerError::io(&path, e))))?
            .expect("created");
        let header = read_header(file).map_err(io_err)?.unwrap_or_default();
        let file = file.try_clone().map_err(io_err)?;
        if header.generation != self.generation {
            // Decisions before `committed` are in the ledger (or were dropped): only those
            // after it are pending.
            self.decided.clear();
            self.generation = header.generation;
            self.read_to = header.committed.max(HEADER_LEN);
            ledger.refresh().map_err(DecideError::Ledger)?;
        }
        let (records, end) = read_records(&file, self.read_to).map_err(io_err)?;
        for (_, r) in records {
            self.remember(r.tx_id, r.mono_end_ns);
            self.decided.insert(
                r.tx_id,
                Decided {
                    mono_end_ns: r.mono_end_ns,
                },
            );
        }
        self.read_to = end;
        Ok(())
    }

    /// Appends a decision (under the decision lock, after [`sync`](Self::sync)). A torn line
    /// left by a process that died while appending is cut off first.
    fn append(&mut self, r: &Record) -> io::Result<()> {
        let at = self.read_to;
        let file = self.file(true)?.expect("created");
        if file.metadata()?.len() != at {
            file.set_len(at)?;
        }
        let mut line = serde_json::to_vec(r).expect("records serialize");
        line.push(b'\n');
        file.write_all_at(&line, at)?;
        self.read_to = at + line.len() as u64;
        self.remember(r.tx_id, r.mono_end_ns);
        self.decided.insert(
            r.tx_id,
            Decided {
                mono_end_ns: r.mono_end_ns,
            },
        );
        Ok(())
    }
}

/// A claimant waiting for its transaction to be recorded.
struct Waiter {
    tx: Hash32,
    /// What identifies this claim's own entry, should it be the one recorded.
    node: String,
    nonce: u64,
    start_time: String,
    margin: Option<f64>,
    /// The log's generation when the claim was decided: if it changes and the transaction
    /// is not recorded, the decision was withdrawn.
    generation: u64,
    reply: oneshot::Sender<Result<Decision, DecideError>>,
}

impl Waiter {
    fn decision(&self, entry: Entry) -> Decision {
        if entry.node == self.node
            && entry.nonce == self.nonce
            && entry.start_time == self.start_time
        {
            Decision::Won(entry)
        } else {
            Decision::Lost {
                entry,
                margin: self.margin,
            }
        }
    }
}

#[derive(Default)]
struct Pending {
    waiters: Vec<Waiter>,
    /// Claimants ever added: a round that answered nobody sleeps only if none arrived.
    arrivals: u64,
    stopping: bool,
    /// The writer is recording (flush waits for it).
    busy: bool,
}

struct Shared {
    ledger: Arc<Ledger>,
    log: Mutex<Log>,
    pending: Mutex<Pending>,
    wake: Condvar,
    idle: tokio::sync::Notify,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file-ledger arbiter: see the module documentation.
pub struct FileArbiter {
    shared: Arc<Shared>,
}

impl FileArbiter {
    /// An arbiter deciding races for `ledger`, with its recording thread.
    pub fn new(ledger: Arc<Ledger>) -> io::Result<FileArbiter> {
        let side = ledger.paths().side.clone();
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                path: side.join("claims"),
                lock_path: side.join("decide.lock"),
                side,
                file: None,
                generation: u64::MAX,
                read_to: HEADER_LEN,
                decided: HashMap::new(),
                recent: Recent::new(RECENT_WINNERS),
            }),
            ledger,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            idle: tokio::sync::Notify::new(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || record_loop(&s))?;
        Ok(FileArbiter { shared })
    }
}

impl Drop for FileArbiter {
    fn drop(&mut self) {
        self.shared.pending().stopping = true;
        self.shared.wake.notify_all();
    }
}

/// Why a claim may not enter the race: it was mined at a difficulty other than the chain's
/// (which its first entry fixes); `None` if it may.
fn other_difficulty(ledger: &Ledger, claim: &Claim) -> Option<String> {
    let chain = ledger.rule()?;
    let own = match claim.target_time_us {
        Some(target_time_us) => pow_core::chain::ChainRule::Retarget { target_time_us },
        None => pow_core::chain::ChainRule::Bits(
            claim
                .difficulty_bits
                .unwrap_or(claim.difficulty.saturating_mul(8)),
        ),
    };
    (own != chain).then(|| {
        format!(
            "mined at {own}, but the ledger's chain is at {chain} (its first entry fixes it): \
             nothing was recorded"
        )
    })
}

/// How far behind the winner a late claim finished, from the wall-clock end times (both
/// derived from their starts plus monotonic durations); `None` if that comes out negative,
/// which only a wall-clock step between the two starts can cause.
fn wall_margin(own_end: &Stamp, winner_end: &str) -> Option<f64> {
    let winner = Stamp::parse(winner_end)?;
    let m = (own_end.micros() - winner.micros()) as f64 / 1e6;
    (m >= 0.0).then_some(m)
}

impl Arbiter for FileArbiter {
    fn submit(&self, claim: Claim) -> Result<Submitted, DecideError> {
        let shared = &self.shared;
        let deadline = Instant::now() + LEDGER_WAIT;
        let tx = claim.tx_id();
        if let Some(why) = other_difficulty(&shared.ledger, &claim) {
            return Err(DecideError::Withdrawn(why));
        }
        let mut log = shared.log();
        let lock_path = log.lock_path.clone();
        if let Err(e) = fs::create_dir_all(&log.side) {
            return Err(DecideError::Ledger(Arc::new(LedgerError::io(&log.side, e))));
        }
        let lock = FileLock::acquire(&lock_path, Wait::Until(deadline))
            .map_err(|e| DecideError::Ledger(Arc::new(LedgerError::io(&lock_path, e))))?
            .ok_or_else(|| DecideError::Unavailable {
                why: format!(
                    "the ledger's decision lock ({}) was held by another process for more than \
                     {} s (is it stopped?); nothing was recorded",
                    lock_path.display(),
                    LEDGER_WAIT.as_secs()
                ),
                decided: false,
            })?;
        // The finish is stamped under the lock: decisions follow the order of these stamps.
        let finish = claim.finish_now();
        let (end, time_taken, end_mono) = (finish.end, finish.time_taken, finish.mono_ns);
        log.sync(&shared.ledger)?;
        let margin_to = |winner_mono: u64| Some(end_mono.saturating_sub(winner_mono) as f64 / 1e9);
        let waiting = if let Some(d) = log.decided.get(&tx) {
            // Decided by an earlier finish; its entry may not be recorded yet.
            Some(margin_to(d.mono_end_ns))
        } else if let Some(entry) = shared.ledger.get(&tx).map_err(DecideError::Ledger)? {
            // A late copy: the race was decided and recorded long ago.
            let margin = match log.recent.get(&tx) {
                Some(&m) => margin_to(m),
                None => wall_margin(&end, &entry.end_time),
            };
            drop(lock);
            return Ok(Submitted {
                finish,
                decision: Box::pin(std::future::ready(Ok(Decision::Lost { entry, margin }))),
            });
        } else {
            let record = Record {
                tx_id: tx,
                node: claim.node.clone(),
                transaction_data: claim.transaction_data.clone(),
                nonce: claim.nonce,
                hash: claim.hash,
                difficulty: claim.difficulty,
                start_time: claim.start.wall.text(),
                end_time: end.text(),
                time_taken,
                difficulty_bits: claim.difficulty_bits,
                race: claim.race,
                target_time_us: claim.target_time_us,
                mono_end_ns: end_mono,
                pid: std::process::id(),
            };
            log.append(&record)
                .map_err(|e| DecideError::Ledger(Arc::new(LedgerError::io(&log.path, e))))?;
            None
        };
        let generation = log.generation;
        drop(lock);
        drop(log);

        let (reply, rx) = oneshot::channel();
        let mut pending = shared.pending();
        pending.arrivals += 1;
        pending.waiters.push(Waiter {
            tx,
            node: claim.node,
            nonce: claim.nonce,
            start_time: claim.start.wall.text(),
            margin: waiting.flatten(),
            generation,
            reply,
        });
        drop(pending);
        shared.wake.notify_all();
        let won = waiting.is_none();
        let decision =
            async move {
                match tokio::time::timeout_at(deadline.into(), rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(DecideError::Closed),
                    Err(_) => {
                        Err(DecideError::Unavailable {
                            why: format!(
                        "the ledger could not be written for {} s (its commit lock is held by \
                         another process: is it stopped?); {} decided and will be recorded \
                         when the ledger is free",
                        LEDGER_WAIT.as_secs(),
                        if won { "this node's win is" } else { "the race is" }
                    ),
                            decided: true,
                        })
                    }
                }
            };
        Ok(Submitted {
            finish,
            decision: Box::pin(decision),
        })
    }

    fn recorded(&self, tx_id: &Hash32) -> Result<Option<Entry>, DecideError> {
        self.shared.ledger.get(tx_id).map_err(DecideError::Ledger)
    }

    fn ledger(&self) -> &Arc<Ledger> {
        &self.shared.ledger
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            loop {
                let idle = shared.idle.notified();
                {
                    let p = shared.pending();
                    if p.waiters.is_empty() && !p.busy {
                        return;
                    }
                }
                idle.await;
            }
        })
    }
}

/// The recording thread: whenever claimants wait, take the commit lock, record every pending
/// decision, and answer them.
fn record_loop(shared: &Shared) {
    loop {
        let arrivals = {
            let mut p = shared.pending();
            while p.waiters.is_empty() && !p.stopping {
                p = shared.wake.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            if p.waiters.is_empty() && p.stopping {
                return;
            }
            p.busy = true;
            p.arrivals
        };
        let round = record_round(shared);
        let progressed = answer(shared, &round);
        let arrived = {
            let mut p = shared.pending();
            p.busy = false;
            if p.waiters.is_empty() {
                shared.idle.notify_waiters();
            }
            p.arrivals != arrivals
        };
        if !progressed && !arrived {
            // Nothing could be answered (the ledger is broken, or a withdrawal is still being
            // noticed): do not spin.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The outcome of one recording round: the log's generation after it, or why it failed.
type Round = Result<u64, Arc<LedgerError>>;

/// Records every pending decision under the commit lock.
fn record_round(shared: &Shared) -> Round {
    let ledger = &shared.ledger;
    let mut writer = ledger
        .writer(Wait::Forever)?
        .expect("a blocking wait always gets the lock");
    let (file, log_path, lock_path) = {
        let mut log = shared.log();
        let path = log.path.clone();
        let file = log
            .file(false)
            .and_then(|f| f.map(File::try_clone).transpose())
            .map_err(|e| Arc::new(LedgerError::io(&path, e)))?;
        let Some(file) = file else {
            // No decision was ever logged: nothing to record.
            return Ok(log.generation);
        };
        (file, path, log.lock_path.clone())
    };
    let io = |e| Arc::new(LedgerError::io(&log_path, e));
    let header = read_header(&file).map_err(io)?.unwrap_or_default();
    let (mut records, mut records_end) =
        read_records(&file, header.committed.max(HEADER_LEN)).map_err(io)?;
    if records.len() > MAX_COMMIT_GROUP {
        // The rest waits for the next round: one commit stays bounded.
        records_end = records[MAX_COMMIT_GROUP].0;
        records.truncate(MAX_COMMIT_GROUP);
    }
    let mut entries = Vec::new();
    let mut last = writer.last();
    let mut check = writer.check();
    let mut here = HashSet::new();
    let mut dropped = false;
    for (_, r) in &records {
        if writer.lookup(&r.tx_id).is_some() || !here.insert(r.tx_id) {
            continue;
        }
        let e = r.new_entry().chain_onto(last.as_ref());
        match check.link(&e) {
            Ok(()) => {}
            Err(EntryError::WrongRetarget { expected, found }) => {
                // Mined at a difficulty retargeting no longer gives this place (another
                // race took the one it was mined for): dropped, its claimant told to resend.
                tracing::info!(
                    "a claim for {:?} was mined at {found} bits, the ledger now asks {expected}: \
                     dropped",
                    r.transaction_data
                );
                dropped = true;
                continue;
            }
            Err(EntryError::WrongDifficulty { expected, found }) => {
                // Mined at another difficulty than the chain's (decided before the chain's
                // first entry was recorded): dropped, its claimant told so.
                tracing::warn!(
                    "a claim for {:?} was mined at {found}, the chain is at {expected}: dropped",
                    r.transaction_data
                );
                dropped = true;
                continue;
            }
            Err(other) => {
                tracing::error!("a decided claim does not chain: {other}; dropped");
                dropped = true;
                continue;
            }
        }
        last = Some(e.clone());
        entries.push(e);
    }
    let appended = writer.append(&entries);
    // Mark the log (under the decision lock, so no decision is appended meanwhile).
    let decide_lock = FileLock::acquire(&lock_path, Wait::Forever)
        .map_err(|e| Arc::new(LedgerError::io(&lock_path, e)))?
        .expect("a blocking wait always gets the lock");
    let len = file.metadata().map_err(io)?.len();
    let next = match &appended {
        Ok(()) if records_end == len && len > LOG_RESET_BYTES => {
            file.set_len(HEADER_LEN).map_err(io)?;
            Header {
                generation: header.generation + 1,
                committed: HEADER_LEN,
            }
        }
        Ok(()) => Header {
            // A dropped decision is told by a new generation, as a withdrawn one is.
            generation: header.generation + u64::from(dropped),
            committed: records_end,
        },
        Err(e) => {
            // Withdraw every decision not recorded: nothing of them is written, and their
            // claimants (in any process) see the new generation and are told so.
            tracing::error!("recording decided races failed: {e}; their decisions are withdrawn");
            file.set_len(header.committed.max(HEADER_LEN)).map_err(io)?;
            Header {
                generation: header.generation + 1,
                committed: header.committed.max(HEADER_LEN),
            }
        }
    };
    file.write_all_at(&next.bytes(), 0).map_err(io)?;
    drop(decide_lock);
    drop(writer);
    appended.map(|()| next.generation)
}

/// Answers the claimants whose transactions are now recorded (or whose decisions were
/// withdrawn); true if any was answered.
fn answer(shared: &Shared, round: &Round) -> bool {
    let mut waiters = std::mem::take(&mut shared.pending().waiters);
    let before = waiters.len();
    waiters.retain(|w| !w.reply.is_closed());
    let mut answered = before != waiters.len();
    let mut keep = Vec::new();
    for w in waiters {
        let recorded = match shared.ledger.get(&w.tx) {
            Ok(r) => r,
            Err(e) => {
                let _ = w.reply.send(Err(DecideError::Ledger(e)));
                answered = true;
                continue;
            }
        };
        let result = match (recorded, round) {
            (Some(entry), _) => Some(Ok(w.decision(entry))),
            (None, Err(e)) => Some(Err(DecideError::Ledger(e.clone()))),
            (None, Ok(generation)) if *generation != w.generation => {
                Some(Err(DecideError::Withdrawn(
                    "the decision was withdrawn before it was recorded (the ledger could not \
                     be written, or retargeting changed the difficulty while the node mined); \
                     nothing was recorded for this transaction: send it again"
                        .into(),
                )))
            }
            (None, Ok(_)) => None,
        };
        match result {
            Some(r) => {
                let _ = w.reply.send(r);
                answered = true;
            }
            None => keep.push(w),
        }
    }
    shared.pending().waiters.extend(keep);
    answered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Start;

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
            difficulty: 1,
            difficulty_bits: None,
            race: RaceMode::Lab,
            target_time_us: None,
            start: Start::now(),
        }
    }

    async fn decide(a: &FileArbiter, c: Claim) -> Decision {
        a.submit(c).unwrap().decision.await.unwrap()
    }

    #[tokio::test]
    async fn the_first_claim_wins_in_any_process_and_losers_get_their_margin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let a = FileArbiter::new(Ledger::open(&path).unwrap().0).unwrap();
        let b = FileArbiter::new(Ledger::open(&path).unwrap().0).unwrap();
        let Decision::Won(e) = decide(&a, claim("Node1", "x")).await else {
            panic!("the first claim wins")
        };
        assert_eq!(e.index, 0);
        // Another "process" (its own handles on the files) loses, with a margin measured on
        // the monotonic clock.
        let Decision::Lost { entry, margin } = decide(&b, claim("Node2", "x")).await else {
            panic!("the second claim loses")
        };
        assert_eq!(entry, e);
        assert!(margin.unwrap() >= 0.0);
        let Decision::Won(e2) = decide(&b, claim("Node2", "y")).await else {
            panic!()
        };
        assert_eq!((e2.index, e2.prev_hash), (1, e.entry_hash));
        assert_eq!(crate::ledger::load(&path).unwrap(), vec![e, e2]);
    }

    #[tokio::test]
    async fn many_claimants_in_two_processes_record_one_winner_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let arbiters: Vec<Arc<FileArbiter>> = (0..2)
            .map(|_| Arc::new(FileArbiter::new(Ledger::open(&path).unwrap().0).unwrap()))
            .collect();
        let claims: Vec<Claim> = (0..40)
            .flat_map(|i| ["Node1", "Node2", "Node3"].map(|n| claim(n, &format!("tx {i}"))))
            .collect();
        let mut tasks = Vec::new();
        for (k, c) in claims.into_iter().enumerate() {
            let a = arbiters[k % 2].clone();
            tasks.push(std::thread::spawn(move || a.submit(c).map(|s| s.decision)));
        }
        let mut won = HashMap::new();
        for t in tasks {
            let d = t.join().unwrap().unwrap().await.unwrap();
            if let Decision::Won(e) = d {
                assert!(won.insert(e.tx_id, e.index).is_none(), "two winners");
            }
        }
        assert_eq!(won.len(), 40);
        assert_eq!(crate::ledger::load(&path).unwrap().len(), 40);
    }
}
