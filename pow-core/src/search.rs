//! Solving a puzzle: the smallest nonce, counting from 0.
//!
//! [`solve`] runs on the calling thread (and in the browser). With `std`, [`parallel`] spreads
//! chunks of [`CHUNK`] nonces over threads and still returns the smallest nonce, whatever the
//! thread count, and stops when cancelled.

use crate::engine::{Kernel, CHUNK};
use crate::puzzle::{Prepared, Solution};
use crate::Difficulty;

/// What a search ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The smallest solution, or `None` when the search was cancelled (or ran out of nonces).
    pub solution: Option<Solution>,
    /// Nonces hashed, by every thread together.
    pub hashes: u64,
    /// The kernel that did the work.
    pub kernel: Kernel,
}

/// Solves `data` at `difficulty` on this thread with the fastest kernel.
pub fn solve(data: &[u8], difficulty: Difficulty) -> Outcome {
    solve_with(Kernel::fastest(), &Prepared::new(data, difficulty), &|| {
        false
    })
}

/// Solves a prepared puzzle on this thread with `kernel`, calling `cancelled` once per chunk.
pub fn solve_with(kernel: Kernel, p: &Prepared, cancelled: &dyn Fn() -> bool) -> Outcome {
    let mut hashes = 0;
    let mut start = 0u64;
    loop {
        if cancelled() {
            break;
        }
        let end = start.saturating_add(CHUNK);
        let scan = kernel.scan(p, start, end);
        hashes += scan.hashed;
        if scan.found.is_some() || end == u64::MAX {
            return Outcome {
                solution: scan.found,
                hashes,
                kernel,
            };
        }
        start = end;
    }
    Outcome {
        solution: None,
        hashes,
        kernel,
    }
}

/// The smallest solution below `nonce`, if there is one: how a verifier proves that a
/// recorded nonce is the *smallest*, as the puzzle demands.
pub fn smaller_solution(p: &Prepared, nonce: u64) -> Option<Solution> {
    Kernel::fastest().scan(p, 0, nonce).found
}

/// The multi-thread search.
#[cfg(feature = "std")]
pub mod parallel {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::{Outcome, CHUNK};
    use crate::engine::Kernel;
    use crate::puzzle::Prepared;

    /// The most threads one search may use.
    pub const MAX_THREADS: usize = 256;

    /// Searches `p` with `threads` threads (at least 1, at most [`MAX_THREADS`]).
    ///
    /// Threads take chunks in increasing order from one counter and keep the smallest nonce
    /// found; a thread stops when its next chunk starts past that nonce, so the answer is the
    /// smallest nonce for any thread count. `cancel` is read once per chunk.
    pub fn search(p: &Prepared, threads: usize, kernel: Kernel, cancel: &AtomicBool) -> Outcome {
        let threads = threads.clamp(1, MAX_THREADS);
        let next_chunk = AtomicU64::new(0);
        let best = AtomicU64::new(u64::MAX);
        let hashes = AtomicU64::new(0);

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
        }
    }
}

#[cfg(test)]
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
