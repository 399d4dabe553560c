//! A node's mining power: search threads that stay alive between races.
//!
//! Starting threads for every race costs as much as the race itself at the lab's difficulty
//! (~65,536 hashes, a fraction of a millisecond), so a [`Pool`] starts its workers once; they
//! park when there is nothing to mine (each gets its own wake-up, so they start side by side).
//! Several [`Job`]s run at once: workers take chunks of [`CHUNK`] nonces round-robin across the
//! active jobs, so a long search does not starve a short one behind it. The first chunk goes
//! out in two pieces, `0..1000` (portable kernel only) and `1000..10^4`, so that two workers
//! share the part of the nonce space where a lab race most often ends. A job is either the lab's race ([`Mode::Smallest`]: the smallest nonce
//! from 0, the same answer as [`super::parallel::search`] for any thread count) or a lottery
//! ([`Mode::Lottery`]: each node scans from its own start and the first solution found wins).
//!
//! A pool may be capped to a hash rate: a schedule shared by its workers books each chunk a
//! slot of `CHUNK / rate` seconds, one after the other, and a worker sleeps between chunks
//! (never inside one) so that the chunk's hashing sits in the middle of its slot. Over time
//! that is exactly the cap; over one race it is the cap on average, as a solution found
//! halfway through a chunk arrives halfway through its slot.
//!
//! The outcome of a job is handed to its callback on the worker thread that completes it, the
//! moment it is known, with no lock of the pool held: the node stamps its end time and submits
//! its claim there.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::{Outcome, MAX_THREADS};
use crate::engine::{Kernel, Scan, CHUNK, FIRST_FOUR_DIGIT_NONCE};
use crate::puzzle::{Prepared, Solution};

/// The most jobs a pool runs at once; more are refused ([`PoolError::TooManyJobs`]). A node
/// runs a handful; the bound keeps the round-robin scan and the job list small.
pub const MAX_JOBS: usize = 64;

/// The lowest hash-rate cap, in hashes per second. At this rate one chunk takes 10 s.
pub const MIN_HASH_RATE: f64 = 1_000.0;

/// How long a worker that ran out of work keeps polling (and yielding its core to any other
/// thread that wants it) before it parks: a job submitted within this time starts without a
/// wake-up through the kernel. Short enough that an idle pool burns no CPU.
pub const SPIN_BEFORE_PARK: Duration = Duration::from_micros(200);

/// The longest a paced worker sleeps before it looks again at its job's cancel flag.
pub const PACE_SLICE: Duration = Duration::from_millis(1);

/// A paced worker yields its core, rather than sleep, for the last this much of its wait:
/// a sleep overshoots by the timer slack, which at 100 MH/s is half a chunk's slot.
pub const PACE_SPIN: Duration = Duration::from_micros(60);

/// How far a paced pool may fall behind its schedule and still catch up (a worker that slept
/// too long, or waited for a busy core, runs its next chunks early). Lateness beyond this is
/// forgiven, not made up. An idle pool is never behind: its schedule restarts with a job.
pub const PACE_CATCH_UP: Duration = Duration::from_millis(50);

/// Chunks in the nonce space: chunk `i` holds `i·CHUNK ..`, the last one up to `u64::MAX`.
const CHUNKS: u64 = u64::MAX / CHUNK + 1;

/// Pieces handed to workers: the chunks, with the first split in two (see [`piece_range`]).
const PIECES: u64 = CHUNKS + 1;

/// How a job searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The lab's race: the smallest solution counting from 0, for any thread count.
    Smallest,
    /// A lottery: scan upward from `start` (rounded down to a multiple of [`CHUNK`]), wrapping
    /// past `u64::MAX` to 0, so the whole nonce space is covered; the first solution any worker
    /// finds ends the job. With one thread that is the first solution at or after the rounded
    /// start.
    Lottery {
        /// Where this node's part of the nonce space begins.
        start: u64,
    },
}

/// One search for a pool.
#[derive(Clone, Debug)]
pub struct Job {
    /// The transaction, prepared.
    pub prepared: Arc<Prepared>,
    /// Smallest or lottery.
    pub mode: Mode,
    /// Raised to stop the search; workers read it before every chunk (and while they pace).
    pub cancel: Arc<AtomicBool>,
}

/// What a pool calls when a job's outcome is known (on the worker thread that knows it).
pub type OnDone = Box<dyn FnOnce(Outcome) + Send>;

/// Why a pool could not be made, configured or given a job.
#[derive(Debug)]
pub enum PoolError {
    /// A pool needs at least one thread.
    NoThreads,
    /// More threads than [`MAX_THREADS`].
    TooManyThreads {
        /// The threads asked for.
        asked: usize,
    },
    /// A hash-rate cap that is not a finite number of at least [`MIN_HASH_RATE`].
    BadHashRate {
        /// The cap asked for.
        rate: f64,
    },
    /// [`MAX_JOBS`] jobs are running already.
    TooManyJobs,
    /// The operating system refused a thread.
    Spawn(std::io::Error),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoThreads => write!(f, "a search pool needs at least 1 thread"),
            Self::TooManyThreads { asked } => write!(
                f,
                "a search pool takes at most {MAX_THREADS} threads, not {asked}"
            ),
            Self::BadHashRate { rate } => write!(
                f,
                "a hash-rate cap must be a number of hashes per second of at least \
                 {MIN_HASH_RATE}, not {rate}"
            ),
            Self::TooManyJobs => write!(f, "the search pool runs {MAX_JOBS} jobs already"),
            Self::Spawn(e) => write!(f, "cannot start a search thread: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// A node's search threads. Dropping it cancels the jobs under way (their callbacks get no
/// solution) and joins the threads.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

/// Builds a [`Pool`] with a thread name or a hash-rate cap.
#[derive(Clone, Debug)]
pub struct PoolBuilder {
    threads: usize,
    kernel: Kernel,
    name: String,
    hash_rate: Option<f64>,
    spin: Duration,
}

impl PoolBuilder {
    /// Names the threads `NAME-0`, `NAME-1`, ... (default `powrace-search`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Caps the pool at `rate` hashes per second (`None`: as fast as it goes).
    pub fn hash_rate(mut self, rate: Option<f64>) -> Self {
        self.hash_rate = rate;
        self
    }

    /// How long an idle worker polls for a new job before it parks (default
    /// [`SPIN_BEFORE_PARK`]; zero parks at once). Longer spins start back-to-back races sooner
    /// but take CPU from other pools sharing the cores.
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Checks the settings and starts the threads.
    pub fn build(self) -> Result<Pool, PoolError> {
        if self.threads == 0 {
            return Err(PoolError::NoThreads);
        }
        if self.threads > MAX_THREADS {
            return Err(PoolError::TooManyThreads {
                asked: self.threads,
            });
        }
        let pacer = Pacer::new();
        pacer.set(self.hash_rate)?;
        let shared = Arc::new(Shared {
            kernel: self.kernel,
            threads: self.threads,
            spin: self.spin,
            state: Mutex::new(State {
                jobs: Vec::new(),
                cursor: 0,
                next_id: 0,
                parked: Vec::with_capacity(self.threads),
                shutdown: false,
            }),
            signal: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            pacer,
        });
        let mut pool = Pool {
            shared,
            workers: Vec::with_capacity(self.threads),
        };
        for i in 0..self.threads {
            let shared = pool.shared.clone();
            let worker = std::thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || work(&shared))
                // Dropping `pool` stops and joins the threads started so far.
                .map_err(PoolError::Spawn)?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }
}

impl Pool {
    /// A pool of `threads` workers (1 to [`MAX_THREADS`]) scanning with `kernel`, uncapped.
    pub fn new(threads: usize, kernel: Kernel) -> Result<Pool, PoolError> {
        Self::builder(threads, kernel).build()
    }

    /// A pool to configure before it starts.
    pub fn builder(threads: usize, kernel: Kernel) -> PoolBuilder {
        PoolBuilder {
            threads,
            kernel,
            name: "powrace-search".to_owned(),
            hash_rate: None,
            spin: SPIN_BEFORE_PARK,
        }
    }

    /// Starts `job`; `on_done` gets its outcome, exactly once, on the worker thread that
    /// completes it, the moment the outcome is known. A cancelled job (or one under way when the
    /// pool is dropped) gets `solution: None` within about one chunk per worker.
    ///
    /// On error the job never starts and `on_done` is dropped uncalled. If the kernel panics
    /// (a bug), the job is dropped and `on_done` with it, uncalled.
    pub fn search(&self, job: Job, on_done: OnDone) -> Result<(), PoolError> {
        let submitted = Instant::now();
        let first_piece = match job.mode {
            Mode::Smallest => 0,
            Mode::Lottery { start } => piece_of(start - start % CHUNK),
        };
        let mut state = self.shared.lock();
        if state.jobs.len() >= MAX_JOBS {
            return Err(PoolError::TooManyJobs);
        }
        if state.jobs.is_empty() {
            // An idle pool's schedule starts afresh: it earns no credit while idle, and owes
            // nothing for the rest of the slot in which its last job ended.
            self.shared.pacer.restart(submitted);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.jobs.push(Active {
            id,
            common: Arc::new(Common {
                prepared: job.prepared,
                lottery: matches!(job.mode, Mode::Lottery { .. }),
                cancel: job.cancel,
                submitted,
                first_hash: OnceLock::new(),
                over: AtomicBool::new(false),
            }),
            first_piece,
            handed: 0,
            in_flight: Vec::new(),
            found: None,
            hashes: 0,
            on_done: Some(on_done),
        });
        let parked = std::mem::take(&mut state.parked);
        drop(state);
        self.shared.signal.fetch_add(1, Ordering::Release);
        // Each parked worker gets its own wake-up, so they start side by side (one condition
        // variable would wake them into a queue on the lock).
        for worker in parked {
            worker.unpark();
        }
        Ok(())
    }

    /// Caps the pool at `rate` hashes per second, or lifts the cap (`None`); applies from the
    /// next chunk on.
    pub fn set_hash_rate(&self, rate: Option<f64>) -> Result<(), PoolError> {
        self.shared.pacer.set(rate)
    }

    /// The hash-rate cap, if any.
    pub fn hash_rate(&self) -> Option<f64> {
        self.shared.pacer.rate()
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// The kernel the workers scan with.
    pub fn kernel(&self) -> Kernel {
        self.shared.kernel
    }

    /// Jobs under way.
    pub fn active_jobs(&self) -> usize {
        self.shared.lock().jobs.len()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .field("kernel", &self.kernel())
            .field("hash_rate", &self.hash_rate())
            .finish()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let parked = {
            let mut state = self.shared.lock();
            state.shutdown = true;
            std::mem::take(&mut state.parked)
        };
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.signal.fetch_add(1, Ordering::Release);
        for worker in parked {
            worker.unpark();
        }
        let me = std::thread::current().id();
        for worker in self.workers.drain(..) {
            // A callback may drop the last handle to its own pool: that worker cannot join
            // itself; it sees the shutdown when the callback returns, and exits.
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
    }
}

/// What the pool's handle and its workers share.
struct Shared {
    kernel: Kernel,
    threads: usize,
    spin: Duration,
    state: Mutex<State>,
    /// Bumped on every submission and on shutdown; spinning workers watch it without the lock.
    signal: AtomicU64,
    /// The shutdown, readable without the lock (by pacing workers).
    shutdown: AtomicBool,
    pacer: Pacer,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never leaves `State` half-updated (callbacks and kernels run unlocked).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The jobs, under the pool's lock.
struct State {
    jobs: Vec<Active>,
    /// Where the round-robin looks first for the next chunk.
    cursor: usize,
    next_id: u64,
    /// Workers that found nothing to do and park until a job or the shutdown unparks them.
    parked: Vec<Thread>,
    shutdown: bool,
}

/// One job's progress.
struct Active {
    id: u64,
    common: Arc<Common>,
    /// The piece the job begins at (0 for the smallest nonce).
    first_piece: u64,
    /// Pieces handed out so far (in order, from `first_piece`, wrapping).
    handed: u64,
    /// The first nonces of the chunks being hashed.
    in_flight: Vec<u64>,
    /// The smallest solution found so far (lottery: the first).
    found: Option<Solution>,
    hashes: u64,
    on_done: Option<OnDone>,
}

/// What a worker holding one of a job's chunks needs, without the lock.
struct Common {
    prepared: Arc<Prepared>,
    lottery: bool,
    cancel: Arc<AtomicBool>,
    submitted: Instant,
    first_hash: OnceLock<Instant>,
    /// The outcome is known: a worker still pacing for one of its chunks drops the chunk.
    over: AtomicBool,
}

/// A chunk handed to a worker.
struct Task {
    id: u64,
    common: Arc<Common>,
    start: u64,
    /// Exclusive, except that the last chunk (`end == u64::MAX`) includes `u64::MAX` too.
    end: u64,
}

/// What became of a chunk.
enum Done {
    Scanned(Scan),
    /// Not hashed: the job ended (or was cancelled) while the worker paced.
    Dropped,
    /// The kernel panicked.
    Panicked,
}

/// The nonces of chunk `i`: `start..end`, and `u64::MAX` as well when `end` is `u64::MAX`.
fn chunk_range(i: u64) -> (u64, u64) {
    let start = i * CHUNK;
    (start, start.saturating_add(CHUNK))
}

/// The nonces of piece `i`. The first chunk goes out in two pieces: `0..1000`, which only the
/// portable kernel scans (as long as ~4 fast chunks per nonce), and the four-digit nonces,
/// so that two workers share it. A lab race often ends in the first chunks, and in the
/// smallest-nonce mode it cannot end before the first chunk is done.
fn piece_range(i: u64) -> (u64, u64) {
    match i {
        0 => (0, FIRST_FOUR_DIGIT_NONCE),
        1 => (FIRST_FOUR_DIGIT_NONCE, CHUNK),
        _ => chunk_range(i - 1),
    }
}

/// The piece that begins at `start`, a multiple of [`CHUNK`].
fn piece_of(start: u64) -> u64 {
    match start / CHUNK {
        0 => 0,
        c => c + 1,
    }
}

impl Active {
    fn can_hand_out(&self) -> bool {
        // Smallest: chunks go out in increasing order, so every chunk after the one that held
        // a solution starts past it. Lottery: the first solution ends the job.
        self.found.is_none() && self.handed < PIECES && !self.common.cancel.load(Ordering::Relaxed)
    }

    /// The job's solution if its outcome is known: `Some(None)` for no solution.
    fn outcome_known(&self, shutdown: bool) -> Option<Option<Solution>> {
        if shutdown || self.common.cancel.load(Ordering::Acquire) {
            return Some(None);
        }
        match self.found {
            Some(sol) if self.common.lottery => Some(Some(sol)),
            // Every chunk below the solution is done: nothing smaller can turn up.
            Some(sol) if self.in_flight.iter().all(|&s| s > sol.nonce) => Some(Some(sol)),
            _ if self.handed == PIECES && self.in_flight.is_empty() => Some(self.found),
            _ => None,
        }
    }
}

/// Removes the jobs whose outcome is known and gives their callbacks and outcomes, to be
/// called once the lock is released.
fn reap(state: &mut State, kernel: Kernel) -> Vec<(OnDone, Outcome)> {
    let mut done = Vec::new();
    let mut i = 0;
    while i < state.jobs.len() {
        let Some(solution) = state.jobs[i].outcome_known(state.shutdown) else {
            i += 1;
            continue;
        };
        let mut job = state.jobs.remove(i);
        if state.cursor > i {
            state.cursor -= 1;
        }
        job.common.over.store(true, Ordering::Release);
        let outcome = Outcome {
            solution,
            hashes: job.hashes,
            kernel,
            submitted: job.common.submitted,
            first_hash: job.common.first_hash.get().copied(),
            finished: Instant::now(),
        };
        if let Some(on_done) = job.on_done.take() {
            done.push((on_done, outcome));
        }
    }
    done
}

/// The next chunk, round-robin across the jobs that have one to hand out.
fn take_task(state: &mut State) -> Option<Task> {
    let n = state.jobs.len();
    for k in 0..n {
        let at = (state.cursor + k) % n;
        let job = &mut state.jobs[at];
        if !job.can_hand_out() {
            continue;
        }
        let (start, end) = piece_range((job.first_piece + job.handed) % PIECES);
        job.handed += 1;
        job.in_flight.push(start);
        state.cursor = at + 1;
        return Some(Task {
            id: job.id,
            common: job.common.clone(),
            start,
            end,
        });
    }
    None
}

/// Records a finished chunk; gives the job's callback to drop (uncalled) if the kernel panicked.
fn complete(state: &mut State, task: &Task, done: Done) -> Option<OnDone> {
    let at = state.jobs.iter().position(|j| j.id == task.id)?;
    let job = &mut state.jobs[at];
    if let Some(k) = job.in_flight.iter().position(|&s| s == task.start) {
        job.in_flight.swap_remove(k);
    }
    match done {
        Done::Scanned(scan) => {
            job.hashes += scan.hashed;
            if let Some(sol) = scan.found {
                if job
                    .found
                    .is_none_or(|f| sol.nonce < f.nonce && !job.common.lottery)
                {
                    job.found = Some(sol);
                }
            }
            None
        }
        Done::Dropped => None,
        Done::Panicked => {
            let mut job = state.jobs.remove(at);
            if state.cursor > at {
                state.cursor -= 1;
            }
            job.common.over.store(true, Ordering::Release);
            job.on_done.take()
        }
    }
}

/// A worker's life: take a chunk, hash it, record it, call the callbacks of the jobs that
/// ended; spin a little, then park, when there is nothing to do.
fn work(shared: &Shared) {
    let mut pace = PaceEstimate::default();
    let mut spun = false;
    let mut state = shared.lock();
    loop {
        let done = reap(&mut state, shared.kernel);
        if !done.is_empty() {
            drop(state);
            for (on_done, outcome) in done {
                // A panicking callback must not take the worker with it.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || on_done(outcome)));
            }
            state = shared.lock();
            continue;
        }
        if state.shutdown {
            return;
        }
        if let Some(task) = take_task(&mut state) {
            drop(state);
            spun = false;
            let done = run_task(shared, &task, &mut pace);
            state = shared.lock();
            if let Some(dropped) = complete(&mut state, &task, done) {
                drop(state);
                drop(dropped);
                state = shared.lock();
            }
        } else if !spun && !shared.spin.is_zero() {
            // Races often come back to back: catch the next one without a wake-up. Yielding,
            // so that other pools' workers on this core (other nodes still racing) go first.
            let seen = shared.signal.load(Ordering::Acquire);
            drop(state);
            let until = Instant::now() + shared.spin;
            while shared.signal.load(Ordering::Acquire) == seen && Instant::now() < until {
                std::thread::yield_now();
            }
            spun = true;
            state = shared.lock();
        } else {
            // Registered under the lock that submissions take: a job submitted after this
            // check unparks this worker, and an unpark that comes before `park` makes it
            // return at once. `park` may also return spuriously: the loop looks again.
            state.parked.push(std::thread::current());
            drop(state);
            std::thread::park();
            state = shared.lock();
            let me = std::thread::current().id();
            state.parked.retain(|t| t.id() != me);
            spun = false;
        }
    }
}

/// Paces (when capped) and hashes one chunk.
fn run_task(shared: &Shared, task: &Task, pace: &mut PaceEstimate) -> Done {
    let hashes = task.end - task.start + u64::from(task.end == u64::MAX);
    if let Some(booking) = shared.pacer.book(hashes, pace.estimate(hashes)) {
        loop {
            if task.common.over.load(Ordering::Acquire)
                || task.common.cancel.load(Ordering::Relaxed)
                || shared.shutdown.load(Ordering::Relaxed)
            {
                // Unhashed: the next chunk booked may have its slot.
                shared.pacer.refund(&booking);
                return Done::Dropped;
            }
            let now = Instant::now();
            if now >= booking.start {
                break;
            }
            let left = booking.start - now;
            if left > PACE_SPIN {
                // A sleep ends late by the timer slack (~50 µs on Linux): sleep short of the
                // start, then yield until it.
                std::thread::sleep((left - PACE_SPIN).min(PACE_SLICE));
            } else {
                std::thread::yield_now();
            }
        }
    }
    task.common.first_hash.get_or_init(Instant::now);
    let began = Instant::now();
    let p = &*task.common.prepared;
    let scanned = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut scan = shared.kernel.scan(p, task.start, task.end);
        if scan.found.is_none() && task.end == u64::MAX {
            // The last chunk's range is exclusive; its last nonce is hashed on its own.
            scan.hashed += 1;
            scan.found = p.confirm(u64::MAX);
        }
        scan
    }));
    pace.observe(hashes, began.elapsed());
    match scanned {
        Ok(scan) => Done::Scanned(scan),
        Err(_) => Done::Panicked,
    }
}

/// A worker's estimate of how long a chunk takes it, so that a paced chunk starts early
/// enough to end on schedule.
#[derive(Default)]
struct PaceEstimate {
    /// Nanoseconds per hash, smoothed; 0 until the first chunk.
    ns_per_hash: f64,
}

impl PaceEstimate {
    fn estimate(&self, hashes: u64) -> Duration {
        Duration::from_nanos((self.ns_per_hash * hashes as f64) as u64)
    }

    fn observe(&mut self, hashes: u64, took: Duration) {
        let now = took.as_nanos() as f64 / hashes.max(1) as f64;
        self.ns_per_hash = if self.ns_per_hash == 0.0 {
            now
        } else {
            0.75 * self.ns_per_hash + 0.25 * now
        };
    }
}

/// The hash-rate cap, shared by the workers.
struct Pacer {
    epoch: Instant,
    /// Hashes per second as `f64` bits; 0.0 is no cap.
    rate: AtomicU64,
    schedule: Mutex<Schedule>,
}

/// The slots booked so far.
struct Schedule {
    /// Nanoseconds after the pacer's epoch at which the last booked slot ends.
    due: u64,
    /// Bumped when the schedule restarts, so that a slot booked before cannot be given back
    /// to the new schedule.
    generation: u64,
}

/// A chunk's slot.
struct Booking {
    /// When to start hashing, so that the hashing sits in the middle of the slot.
    start: Instant,
    /// The slot's length, nanoseconds.
    cost: u64,
    generation: u64,
}

impl Pacer {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            rate: AtomicU64::new(0f64.to_bits()),
            schedule: Mutex::new(Schedule {
                due: 0,
                generation: 0,
            }),
        }
    }

    fn set(&self, rate: Option<f64>) -> Result<(), PoolError> {
        let bits = match rate {
            None => 0f64.to_bits(),
            Some(r) if r.is_finite() && r >= MIN_HASH_RATE => r.to_bits(),
            Some(r) => return Err(PoolError::BadHashRate { rate: r }),
        };
        self.rate.store(bits, Ordering::Relaxed);
        Ok(())
    }

    fn rate(&self) -> Option<f64> {
        let r = f64::from_bits(self.rate.load(Ordering::Relaxed));
        (r > 0.0).then_some(r)
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the schedule afresh: the next slot begins at `now`.
    fn restart(&self, now: Instant) {
        let mut s = self.schedule();
        s.due = self.nanos(now);
        s.generation += 1;
    }

    /// Books a slot of `hashes / rate` for a chunk of `hashes` that takes about `takes` to
    /// hash, after the last slot booked (or earlier, by up to [`PACE_CATCH_UP`], when the pool
    /// is behind); `None` when the pool is not capped.
    fn book(&self, hashes: u64, takes: Duration) -> Option<Booking> {
        let rate = self.rate()?;
        let cost = (hashes as f64 * 1e9 / rate) as u64;
        let lead = (cost + takes.as_nanos() as u64) / 2;
        let floor =
            (self.nanos(Instant::now()) + lead).saturating_sub(PACE_CATCH_UP.as_nanos() as u64);
        let mut s = self.schedule();
        s.due = (s.due + cost).max(floor);
        Some(Booking {
            start: self.epoch + Duration::from_nanos(s.due.saturating_sub(lead)),
            cost,
            generation: s.generation,
        })
    }

    /// Gives back the slot of a chunk that was not hashed, unless the schedule restarted since.
    fn refund(&self, b: &Booking) {
        let mut s = self.schedule();
        if s.generation == b.generation {
            s.due = s.due.saturating_sub(b.cost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_whole_nonce_space() {
        assert_eq!(chunk_range(0), (0, CHUNK));
        let (start, end) = chunk_range(CHUNKS - 1);
        assert_eq!(start, u64::MAX - u64::MAX % CHUNK);
        assert_eq!(end, u64::MAX);
        assert_eq!(chunk_range(CHUNKS - 2).1, start);
        // The pieces follow each other from 0 to the last chunk.
        let mut next = 0;
        for i in (0..5).chain(PIECES - 3..PIECES) {
            let (s, e) = piece_range(i);
            if i < 5 {
                assert_eq!(s, next, "piece {i}");
            }
            assert!(e > s);
            next = e;
            if s.is_multiple_of(CHUNK) {
                assert_eq!(piece_of(s), i);
            }
        }
        assert_eq!(piece_range(PIECES - 1), (start, u64::MAX));
    }

    #[test]
    fn slots_follow_each_other_and_a_refund_never_reaches_a_restarted_schedule() {
        let p = Pacer::new();
        assert!(p.book(CHUNK, Duration::ZERO).is_none(), "uncapped");
        p.set(Some(1e6)).unwrap();
        // In the future, so that no stall of this thread makes the pool "behind".
        let t0 = Instant::now() + Duration::from_secs(10);
        p.restart(t0);
        // 10^4 hashes at 1 MH/s: 10 ms slots, hashing centred in each.
        let a = p.book(CHUNK, Duration::from_millis(2)).unwrap();
        let b = p.book(CHUNK, Duration::from_millis(2)).unwrap();
        assert_eq!(a.cost, 10_000_000);
        assert_eq!(a.start - t0, Duration::from_millis(4));
        assert_eq!(b.start - a.start, Duration::from_millis(10));
        p.refund(&b);
        let c = p.book(CHUNK, Duration::from_millis(2)).unwrap();
        assert_eq!(c.start, b.start, "a refunded slot is booked again");
        let t1 = t0 + Duration::from_millis(1);
        p.restart(t1);
        p.refund(&c);
        let d = p.book(CHUNK, Duration::from_millis(2)).unwrap();
        assert_eq!(
            d.start - t1,
            Duration::from_millis(4),
            "not moved by the old refund"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            Pool::new(0, Kernel::Portable),
            Err(PoolError::NoThreads)
        ));
        assert!(matches!(
            Pool::new(MAX_THREADS + 1, Kernel::Portable),
            Err(PoolError::TooManyThreads { asked: 257 })
        ));
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY, MIN_HASH_RATE / 2.0] {
            let e = Pool::builder(1, Kernel::Portable)
                .hash_rate(Some(rate))
                .build()
                .unwrap_err();
            assert!(matches!(e, PoolError::BadHashRate { .. }), "{rate}");
            assert!(e.to_string().contains("at least 1000"), "{e}");
        }
        let pool = Pool::new(1, Kernel::Portable).unwrap();
        assert!(pool.set_hash_rate(Some(f64::NAN)).is_err());
        assert_eq!(pool.hash_rate(), None);
        pool.set_hash_rate(Some(4e6)).unwrap();
        assert_eq!(pool.hash_rate(), Some(4e6));
    }
}
