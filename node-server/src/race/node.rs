//! A node: takes transactions, mines each at most once on its own threads, and asks the
//! arbiter whether it won. Networking lives in [`crate::net::server`]; this is the race itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{FutureExt, Shared};
use pow_core::chain::{Entry, RaceMode};
use pow_core::engine::Kernel;
use pow_core::search::pool::{Job, Mode, Pool};
use pow_core::{Difficulty, Hash32, Prepared};
use tokio::sync::{oneshot, Semaphore};
use tokio_util::task::TaskTracker;

use crate::clock::{mono_ns, Start};
use crate::events::metrics::Metrics;
use crate::events::{EventBus, EventKind, Work};
use crate::ledger::LedgerError;
use crate::limits::{
    LATE_COPY_WINDOW, LEDGER_WAIT, MAX_CONCURRENT_SEARCHES, MAX_RACES_IN_FLIGHT, RACED_MEMORY,
    RELAYED_REPLIES,
};
use crate::net::protocol::{ErrorCode, Outcome, Reply};
use crate::race::{Arbiter, BoxFuture, Claim, DecideError, Decision, Searches, Submitted};
use crate::recent::Recent;

/// How often a search stopped for a decided race looks for the winner's entry, which another
/// process may record (this process's own commits wake it at once).
const RECORDED_POLL: std::time::Duration = std::time::Duration::from_millis(20);

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
    /// The nodes of this process and where they listen (`GET /cluster` without a cluster).
    pub peers: Arc<Vec<crate::race::ClusterNode>>,
}

/// A node's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Its name, e.g. `Node1`.
    pub name: String,
    /// Leading zero bytes required (the whole bytes of `bits`, when given).
    pub difficulty: u32,
    /// Leading zero bits required, when not `8 × difficulty` (finer steps: `--bits`).
    pub bits: Option<u32>,
    /// Threads per search.
    pub threads: usize,
    /// The search kernel.
    pub kernel: Kernel,
    /// What a loser does.
    pub on_loss: OnLoss,
    /// How the node races: from nonce 0 (the lab) or from its own start (a lottery).
    pub race: RaceMode,
    /// A cap on the node's hash rate (hashes per second), so one machine can host a strong
    /// and a weak miner.
    pub hash_rate: Option<f64>,
    /// Retargeting: each race's difficulty follows the chain toward this race time
    /// (`difficulty` is then the starting difficulty).
    pub target_time: Option<std::time::Duration>,
}

/// Why a race could not be answered.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RaceError {
    /// Too many races in flight at this node.
    #[error("node is busy: {MAX_RACES_IN_FLIGHT} races in flight; try again")]
    Busy,
    /// The ledger could not record the decision; nothing was written.
    #[error("the ledger could not record the race: {0}")]
    Ledger(Arc<LedgerError>),
    /// The ledger (its lock, or etcd) could not be reached in time; `decided` says whether
    /// the race's decision stands and will be recorded.
    #[error("the ledger is unavailable: {why}")]
    Unavailable {
        /// What could not be reached, and what becomes of the race.
        why: String,
        /// Whether the decision stands.
        decided: bool,
    },
    /// The decision was withdrawn before it was recorded; nothing was recorded.
    #[error("{0}")]
    Withdrawn(String),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
    /// The search itself failed (a bug: its thread panicked); nothing was recorded.
    #[error("the search failed unexpectedly; nothing was recorded (see the node's log)")]
    SearchFailed,
}

impl From<DecideError> for RaceError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Unavailable { why, decided } => RaceError::Unavailable { why, decided },
            DecideError::Ledger(e) => RaceError::Ledger(e),
            DecideError::Withdrawn(why) => RaceError::Withdrawn(why),
            DecideError::Closed => RaceError::ShuttingDown,
        }
    }
}

impl RaceError {
    /// The code for an error reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Busy => ErrorCode::Busy,
            Self::Ledger(_) => ErrorCode::LedgerError,
            Self::Unavailable { .. } => ErrorCode::LedgerUnavailable,
            Self::Withdrawn(_) => ErrorCode::Withdrawn,
            Self::ShuttingDown => ErrorCode::ShuttingDown,
            Self::SearchFailed => ErrorCode::SearchFailed,
        }
    }
}

type RaceFuture = Shared<BoxFuture<'static, Result<Reply, RaceError>>>;

/// How a node's search ended: its outcome, its claim's submission (when it found a solution)
/// and when it stopped (monotonic nanoseconds).
type SearchEnd = (
    pow_core::search::Outcome,
    Option<Result<Submitted, DecideError>>,
    u64,
);

/// What a node remembers so that it mines a transaction at most once: the races under way,
/// the transactions raced recently, and the answers of races run on a relayed copy. Held
/// behind one lock ([`Node::races_book`]): a copy's look at all three, and the start of its
/// race, are one step, as is a race's end.
///
/// Invariants: a transaction in `in_flight` is in `raced` (until `raced` forgets it by age);
/// a race leaves `in_flight` in the same step that keeps its relayed answer, so a client's
/// copy finds one or the other.
struct RaceBook {
    in_flight: HashMap<Hash32, RaceFuture>,
    // Transactions this node has raced recently: sending one again is answered from the
    // ledger. A copy that arrives after another node won, but that this node has not raced,
    // is still mined (and lost), so every node's time can be compared.
    raced: Recent<Hash32, ()>,
    // Answers of races run on a relayed copy, for the first client copy that comes after the
    // race ended (the lab's way: the client's copy was slower than the relay).
    relayed: Recent<Hash32, Reply>,
}

impl RaceBook {
    fn new() -> Self {
        RaceBook {
            in_flight: HashMap::new(),
            raced: Recent::new(RACED_MEMORY),
            relayed: Recent::new(RELAYED_REPLIES),
        }
    }

    /// The race under way for `tx_id`, to join.
    fn under_way(&self, tx_id: &Hash32) -> Option<RaceFuture> {
        self.in_flight.get(tx_id).cloned()
    }

    /// The answer of a race this node ran on a relayed copy of `tx_id`, once.
    fn take_relayed(&mut self, tx_id: &Hash32) -> Option<Reply> {
        let reply = self.relayed.get(tx_id).cloned()?;
        self.relayed.remove(tx_id);
        Some(reply)
    }

    /// Whether this node raced `tx_id` recently.
    fn has_raced(&self, tx_id: &Hash32) -> bool {
        self.raced.contains(tx_id)
    }

    /// Notes that this node races `tx_id`, before the race is known to start.
    fn mark_raced(&mut self, tx_id: Hash32) {
        self.raced.insert(tx_id, ());
    }

    /// Forgets that this node raced `tx_id` (nothing was recorded for it): a later copy races
    /// again.
    fn unmark_raced(&mut self, tx_id: &Hash32) {
        self.raced.remove(tx_id);
    }

    /// The race for `tx_id` has started: copies join it.
    fn start(&mut self, tx_id: Hash32, race: RaceFuture) {
        self.in_flight.insert(tx_id, race);
    }

    /// The race for `tx_id` has ended: it leaves `in_flight`, keeping `relayed_answer` (the
    /// answer of a race on a relayed copy) for a client's copy, and, when it was not decided,
    /// forgetting that it was raced.
    fn end(&mut self, tx_id: &Hash32, relayed_answer: Option<Reply>, decided: bool) {
        if let Some(reply) = relayed_answer {
            self.relayed.insert(*tx_id, reply);
        }
        self.in_flight.remove(tx_id);
        if !decided {
            self.unmark_raced(tx_id);
        }
    }
}

/// One miner node.
pub struct Node {
    config: NodeConfig,
    arbiter: Arc<dyn Arbiter>,
    // The node's search threads, kept alive between races (its mining power).
    pool: Pool,
    searches: Arc<Searches>,
    metrics: Arc<Metrics>,
    events: EventBus,
    // Races under way, raced recently, and relayed answers: one lock.
    book: Mutex<RaceBook>,
    // Entries in the ledger when the node started: a transaction among them was raced before,
    // by this node or another, and is answered from the ledger.
    ledger_at_start: u64,
    peers: Arc<Vec<crate::race::ClusterNode>>,
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
            peers,
        } = shared.clone();
        Difficulty::from_zero_bits(u64::from(
            config.bits.unwrap_or(config.difficulty.saturating_mul(8)),
        ))?;
        let pool = Pool::builder(config.threads, config.kernel)
            .name(&config.name)
            .hash_rate(config.hash_rate)
            .build()
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.name))?;
        let ledger_at_start = arbiter.ledger().len();
        Ok(Arc::new(Node {
            book: Mutex::new(RaceBook::new()),
            ledger_at_start,
            peers,
            config,
            pool,
            arbiter,
            searches,
            metrics,
            events,
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

    /// The difficulty, in zero bits, of the next race this node starts, and the retarget
    /// target it follows: the node's own, or what retargeting gives the ledger's next entry.
    pub fn next_difficulty(&self) -> (u32, Option<u64>) {
        let start_bits = self
            .config
            .bits
            .unwrap_or(self.config.difficulty.saturating_mul(8));
        match self.config.target_time {
            None => (start_bits, None),
            Some(t) => {
                let target = t.as_micros().max(1) as u64;
                (
                    self.arbiter.ledger().next_bits(target, start_bits),
                    Some(target),
                )
            }
        }
    }

    /// The nodes of this process and where they listen.
    pub fn peers(&self) -> &[crate::race::ClusterNode] {
        &self.peers
    }

    /// Races this node has run.
    pub fn races(&self) -> u64 {
        self.races.load(Ordering::Relaxed)
    }

    /// Races under way at this node.
    pub fn in_flight(&self) -> usize {
        self.races_book().in_flight.len()
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

    fn races_book(&self) -> std::sync::MutexGuard<'_, RaceBook> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a copy of a recorded transaction is answered from the ledger rather than mined:
    /// yes if this node raced it, if it was recorded before the node started or long ago, or
    /// under `--on-loss abort` (a loser stops at once anyway).
    fn answer_from_ledger(&self, entry: &pow_core::chain::Entry, raced: bool) -> bool {
        raced
            || self.config.on_loss == OnLoss::Abort
            || entry.index < self.ledger_at_start
            || entry.index + LATE_COPY_WINDOW < self.arbiter.ledger().len()
    }

    /// Races `data` (already validated) from `peer`. A node mines a transaction at most once:
    /// a copy of one it is mining joins that search; one it has raced already (or that was
    /// in the ledger when it started, or long ago) is answered from the ledger. A copy of a
    /// recent race this node has not run is mined, and lost, so its time can be compared.
    pub async fn submit(self: &Arc<Self>, data: &str, peer: &str) -> Result<Reply, RaceError> {
        self.race(data, peer, true).await
    }

    /// Races a transaction relayed from `origin`, another node of the cluster, where it
    /// arrived at `received_at`: like a copy from a client, but not announced again. The
    /// `received` event names where it came from and when, so a head start is visible.
    pub async fn relay(
        self: &Arc<Self>,
        data: &str,
        origin: &str,
        received_at: &str,
    ) -> Result<Reply, RaceError> {
        if crate::net::protocol::parse_transaction(data.as_bytes()).is_err() {
            return Err(RaceError::Withdrawn(format!(
                "a transaction relayed from {origin} is not a valid line; not raced"
            )));
        }
        let peer = format!("relay from {origin} (received there at {received_at})");
        self.race(data, &peer, false).await
    }

    async fn race(
        self: &Arc<Self>,
        data: &str,
        peer: &str,
        announce: bool,
    ) -> Result<Reply, RaceError> {
        let tx_id = Hash32::digest(data.as_bytes());
        let data: Arc<str> = data.into();
        let event = self.events.emit(
            Some((&tx_id, &data)),
            EventKind::Received {
                peer: peer.to_owned(),
            },
        );
        if announce {
            // Other hosts race it too (nothing to do on one host).
            tokio::spawn(self.arbiter.announce(&self.config.name, &data, &event.at));
        }
        if self.searches.is_stopping() {
            return Err(RaceError::ShuttingDown);
        }
        let recorded = self.arbiter.recorded(&tx_id).map_err(RaceError::from)?;
        let race = {
            let mut book = self.races_book();
            if let Some(race) = book.under_way(&tx_id) {
                race
            } else {
                if announce {
                    // A client's copy of a race this node ran on a relayed copy: the node's
                    // own answer, once.
                    if let Some(reply) = book.take_relayed(&tx_id) {
                        return Ok(reply);
                    }
                }
                if let Some(entry) = recorded {
                    if self.answer_from_ledger(&entry, book.has_raced(&tx_id)) {
                        return Ok(self.recorded_reply(entry));
                    }
                }
                book.mark_raced(tx_id);
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    book.unmark_raced(&tx_id);
                    return Err(RaceError::Busy);
                };
                let node = self.clone();
                let data = data.clone();
                let received = std::time::Instant::now();
                let fut: BoxFuture<'static, Result<Reply, RaceError>> = Box::pin(async move {
                    let result = node.clone().mine(tx_id, data, received).await;
                    let decided = matches!(
                        result,
                        Ok(_) | Err(RaceError::Unavailable { decided: true, .. })
                    );
                    // The answer of a race on a relayed copy is kept in the step that takes
                    // the race out of `in_flight`, so a client's copy finds one or the other.
                    let relayed_answer = match (announce, &result) {
                        (false, Ok(reply)) => Some(reply.clone()),
                        _ => None,
                    };
                    node.races_book().end(&tx_id, relayed_answer, decided);
                    drop(permit);
                    result
                });
                let race = fut.shared();
                book.start(tx_id, race.clone());
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

    /// Mines `data` for its race: waits for a searcher, searches on the node's pool, hands the
    /// solution to the arbiter the moment it is found, and answers with the decision.
    async fn mine(
        self: Arc<Self>,
        tx_id: Hash32,
        data: Arc<str>,
        received: std::time::Instant,
    ) -> Result<Reply, RaceError> {
        let tx = Some((&tx_id, &data));
        let _searcher = self
            .searchers
            .acquire()
            .await
            .map_err(|_| RaceError::ShuttingDown)?;
        if self.config.on_loss == OnLoss::Abort {
            // Decided and recorded while this race waited for a searcher: nothing to mine.
            // (Decided here but not yet recorded: the search below starts stopped, and the
            // attempt is logged as aborted, as every node's attempt at a race is.)
            if let Some(entry) = self.arbiter.recorded(&tx_id).map_err(RaceError::from)? {
                return Ok(self.recorded_reply(entry));
            }
        }
        let guard = self
            .searches
            .start(tx_id, self.config.on_loss == OnLoss::Abort);
        let (bits, target_time_us) = self.next_difficulty();
        let difficulty = Difficulty::from_zero_bits(u64::from(bits))
            .map_err(|e| RaceError::Withdrawn(format!("difficulty of {bits} bits: {e}")))?;
        let mode = self.search_mode(&tx_id);
        let start = Start::now();
        self.events.emit(
            tx,
            EventKind::Started {
                start_time: start.wall.text(),
                kernel: self.config.kernel.name(),
                threads: self.config.threads,
            },
        );
        let claim = Claim {
            node: self.config.name.clone(),
            transaction_data: data.to_string(),
            nonce: 0,
            hash: Hash32::ZERO,
            difficulty: bits / 8,
            difficulty_bits: (bits % 8 != 0 || target_time_us.is_some()).then_some(bits),
            race: self.config.race,
            target_time_us,
            start,
        };
        let job = Job {
            prepared: Arc::new(Prepared::new(data.as_bytes(), difficulty)),
            mode,
            cancel: guard.cancel.clone(),
        };
        let result = self.search(tx_id, job, claim)?;
        // The sender is dropped without a value only if the search failed (a bug).
        let (outcome, submitted, stopped_at) = result.await.map_err(|_| RaceError::SearchFailed)?;
        drop(guard);
        let latency = outcome
            .first_hash
            .map(|first| first.saturating_duration_since(received).as_secs_f64());

        let (Some(solution), Some(submitted)) = (outcome.solution, submitted) else {
            // Stopped: either the race was decided elsewhere (abort) or the node is stopping.
            return self
                .stopped(&tx_id, &data, start, stopped_at, outcome.hashes)
                .await;
        };
        let submitted = match submitted {
            Ok(s) => s,
            Err(e) => return Err(self.failed(tx, e.into())),
        };

        let work = Work {
            nonce: solution.nonce,
            hash: solution.hash,
            time_taken: submitted.finish.time_taken,
            hashes: outcome.hashes,
            start_time: start.wall.text(),
            end_time: submitted.finish.end.text(),
            difficulty_bits: bits,
            race: self.config.race,
            latency,
        };
        self.events.emit(
            tx,
            EventKind::Completed {
                work: work.clone(),
                kernel: outcome.kernel.name(),
                threads: self.config.threads,
            },
        );

        let decision = match submitted.decision.await {
            Ok(d) => d,
            Err(e) => return Err(self.failed(tx, e.into())),
        };
        Ok(self.decided(&tx_id, &data, bits, work, decision))
    }

    /// Where this node's search for `tx_id` runs through the nonces.
    fn search_mode(&self, tx_id: &Hash32) -> Mode {
        match self.config.race {
            RaceMode::Lab => Mode::Smallest,
            // Each node searches its own part of the nonce space: where depends on the node
            // and the transaction, so the same node never repeats its start.
            RaceMode::Lottery => Mode::Lottery {
                start: u64::from_le_bytes(
                    Hash32::digest(format!("{}\0{tx_id}", self.config.name).as_bytes()).0[..8]
                        .try_into()
                        .expect("8 bytes"),
                ),
            },
        }
    }

    /// Starts `job` on the node's pool; the search's outcome, its claim's submission (with
    /// `claim`'s nonce and hash set to the solution's) and when it stopped arrive on the
    /// returned channel.
    fn search(
        &self,
        tx_id: Hash32,
        job: Job,
        claim: Claim,
    ) -> Result<oneshot::Receiver<SearchEnd>, RaceError> {
        // The search runs on the node's pool threads, never on the async runtime's workers.
        // The moment it ends, the thread that ends it hands the claim to the arbiter, which
        // stamps the finish: claims are decided in the order searches finish.
        let (done, result) = oneshot::channel();
        let arbiter = self.arbiter.clone();
        let searches = self.searches.clone();
        let on_done = Box::new(move |outcome: pow_core::search::Outcome| {
            let submitted = outcome.solution.map(|s| {
                arbiter.submit(Claim {
                    nonce: s.nonce,
                    hash: s.hash,
                    ..claim
                })
            });
            // Decided now: the race's other searches in this process stop at once, not after
            // the commit's disk sync (the win is still answered only once durable).
            if let Some(Ok(Submitted { first: true, .. })) = &submitted {
                searches.decided(&tx_id);
            }
            let stopped_at = mono_ns();
            let _ = done.send((outcome, submitted, stopped_at));
        });
        if let Err(e) = self.pool.search(job, on_done) {
            tracing::error!(node = self.name(), "cannot start a search: {e}");
            return Err(RaceError::SearchFailed);
        }
        Ok(result)
    }

    /// The answer of a search stopped at `stopped_at` after `hashes`: aborted, once the race
    /// it was stopped for is recorded; shutting down otherwise.
    async fn stopped(
        &self,
        tx_id: &Hash32,
        data: &Arc<str>,
        start: Start,
        stopped_at: u64,
        hashes: u64,
    ) -> Result<Reply, RaceError> {
        let tx = Some((tx_id, data));
        let Some(entry) = self.recorded_soon(tx_id).await? else {
            return Err(RaceError::ShuttingDown);
        };
        let (end, taken) = start.end_at(stopped_at);
        self.events.emit(
            tx,
            EventKind::Lost {
                winner: entry.node.clone(),
                margin: None,
                work: None,
                aborted: true,
                hashes: Some(hashes),
                time_taken: Some(taken),
                start_time: Some(start.wall.text()),
            },
        );
        let mut reply = self.recorded_reply(entry);
        reply.outcome = Outcome::Aborted;
        reply.start_time = Some(start.wall.text());
        reply.end_time = Some(end.text());
        reply.time_taken = Some(taken);
        reply.hashes = Some(hashes);
        Ok(reply)
    }

    /// The answer of this node's `work` at `bits` once its race is decided, with its events.
    fn decided(
        &self,
        tx_id: &Hash32,
        data: &Arc<str>,
        bits: u32,
        work: Work,
        decision: Decision,
    ) -> Reply {
        let tx = Some((tx_id, data));
        let mut reply = Reply {
            node: self.config.name.clone(),
            outcome: Outcome::Won,
            tx_id: *tx_id,
            transaction_data: data.to_string(),
            difficulty: bits / 8,
            winner: decision.entry().node.clone(),
            nonce: work.nonce,
            hash: work.hash,
            start_time: Some(work.start_time.clone()),
            end_time: Some(work.end_time.clone()),
            time_taken: Some(work.time_taken),
            hashes: Some(work.hashes),
            margin: None,
            entry: decision.entry().clone(),
        };
        match decision {
            Decision::Won(entry) => {
                self.searches.decided(tx_id);
                let ledger_id = self
                    .arbiter
                    .ledger()
                    .first_hash()
                    .unwrap_or(entry.entry_hash);
                self.events.emit(
                    tx,
                    EventKind::Won {
                        work,
                        entry: Box::new(entry.clone()),
                        ledger_id,
                    },
                );
                self.events.emit(
                    tx,
                    EventKind::LedgerUpdated {
                        entry: Box::new(entry),
                    },
                );
            }
            Decision::Lost { entry, margin } => {
                reply.outcome = Outcome::Lost;
                reply.margin = margin;
                self.events.emit(
                    tx,
                    EventKind::Lost {
                        winner: entry.node,
                        margin,
                        work: Some(work),
                        aborted: false,
                        hashes: None,
                        time_taken: None,
                        start_time: None,
                    },
                );
            }
        }
        reply
    }

    /// The recorded entry of a race this node's search was stopped for. A race is decided (and
    /// its losers stopped) before its winner is durable, so the entry may take a commit to
    /// appear: wait for it up to [`LEDGER_WAIT`]. `None` when the node is stopping.
    async fn recorded_soon(&self, tx_id: &Hash32) -> Result<Option<Entry>, RaceError> {
        let deadline = tokio::time::Instant::now() + LEDGER_WAIT;
        let mut count = self.arbiter.ledger().watch_count();
        loop {
            if let Some(entry) = self.arbiter.recorded(tx_id).map_err(RaceError::from)? {
                return Ok(Some(entry));
            }
            if self.searches.is_stopping() {
                return Ok(None);
            }
            // Woken by this process's commits; another process's show at the next look.
            let look = (tokio::time::Instant::now() + RECORDED_POLL).min(deadline);
            let _ = tokio::time::timeout_at(look, count.changed()).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(RaceError::Unavailable {
                    why: format!(
                        "another node's claim was decided first, but {} has not recorded it \
                         within {} s; if it cannot be recorded, nothing is, and the \
                         transaction can be sent again",
                        self.arbiter.ledger().path().display(),
                        LEDGER_WAIT.as_secs()
                    ),
                    decided: true,
                });
            }
        }
    }

    /// Reports a race that could not be decided or recorded.
    fn failed(&self, tx: Option<(&Hash32, &Arc<str>)>, e: RaceError) -> RaceError {
        self.events.emit(
            tx,
            EventKind::Error {
                error: e.to_string(),
            },
        );
        e
    }
}
