//! Who decides the winner: the [`Arbiter`] interface, and the in-process registry that stops
//! losing searches under `--on-loss abort`.
//!
//! The arbiter is the only place a race is decided. Today's arbiter is the [`Ledger`]
//! itself: one writer per process deciding under an OS file lock, which makes it correct for
//! several nodes in one process and for several node processes on one host. An arbiter for
//! several hosts (on a strongly consistent store such as etcd) implements the same trait.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pow_core::chain::Entry;
use pow_core::Hash32;

use crate::ledger::{Claim, Decision, Ledger, LedgerError};

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Decides races: exactly one winner per transaction, whatever the interleaving.
pub trait Arbiter: Send + Sync + 'static {
    /// Submits a finished proof of work. The first claim for a transaction wins; the answer
    /// comes once the decision is durable. The claim is queued before this returns (waiting
    /// for room if need be), so claims are decided in the order they are submitted: call it
    /// from the search thread the moment the search ends, never from the async runtime.
    fn submit(&self, claim: Claim) -> BoxFuture<'static, Result<Decision, Arc<LedgerError>>>;

    /// The recorded entry for a transaction, if the race is decided.
    fn recorded(&self, tx_id: &Hash32) -> Option<Entry>;

    /// Every recorded entry, in order.
    fn entries(&self) -> Vec<Entry>;

    /// How many entries are recorded.
    fn recorded_count(&self) -> usize;
}

impl Arbiter for Ledger {
    fn submit(&self, claim: Claim) -> BoxFuture<'static, Result<Decision, Arc<LedgerError>>> {
        Box::pin(Ledger::submit(self, claim))
    }

    fn recorded(&self, tx_id: &Hash32) -> Option<Entry> {
        self.get(tx_id)
    }

    fn entries(&self) -> Vec<Entry> {
        Ledger::entries(self)
    }

    fn recorded_count(&self) -> usize {
        self.len()
    }
}

/// The searches under way in this process, by transaction, so that a decided race can stop
/// its losers and a shutdown can stop them all.
#[derive(Default)]
pub struct Searches {
    by_tx: Mutex<HashMap<Hash32, Vec<Search>>>,
    next_id: std::sync::atomic::AtomicU64,
    stopping: AtomicBool,
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
        let mut map = self.searches.lock();
        if let Some(list) = map.get_mut(&self.tx_id) {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                map.remove(&self.tx_id);
            }
        }
    }
}

impl Searches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash32, Vec<Search>>> {
        self.by_tx.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a search for `tx_id`; `abort_on_loss` lets [`decided`](Self::decided) stop
    /// it. Its flag is already set if the process is stopping.
    pub fn start(&self, tx_id: Hash32, abort_on_loss: bool) -> SearchGuard<'_> {
        let cancel = Arc::new(AtomicBool::new(self.stopping.load(Ordering::Acquire)));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(tx_id).or_default().push(Search {
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

    /// Stops the searches for `tx_id` that abort on loss: its race is decided.
    pub fn decided(&self, tx_id: &Hash32) {
        if let Some(list) = self.lock().get(tx_id) {
            for s in list.iter().filter(|s| s.abort_on_loss) {
                s.cancel.store(true, Ordering::Release);
            }
        }
    }

    /// Stops every search, now and from now on.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
        for list in self.lock().values() {
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
        self.lock().values().map(Vec::len).sum()
    }
}
