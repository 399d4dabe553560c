//! A node: takes transactions, mines each at most once on its own threads, and asks the
//! arbiter whether it won. Networking lives in [`crate::server`]; this is the race itself.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{FutureExt, Shared};
use pow_core::engine::Kernel;
use pow_core::search::parallel;
use pow_core::{Difficulty, Hash32, Prepared};
use tokio::sync::{oneshot, Semaphore};
use tokio_util::task::TaskTracker;

use crate::clock::Stamp;
use crate::events::{EventBus, EventKind, Work};
use crate::ledger::{Claim, Decision, LedgerError};
use crate::limits::{MAX_CONCURRENT_SEARCHES, MAX_RACES_IN_FLIGHT};
use crate::metrics::Metrics;
use crate::protocol::{ErrorCode, Outcome, Reply};
use crate::race::{Arbiter, BoxFuture, Searches};

/// What a losing node does once the race is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLoss {
    /// Keep mining to the end, so every node's time can be compared (the lab's behaviour).
    Finish,
    /// Stop as soon as another node has won.
    Abort,
}

/// What the nodes of one process share: who decides races, the searches under way, and the
/// metrics.
#[derive(Clone)]
pub struct SharedByNodes {
    /// Decides every race.
    pub arbiter: Arc<dyn Arbiter>,
    /// Searches under way in this process.
    pub searches: Arc<Searches>,
    /// Counters fed by every node's events.
    pub metrics: Arc<Metrics>,
    /// Held while a search stamps its end and submits its claim, so claims are submitted
    /// in the order searches finish.
    pub claim_order: Arc<Mutex<()>>,
}

/// A node's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Its name, e.g. `Node1`.
    pub name: String,
    /// Leading zero bytes required.
    pub difficulty: u32,
    /// Threads per search.
    pub threads: usize,
    /// The search kernel.
    pub kernel: Kernel,
    /// What a loser does.
    pub on_loss: OnLoss,
}

/// Why a race could not be answered.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RaceError {
    /// Too many races in flight at this node.
    #[error("node is busy: {MAX_RACES_IN_FLIGHT} races in flight; try again")]
    Busy,
    /// The ledger could not record the decision.
    #[error("the ledger could not record the race: {0}")]
    Ledger(Arc<LedgerError>),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// The search itself failed (a bug: its thread panicked); nothing was recorded.
    #[error("the search failed unexpectedly; nothing was recorded (see the node's log)")]
    SearchFailed,
}

impl RaceError {
    /// The code for an error reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Busy => ErrorCode::Busy,
            Self::Ledger(_) => ErrorCode::LedgerError,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::SearchFailed => ErrorCode::SearchFailed,
        }
    }
}

type RaceFuture = Shared<BoxFuture<'static, Result<Reply, RaceError>>>;

/// One miner node.
pub struct Node {
    config: NodeConfig,
    difficulty: Difficulty,
    arbiter: Arc<dyn Arbiter>,
    searches: Arc<Searches>,
    metrics: Arc<Metrics>,
    claim_order: Arc<Mutex<()>>,
    events: EventBus,
    in_flight: Mutex<HashMap<Hash32, RaceFuture>>,
    // Transactions this node has raced this run, or found in the ledger when it started:
    // sending one again is answered from the ledger. A copy that arrives after another node
    // won, but that this node has not raced, is still mined (and lost), so every node's time
    // can be compared.
    handled: Mutex<HashSet<Hash32>>,
    slots: Arc<Semaphore>,
    searchers: Semaphore,
    races: AtomicU64,
    // Every race task, so a shutdown can wait for decided races to commit even when their
    // client has gone.
    race_tasks: TaskTracker,
    started: Instant,
}

impl Node {
    /// A node deciding through the shared arbiter, sharing searches and metrics with the other
    /// nodes of this process, and emitting on `events`.
    pub fn new(
        config: NodeConfig,
        shared: &SharedByNodes,
        events: EventBus,
    ) -> anyhow::Result<Arc<Node>> {
        let SharedByNodes {
            arbiter,
            searches,
            metrics,
            claim_order,
        } = shared.clone();
        let difficulty = Difficulty::from_zero_bytes(u64::from(config.difficulty))?;
        let handled = arbiter.entries().iter().map(|e| e.tx_id).collect();
        Ok(Arc::new(Node {
            handled: Mutex::new(handled),
            config,
            difficulty,
            arbiter,
            searches,
            metrics,
            claim_order,
            events,
            in_flight: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_RACES_IN_FLIGHT)),
            searchers: Semaphore::new(MAX_CONCURRENT_SEARCHES),
            races: AtomicU64::new(0),
            race_tasks: TaskTracker::new(),
            started: Instant::now(),
        }))
    }

    /// The process's metrics (every node's).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The node's event stream.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The arbiter (and through it, the ledger).
    pub fn arbiter(&self) -> &Arc<dyn Arbiter> {
        &self.arbiter
    }

    /// Races this node has run.
    pub fn races(&self) -> u64 {
        self.races.load(Ordering::Relaxed)
    }

    /// Races under way at this node.
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Waits for every race under way to end: stopped searches give up, decided races
    /// finish committing. For shutdown, after [`Searches::stop_all`].
    pub async fn drain(&self) {
        self.race_tasks.close();
        self.race_tasks.wait().await;
    }

    /// Seconds since the node started.
    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Races `data` (already validated) from `peer`. A node mines a transaction at most once:
    /// a copy of one it is mining joins that search; one it has raced already (or that was
    /// in the ledger when it started) is answered from the ledger. Under `--on-loss abort`, a
    /// copy that arrives after the race was decided is answered from the ledger too.
    pub async fn submit(self: &Arc<Self>, data: &str, peer: &str) -> Result<Reply, RaceError> {
        let tx_id = Hash32::digest(data.as_bytes());
        let data: Arc<str> = data.into();
        self.events.emit(
            Some((&tx_id, &data)),
            EventKind::Received {
                peer: peer.to_owned(),
            },
        );
        if self.searches.is_stopping() {
            return Err(RaceError::ShuttingDown);
        }
        let race = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(race) = in_flight.get(&tx_id) {
                race.clone()
            } else {
                let mut handled = self.handled.lock().unwrap_or_else(|e| e.into_inner());
                let answer_from_ledger =
                    handled.contains(&tx_id) || self.config.on_loss == OnLoss::Abort;
                if answer_from_ledger {
                    if let Some(entry) = self.arbiter.recorded(&tx_id) {
                        return Ok(self.recorded_reply(entry));
                    }
                }
                handled.insert(tx_id);
                drop(handled);
                let permit = self
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| RaceError::Busy)?;
                let node = self.clone();
                let data = data.clone();
                let fut: BoxFuture<'static, Result<Reply, RaceError>> = Box::pin(async move {
                    let result = node.clone().mine(tx_id, data).await;
                    node.in_flight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&tx_id);
                    drop(permit);
                    result
                });
                let race = fut.shared();
                in_flight.insert(tx_id, race.clone());
                self.races.fetch_add(1, Ordering::Relaxed);
                // Run the race on its own task so a client that disconnects cannot stop it.
                self.race_tasks.spawn(race.clone());
                race
            }
        };
        race.await
    }

    fn recorded_reply(&self, entry: pow_core::chain::Entry) -> Reply {
        Reply {
            node: self.config.name.clone(),
            outcome: Outcome::Recorded,
            tx_id: entry.tx_id,
            transaction_data: entry.transaction_data.clone(),
            difficulty: entry.difficulty,
            winner: entry.node.clone(),
            nonce: entry.nonce,
            hash: entry.hash,
            start_time: None,
            end_time: None,
            time_taken: None,
            hashes: None,
            margin: None,
            entry,
        }
    }

    async fn mine(self: Arc<Self>, tx_id: Hash32, data: Arc<str>) -> Result<Reply, RaceError> {
        let tx = Some((&tx_id, &data));
        let _searcher = self
            .searchers
            .acquire()
            .await
            .map_err(|_| RaceError::ShuttingDown)?;
        if self.config.on_loss == OnLoss::Abort {
            // Decided while this race waited for a searcher: nothing to mine.
            if let Some(entry) = self.arbiter.recorded(&tx_id) {
                return Ok(self.recorded_reply(entry));
            }
        }
        let guard = self
            .searches
            .start(tx_id, self.config.on_loss == OnLoss::Abort);
        let start = Stamp::now();
        let t0 = Instant::now();
        self.events.emit(
            tx,
            EventKind::Started {
                start_time: start.text(),
                kernel: self.config.kernel.name(),
                threads: self.config.threads,
            },
        );

        // The search runs on its own OS threads, never on the async runtime's workers. The
        // moment it ends, the same thread stamps the end time and submits its claim, under a
        // lock shared by the process's nodes: claims reach the arbiter in the order the
        // searches finished, so the first node to finish is the one recorded.
        let (done, result) = oneshot::channel();
        let cancel = guard.cancel.clone();
        let prepared = Prepared::new(data.as_bytes(), self.difficulty);
        let (threads, kernel) = (self.config.threads, self.config.kernel);
        let arbiter = self.arbiter.clone();
        let claim_order = self.claim_order.clone();
        let (name, data_owned, difficulty) = (
            self.config.name.clone(),
            data.to_string(),
            self.config.difficulty,
        );
        let start_text = start.text();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-search", self.config.name))
            .spawn(move || {
                let outcome = parallel::search(&prepared, threads, kernel, &cancel);
                let order = claim_order.lock().unwrap_or_else(|e| e.into_inner());
                let (elapsed, end) = (t0.elapsed(), Stamp::now());
                let decision = outcome.solution.map(|s| {
                    arbiter.submit(Claim {
                        node: name,
                        transaction_data: data_owned,
                        nonce: s.nonce,
                        hash: s.hash,
                        time_taken: elapsed.as_secs_f64(),
                        start_time: start_text,
                        end_time: end.text(),
                        difficulty,
                    })
                });
                drop(order);
                let _ = done.send((outcome, elapsed, end, decision));
            });
        if let Err(e) = spawned {
            tracing::error!(node = self.name(), "cannot start a search thread: {e}");
            return Err(RaceError::SearchFailed);
        }
        // The sender is dropped without a value only if the search thread panicked.
        let (outcome, elapsed, end, decision) =
            result.await.map_err(|_| RaceError::SearchFailed)?;
        drop(guard);

        let (Some(solution), Some(decision)) = (outcome.solution, decision) else {
            // Stopped: either the race was decided elsewhere (abort) or the node is stopping.
            if let Some(entry) = self.arbiter.recorded(&tx_id) {
                self.events.emit(
                    tx,
                    EventKind::Lost {
                        winner: entry.node.clone(),
                        margin: None,
                        work: None,
                        aborted: true,
                    },
                );
                let mut reply = self.recorded_reply(entry);
                reply.outcome = Outcome::Aborted;
                reply.start_time = Some(start.text());
                reply.end_time = Some(end.text());
                reply.time_taken = Some(elapsed.as_secs_f64());
                reply.hashes = Some(outcome.hashes);
                return Ok(reply);
            }
            return Err(RaceError::ShuttingDown);
        };

        let work = Work {
            nonce: solution.nonce,
            hash: solution.hash,
            time_taken: elapsed.as_secs_f64(),
            hashes: outcome.hashes,
            start_time: start.text(),
            end_time: end.text(),
        };
        self.events.emit(
            tx,
            EventKind::Completed {
                work: work.clone(),
                kernel: outcome.kernel.name(),
                threads: self.config.threads,
            },
        );

        let decision = match decision.await {
            Ok(d) => d,
            Err(e) => {
                self.events.emit(
                    tx,
                    EventKind::Error {
                        error: format!("the ledger could not record the race: {e}"),
                    },
                );
                return Err(RaceError::Ledger(e));
            }
        };
        let mut reply = Reply {
            node: self.config.name.clone(),
            outcome: Outcome::Won,
            tx_id,
            transaction_data: data.to_string(),
            difficulty: self.config.difficulty,
            winner: String::new(),
            nonce: work.nonce,
            hash: work.hash,
            start_time: Some(work.start_time.clone()),
            end_time: Some(work.end_time.clone()),
            time_taken: Some(work.time_taken),
            hashes: Some(work.hashes),
            margin: None,
            entry: match &decision {
                Decision::Won(e) | Decision::Lost(e) => e.clone(),
            },
        };
        reply.winner = reply.entry.node.clone();
        match decision {
            Decision::Won(entry) => {
                self.searches.decided(&tx_id);
                self.events.emit(
                    tx,
                    EventKind::Won {
                        work,
                        entry: Box::new(entry.clone()),
                    },
                );
                self.events.emit(
                    tx,
                    EventKind::LedgerUpdated {
                        entry: Box::new(entry),
                    },
                );
            }
            Decision::Lost(entry) => {
                let margin = margin(&work.end_time, &entry.end_time);
                reply.outcome = Outcome::Lost;
                reply.margin = margin;
                self.events.emit(
                    tx,
                    EventKind::Lost {
                        winner: entry.node,
                        margin,
                        work: Some(work),
                        aborted: false,
                    },
                );
            }
        }
        Ok(reply)
    }
}

/// Seconds from the winner's end to this node's end.
fn margin(own_end: &str, winner_end: &str) -> Option<f64> {
    let (own, winner) = (Stamp::parse(own_end)?, Stamp::parse(winner_end)?);
    Some((own.micros() - winner.micros()) as f64 / 1e6)
}
