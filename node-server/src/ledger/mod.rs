//! `ledger.json`: a JSON array of winning entries, valid at every instant, crash-safe,
//! tamper-evident, shared safely by several processes, and as cheap to append to at a million
//! entries as at a thousand.
//!
//! - **Format** ([`format`]): the lab's pretty JSON array; each entry a
//!   [`pow_core::chain::Entry`] in a hash chain checked by [`pow_core::chain`].
//! - **Durability and readers** ([`copies`]): `ledger.json` is only ever replaced by `rename`,
//!   so a reader or a crash sees a whole version; the new version is the previous one with the
//!   new entries appended in place, so a commit costs the size of what it adds.
//! - **Sharing**: every process using the ledger appends under one OS lock
//!   (the commit slot of `ledger.json.lock`, [`lock`]) and reads only what others appended since it last
//!   looked. Who wins a race is not decided here but by an arbiter ([`crate::race`]), which
//!   feeds the decided entries to [`Writer::append`].
//! - **One arbiter** ([`owner`]): the processes using the file at once all feed it from the
//!   same arbiter (the file arbiter, or one etcd race); `ledger.json.d/owner` says which.
//! - **Memory**: the process keeps, per entry, where it starts in the file and a compact index
//!   by transaction; entries themselves are read from the file when asked for (the most recent
//!   ones are cached).

pub mod copies;
pub mod format;
pub mod lock;
pub mod owner;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use pow_core::chain::{ChainCheck, ChainError, Entry, EntryError};
use pow_core::Hash32;
use tokio::sync::watch;

pub use copies::{FileId, Paths};
pub use format::{parse, to_text, FormatError};
use lock::{FileLock, Slot, Wait};

/// Recent entries kept in memory (for chaining, lookups and late copies); older ones are read
/// from the file.
pub const RECENT_ENTRIES: usize = 1024;

/// Entries verified together when loading (spread over the CPU's cores).
const VERIFY_BATCH: usize = 8192;

/// The bytes one chunk of a whole-ledger download reads.
pub const STREAM_CHUNK: usize = 256 * 1024;

/// How many times a reread of the ledger is retried when another thread of the process
/// applied a version meanwhile.
const REFRESH_TRIES: usize = 8;

/// The most entries one page (`GET /ledger?from=&limit=`) may hold.
pub const MAX_PAGE_ENTRIES: u64 = 10_000;

/// How the reread a [`Writer`] starts with went ([`Ledger::writer_checked`]).
pub type Reread = Result<(), Arc<LedgerError>>;

/// Why the ledger could not be loaded, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing failed. (The OS error is part of the message, not a separate
    /// source, so a cause chain names it once.)
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The file is not a JSON array of entries.
    #[error("{}: not a valid ledger: {detail}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where and why, with the last good entry.
        detail: String,
    },
    /// An entry does not verify.
    #[error("{}: {error}; entries before index {} verify", path.display(), error.position)]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The first bad entry and why.
        error: ChainError,
    },
}

impl LedgerError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, error: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// Whether the file's content is at fault (not the disk or the OS).
    pub fn is_damage(&self) -> bool {
        matches!(self, Self::Malformed { .. } | Self::Invalid { .. })
    }
}

/// What opening the ledger found, for the start-up line.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Entries loaded and verified.
    pub entries: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// Transactions already recorded, by `tx_id`: the first 8 bytes of each id map to its index
/// (16 bytes an entry instead of 40), and the rare ids that share their first 8 bytes with
/// another are kept whole. A hit is confirmed by reading the entry.
#[derive(Default)]
struct TxIndex {
    short: HashMap<u64, u64>,
    whole: HashMap<Hash32, u64>,
}

fn short_id(tx: &Hash32) -> u64 {
    u64::from_le_bytes(tx.0[..8].try_into().expect("8 bytes"))
}

impl TxIndex {
    /// The index an entry for `tx` may have (to be confirmed).
    fn candidate(&self, tx: &Hash32) -> Option<u64> {
        self.whole
            .get(tx)
            .or_else(|| self.short.get(&short_id(tx)))
            .copied()
    }

    /// Records `tx` at `index`; the caller knows it is not recorded yet.
    fn insert(&mut self, tx: &Hash32, index: u64) {
        match self.short.entry(short_id(tx)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(index);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.whole.insert(*tx, index);
            }
        }
    }
}

/// What the process knows of the ledger: the version it last read or wrote.
struct State {
    count: u64,
    /// The end of the last entry's text (1, after `[`, when empty).
    body_end: u64,
    /// Where each entry's `{` is.
    starts: Vec<u64>,
    index: TxIndex,
    recent: VecDeque<Entry>,
    /// The first entry's hash, which names the ledger.
    first: Option<Hash32>,
    /// The chain's rules as of the last entry (its hash, the retarget window).
    check: ChainCheck,
    /// The version of `ledger.json` this state reflects (`None`: no file yet).
    seen: Option<FileId>,
    /// A version of the file found not to be a continuation of this state, and why: it is
    /// not reread until the file changes again, and nothing is appended until it does.
    broken: Option<(Option<FileId>, Arc<LedgerError>)>,
}

impl State {
    fn empty() -> Self {
        State {
            count: 0,
            body_end: 1,
            starts: Vec::new(),
            index: TxIndex::default(),
            recent: VecDeque::new(),
            first: None,
            check: ChainCheck::new(),
            seen: None,
            broken: None,
        }
    }

    fn last(&self) -> Option<&Entry> {
        self.recent.back()
    }

    fn head(&self) -> Hash32 {
        self.check.head()
    }

    /// Adds the next entry, whose text starts at `start`; the caller sets `body_end`.
    fn push(&mut self, entry: Entry, start: u64) {
        if entry.index == 0 {
            self.first = Some(entry.entry_hash);
        }
        self.index.insert(&entry.tx_id, entry.index);
        self.starts.push(start);
        self.count += 1;
        if self.recent.len() == RECENT_ENTRIES {
            self.recent.pop_front();
        }
        self.recent.push_back(entry);
    }

    /// The entry at `index` if it is among the recent ones.
    fn recent_entry(&self, index: u64) -> Option<&Entry> {
        let first = self.count - self.recent.len() as u64;
        index
            .checked_sub(first)
            .and_then(|i| self.recent.get(i as usize))
    }

    /// Where entry `index`'s text starts, and where the text up to the next entry ends.
    fn span(&self, index: u64) -> (u64, u64) {
        let start = self.starts[index as usize];
        let end = self
            .starts
            .get(index as usize + 1)
            .copied()
            .unwrap_or(self.body_end);
        (start, end)
    }
}

/// The entries appended to the ledger at `path` after what `reader` resumes from, checked as
/// the continuation of the chain `check` holds (and advanced over them), with no transaction
/// twice among them.
fn read_appended<R: Read>(
    path: &Path,
    reader: &mut format::Reader<R>,
    check: &mut ChainCheck,
) -> Result<Vec<format::Located>, LedgerError> {
    let mut new = Vec::new();
    while let Some(l) = reader.next_entry().map_err(|e| match e {
        FormatError::Io(source) => LedgerError::io(path, source),
        FormatError::Malformed { detail, .. } => LedgerError::Malformed {
            path: path.to_owned(),
            detail,
        },
    })? {
        new.push(l);
    }
    let entries: Vec<Entry> = new.iter().map(|l| l.entry.clone()).collect();
    let invalid = |error| LedgerError::Invalid {
        path: path.to_owned(),
        error,
    };
    verify_continuation(&entries, check).map_err(invalid)?;
    let mut here: HashMap<Hash32, u64> = HashMap::new();
    for e in &entries {
        if let Some(first_index) = here.insert(e.tx_id, e.index) {
            return Err(invalid(ChainError {
                position: e.index as usize,
                reason: EntryError::DuplicateTransaction { first_index },
            }));
        }
    }
    Ok(new)
}

/// Checks that `entries` continue the chain `check` has seen (index, link, retargeted
/// difficulty: in order) and verify on their own (spread over the cores for large batches);
/// on success `check` has taken them. The first bad entry is reported.
fn verify_continuation(entries: &[Entry], check: &mut ChainCheck) -> Result<(), ChainError> {
    let mut next = check.clone();
    let mut link_error = None;
    for e in entries {
        if let Err(reason) = next.link(e) {
            // The entry's place in the ledger, whatever index it claims.
            link_error = Some(ChainError {
                position: next.next_index() as usize,
                reason,
            });
            break;
        }
    }
    // Entries from the first bad link on are not checked on their own.
    let checked = match &link_error {
        Some(e) => {
            &entries[..entries
                .iter()
                .position(|x| x.index as usize >= e.position)
                .unwrap_or(entries.len())]
        }
        None => entries,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let first_bad = |slice: &[Entry]| -> Option<(u64, EntryError)> {
        slice
            .iter()
            .find_map(|e| e.verify().err().map(|r| (e.index, r)))
    };
    let bad = if threads > 1 && checked.len() >= 2 * threads {
        let per = checked.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = checked
                .chunks(per)
                .map(|c| s.spawn(move || first_bad(c)))
                .collect();
            parts
                .into_iter()
                .filter_map(|p| p.join().expect("verification does not panic"))
                .min_by_key(|(i, _)| *i)
        })
    } else {
        first_bad(checked)
    };
    match (bad, link_error) {
        (Some((index, reason)), _) => Err(ChainError {
            position: index as usize,
            reason,
        }),
        (None, Some(e)) => Err(e),
        (None, None) => {
            *check = next;
            Ok(())
        }
    }
}

/// Reads entries from `reader` into `state`, verifying each batch as it goes: the whole file
/// at load time, or what another process appended.
fn read_into<R: Read>(
    path: &Path,
    reader: &mut format::Reader<R>,
    state: &mut State,
    lookup: &dyn Fn(&State, &Hash32) -> Option<u64>,
) -> Result<(), LedgerError> {
    let mut batch: Vec<format::Located> = Vec::with_capacity(VERIFY_BATCH);
    loop {
        let next = reader.next_entry().map_err(|e| match e {
            FormatError::Io(source) => LedgerError::io(path, source),
            FormatError::Malformed { detail, .. } => LedgerError::Malformed {
                path: path.to_owned(),
                detail,
            },
        })?;
        let done = next.is_none();
        if let Some(l) = next {
            batch.push(l);
        }
        if batch.len() == VERIFY_BATCH || (done && !batch.is_empty()) {
            let entries: Vec<Entry> = batch.iter().map(|l| l.entry.clone()).collect();
            verify_continuation(&entries, &mut state.check).map_err(|error| {
                LedgerError::Invalid {
                    path: path.to_owned(),
                    error,
                }
            })?;
            for l in batch.drain(..) {
                if let Some(first) = lookup(state, &l.entry.tx_id) {
                    return Err(LedgerError::Invalid {
                        path: path.to_owned(),
                        error: ChainError {
                            position: l.entry.index as usize,
                            reason: EntryError::DuplicateTransaction { first_index: first },
                        },
                    });
                }
                state.body_end = l.end;
                state.push(l.entry, l.start);
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// The ledger file of one process: what it knows, and the way to append.
pub struct Ledger {
    paths: Paths,
    state: Mutex<State>,
    /// Held by this process's [`Writer`] (with the OS lock): one appender at a time.
    writing: Mutex<()>,
    /// The entry count, for whoever waits for the ledger to grow.
    count_tx: watch::Sender<u64>,
}

impl Ledger {
    /// Loads and verifies the ledger at `path` (a missing or empty file is an empty ledger),
    /// in bounded memory. Refuses a ledger that does not verify and never writes to it. Creates
    /// nothing until the first append.
    pub fn open(path: &Path) -> Result<(Arc<Ledger>, Loaded), LedgerError> {
        let t0 = Instant::now();
        let paths = Paths::resolve(path).map_err(|e| LedgerError::io(path, e))?;
        let state = Self::load(&paths)?;
        let loaded = Loaded {
            entries: state.count,
            bytes: state.seen.map_or(0, |id| id.size()),
            seconds: t0.elapsed().as_secs_f64(),
        };
        let (count_tx, _) = watch::channel(state.count);
        Ok((
            Arc::new(Ledger {
                paths,
                state: Mutex::new(state),
                writing: Mutex::new(()),
                count_tx,
            }),
            loaded,
        ))
    }

    /// Reads and verifies the whole file.
    fn load(paths: &Paths) -> Result<State, LedgerError> {
        let path = &paths.file;
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::empty()),
            Err(e) => return Err(LedgerError::io(path, e)),
        };
        let id = FileId::of(&file.metadata().map_err(|e| LedgerError::io(path, e))?);
        let mut state = State::empty();
        let mut reader = format::Reader::new(BufReader::with_capacity(1 << 20, file));
        read_into(path, &mut reader, &mut state, &|s, tx| {
            Self::confirm(paths, s, tx)
        })?;
        state.body_end = reader.body_end().max(1);
        state.seen = Some(id);
        Ok(state)
    }

    /// The real path of `ledger.json` (symbolic links resolved).
    pub fn path(&self) -> &Path {
        &self.paths.file
    }

    /// The ledger's paths.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees the entry count change.
    pub fn watch_count(&self) -> watch::Receiver<u64> {
        self.count_tx.subscribe()
    }

    /// Rereads what another process appended since this one last looked, if anything. Safe
    /// to call from anywhere: a reread that lost a race with this process's own writer is
    /// dropped, never applied over newer state.
    pub fn refresh(&self) -> Result<(), Arc<LedgerError>> {
        // A reread can lose to another thread of this process applying an older or newer
        // version meanwhile: look again until what this process knows is what it read. Under
        // the commit lock the file cannot change, so a writer's refresh always settles.
        for _ in 0..REFRESH_TRIES {
            if self.refresh_once()? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One reread; false if this process's state moved meanwhile (look again).
    fn refresh_once(&self) -> Result<bool, Arc<LedgerError>> {
        let path = &self.paths.file;
        let now = FileId::at(path).map_err(|e| Arc::new(LedgerError::io(path, e)))?;
        let (count, body_end, last_start, mut check) = {
            let s = self.state();
            if s.seen == now {
                return Ok(true);
            }
            if let Some((bad, e)) = &s.broken {
                if *bad == now {
                    return Err(e.clone());
                }
            }
            let last_start = s.count.checked_sub(1).map(|i| s.starts[i as usize]);
            (s.count, s.body_end, last_start, s.check.clone())
        };
        let head = check.head();
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Removed (the lab's way to start over): a new, empty ledger.
                let mut s = self.state();
                if s.count == count && s.body_end == body_end {
                    if count > 0 {
                        tracing::warn!(
                            "{} was removed: starting a new, empty ledger",
                            path.display()
                        );
                    }
                    *s = State::empty();
                    self.count_tx.send_replace(0);
                    return Ok(true);
                }
                return Ok(false);
            }
            Err(e) => return Err(Arc::new(LedgerError::io(path, e))),
        };
        let id = FileId::of(
            &file
                .metadata()
                .map_err(|e| Arc::new(LedgerError::io(path, e)))?,
        );
        let continues = match last_start {
            None => id.size() >= 2,
            Some(start) => read_entry_at(&file, start, body_end)
                .ok()
                .flatten()
                .is_some_and(|e| e.entry_hash == head),
        };
        if !continues {
            return self.reload(Some(id), count, body_end);
        }
        // Read only what was appended after our body.
        let io = |e| Arc::new(LedgerError::io(path, e));
        let mut tail = file;
        tail.seek(SeekFrom::Start(body_end)).map_err(io)?;
        let mut reader =
            format::Reader::resume(BufReader::with_capacity(64 * 1024, tail), body_end, count);
        let appended = read_appended(path, &mut reader, &mut check);
        let new = match appended {
            Ok(new) => new,
            Err(e) => {
                let e = Arc::new(e);
                tracing::error!("{e}");
                self.state().broken = Some((Some(id), e.clone()));
                return Err(e);
            }
        };
        let mut s = self.state();
        if s.count != count || s.body_end != body_end {
            return Ok(false); // Another thread applied some version meanwhile.
        }
        // Against what was recorded before (checked here, where the state cannot move).
        if let Some((l, first_index)) = new
            .iter()
            .find_map(|l| Self::confirm(&self.paths, &s, &l.entry.tx_id).map(|i| (l, i)))
        {
            let e = Arc::new(LedgerError::Invalid {
                path: path.to_owned(),
                error: ChainError {
                    position: l.entry.index as usize,
                    reason: EntryError::DuplicateTransaction { first_index },
                },
            });
            tracing::error!("{e}");
            s.broken = Some((Some(id), e.clone()));
            return Err(e);
        }
        for l in new {
            s.body_end = l.end;
            s.push(l.entry, l.start);
        }
        s.check = check;
        s.seen = Some(id);
        s.broken = None;
        self.count_tx.send_replace(s.count);
        Ok(true)
    }

    /// Reloads the whole file: it was replaced by one that does not continue what this
    /// process knew (edited, restored, or removed and started over).
    fn reload(
        &self,
        id: Option<FileId>,
        count: u64,
        body_end: u64,
    ) -> Result<bool, Arc<LedgerError>> {
        match Self::load(&self.paths) {
            Ok(fresh) => {
                let mut s = self.state();
                if s.count == count && s.body_end == body_end {
                    tracing::warn!(
                        "{} was replaced by a file that does not continue the ledger this \
                         process knew ({} entries); reloaded: {} entries",
                        self.paths.file.display(),
                        count,
                        fresh.count
                    );
                    *s = fresh;
                    self.count_tx.send_replace(s.count);
                    return Ok(true);
                }
                Ok(false)
            }
            Err(e) => {
                let e = Arc::new(e);
                tracing::error!("{e}");
                self.state().broken = Some((id, e.clone()));
                Err(e)
            }
        }
    }

    /// The index of the recorded entry for `tx`, if any (confirmed).
    fn lookup(&self, tx: &Hash32) -> Option<u64> {
        let s = self.state();
        Self::confirm(&self.paths, &s, tx)
    }

    fn confirm(paths: &Paths, s: &State, tx: &Hash32) -> Option<u64> {
        let i = s.index.candidate(tx)?;
        if let Some(e) = s.recent_entry(i) {
            return (e.tx_id == *tx).then_some(i);
        }
        let (start, end) = s.span(i);
        let file = File::open(&paths.file).ok()?;
        let e = read_entry_at(&file, start, end).ok().flatten()?;
        (e.tx_id == *tx).then_some(i)
    }

    /// Entries recorded.
    pub fn len(&self) -> u64 {
        let _ = self.refresh();
        self.state().count
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The difficulty in zero bits that retargeting with target `target_us` gives the next
    /// entry (`start` if the last entry is not of such a chain).
    pub fn next_bits(&self, target_us: u64, start: u32) -> u32 {
        let _ = self.refresh();
        self.state().check.next_bits(target_us, start)
    }

    /// The chain's difficulty rule, fixed by its first entry (`None` while empty).
    pub fn rule(&self) -> Option<pow_core::chain::ChainRule> {
        let _ = self.refresh();
        self.state().check.rule()
    }

    /// The first entry's `entry_hash`, which names this ledger (a ledger started over has
    /// another), or `None` when empty.
    pub fn first_hash(&self) -> Option<Hash32> {
        let _ = self.refresh();
        self.state().first
    }

    /// The last entry's `entry_hash` (zeros when empty).
    pub fn head(&self) -> Hash32 {
        let _ = self.refresh();
        self.state().head()
    }

    /// The recorded entry for transaction `tx`, if any.
    pub fn get(&self, tx: &Hash32) -> Result<Option<Entry>, Arc<LedgerError>> {
        self.refresh()?;
        let Some(i) = self.lookup(tx) else {
            return Ok(None);
        };
        self.entry(i)
    }

    /// The entry at `index`, if there is one.
    pub fn entry(&self, index: u64) -> Result<Option<Entry>, Arc<LedgerError>> {
        let (start, end) = {
            let s = self.state();
            if index >= s.count {
                return Ok(None);
            }
            if let Some(e) = s.recent_entry(index) {
                return Ok(Some(e.clone()));
            }
            s.span(index)
        };
        let path = &self.paths.file;
        let file = File::open(path).map_err(|e| Arc::new(LedgerError::io(path, e)))?;
        read_entry_at(&file, start, end).map_err(|e| Arc::new(LedgerError::io(path, e)))
    }

    /// Entries `from .. from + limit` (at most [`MAX_PAGE_ENTRIES`]) as a JSON array laid out
    /// like the ledger, and the number of entries the ledger had when read.
    pub fn page(&self, from: u64, limit: u64) -> Result<(Vec<u8>, u64), Arc<LedgerError>> {
        self.refresh()?;
        let limit = limit.min(MAX_PAGE_ENTRIES);
        let (range, total) = {
            let s = self.state();
            let end = from.saturating_add(limit).min(s.count);
            let range = (from < end).then(|| (s.starts[from as usize], s.span(end - 1).1));
            (range, s.count)
        };
        let Some((start, end)) = range else {
            return Ok((format::EMPTY.to_vec(), total));
        };
        let path = &self.paths.file;
        let io = |e| Arc::new(LedgerError::io(path, e));
        let file = File::open(path).map_err(io)?;
        let mut raw = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut raw, start).map_err(io)?;
        let trimmed = trim_separator(&raw);
        Ok((format::array_of(trimmed), total))
    }

    /// The whole ledger as it is now, as chunks of at most [`STREAM_CHUNK`] bytes: the same
    /// bytes as `ledger.json`, read a chunk at a time (constant memory, and no file held open
    /// between chunks, so commits keep appending in place).
    pub fn stream(self: &Arc<Self>) -> Result<LedgerStream, Arc<LedgerError>> {
        self.refresh()?;
        let s = self.state();
        Ok(LedgerStream {
            ledger: self.clone(),
            at: 0,
            body_end: if s.count == 0 { 1 } else { s.body_end },
            empty: s.count == 0,
            done: false,
        })
    }

    /// Starts appending: takes this process's writer lock and the ledger's OS lock (waiting as
    /// `wait` says; `Ok(None)` if a polling wait ran out), then reads what other processes
    /// appended.
    pub fn writer(&self, wait: Wait) -> Result<Option<Writer<'_>>, Arc<LedgerError>> {
        match self.writer_checked(wait)? {
            Some((w, Ok(()))) => Ok(Some(w)),
            Some((_, Err(e))) => Err(e),
            None => Ok(None),
        }
    }

    /// [`writer`](Self::writer), except that a failed reread of the ledger is returned beside
    /// a writer that keeps the lock (and appends nothing): the caller can still undo, under
    /// the lock, what depended on the append.
    pub fn writer_checked(
        &self,
        wait: Wait,
    ) -> Result<Option<(Writer<'_>, Reread)>, Arc<LedgerError>> {
        let in_process = match wait {
            Wait::Forever => self.writing.lock().unwrap_or_else(|e| e.into_inner()),
            // Another thread of this process may hold it through a long commit.
            Wait::Until(deadline) => loop {
                match self.writing.try_lock() {
                    Ok(g) => break g,
                    Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(lock::MAX_POLL_SLEEP);
                    }
                    Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
                }
            },
        };
        let lock_path = &self.paths.lock;
        let Some(lock) = FileLock::acquire(lock_path, Slot::Commit, wait)
            .map_err(|e| Arc::new(LedgerError::io(lock_path, e)))?
        else {
            return Ok(None);
        };
        let fresh = self.refresh();
        Ok(Some((
            Writer {
                ledger: self,
                _in_process: in_process,
                _lock: lock,
            },
            fresh,
        )))
    }
}

/// Strips the separator (`,` and white space) after the last entry of a raw range.
fn trim_separator(raw: &[u8]) -> &[u8] {
    let end = raw.iter().rposition(|&b| b == b'}').map_or(0, |i| i + 1);
    &raw[..end]
}

/// Parses the entry whose text starts at `start` (its `{`) and ends before `end`.
fn read_entry_at(file: &File, start: u64, end: u64) -> io::Result<Option<Entry>> {
    let mut raw = vec![0u8; end.saturating_sub(start) as usize];
    file.read_exact_at(&mut raw, start)?;
    let mut stream = serde_json::Deserializer::from_slice(&raw).into_iter::<Entry>();
    Ok(stream.next().and_then(Result::ok))
}

/// The whole-ledger download: see [`Ledger::stream`].
pub struct LedgerStream {
    ledger: Arc<Ledger>,
    at: u64,
    body_end: u64,
    empty: bool,
    done: bool,
}

impl LedgerStream {
    /// The number of bytes the stream yields in all.
    pub fn len(&self) -> u64 {
        if self.empty {
            format::EMPTY.len() as u64
        } else {
            self.body_end + format::TAIL.len() as u64
        }
    }

    /// Whether it yields nothing (never: an empty ledger is `[]`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Iterator for LedgerStream {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.empty {
            self.done = true;
            return Some(Ok(format::EMPTY.to_vec()));
        }
        if self.at >= self.body_end {
            self.done = true;
            return Some(Ok(format::TAIL.to_vec()));
        }
        let n = (self.body_end - self.at).min(STREAM_CHUNK as u64) as usize;
        let read = (|| {
            let file = File::open(&self.ledger.paths.file)?;
            let mut buf = vec![0u8; n];
            file.read_exact_at(&mut buf, self.at)?;
            Ok(buf)
        })();
        match read {
            Ok(buf) => {
                self.at += n as u64;
                Some(Ok(buf))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The right to append, held by one process at a time.
pub struct Writer<'a> {
    ledger: &'a Ledger,
    _in_process: MutexGuard<'a, ()>,
    _lock: FileLock,
}

impl Writer<'_> {
    /// The last entry, to chain onto.
    pub fn last(&self) -> Option<Entry> {
        self.ledger.state().last().cloned()
    }

    /// Entries recorded.
    pub fn count(&self) -> u64 {
        self.ledger.state().count
    }

    /// The chain's rules as of the last entry (to chain more entries onto it).
    pub fn check(&self) -> ChainCheck {
        self.ledger.state().check.clone()
    }

    /// The index of the recorded entry for `tx`, if any.
    pub fn lookup(&self, tx: &Hash32) -> Option<u64> {
        self.ledger.lookup(tx)
    }

    /// Appends entries that continue the chain (each verified: index, link, proof of work,
    /// hashes, and not already recorded) and makes them durable: `ledger.json` is replaced
    /// by a version with them, synced, before this returns. On an error nothing is appended.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), Arc<LedgerError>> {
        if entries.is_empty() {
            return Ok(());
        }
        let l = self.ledger;
        let path = &l.paths.file;
        let (count, body_end, mut check, seen) = {
            let s = l.state();
            if let Some((_, e)) = &s.broken {
                return Err(e.clone());
            }
            (s.count, s.body_end, s.check.clone(), s.seen)
        };
        verify_continuation(entries, &mut check).map_err(|error| {
            Arc::new(LedgerError::Invalid {
                path: path.to_owned(),
                error,
            })
        })?;
        let mut seen_here = std::collections::HashSet::new();
        for e in entries {
            if let Some(first) = l
                .lookup(&e.tx_id)
                .or_else(|| (!seen_here.insert(e.tx_id)).then_some(e.index))
            {
                return Err(Arc::new(LedgerError::Invalid {
                    path: path.to_owned(),
                    error: ChainError {
                        position: e.index as usize,
                        reason: EntryError::DuplicateTransaction { first_index: first },
                    },
                }));
            }
        }
        // Lay out the appended text, noting where each entry starts.
        let mut append = Vec::with_capacity(entries.len() * 700 + 4);
        let mut starts = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            append.extend_from_slice(if i == 0 && count == 0 {
                b"\n  "
            } else {
                b",\n  "
            });
            starts.push(body_end + append.len() as u64);
            append.extend_from_slice(&format::entry_text(e));
        }
        let new_body_end = body_end + append.len() as u64;
        append.extend_from_slice(format::TAIL);

        let io = |e| Arc::new(LedgerError::io(path, e));
        let current = match File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        // The file must be the version this state reflects (the writer reread it under the lock).
        let current_id = match &current {
            Some(f) => Some(FileId::of(&f.metadata().map_err(io)?)),
            None => None,
        };
        if current_id != seen {
            return Err(Arc::new(LedgerError::Io {
                path: path.to_owned(),
                error: io::Error::other(format!(
                    "ledger.json changed under the commit lock (a writer that does not take \
                     it?): {current_id:?} is not {seen:?}"
                )),
            }));
        }
        let (id, how) = copies::publish(
            &l.paths,
            &copies::Version {
                current: current.as_ref(),
                body_end,
                append: &append,
            },
        )
        .map_err(io)?;
        if how == copies::How::FreshCopy && count > RECENT_ENTRIES as u64 {
            tracing::info!("{}: wrote a fresh copy of the ledger", path.display());
        }
        let mut s = l.state();
        if s.count == count {
            for (e, &start) in entries.iter().zip(&starts) {
                s.push(e.clone(), start);
            }
            s.body_end = new_body_end;
            s.check = check;
        }
        s.seen = Some(id);
        l.count_tx.send_replace(s.count);
        Ok(())
    }
}

/// Reads and verifies a ledger file into memory (tests and small tools; the node itself never
/// holds the entries). A missing file, or one with only white space, is an empty ledger.
pub fn load(path: &Path) -> Result<Vec<Entry>, LedgerError> {
    let mut out = Vec::new();
    verify_file(path, |e| out.push(e.clone()))?;
    Ok(out)
}

/// Reads and verifies a ledger file in bounded memory, calling `each` for every entry in order
/// (after it verified). Returns the number of entries and the head.
pub fn verify_file(
    path: &Path,
    mut each: impl FnMut(&Entry),
) -> Result<(u64, Hash32), LedgerError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Err(LedgerError::io(path, e)),
    };
    let mut reader = format::Reader::new(BufReader::with_capacity(1 << 20, file));
    let mut count = 0u64;
    let mut check = ChainCheck::new();
    let mut seen = TxIndex::default();
    let mut batch: Vec<Entry> = Vec::with_capacity(VERIFY_BATCH);
    // Ids whose first 8 bytes were seen before: checked exactly, by a second look.
    let mut suspects: HashMap<Hash32, u64> = HashMap::new();
    loop {
        let next = reader.next_entry().map_err(|e| match e {
            FormatError::Io(source) => LedgerError::io(path, source),
            FormatError::Malformed { detail, .. } => LedgerError::Malformed {
                path: path.to_owned(),
                detail,
            },
        })?;
        let done = next.is_none();
        if let Some(l) = next {
            batch.push(l.entry);
        }
        if batch.len() == VERIFY_BATCH || (done && !batch.is_empty()) {
            verify_continuation(&batch, &mut check).map_err(|error| LedgerError::Invalid {
                path: path.to_owned(),
                error,
            })?;
            for e in batch.drain(..) {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    seen.short.entry(short_id(&e.tx_id))
                {
                    v.insert(e.index);
                } else {
                    if let Some(&first) = suspects.get(&e.tx_id) {
                        return Err(LedgerError::Invalid {
                            path: path.to_owned(),
                            error: ChainError {
                                position: e.index as usize,
                                reason: EntryError::DuplicateTransaction { first_index: first },
                            },
                        });
                    }
                    suspects.insert(e.tx_id, e.index);
                }
                count += 1;
                each(&e);
            }
        }
        if done {
            break;
        }
    }
    if !suspects.is_empty() {
        // A short id seen twice: either a real duplicate or two ids sharing 8 bytes. The
        // first holder of each short id is found by reading the file once more.
        let firsts: HashMap<u64, u64> = suspects
            .keys()
            .map(|tx| (short_id(tx), seen.short[&short_id(tx)]))
            .collect();
        let file = File::open(path).map_err(|e| LedgerError::io(path, e))?;
        let mut reader = format::Reader::new(BufReader::with_capacity(1 << 20, file));
        while let Some(l) = reader.next_entry().map_err(|e| LedgerError::Malformed {
            path: path.to_owned(),
            detail: e.to_string(),
        })? {
            let e = l.entry;
            if firsts.get(&short_id(&e.tx_id)) == Some(&e.index) {
                if let Some(&dup) = suspects.get(&e.tx_id) {
                    return Err(LedgerError::Invalid {
                        path: path.to_owned(),
                        error: ChainError {
                            position: dup as usize,
                            reason: EntryError::DuplicateTransaction {
                                first_index: e.index,
                            },
                        },
                    });
                }
            }
        }
    }
    Ok((count, check.head()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_core::chain::NewEntry;

    fn new_entry(node: &str, data: &str) -> NewEntry {
        let d = pow_core::Difficulty::from_zero_bytes(1).unwrap();
        let s = pow_core::search::solve(data.as_bytes(), d)
            .solution
            .unwrap();
        NewEntry {
            node: node.into(),
            transaction_data: data.into(),
            nonce: s.nonce,
            hash: s.hash,
            time_taken: 0.25,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.269815".into(),
            difficulty: 1,
            ..Default::default()
        }
    }

    fn append(ledger: &Ledger, node: &str, data: &str) -> Entry {
        let mut w = ledger.writer(Wait::Forever).unwrap().unwrap();
        let e = new_entry(node, data).chain_onto(w.last().as_ref());
        w.append(std::slice::from_ref(&e)).unwrap();
        e
    }

    #[test]
    fn appends_are_whole_files_and_other_processes_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let (a, loaded) = Ledger::open(&path).unwrap();
        assert_eq!(loaded.entries, 0);
        assert!(!path.exists(), "nothing is created before the first append");
        let e0 = append(&a, "Node2", "a");
        assert_eq!(load(&path).unwrap(), vec![e0.clone()]);
        // Another handle (as another process would be) sees it, and appends after it.
        let (b, loaded) = Ledger::open(&path).unwrap();
        assert_eq!(loaded.entries, 1);
        let e1 = append(&b, "Node3", "b");
        assert_eq!(e1.index, 1);
        // The first handle reads only what was appended.
        assert_eq!(a.len(), 2);
        assert_eq!(a.get(&e1.tx_id).unwrap(), Some(e1.clone()));
        let e2 = append(&a, "Node1", "c");
        assert_eq!(
            load(&path).unwrap(),
            vec![e0.clone(), e1.clone(), e2.clone()]
        );
        // Pages and the whole stream are the ledger's own bytes.
        let text = std::fs::read(&path).unwrap();
        let whole: Vec<u8> = a.stream().unwrap().flat_map(|c| c.unwrap()).collect();
        assert_eq!(whole, text);
        assert_eq!(a.page(0, 10).unwrap(), (text.clone(), 3));
        assert_eq!(a.page(1, 1).unwrap().0, to_text(std::slice::from_ref(&e1)));
        assert_eq!(a.page(3, 5).unwrap().0, format::EMPTY);
        // A transaction cannot be appended twice.
        let mut w = b.writer(Wait::Forever).unwrap().unwrap();
        let dup = new_entry("Node1", "a").chain_onto(w.last().as_ref());
        let err = w.append(&[dup]).unwrap_err();
        assert!(
            err.to_string().contains("already recorded at index 0"),
            "{err}"
        );
    }

    #[test]
    fn the_empty_ledger_streams_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (l, _) = Ledger::open(&dir.path().join("ledger.json")).unwrap();
        let whole: Vec<u8> = l.stream().unwrap().flat_map(|c| c.unwrap()).collect();
        assert_eq!(whole, format::EMPTY);
        assert_eq!(l.page(0, 10).unwrap(), (format::EMPTY.to_vec(), 0));
    }

    #[test]
    fn a_removed_ledger_starts_over_and_a_replaced_one_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let (l, _) = Ledger::open(&path).unwrap();
        append(&l, "Node1", "a");
        append(&l, "Node1", "b");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(l.len(), 0);
        let e = append(&l, "Node2", "c");
        assert_eq!(e.index, 0);
        assert_eq!(load(&path).unwrap(), vec![e]);
        // Replaced by another valid ledger.
        let other = [new_entry("Node3", "x").chain_onto(None)];
        std::fs::write(&path, to_text(&other)).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l.get(&other[0].tx_id).unwrap().unwrap().node, "Node3");
        // Replaced by a tampered one: reads fail, appends are refused, nothing is written.
        let mut bad = other[0].clone();
        bad.node = "Mallory".into();
        std::fs::write(&path, to_text(&[bad])).unwrap();
        assert!(l.refresh().is_err());
        let before = std::fs::read(&path).unwrap();
        assert!(l.writer(Wait::Forever).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    /// Another process commits while this one rereads on one thread and appends on another:
    /// a reread that applied an older version after the writer's own reread once left the
    /// writer's view behind the file, and its commit was refused ("changed under the commit
    /// lock"). On tmpfs where there is one, so the syncs cost nothing.
    #[test]
    fn rereads_racing_a_writer_never_leave_it_behind_the_file() {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let path = dir.path().join("ledger.json");
        let (other, _) = Ledger::open(&path).unwrap();
        let (this, _) = Ledger::open(&path).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let zero = |node: &str, data: String| NewEntry {
            node: node.into(),
            hash: pow_core::puzzle::hash(data.as_bytes(), 0),
            transaction_data: data,
            nonce: 0,
            time_taken: 0.001,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.020815".into(),
            difficulty: 0,
            ..Default::default()
        };
        std::thread::scope(|s| {
            let o = other.clone();
            s.spawn(move || {
                for i in 0..1500 {
                    let mut w = o.writer(Wait::Forever).unwrap().unwrap();
                    let e = zero("Other", format!("other {i}")).chain_onto(w.last().as_ref());
                    w.append(&[e]).unwrap();
                }
            });
            for _ in 0..2 {
                let (t, stop) = (this.clone(), stop.clone());
                s.spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = t.refresh();
                    }
                });
            }
            for i in 0..500 {
                let mut w = this.writer(Wait::Forever).unwrap().unwrap();
                let e = zero("This", format!("this {i}")).chain_onto(w.last().as_ref());
                w.append(&[e]).unwrap_or_else(|e| panic!("append {i}: {e}"));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(verify_file(&path, |_| {}).unwrap().0, this.len());
    }

    #[test]
    fn verify_file_finds_duplicates_in_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let a = new_entry("Node1", "a").chain_onto(None);
        let b = new_entry("Node1", "b").chain_onto(Some(&a));
        let c = new_entry("Node2", "a").chain_onto(Some(&b));
        std::fs::write(&path, to_text(&[a.clone(), b.clone(), c])).unwrap();
        let err = verify_file(&path, |_| {}).unwrap_err();
        assert!(
            err.to_string()
                .contains("entry 2: the transaction is already recorded at index 0"),
            "{err}"
        );
        std::fs::write(&path, to_text(&[a, b.clone()])).unwrap();
        assert_eq!(verify_file(&path, |_| {}).unwrap(), (2, b.entry_hash));
    }
}
