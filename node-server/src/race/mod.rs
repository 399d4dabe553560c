//! Who decides the winner: the [`Arbiter`] interface and the race's vocabulary (a [`Claim`], a
//! [`Decision`], why a decision failed), and the in-process registry that stops losing
//! searches under `--on-loss abort`.
//!
//! The arbiter is the only place a race is decided. A node hands it a claim the moment its
//! search ends; the arbiter stamps the finish, decides (the first claim for a transaction
//! wins), and answers once the decision is durable in the ledger. Two arbiters implement it:
//! - [`lock_arbiter::LockArbiter`], the embedded default: every process on one host that uses the
//!   ledger file decides through a small decision log beside it, under an OS lock held for
//!   microseconds, so the first to finish is the one recorded, in one process or several.
//! - [`etcd_arbiter::EtcdArbiter`] for nodes on several hosts (feature `etcd`): etcd decides, and every
//!   host records etcd's order in its own file.
//!
//! Either way the decided entries reach `ledger.json` through [`crate::ledger::Writer`], the
//! one writer of the file.

pub mod cluster;
#[cfg(feature = "etcd")]
pub mod etcd_arbiter;
pub mod lock_arbiter;
pub mod node;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pow_core::chain::{Entry, RaceMode};
use pow_core::Hash32;

use crate::clock::{Stamp, Start};
use crate::ledger::{Ledger, LedgerError};
use crate::recent::Recent;

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A node's finished proof of work, as it reaches the arbiter: a ledger entry without its end
/// (which the arbiter stamps) and without its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The node that found it.
    pub node: String,
    /// The transaction.
    pub transaction_data: String,
    /// The nonce found.
    pub nonce: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Leading zero bytes required (the whole bytes of `difficulty_bits`).
    pub difficulty: u32,
    /// Leading zero bits, when not `8 × difficulty`.
    pub difficulty_bits: Option<u32>,
    /// How the race was run.
    pub race: RaceMode,
    /// The target race time, when the ledger is retargeted.
    pub target_time_us: Option<u64>,
    /// When the node started its search.
    pub start: Start,
}

impl Claim {
    /// The transaction's id.
    pub fn tx_id(&self) -> Hash32 {
        Hash32::digest(self.transaction_data.as_bytes())
    }

    /// The claim's end, stamped now on the host's monotonic clock.
    pub fn finish_now(&self) -> Finish {
        let mono_ns = crate::clock::mono_ns();
        let (end, time_taken) = self.start.end_at(mono_ns);
        Finish {
            end,
            time_taken,
            mono_ns,
        }
    }
}

/// When a claim finished, as the arbiter stamped it: the node's end, on both clocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    /// Start plus the monotonic duration.
    pub end: Stamp,
    /// Seconds from start to end, unrounded, on the monotonic clock.
    pub time_taken: f64,
    /// The host's monotonic clock at the end.
    pub mono_ns: u64,
}

/// The arbiter's answer to a claim.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The claim was first: this entry is now durable.
    Won(Entry),
    /// Another claim was first: its durable entry, and how far behind this claim finished
    /// (seconds on the host's monotonic clock; `None` when it cannot be measured so, e.g. the
    /// winner finished on another host and the wall clocks disagree).
    Lost {
        /// The winner's entry.
        entry: Entry,
        /// This claim's end minus the winner's.
        margin: Option<f64>,
    },
}

impl Decision {
    /// The recorded entry.
    pub fn entry(&self) -> &Entry {
        match self {
            Decision::Won(e) | Decision::Lost { entry: e, .. } => e,
        }
    }
}

/// Why a claim was not decided, or its decision not made durable.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DecideError {
    /// The arbiter (the ledger's lock, or etcd) could not be reached in time. When `decided` is
    /// true, the decision is taken and will be recorded once the ledger is reachable again;
    /// when false, nothing was recorded.
    #[error("{why}")]
    Unavailable {
        /// What could not be reached, and what becomes of the claim.
        why: String,
        /// Whether the decision stands (and will be recorded).
        decided: bool,
    },
    /// The ledger could not record the decision (disk full, read-only, damaged); nothing was
    /// written for this transaction.
    #[error("{0}")]
    Ledger(Arc<LedgerError>),
    /// The decision was withdrawn before it was recorded: the ledger could not be written,
    /// or (retargeting) the difficulty changed while the node mined. Nothing was recorded;
    /// the transaction can be sent again.
    #[error("{0}")]
    Withdrawn(String),
    /// The arbiter has stopped (the node is shutting down).
    #[error("the arbiter has stopped")]
    Closed,
}

/// A claim the arbiter has taken: its finish, and the decision to come.
pub struct Submitted {
    /// When the claim finished.
    pub finish: Finish,
    /// Whether the arbiter already knows, as it takes the claim, that the claim is first for
    /// its transaction (the file arbiter decides then; etcd decides later, so `false`). The
    /// race's other searches in this process can stop at once (`--on-loss abort`); the win
    /// itself is answered only once durable, and may still be withdrawn.
    pub first: bool,
    /// The decision, once durable.
    pub decision: BoxFuture<'static, Result<Decision, DecideError>>,
}

/// Decides races: exactly one winner per transaction, whatever the interleaving.
pub trait Arbiter: Send + Sync + 'static {
    /// Takes a finished proof of work. Call it on the search's own thread the moment the search
    /// ends: the arbiter stamps the finish then, so claims are ordered by when they finished.
    /// It returns quickly (within a bounded wait), never after the decision is durable.
    fn submit(&self, claim: Claim) -> Result<Submitted, DecideError>;

    /// The recorded entry for a transaction, if its race is decided and recorded.
    fn recorded(&self, tx_id: &Hash32) -> Result<Option<Entry>, DecideError>;

    /// The ledger file this host keeps (for reading: pages, downloads, counts).
    fn ledger(&self) -> &Arc<Ledger>;

    /// Waits (up to a bound) for what is decided to be recorded; for shutdown.
    fn flush(&self) -> BoxFuture<'static, ()>;

    /// Tells the other hosts that `data` reached `node` at `received_at`, so that every node
    /// of the cluster races it. Nothing to do where every node shares the host. Call it before
    /// the node mines the transaction: an arbiter may hold this process's claim for it until
    /// the other hosts are told.
    fn announce(&self, _node: &str, _data: &str, _received_at: &str) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }

    /// The cluster's live nodes, where there is a cluster (`None` on one host).
    fn cluster(&self) -> Option<BoxFuture<'static, Result<Vec<ClusterNode>, String>>> {
        None
    }
}

/// A live node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterNode {
    /// Its name.
    pub name: String,
    /// Where it listens (`host:port`).
    pub addr: String,
    /// When it joined, by its own clock.
    pub since: String,
}

/// Races decided in this process that [`Searches`] remembers (the most recent), so that a
/// search started after its race was decided stops at once.
const DECIDED_MEMORY: usize = 4096;

/// The searches under way in this process, by transaction, so that a decided race can stop
/// its losers and a shutdown can stop them all.
pub struct Searches {
    state: Mutex<SearchState>,
    next_id: std::sync::atomic::AtomicU64,
    stopping: AtomicBool,
}

struct SearchState {
    by_tx: HashMap<Hash32, Vec<Search>>,
    /// Races decided here lately: a search for one that starts now is stopped at once.
    decided: Recent<Hash32, ()>,
}

impl Default for Searches {
    fn default() -> Self {
        Searches {
            state: Mutex::new(SearchState {
                by_tx: HashMap::new(),
                decided: Recent::new(DECIDED_MEMORY),
            }),
            next_id: Default::default(),
            stopping: AtomicBool::new(false),
        }
    }
}

struct Search {
    id: u64,
    abort_on_loss: bool,
    cancel: Arc<AtomicBool>,
}

/// Removes a search from [`Searches`] when dropped.
pub struct SearchGuard<'a> {
    searches: &'a Searches,
    tx_id: Hash32,
    id: u64,
    /// The flag the search polls.
    pub cancel: Arc<AtomicBool>,
}

impl Drop for SearchGuard<'_> {
    fn drop(&mut self) {
        let map = &mut self.searches.lock().by_tx;
        if let Some(list) = map.get_mut(&self.tx_id) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                map.remove(&self.tx_id);
            }
        }
    }
}

impl Searches {
    fn lock(&self) -> std::sync::MutexGuard<'_, SearchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a search for `tx_id`; `abort_on_loss` lets [`decided`](Self::decided) stop
    /// it. Its flag is already set if the process is stopping, or if it aborts on loss and its
    /// race was decided here already.
    pub fn start(&self, tx_id: Hash32, abort_on_loss: bool) -> SearchGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let stopped = self.stopping.load(Ordering::Acquire)
            || (abort_on_loss && state.decided.contains(&tx_id));
        let cancel = Arc::new(AtomicBool::new(stopped));
        state.by_tx.entry(tx_id).or_default().push(Search {
            id,
            abort_on_loss,
            cancel: cancel.clone(),
        });
        SearchGuard {
            searches: self,
            tx_id,
            id,
            cancel,
        }
    }

    /// Stops the searches for `tx_id` that abort on loss, and those that start later: its race
    /// is decided.
    pub fn decided(&self, tx_id: &Hash32) {
        let mut state = self.lock();
        state.decided.insert(*tx_id, ());
        if let Some(list) = state.by_tx.get(tx_id) {
            for s in list.iter().filter(|s| s.abort_on_loss) {
                s.cancel.store(true, Ordering::Release);
            }
        }
    }

    /// Stops every search, now and from now on.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
        for list in self.lock().by_tx.values() {
            for s in list {
                s.cancel.store(true, Ordering::Release);
            }
        }
    }

    /// Whether [`stop_all`](Self::stop_all) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Searches under way.
    pub fn in_flight(&self) -> usize {
        self.lock().by_tx.values().map(Vec::len).sum()
    }
}
