//! Solving a puzzle: the smallest nonce, counting from 0.
//!
//! [`solve`] runs on the calling thread (and in the browser). With `std` on a native target
//! (wasm32's std has neither threads nor a clock: there, no timings and no threads),
//! [`parallel`] spreads chunks of [`CHUNK`] nonces over fresh threads and still returns the
//! smallest nonce, whatever the thread count, and stops when cancelled; [`pool`] keeps a node's
//! threads alive between races, runs several searches at once, races in lottery mode and can
//! cap the hash rate.

use crate::engine::{Kernel, CHUNK};
use crate::puzzle::{Prepared, Solution};
use crate::Difficulty;

#[cfg(all(feature = "std", not(target_family = "wasm")))]
pub mod pool;

#[cfg(all(feature = "std", not(target_family = "wasm")))]
use std::time::{Duration, Instant};

/// The most threads one search (or one [`pool`]) may use.
pub const MAX_THREADS: usize = 256;

/// What a search ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The solution (the smallest, unless a lottery search found it), or `None` when the
    /// search was cancelled (or ran out of nonces).
    pub solution: Option<Solution>,
    /// Nonces hashed, by every thread together, up to the moment the outcome was known.
    pub hashes: u64,
    /// The kernel that did the work.
    pub kernel: Kernel,
    /// When the search was asked for (the call, or the job's submission to a pool).
    #[cfg(all(feature = "std", not(target_family = "wasm")))]
    pub submitted: Instant,
    /// When the first chunk's hashing began; `None` if no chunk was hashed.
    #[cfg(all(feature = "std", not(target_family = "wasm")))]
    pub first_hash: Option<Instant>,
    /// When the outcome was known.
    #[cfg(all(feature = "std", not(target_family = "wasm")))]
    pub finished: Instant,
}

#[cfg(all(feature = "std", not(target_family = "wasm")))]
impl Outcome {
    /// From submission to the first hash: how long the search took to get going.
    pub fn start_latency(&self) -> Option<Duration> {
        self.first_hash
            .map(|t| t.saturating_duration_since(self.submitted))
    }

    /// From submission to the outcome.
    pub fn elapsed(&self) -> Duration {
        self.finished.saturating_duration_since(self.submitted)
    }
}

/// Solves `data` at `difficulty` on this thread with the fastest kernel.
pub fn solve(data: &[u8], difficulty: Difficulty) -> Outcome {
    solve_with(Kernel::fastest(), &Prepared::new(data, difficulty), &|| {
        false
    })
}

/// Solves a prepared puzzle on this thread with `kernel`, calling `cancelled` once per chunk.
pub fn solve_with(kernel: Kernel, p: &Prepared, cancelled: &dyn Fn() -> bool) -> Outcome {
    #[cfg(all(feature = "std", not(target_family = "wasm")))]
    let (submitted, mut first_hash) = (Instant::now(), None);
    let mut hashes = 0;
    let mut start = 0u64;
    let solution = loop {
        if cancelled() {
            break None;
        }
        #[cfg(all(feature = "std", not(target_family = "wasm")))]
        if first_hash.is_none() {
            first_hash = Some(Instant::now());
        }
        let end = start.saturating_add(CHUNK);
        let scan = kernel.scan(p, start, end);
        hashes += scan.hashed;
        if scan.found.is_some() || end == u64::MAX {
            break scan.found;
        }
        start = end;
    };
    Outcome {
        solution,
        hashes,
        kernel,
        #[cfg(all(feature = "std", not(target_family = "wasm")))]
        submitted,
        #[cfg(all(feature = "std", not(target_family = "wasm")))]
        first_hash,
        #[cfg(all(feature = "std", not(target_family = "wasm")))]
        finished: Instant::now(),
    }
}

/// The smallest solution below `nonce`, if there is one: how a verifier proves that a
/// recorded nonce is the *smallest*, as the puzzle demands.
pub fn smaller_solution(p: &Prepared, nonce: u64) -> Option<Solution> {
    Kernel::fastest().scan(p, 0, nonce).found
}

/// The multi-thread search.
#[cfg(all(feature = "std", not(target_family = "wasm")))]
pub mod parallel {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::{Outcome, CHUNK};
    use crate::engine::Kernel;
    use crate::puzzle::Prepared;

    pub use super::MAX_THREADS;

    /// Searches `p` with `threads` fresh threads (at least 1, at most [`MAX_THREADS`]), on the
    /// calling thread when `threads` is 1. A node keeps its threads in a [`super::pool::Pool`]
    /// instead: starting threads costs as much as a whole race at the lab's difficulty.
    ///
    /// Threads take chunks in increasing order from one counter and keep the smallest nonce
    /// found; a thread stops when its next chunk starts past that nonce, so the answer is the
    /// smallest nonce for any thread count. `cancel` is read once per chunk.
    pub fn search(p: &Prepared, threads: usize, kernel: Kernel, cancel: &AtomicBool) -> Outcome {
        let submitted = Instant::now();
        let threads = threads.clamp(1, MAX_THREADS);
        let next_chunk = AtomicU64::new(0);
        let best = AtomicU64::new(u64::MAX);
        let hashes = AtomicU64::new(0);
        let first_hash = OnceLock::new();

        let work = || {
            let mut mine = 0u64;
            loop {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                let Some(start) = chunk.checked_mul(CHUNK) else {
                    break;
                };
                if start >= best.load(Ordering::Acquire) {
                    break;
                }
                first_hash.get_or_init(Instant::now);
                let end = start.saturating_add(CHUNK);
                let scan = kernel.scan(p, start, end);
                mine += scan.hashed;
                if let Some(found) = scan.found {
                    best.fetch_min(found.nonce, Ordering::AcqRel);
                    break;
                }
                if end == u64::MAX {
                    break;
                }
            }
            hashes.fetch_add(mine, Ordering::Relaxed);
        };

        if threads == 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }

        let nonce = best.load(Ordering::Acquire);
        // A cancelled search reports nothing: a chunk below the best one may be unfinished.
        let solution = (!cancel.load(Ordering::Acquire) && nonce != u64::MAX)
            .then(|| p.confirm(nonce))
            .flatten();
        Outcome {
            solution,
            hashes: hashes.load(Ordering::Relaxed),
            kernel,
            submitted,
            first_hash: first_hash.get().copied(),
            finished: Instant::now(),
        }
    }
}

// Threads: native only.
#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn parallel_agrees_with_single_thread_for_any_thread_count() {
        let d = Difficulty::from_zero_bits(14).unwrap();
        for data in [&b"abc"[..], b"", b"Gova and Emmanuel Blockchain Lab 3"] {
            let p = Prepared::new(data, d);
            let one = solve_with(Kernel::Portable, &p, &|| false)
                .solution
                .unwrap();
            for threads in [1, 2, 3, 5] {
                let cancel = AtomicBool::new(false);
                let got = parallel::search(&p, threads, Kernel::Portable, &cancel);
                assert_eq!(got.solution, Some(one), "threads {threads}");
                assert!(got.hashes > one.nonce);
            }
        }
    }

    #[test]
    fn cancelled_search_reports_no_solution() {
        // 40 zero bits: far beyond what the test could find before the flag is read.
        let p = Prepared::new(b"x", Difficulty::from_zero_bits(40).unwrap());
        let cancel = AtomicBool::new(true);
        let got = parallel::search(&p, 2, Kernel::Portable, &cancel);
        assert_eq!(got.solution, None);
        assert_eq!(got.hashes, 0);
    }
}
