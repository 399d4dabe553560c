//! The arbiter for nodes on several hosts: races decided by etcd (feature `etcd`).
//!
//! A claim is stamped the moment its search ends and queued to the [`Store`]'s decider, which
//! decides it in one etcd transaction (the first claim for a transaction wins and gets the next
//! index; ordering never trusts a wall clock). The answer comes once etcd has committed the
//! decision and this host's `ledger.json` holds the entry: a recording thread follows etcd's
//! entries in order and appends them through the same [`Writer`] the file arbiter feeds, so
//! every host's file ends byte for byte the same.
//!
//! [`Writer`]: crate::ledger::Writer

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pow_core::chain::{Entry, NewEntry};
use pow_core::Hash32;
use tokio::runtime::Handle;

use super::{Arbiter, BoxFuture, Claim, ClusterNode, DecideError, Decision, Finish, Submitted};
use crate::clock::{mono_ns, Stamp};
use crate::etcd::{Decided, EtcdError, Store};
use crate::ledger::lock::Wait;
use crate::ledger::Ledger;
use crate::limits::LEDGER_WAIT;
use crate::recent::Recent;

/// Entries the recording thread appends in one commit at most.
const RECORD_BATCH: usize = 1024;

/// How long the recording thread waits before following etcd again after an error.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Claims of this process remembered for their monotonic end (exact margins between nodes of
/// one process).
const LOCAL_CLAIMS: usize = 4096;

/// The etcd arbiter: see the module documentation.
pub struct EtcdArbiter {
    store: Store,
    ledger: Arc<Ledger>,
    /// Winners' monotonic end stamps, for claims made in this process.
    local: Arc<Mutex<Recent<Hash32, u64>>>,
    stop: Arc<AtomicBool>,
}

impl EtcdArbiter {
    /// An arbiter deciding through `store`, recording into `ledger`: checks that the local
    /// ledger is the beginning of the cluster's (a host never forks), then starts following
    /// etcd's entries into it. Call from within the async runtime.
    pub async fn start(store: Store, ledger: Arc<Ledger>) -> anyhow::Result<EtcdArbiter> {
        let count = ledger.len();
        if count > 0 {
            let (theirs, _) = store.entries(count - 1, 1).await?;
            let ours = ledger.entry(count - 1)?;
            match (theirs.first(), ours) {
                (Some(t), Some(o)) if *t == o => {}
                (None, _) => anyhow::bail!(
                    "{} has {count} entries, the cluster's ledger fewer: this host's ledger is \
                     not the cluster's (another race, or another etcd prefix?); move it aside \
                     to join",
                    ledger.path().display()
                ),
                _ => anyhow::bail!(
                    "{}: entry {} differs from the cluster's: this host's ledger is not the \
                     cluster's; move it aside to join",
                    ledger.path().display(),
                    count - 1
                ),
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (s, l, st, rt) = (
            store.clone(),
            ledger.clone(),
            stop.clone(),
            Handle::current(),
        );
        std::thread::Builder::new()
            .name("ledger-follower".into())
            .spawn(move || follow(&s, &l, &st, &rt))?;
        Ok(EtcdArbiter {
            store,
            ledger,
            local: Arc::new(Mutex::new(Recent::new(LOCAL_CLAIMS))),
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

/// The recording thread: every entry etcd decides, in order, into the local ledger.
fn follow(store: &Store, ledger: &Ledger, stop: &AtomicBool, rt: &Handle) {
    while !stop.load(Ordering::Acquire) {
        let mut stream = store.follow(ledger.len(), ledger.head());
        loop {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let first = match rt.block_on(stream.next_within(Duration::from_secs(1))) {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("following etcd's entries: {e}; retrying");
                    std::thread::sleep(RETRY_AFTER);
                    break;
                }
            };
            let mut batch = vec![first];
            while batch.len() < RECORD_BATCH {
                match rt.block_on(stream.next_within(Duration::ZERO)) {
                    Ok(Some(e)) => batch.push(e),
                    _ => break,
                }
            }
            if let Err(e) = record(ledger, batch) {
                tracing::error!(
                    "recording etcd's entries in {}: {e}; retrying",
                    ledger.path().display()
                );
                std::thread::sleep(RETRY_AFTER);
                break;
            }
        }
    }
}

/// Appends the entries this host's ledger does not have yet (another process on this host
/// may have appended some).
fn record(ledger: &Ledger, mut batch: Vec<Entry>) -> anyhow::Result<()> {
    let mut w = ledger
        .writer(Wait::Forever)?
        .expect("a blocking wait always gets the lock");
    let have = w.count();
    batch.retain(|e| e.index >= have);
    if let Some(first) = batch.first() {
        anyhow::ensure!(
            first.index == have,
            "the ledger has {have} entries, etcd's next is {}",
            first.index
        );
        w.append(&batch)?;
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

impl Arbiter for EtcdArbiter {
    fn submit(&self, claim: Claim) -> Result<Submitted, DecideError> {
        // Stamped now: etcd's order decides, the stamp is this node's own measurement.
        let end_mono = mono_ns();
        let (end, time_taken) = claim.start.end_at(end_mono);
        let finish = Finish {
            end,
            time_taken,
            mono_ns: end_mono,
        };
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
        let decided = self.store.submit(new);
        let (ledger, local) = (self.ledger.clone(), self.local.clone());
        let decision = async move {
            let deadline = tokio::time::Instant::now() + LEDGER_WAIT;
            let decided = match decided.await {
                Ok(d) => d,
                Err(e) if e.is_unavailable() => return Err(unavailable(e)),
                Err(EtcdError::Retarget { expected, found }) => {
                    return Err(DecideError::Withdrawn(format!(
                        "mined at {found} bits, but retargeting now asks {expected} at this \
                         place: nothing was recorded; send the transaction again"
                    )))
                }
                Err(EtcdError::Closed) => return Err(DecideError::Closed),
                Err(e) => {
                    return Err(DecideError::Withdrawn(format!(
                        "etcd refused the claim ({e}); nothing was recorded"
                    )))
                }
            };
            // Answer once this host's ledger holds the entry too.
            let index = decided.entry().index;
            let mut count = ledger.watch_count();
            while ledger.len() <= index {
                if tokio::time::timeout_at(deadline, count.changed())
                    .await
                    .is_err()
                {
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
            let mine = entry.node == me.0 && entry.nonce == me.1 && entry.start_time == me.2;
            let mut local = local.lock().unwrap_or_else(|e| e.into_inner());
            match decided {
                Decided::Won(_) | Decided::Lost(_) if mine => {
                    local.insert(tx, end_mono);
                    Ok(Decision::Won(entry))
                }
                _ => {
                    // Exact on one clock when the winner finished in this process; else from
                    // the wall clocks, which on other hosts may disagree: no figure then.
                    let margin = match local.get(&tx) {
                        Some(&w) => Some(end_mono.saturating_sub(w) as f64 / 1e9),
                        None => Stamp::parse(&entry.end_time)
                            .map(|w| (end.micros() - w.micros()) as f64 / 1e6)
                            .filter(|m| *m >= 0.0),
                    };
                    Ok(Decision::Lost { entry, margin })
                }
            }
        };
        Ok(Submitted {
            finish,
            decision: Box::pin(decision),
        })
    }

    fn recorded(&self, tx_id: &Hash32) -> Result<Option<Entry>, DecideError> {
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
        let (store, node, data, at) = (
            self.store.clone(),
            node.to_owned(),
            data.to_owned(),
            received_at.to_owned(),
        );
        Box::pin(async move {
            if let Err(e) = store.announce(&node, &data, &at).await {
                tracing::warn!("relaying a transaction to the cluster failed: {e}");
            }
        })
    }
}
