//! The embedded arbiter: one host, one ledger file, any number of node processes.
//!
//! **Deciding** happens in a small decision log beside the ledger (`ledger.json.d/claims`),
//! under an OS lock (the decide slot of `ledger.json.lock`, [`crate::ledger::lock`]) that is
//! held for microseconds: a finished
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
//! after it is one JSON line. Decisions before `committed` are in the ledger; only those after
//! it are pending. A new ledger (`ledger.json` removed or replaced) is a new chain for the log
//! too: a recorded decision of the old chain makes no claim wait, the transaction is raced
//! again.
//!
//! **Durability**: a decision is not synced: it matters only once recorded in the ledger, and
//! nothing is answered before that. What is answered before anything else is synced, a
//! withdrawal ("nothing was recorded"), is synced first: the log cut back and its new
//! generation, so a crash cannot bring the withdrawn decisions back to be recorded.
//!
//! **Damage**: a log that is missing, shorter than its header or than what was read from it,
//! or whose header does not parse (a careless `truncate`, a crash) is mended under both locks:
//! if every decision still readable in it is in the ledger, it is reset (a new generation, so
//! the claimants of lost pending decisions are told nothing was recorded); otherwise claims
//! fail with an error naming the file and what to do. A file is never extended with zeros.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pow_core::chain::{Entry, EntryError, NewEntry, RaceMode};
use pow_core::Hash32;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Arbiter, BoxFuture, Claim, DecideError, Decision, Submitted};
use crate::clock::Stamp;
use crate::ledger::lock::{FileLock, Slot, Wait};
use crate::ledger::{Ledger, LedgerError, Writer};
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
        debug_assert!(line.len() < HEADER_LEN as usize, "the header fits");
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
    read_records_with(file, from, true)
}

/// [`read_records`] of a damaged log: what is not a record is skipped without a word.
fn read_records_quietly(file: &File, from: u64) -> io::Result<(Vec<(u64, Record)>, u64)> {
    read_records_with(file, from, false)
}

fn read_records_with(file: &File, from: u64, warn: bool) -> io::Result<(Vec<(u64, Record)>, u64)> {
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
            Err(e) if warn => {
                tracing::warn!("decision log: a line that is not a decision is ignored: {e}")
            }
            Err(_) => {}
        }
        at += nl + 1;
    }
    Ok((out, from + at as u64))
}

/// Who decided a transaction, as a claimant needs to know.
#[derive(Clone, Debug)]
struct Decided {
    mono_end_ns: u64,
    /// Where its record is in the log.
    at: u64,
}

/// Why the decision log could not be used.
enum LogError {
    /// Reading or writing it failed.
    Io(io::Error),
    /// It is missing or damaged, and why: see [`Log::reset`].
    Damaged(String),
}

impl From<io::Error> for LogError {
    fn from(e: io::Error) -> Self {
        LogError::Io(e)
    }
}

/// A generation no process has seen for this log: the time in nanoseconds, and after `old`.
fn fresh_generation(old: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    if old == u64::MAX {
        now
    } else {
        now.max(old + 1)
    }
}

/// This process's view of the decision log.
struct Log {
    path: PathBuf,
    lock_path: PathBuf,
    side: PathBuf,
    file: Option<File>,
    generation: u64,
    read_to: u64,
    /// Pending decisions (after the header's `committed`), by transaction.
    decided: HashMap<Hash32, Decided>,
    /// The same, in log order, to drop them once recorded.
    pending: VecDeque<(u64, Hash32)>,
    /// Winners' monotonic ends, kept after their decisions leave the log.
    recent: Recent<Hash32, u64>,
}

impl Log {
    /// The log file, open, and its header (the caller holds the decision lock, or the commit
    /// lock, under which the header cannot change). `Damaged` if it is missing, shorter than
    /// its header or than what this process read from it, or its header is bad: only
    /// [`reset`](Self::reset) (under both locks) mends that.
    fn open(&mut self) -> Result<(File, Header), LogError> {
        let missing = || LogError::Damaged(MISSING.into());
        let on_disk = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let same = match &self.file {
            Some(f) => {
                let held = f.metadata()?;
                held.ino() == on_disk.ino() && held.dev() == on_disk.dev()
            }
            None => false,
        };
        if !same {
            let f = match OpenOptions::new().read(true).write(true).open(&self.path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                Err(e) => return Err(e.into()),
            };
            self.file = Some(f);
            self.generation = u64::MAX; // Reread from the start.
        }
        let file = self.file.as_ref().expect("just opened");
        let len = file.metadata()?.len();
        let header = match read_header(file) {
            Ok(Some(h)) => h,
            Ok(None) => {
                return Err(LogError::Damaged(format!(
                    "it is {len} bytes long, shorter than its header"
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(LogError::Damaged(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        if header.committed < HEADER_LEN || header.committed > len {
            return Err(LogError::Damaged(format!(
                "its header counts {} bytes as recorded, but it is {len} bytes long",
                header.committed
            )));
        }
        if header.generation == self.generation && len < self.read_to {
            return Err(LogError::Damaged(format!(
                "it is {len} bytes long, shorter than the {} bytes already read from it",
                self.read_to
            )));
        }
        Ok((file.try_clone()?, header))
    }

    fn remember(&mut self, tx: Hash32, mono_end_ns: u64) {
        self.recent.insert(tx, mono_end_ns);
    }

    /// Notes a pending decision whose record is at `at`.
    fn note(&mut self, tx: Hash32, mono_end_ns: u64, at: u64) {
        self.remember(tx, mono_end_ns);
        self.decided.insert(tx, Decided { mono_end_ns, at });
        self.pending.push_back((at, tx));
    }

    /// Catches up with the log (under the decision lock): a new generation means the log was
    /// emptied after its decisions were recorded (or withdrawn), so the ledger is reread too.
    /// Decisions recorded meanwhile leave `decided`: a claim for one of them is a late copy
    /// if the ledger has it, and a new race if the ledger was started over.
    fn sync(&mut self, ledger: &Ledger) -> Result<(), DecideError> {
        let (file, header) = self.open().map_err(|e| self.error(e))?;
        if header.generation != self.generation {
            self.decided.clear();
            self.pending.clear();
            self.generation = header.generation;
            self.read_to = header.committed;
            ledger.refresh().map_err(DecideError::Ledger)?;
        }
        while let Some(&(at, tx)) = self.pending.front() {
            if at >= header.committed {
                break;
            }
            self.pending.pop_front();
            if self.decided.get(&tx).is_some_and(|d| d.at == at) {
                self.decided.remove(&tx);
            }
        }
        let (records, end) = read_records(&file, self.read_to).map_err(|e| self.error(e.into()))?;
        for (at, r) in records {
            if at >= header.committed {
                self.note(r.tx_id, r.mono_end_ns, at);
            } else {
                self.remember(r.tx_id, r.mono_end_ns);
            }
        }
        self.read_to = end;
        Ok(())
    }

    /// Appends a decision (under the decision lock, after [`sync`](Self::sync)). A torn line
    /// left by a process that died while appending is cut off first; a file shorter than what
    /// was read is damaged, and never extended.
    fn append(&mut self, r: &Record) -> Result<(), LogError> {
        let at = self.read_to;
        let file = self.file.as_ref().expect("synced");
        let len = file.metadata()?.len();
        if len < at {
            return Err(LogError::Damaged(format!(
                "it is {len} bytes long, shorter than the {at} bytes already read from it"
            )));
        }
        if len > at {
            file.set_len(at)?;
        }
        let mut line = serde_json::to_vec(r).expect("records serialize");
        line.push(b'\n');
        file.write_all_at(&line, at)?;
        self.read_to = at + line.len() as u64;
        self.note(r.tx_id, r.mono_end_ns, at);
        Ok(())
    }

    /// Mends a missing or damaged log (the caller holds the commit lock, as `writer`, and
    /// the decision lock): if every decision still readable in it is in the ledger, it is
    /// started anew with a fresh generation (synced); otherwise nothing is touched and the
    /// error says what to do. Returns the new generation.
    fn reset(&mut self, writer: &Writer<'_>, why: &str) -> Result<u64, Arc<LedgerError>> {
        let path = self.path.clone();
        let io = |e| Arc::new(LedgerError::io(&path, e));
        let readable = match File::open(&self.path) {
            Ok(f) => read_records_quietly(&f, 0).map_err(io)?.0,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        let unrecorded: Vec<&Record> = readable
            .iter()
            .map(|(_, r)| r)
            .filter(|r| writer.lookup(&r.tx_id).is_none())
            .collect();
        if let Some(first) = unrecorded.first() {
            return Err(io(io::Error::other(format!(
                "the decision log is damaged ({why}) and holds {} decided race(s) the ledger \
                 lacks (the first: {:?}), none of them answered: stop every node using this \
                 ledger, then remove {} (send those transactions again)",
                unrecorded.len(),
                first.transaction_data,
                self.path.display()
            ))));
        }
        fs::create_dir_all(&self.side).map_err(io)?;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(io)?;
        let generation = fresh_generation(self.generation);
        f.set_len(0).map_err(io)?;
        f.write_all_at(
            &Header {
                generation,
                committed: HEADER_LEN,
            }
            .bytes(),
            0,
        )
        .map_err(io)?;
        f.sync_data().map_err(io)?;
        if why != MISSING || self.file.is_some() {
            tracing::warn!(
                "{}: {why}; every decision in it is recorded: started anew",
                self.path.display()
            );
        }
        self.file = Some(f);
        self.generation = u64::MAX; // Reread from the start.
        Ok(generation)
    }

    /// The claimant's error for a log that could not be used.
    fn error(&self, e: LogError) -> DecideError {
        let e = match e {
            LogError::Io(e) => e,
            LogError::Damaged(why) => {
                io::Error::other(format!("the decision log is damaged: {why}"))
            }
        };
        DecideError::Ledger(Arc::new(LedgerError::io(&self.path, e)))
    }
}

/// Why a log that was never created needs creating.
const MISSING: &str = "it is missing";

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
pub struct LockArbiter {
    shared: Arc<Shared>,
}

impl LockArbiter {
    /// An arbiter deciding races for `ledger`, with its recording thread.
    pub fn new(ledger: Arc<Ledger>) -> io::Result<LockArbiter> {
        let side = ledger.paths().side.clone();
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                path: side.join("claims"),
                lock_path: ledger.paths().lock.clone(),
                side,
                file: None,
                generation: u64::MAX,
                read_to: HEADER_LEN,
                decided: HashMap::new(),
                pending: VecDeque::new(),
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
        Ok(LockArbiter { shared })
    }
}

impl Drop for LockArbiter {
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

impl Arbiter for LockArbiter {
    fn submit(&self, claim: Claim) -> Result<Submitted, DecideError> {
        let shared = &self.shared;
        let deadline = Instant::now() + LEDGER_WAIT;
        let tx = claim.tx_id();
        if let Some(why) = other_difficulty(&shared.ledger, &claim) {
            return Err(DecideError::Withdrawn(why));
        }
        let (mut log, lock) = loop {
            let mut log = shared.log();
            let lock = decide_lock(&log.lock_path, deadline)?;
            match log.open() {
                Ok(_) => break (log, lock),
                // Mended under both locks, taken in the recording thread's order (again if
                // someone damages or removes it meanwhile, until the deadline).
                Err(LogError::Damaged(_)) if Instant::now() < deadline => {
                    drop(lock);
                    drop(log);
                    mend(shared, Wait::Until(deadline))?;
                }
                Err(e) => return Err(log.error(e)),
            }
        };
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
                first: false,
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
            if let Err(e) = log.append(&record) {
                return Err(log.error(e));
            }
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
            first: won,
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

/// Takes the decision lock, polling until `deadline`; a clear error if it stays held.
fn decide_lock(lock_path: &Path, deadline: Instant) -> Result<FileLock, DecideError> {
    FileLock::acquire(lock_path, Slot::Decide, Wait::Until(deadline))
        .map_err(|e| DecideError::Ledger(Arc::new(LedgerError::io(lock_path, e))))?
        .ok_or_else(|| DecideError::Unavailable {
            why: format!(
                "the ledger's decision lock ({}) was held by another process for more than {} s \
                 (is it stopped?); nothing was recorded",
                lock_path.display(),
                LEDGER_WAIT.as_secs()
            ),
            decided: false,
        })
}

/// Mends a missing or damaged decision log for a claimant: takes the commit lock and the
/// decision lock (in the recording thread's order), and resets the log if it still needs it
/// ([`Log::reset`]).
fn mend(shared: &Shared, wait: Wait) -> Result<(), DecideError> {
    let unavailable = || DecideError::Unavailable {
        why: format!(
            "the decision log needs mending, and the ledger's commit lock was held by another \
             process for more than {} s (is it stopped?); nothing was recorded",
            LEDGER_WAIT.as_secs()
        ),
        decided: false,
    };
    let Some((writer, fresh)) = shared
        .ledger
        .writer_checked(wait)
        .map_err(DecideError::Ledger)?
    else {
        return Err(unavailable());
    };
    fresh.map_err(DecideError::Ledger)?;
    let deadline = match wait {
        Wait::Until(d) => d,
        Wait::Forever => Instant::now() + LEDGER_WAIT,
    };
    let mut log = shared.log();
    let _lock = decide_lock(&log.lock_path, deadline)?;
    match log.open() {
        Ok(_) => Ok(()), // Mended by another process meanwhile.
        Err(LogError::Damaged(why)) => log
            .reset(&writer, &why)
            .map(|_| ())
            .map_err(DecideError::Ledger),
        Err(e) => Err(log.error(e)),
    }
}

/// The outcome of one recording round.
enum Round {
    /// Pending decisions were recorded (perhaps none); the log's generation after the round.
    Recorded(u64),
    /// The ledger could not be written: every pending decision was withdrawn (the log cut
    /// back, synced), so their claimants are told nothing was recorded.
    Withdrawn(Arc<LedgerError>),
    /// The round could not look (the lock or the log failed): nothing changed, the claimants
    /// keep waiting.
    Failed(Arc<LedgerError>),
}

/// Records every pending decision under the commit lock.
fn record_round(shared: &Shared) -> Round {
    let ledger = &shared.ledger;
    let (mut writer, fresh) = match ledger.writer_checked(Wait::Forever) {
        Ok(Some(w)) => w,
        Ok(None) => unreachable!("a blocking wait always gets the lock"),
        Err(e) => return Round::Failed(e),
    };
    let (opened, log_path, lock_path) = {
        let mut log = shared.log();
        (log.open(), log.path.clone(), log.lock_path.clone())
    };
    let io = |e| Arc::new(LedgerError::io(&log_path, e));
    let (file, header) = match opened {
        Ok(x) => x,
        Err(LogError::Damaged(_)) => {
            // Claimants are waiting, so the log existed: it was damaged or removed since.
            let mended = fresh.map_err(DecideError::Ledger).and_then(|()| {
                let mut log = shared.log();
                let _lock = decide_lock(&lock_path, Instant::now() + LEDGER_WAIT)?;
                match log.open() {
                    Ok((_, h)) => Ok(h.generation),
                    Err(LogError::Damaged(why)) => {
                        log.reset(&writer, &why).map_err(DecideError::Ledger)
                    }
                    Err(e) => Err(log.error(e)),
                }
            });
            return match mended {
                Ok(generation) => Round::Recorded(generation),
                Err(DecideError::Ledger(e)) => Round::Failed(e),
                Err(e) => Round::Failed(io(io::Error::other(e.to_string()))),
            };
        }
        Err(LogError::Io(e)) => return Round::Failed(io(e)),
    };
    let (mut records, mut records_end) = match read_records(&file, header.committed) {
        Ok(x) => x,
        Err(e) => return Round::Failed(io(e)),
    };
    if records.len() > MAX_COMMIT_GROUP {
        // The rest waits for the next round: one commit stays bounded.
        records_end = records[MAX_COMMIT_GROUP].0;
        records.truncate(MAX_COMMIT_GROUP);
    }
    let (appended, dropped) = match fresh {
        // The ledger cannot be read: nothing can be recorded, the decisions are withdrawn.
        Err(e) => (Err(e), false),
        Ok(()) => {
            let (entries, dropped) = entries_to_append(&writer, &records);
            (writer.append(&entries), dropped)
        }
    };
    // Mark the log (under the decision lock, so no decision is appended meanwhile).
    let decide = match FileLock::acquire(&lock_path, Slot::Decide, Wait::Forever) {
        Ok(Some(l)) => l,
        Ok(None) => unreachable!("a blocking wait always gets the lock"),
        Err(e) => return Round::Failed(Arc::new(LedgerError::io(&lock_path, e))),
    };
    let marked = (|| -> io::Result<Round> {
        // Still the log that was read? (Only a hand from outside changes it under the commit
        // lock; the next round mends it.)
        let now = fs::metadata(&log_path)?;
        let held = file.metadata()?;
        if (now.dev(), now.ino()) != (held.dev(), held.ino())
            || read_header(&file).ok().flatten() != Some(header)
        {
            return Ok(match &appended {
                Ok(()) => Round::Recorded(header.generation),
                Err(e) => Round::Failed(e.clone()),
            });
        }
        let len = held.len();
        let next = match &appended {
            Ok(()) if records_end == len && len > LOG_RESET_BYTES => {
                file.set_len(HEADER_LEN)?;
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
                tracing::error!(
                    "recording decided races failed: {e}; their decisions are withdrawn"
                );
                file.set_len(header.committed)?;
                Header {
                    generation: header.generation + 1,
                    committed: header.committed,
                }
            }
        };
        file.write_all_at(&next.bytes(), 0)?;
        if next.generation != header.generation {
            // Claimants are told of a new generation before anything else is synced: it
            // must survive a crash (see the module documentation).
            file.sync_data()?;
        }
        Ok(match &appended {
            Ok(()) => Round::Recorded(next.generation),
            Err(e) => Round::Withdrawn(e.clone()),
        })
    })();
    drop(decide);
    drop(writer);
    marked.unwrap_or_else(|e| Round::Failed(io(e)))
}

/// The entries the decided `records` add to the ledger `writer` holds, each chained onto the
/// one before. One already recorded (or twice in the records) is left out; one that no longer
/// chains is dropped, and the `bool` says so: its claimant must be told.
fn entries_to_append(writer: &Writer<'_>, records: &[(u64, Record)]) -> (Vec<Entry>, bool) {
    let mut dropped = false;
    let mut entries = Vec::new();
    let mut last = writer.last();
    let mut check = writer.check();
    let mut here = HashSet::new();
    for (_, r) in records {
        if writer.lookup(&r.tx_id).is_some() || !here.insert(r.tx_id) {
            continue;
        }
        let e = r.new_entry().chain_onto(last.as_ref());
        match check.link(&e) {
            Ok(()) => {}
            Err(EntryError::WrongRetarget { expected, found }) => {
                // Mined at a difficulty retargeting no longer gives this place
                // (another race took the one it was mined for): dropped, its claimant
                // told to resend.
                tracing::info!(
                    "a claim for {:?} was mined at {found} bits, the ledger now asks \
                     {expected}: dropped",
                    r.transaction_data
                );
                dropped = true;
                continue;
            }
            Err(EntryError::WrongDifficulty { expected, found }) => {
                // Mined at another difficulty than the chain's (decided before the
                // chain's first entry was recorded): dropped, its claimant told so.
                tracing::warn!(
                    "a claim for {:?} was mined at {found}, the chain is at {expected}: \
                     dropped",
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
    (entries, dropped)
}

/// Answers the claimants whose transactions are now recorded (or whose decisions were
/// withdrawn); true if any was answered. An answer never contradicts the ledger: a claimant
/// is told nothing was recorded only when its decision can no longer be.
fn answer(shared: &Shared, round: &Round) -> bool {
    if let Round::Failed(e) = round {
        tracing::debug!("a recording round could not look (it is retried): {e}");
    }
    let mut waiters = std::mem::take(&mut shared.pending().waiters);
    let before = waiters.len();
    waiters.retain(|w| !w.reply.is_closed());
    let mut answered = before != waiters.len();
    let mut keep = Vec::new();
    for w in waiters {
        let recorded = match shared.ledger.get(&w.tx) {
            Ok(r) => r,
            Err(e) if matches!(round, Round::Withdrawn(_)) => {
                let _ = w.reply.send(Err(DecideError::Ledger(e)));
                answered = true;
                continue;
            }
            Err(_) => {
                keep.push(w);
                continue;
            }
        };
        let result = match (recorded, round) {
            (Some(entry), _) => Some(Ok(w.decision(entry))),
            (None, Round::Withdrawn(e)) => Some(Err(DecideError::Ledger(e.clone()))),
            (None, Round::Recorded(generation)) if *generation != w.generation => {
                Some(Err(DecideError::Withdrawn(
                    "the decision was withdrawn before it was recorded (the ledger could not \
                     be written, the decision log was damaged, or retargeting changed the \
                     difficulty while the node mined); nothing was recorded for this \
                     transaction: send it again"
                        .into(),
                )))
            }
            (None, Round::Recorded(_) | Round::Failed(_)) => None,
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

    async fn decide(a: &LockArbiter, c: Claim) -> Decision {
        a.submit(c).unwrap().decision.await.unwrap()
    }

    #[tokio::test]
    async fn the_first_claim_wins_in_any_process_and_losers_get_their_margin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let a = LockArbiter::new(Ledger::open(&path).unwrap().0).unwrap();
        let b = LockArbiter::new(Ledger::open(&path).unwrap().0).unwrap();
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
        let arbiters: Vec<Arc<LockArbiter>> = (0..2)
            .map(|_| Arc::new(LockArbiter::new(Ledger::open(&path).unwrap().0).unwrap()))
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
