//! The arbiter for nodes on several hosts: races decided by etcd (feature `etcd`).
//!
//! A claim is stamped the moment its search ends and queued to the [`Store`]'s decider, which
//! decides it in one etcd transaction (the first claim for a transaction wins and gets the next
//! index; ordering never trusts a wall clock). The answer comes once etcd has committed the
//! decision and this host's `ledger.json` holds the entry: a recording task follows etcd's
//! entries in order and appends them through the same [`Writer`] the file arbiter feeds, so
//! every host's file ends byte for byte the same.
//!
//! **One chain.** An answer is given only once the entry at the decided index in this host's
//! file *is* the decided entry (compared, not counted). A host whose file and etcd's chain
//! disagree (etcd wiped or replaced under running nodes, another writer on the file) has
//! [diverged](Divergence): it says so once, loudly, naming the first index where they differ,
//! answers no race from then on, records nothing of etcd's chain and never rewrites its file;
//! a restart on that file is refused with the same message. Which arbiter feeds a file is
//! checked at start ([`crate::ledger::owner`]).
//!
//! **Relay.** A transaction that reaches a node here is announced in etcd so that every node of
//! the cluster races it ([`Arbiter::announce`]). The announcement is written only while the race
//! is undecided, so a claim of this process for a transaction this process is announcing waits
//! for that announcement (up to [`ANNOUNCE_WAIT`]) before it is decided: otherwise a fast
//! search (difficulty 2 takes a millisecond) could be decided first and the other hosts would
//! never hear of the race.
//!
//! [`Writer`]: crate::ledger::Writer

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::{FutureExt, Shared};
use pow_core::chain::{Entry, NewEntry};
use pow_core::Hash32;

use super::{Arbiter, BoxFuture, Claim, ClusterNode, DecideError, Decision, Submitted};
use crate::clock::Stamp;
use crate::etcd::{Decided, EtcdError, Store, ENTRY_PAGE};
use crate::ledger::lock::Wait;
use crate::ledger::Ledger;
use crate::limits::LEDGER_WAIT;
use crate::recent::Recent;

/// Entries the recording task appends in one commit at most.
const RECORD_BATCH: usize = 1024;

/// How long the recording task waits before following etcd again after an error.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Claims of this process remembered for their monotonic end (exact margins between nodes of
/// one process).
const LOCAL_CLAIMS: usize = 4096;

/// How long an answer waits for the recording task before it reads the missing entries from
/// etcd itself. The thread's watch delivers a decided entry within milliseconds, but a watch
/// on a connection to a member that was just cut off stays silent until it is probed (about
/// twice [`WATCH_PROBE_AFTER`](crate::etcd::WATCH_PROBE_AFTER)), while the rest of the cluster
/// goes on deciding.
pub const FOLLOW_GRACE: Duration = Duration::from_millis(500);

/// How long a claim waits for this process's announcement of its transaction before it is
/// decided anyway (an announcement is a lease grant at most and one transaction).
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(4);

/// An announcement under way; resolves when etcd has answered it (or it failed).
type Announcing = Shared<BoxFuture<'static, ()>>;

/// The etcd arbiter: see the module documentation.
pub struct EtcdArbiter {
    store: Store,
    ledger: Arc<Ledger>,
    /// Winners' monotonic end stamps, for claims made in this process.
    local: Arc<Mutex<Recent<Hash32, u64>>>,
    /// This process's announcements under way, by transaction: its claims for them wait.
    announcing: Arc<Mutex<HashMap<Hash32, Announcing>>>,
    /// Held while an answer reads missing entries from etcd (one reader at a time).
    catching_up: Arc<tokio::sync::Mutex<()>>,
    /// Set once this host's ledger is found not to be the cluster's.
    divergence: Arc<Divergence>,
    stop: Arc<AtomicBool>,
}

/// This host's ledger found not to be the cluster's: set once, and from then on every race is
/// refused with its message (see the module documentation).
#[derive(Default)]
pub struct Divergence {
    why: OnceLock<String>,
    told: tokio::sync::Notify,
}

impl Divergence {
    /// Why this host answers no race, if it has diverged.
    pub fn get(&self) -> Option<&str> {
        self.why.get().map(String::as_str)
    }

    /// Records that the ledger and etcd's chain first differ at `index`; logs it the first
    /// time. Returns the message.
    fn set(&self, ledger: &Ledger, store: &Store, index: u64) -> String {
        let mut first = false;
        let why = self.why.get_or_init(|| {
            first = true;
            diverged_message(ledger, store, index)
        });
        if first {
            tracing::error!("{why}");
            self.told.notify_waiters();
        }
        why.clone()
    }
}

/// The message of a host whose ledger and etcd's chain first differ at `index`.
fn diverged_message(ledger: &Ledger, store: &Store, index: u64) -> String {
    format!(
        "THIS HOST'S LEDGER IS NOT THE CLUSTER'S: entry {index} of {} differs from etcd's entry \
         {index} under prefix {} (etcd was wiped or replaced under this node, or another writer \
         appended to the file). This host answers no race from now on and leaves the file as \
         it is; move it aside (or give another --ledger) and restart to join the cluster",
        ledger.path().display(),
        store.keys().prefix()
    )
}

/// The first index where this host's ledger and etcd's chain differ, or `None` when one is
/// the beginning of the other and the file is not the longer. Entries are hash-chained, so an
/// entry equal in both means every entry before it is too: a binary search, a few reads.
async fn first_difference(store: &Store, ledger: &Ledger) -> anyhow::Result<Option<u64>> {
    let ours = ledger.len();
    let theirs = store.head().await?.map_or(0, |h| h.index + 1);
    let differs = |i: u64| async move {
        let (page, _) = store.entries(i, 1).await?;
        let mine = ledger.entry(i)?;
        anyhow::Ok(page.first().map(|e| e.entry_hash) != mine.map(|e| e.entry_hash))
    };
    let common = ours.min(theirs);
    let (mut lo, mut hi) = (0, common);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if differs(mid).await? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(if lo < common || ours > theirs {
        Some(lo)
    } else {
        None
    })
}

impl EtcdArbiter {
    /// An arbiter deciding through `store`, recording into `ledger`: checks that the local
    /// ledger is the beginning of the cluster's (a host never forks), then starts following
    /// etcd's entries into it. Call from within the async runtime.
    pub async fn start(store: Store, ledger: Arc<Ledger>) -> anyhow::Result<EtcdArbiter> {
        if let Some(index) = first_difference(&store, &ledger).await? {
            anyhow::bail!("{}", diverged_message(&ledger, &store, index));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let divergence = Arc::new(Divergence::default());
        tokio::spawn(follow(
            store.clone(),
            ledger.clone(),
            stop.clone(),
            divergence.clone(),
        ));
        Ok(EtcdArbiter {
            store,
            ledger,
            local: Arc::new(Mutex::new(Recent::new(LOCAL_CLAIMS))),
            announcing: Arc::new(Mutex::new(HashMap::new())),
            catching_up: Arc::new(tokio::sync::Mutex::new(())),
            divergence,
            stop,
        })
    }

    /// The store, for the node registry and relay.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Drop for EtcdArbiter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The recording task: every entry etcd decides, in order, into the local ledger; it stops
/// at a divergence (see [`Divergence`]), when the arbiter is dropped, or with the runtime (a
/// task, not a thread that blocks on the runtime: a process that exits while it follows, say
/// after its registration timed out, just drops it).
async fn follow(
    store: Store,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    divergence: Arc<Divergence>,
) {
    // Whether the ledger and etcd disagree, and where (`None` also when etcd cannot tell now).
    let diverged_at = |hint: Option<u64>| {
        let (store, ledger) = (&store, &ledger);
        async move {
            match first_difference(store, ledger).await {
                Ok(Some(i)) => Some(i),
                Ok(None) => None,
                Err(_) => hint,
            }
        }
    };
    while !stop.load(Ordering::Acquire) {
        let mut stream = store.follow(ledger.len(), ledger.head());
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let first = match stream.next_within(Duration::from_secs(1)).await {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e) => {
                    // An entry that does not follow this host's head: the chains may differ.
                    if matches!(e, EtcdError::Protocol(_)) {
                        if let Some(i) = diverged_at(None).await {
                            divergence.set(&ledger, &store, i);
                            return;
                        }
                    }
                    tracing::warn!("following etcd's entries: {e}; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    break;
                }
            };
            let mut batch = vec![first];
            while batch.len() < RECORD_BATCH {
                match stream.next_within(Duration::ZERO).await {
                    Ok(Some(e)) => batch.push(e),
                    _ => break,
                }
            }
            let l = ledger.clone();
            let recorded = tokio::task::spawn_blocking(move || record(&l, batch))
                .await
                .unwrap_or_else(|e| Err(RecordError::Other(e.into())));
            match recorded {
                Ok(()) => {}
                Err(RecordError::Diverged(i)) => {
                    let i = diverged_at(Some(i)).await.unwrap_or(i);
                    divergence.set(&ledger, &store, i);
                    return;
                }
                Err(RecordError::Other(e)) => {
                    tracing::error!(
                        "recording etcd's entries in {}: {e}; retrying",
                        ledger.path().display()
                    );
                    tokio::time::sleep(RETRY_AFTER).await;
                    break;
                }
            }
        }
    }
}

/// Why entries from etcd were not recorded.
#[derive(Debug, thiserror::Error)]
enum RecordError {
    /// The file's entry at this index (or the head the next entry must follow) is not etcd's.
    #[error("the ledger's entry {0} is not etcd's")]
    Diverged(u64),
    /// Anything else (the disk, the lock): worth retrying.
    #[error("{0}")]
    Other(anyhow::Error),
}

impl From<Arc<crate::ledger::LedgerError>> for RecordError {
    fn from(e: Arc<crate::ledger::LedgerError>) -> Self {
        RecordError::Other(anyhow::Error::new(e))
    }
}

/// Appends the entries this host's ledger does not have yet (another process on this host
/// may have appended some). Those it has are compared, never skipped unseen: the last of them
/// stands for the ones before it (the chain links them), and the first new one must follow the
/// file's head. A difference is [`RecordError::Diverged`] and nothing is written.
fn record(ledger: &Ledger, mut batch: Vec<Entry>) -> Result<(), RecordError> {
    let mut w = ledger
        .writer(Wait::Forever)?
        .expect("a blocking wait always gets the lock");
    let have = w.count();
    if let Some(known) = batch.iter().rev().find(|e| e.index < have) {
        if ledger.entry(known.index)?.as_ref() != Some(known) {
            return Err(RecordError::Diverged(known.index));
        }
    }
    batch.retain(|e| e.index >= have);
    if let Some(first) = batch.first() {
        if first.index != have {
            return Err(RecordError::Other(anyhow::anyhow!(
                "the ledger has {have} entries, etcd's next is {}",
                first.index
            )));
        }
        if first.prev_hash != w.check().head() {
            return Err(RecordError::Diverged(have.saturating_sub(1)));
        }
        w.append(&batch)?;
    }
    Ok(())
}

/// Records every entry through index `through`, read from etcd by index: for an answer whose
/// decision the recording task has not delivered (see [`FOLLOW_GRACE`]). One reader at a
/// time; the ledger's writer checks that each entry continues the chain.
async fn catch_up(
    store: &Store,
    ledger: &Arc<Ledger>,
    through: u64,
    one: &tokio::sync::Mutex<()>,
) -> Result<(), RecordError> {
    let _one = one.lock().await;
    while ledger.len() <= through {
        let (page, _) = store
            .entries(ledger.len(), ENTRY_PAGE)
            .await
            .map_err(|e| RecordError::Other(e.into()))?;
        if page.is_empty() {
            return Err(RecordError::Other(anyhow::anyhow!(
                "etcd has no entry {} yet",
                ledger.len()
            )));
        }
        let l = ledger.clone();
        tokio::task::spawn_blocking(move || record(&l, page))
            .await
            .map_err(|e| RecordError::Other(e.into()))??;
    }
    Ok(())
}

fn unavailable(e: EtcdError) -> DecideError {
    DecideError::Unavailable {
        why: format!(
            "etcd could not decide in time ({e}); the claim may still be recorded if it reached \
             etcd: the ledger will show it"
        ),
        // A claim that timed out may still have been decided: treat it as such.
        decided: true,
    }
}

/// What a claim etcd did not decide is told.
fn not_decided(e: EtcdError) -> DecideError {
    match e {
        e if e.is_unavailable() => unavailable(e),
        EtcdError::Retarget { expected, found } => DecideError::Withdrawn(format!(
            "mined at {found} bits, but retargeting now asks {expected} at this place: nothing \
             was recorded; send the transaction again"
        )),
        EtcdError::Closed => DecideError::Closed,
        e => DecideError::Withdrawn(format!(
            "etcd refused the claim ({e}); nothing was recorded"
        )),
    }
}

/// The decision for this host's claim on `tx`, which finished at `end` (`end_mono` on this
/// host's monotonic clock), now that `entry` is recorded: won if the entry is the claim's
/// (`mine`), noted in `local` so that this process's losers get an exact margin; lost
/// otherwise.
fn decision_for_claim(
    local: &mut Recent<Hash32, u64>,
    tx: Hash32,
    entry: Entry,
    mine: bool,
    end: Stamp,
    end_mono: u64,
) -> Decision {
    if mine {
        local.insert(tx, end_mono);
        return Decision::Won(entry);
    }
    // Exact on one clock when the winner finished in this process; else from the wall
    // clocks, which on other hosts may disagree: no figure then.
    let margin = match local.get(&tx) {
        Some(&w) => Some(end_mono.saturating_sub(w) as f64 / 1e9),
        None => Stamp::parse(&entry.end_time)
            .map(|w| (end.micros() - w.micros()) as f64 / 1e6)
            .filter(|m| *m >= 0.0),
    };
    Decision::Lost { entry, margin }
}

impl Arbiter for EtcdArbiter {
    fn submit(&self, claim: Claim) -> Result<Submitted, DecideError> {
        if let Some(why) = self.divergence.get() {
            return Err(DecideError::Unavailable {
                why: format!("{why}; nothing was decided for this claim"),
                decided: false,
            });
        }
        // Stamped now: etcd's order decides, the stamp is this node's own measurement.
        let finish = claim.finish_now();
        let (end, time_taken, end_mono) = (finish.end, finish.time_taken, finish.mono_ns);
        let tx = claim.tx_id();
        let me = (claim.node.clone(), claim.nonce, claim.start.wall.text());
        let new = NewEntry {
            node: claim.node,
            transaction_data: claim.transaction_data,
            nonce: claim.nonce,
            hash: claim.hash,
            time_taken,
            start_time: claim.start.wall.text(),
            end_time: end.text(),
            difficulty: claim.difficulty,
            race: claim.race,
            difficulty_bits: claim.difficulty_bits,
            target_time_us: claim.target_time_us,
        };
        let announcing = self
            .announcing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tx)
            .cloned();
        let decided: BoxFuture<'static, Result<Decided, EtcdError>> = match announcing {
            // Queued now, in the order claims finish.
            None => Box::pin(self.store.submit(new)),
            // Decided once the other hosts are told of the race (see the module doc).
            Some(announced) => {
                let store = self.store.clone();
                Box::pin(async move {
                    let _ = tokio::time::timeout(ANNOUNCE_WAIT, announced).await;
                    store.claim(new).await
                })
            }
        };
        let (ledger, local) = (self.ledger.clone(), self.local.clone());
        let (store, catching_up) = (self.store.clone(), self.catching_up.clone());
        let divergence = self.divergence.clone();
        let decision = async move {
            let decided = decided.await.map_err(not_decided)?;
            // Answer once this host's ledger holds the entry too, waiting for it (from the
            // decision: deciding may itself take up to etcd's CLAIM_DEADLINE) up to a bound.
            let deadline = tokio::time::Instant::now() + LEDGER_WAIT;
            let index = decided.entry().index;
            let mut count = ledger.watch_count();
            let mut grace = Some(tokio::time::Instant::now() + FOLLOW_GRACE);
            let refused = |why: &str| DecideError::Unavailable {
                why: format!(
                    "{why}; etcd decided this race (its entry {index}), but this host's \
                     ledger does not hold it"
                ),
                decided: true,
            };
            while ledger.len() <= index {
                // Created before the check: a divergence told in between still wakes it.
                let told = divergence.told.notified();
                if let Some(why) = divergence.get() {
                    return Err(refused(why));
                }
                let until = grace.map_or(deadline, |g| g.min(deadline));
                let changed = tokio::select! {
                    c = tokio::time::timeout_at(until, count.changed()) => c.is_ok(),
                    () = told => continue,
                };
                if !changed {
                    if grace.take().is_some() {
                        let read = catch_up(&store, &ledger, index, &catching_up);
                        match tokio::time::timeout_at(deadline, read).await {
                            Ok(Err(RecordError::Diverged(i))) => {
                                let i = first_difference(&store, &ledger)
                                    .await
                                    .ok()
                                    .flatten()
                                    .unwrap_or(i);
                                divergence.set(&ledger, &store, i);
                            }
                            Ok(Err(e)) => tracing::warn!("reading decided entries from etcd: {e}"),
                            _ => {}
                        }
                        continue;
                    }
                    return Err(DecideError::Unavailable {
                        why: format!(
                            "etcd decided the race (entry {index}), but {} has not recorded it \
                             within {} s",
                            ledger.path().display(),
                            LEDGER_WAIT.as_secs()
                        ),
                        decided: true,
                    });
                }
            }
            let entry = decided.entry().clone();
            // The file's entry at that index must be the decided one, not merely be there.
            if ledger.entry(index).map_err(DecideError::Ledger)?.as_ref() != Some(&entry) {
                let i = first_difference(&store, &ledger)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(index);
                return Err(refused(&divergence.set(&ledger, &store, i)));
            }
            let mine = entry.node == me.0 && entry.nonce == me.1 && entry.start_time == me.2;
            let mut local = local.lock().unwrap_or_else(|e| e.into_inner());
            Ok(decision_for_claim(
                &mut local, tx, entry, mine, end, end_mono,
            ))
        };
        Ok(Submitted {
            finish,
            first: false,
            decision: Box::pin(decision),
        })
    }

    fn recorded(&self, tx_id: &Hash32) -> Result<Option<Entry>, DecideError> {
        if let Some(why) = self.divergence.get() {
            return Err(DecideError::Unavailable {
                why: why.to_owned(),
                decided: false,
            });
        }
        self.ledger.get(tx_id).map_err(DecideError::Ledger)
    }

    fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        // Decided races reach this host's ledger through the follower; give it a moment to
        // catch up with etcd's head.
        let (store, ledger) = (self.store.clone(), self.ledger.clone());
        Box::pin(async move {
            let Ok(Some(head)) = store.head().await else {
                return;
            };
            let until = Instant::now() + Duration::from_secs(2);
            while ledger.len() <= head.index && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    }

    fn cluster(&self) -> Option<BoxFuture<'static, Result<Vec<ClusterNode>, String>>> {
        let store = self.store.clone();
        Some(Box::pin(async move {
            store
                .nodes()
                .await
                .map(|nodes| {
                    nodes
                        .into_iter()
                        .map(|n| ClusterNode {
                            name: n.name,
                            addr: n.addr,
                            since: n.since,
                        })
                        .collect()
                })
                .map_err(|e| e.to_string())
        }))
    }

    fn announce(&self, node: &str, data: &str, received_at: &str) -> BoxFuture<'static, ()> {
        let tx = Hash32::digest(data.as_bytes());
        let (store, node, data, at) = (
            self.store.clone(),
            node.to_owned(),
            data.to_owned(),
            received_at.to_owned(),
        );
        let work: BoxFuture<'static, ()> = Box::pin(async move {
            if let Err(e) = store.announce(&node, &data, &at).await {
                tracing::warn!("relaying a transaction to the cluster failed: {e}");
            }
        });
        let work = work.shared();
        // Registered now, before the node starts mining: its claim will find it.
        self.announcing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tx, work.clone());
        let announcing = self.announcing.clone();
        Box::pin(async move {
            work.clone().await;
            let mut map = announcing.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&tx).is_some_and(|w| w.ptr_eq(&work)) {
                map.remove(&tx);
            }
        })
    }
}
