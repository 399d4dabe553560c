//! The powrace puzzle, its verification, and the search engine that solves it.
//!
//! The puzzle: `SHA-256(transaction_data ‖ decimal(nonce))` must start with `difficulty`
//! zero bytes; the answer is the **smallest** such nonce counting from 0.
//!
//! # Layout
//! - [`difficulty`]: [`Difficulty`], in zero bytes (the unit of every interface) or zero bits.
//! - [`hash`]: [`Hash32`], a SHA-256 digest that displays as hex.
//! - [`puzzle`]: the pure puzzle: [`hash`](puzzle::hash) one nonce, [`verify`] a claim with a
//!   typed [`VerifyError`], and [`Prepared`], the per-transaction midstate the engine scans with.
//! - [`engine`]: the kernels (portable, and SIMD/SHA-NI where the CPU has them) that scan a range
//!   of nonces, chosen at run time.
//! - [`search`]: single-thread [`solve`](search::solve) and (feature `std`) the multi-thread
//!   [`search::parallel`] that returns the smallest nonce for any thread count and can be cancelled.
//! - [`search::pool`] (feature `std`): a node's search threads, kept alive between races: several
//!   jobs at once, the smallest nonce or a lottery from a start, cancellation, a hash-rate cap.
//! - [`retarget`]: the difficulty of each race from the chain before it (target race time),
//!   in integer arithmetic so every node, `verify` and the browser agree.
//! - [`chain`] (feature `alloc`): the ledger entry and its tamper-evident hash chain, verified
//!   without I/O so the node and the browser check a ledger the same way.
//! - [`stats`] (feature `stats`): the experiment's statistics (fairness, goodness of fit,
//!   Kolmogorov–Smirnov, race times, wasted work, arrival order), shared by `node-server report`
//!   and the dashboard, no I/O.
//!
//! The crate is `no_std`; `std` (default) adds threads, `alloc` adds the ledger types, `stats`
//! (off by default; implies `std`) the statistics.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod chain;
pub mod difficulty;
pub mod engine;
pub mod hash;
pub mod puzzle;
pub mod retarget;
pub mod search;
#[cfg(feature = "stats")]
pub mod stats;

pub use difficulty::{Difficulty, DifficultyError};
pub use hash::Hash32;
pub use puzzle::{verify, Prepared, Solution, VerifyError};
