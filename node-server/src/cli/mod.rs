//! The command line: clap's structs, and the subcommands that are not a running node.
//!
//! - [`args`]: clap's structs for every subcommand, and the dispatch to the library.
//! - [`client`]: `submit`, the race from a client's side.
//! - [`commands`]: `mine` and `verify`.
//! - [`bench`](mod@bench): `node-server bench`.
//! - [`ledger_bench`]: `node-server bench-ledger`: what a race costs as the ledger grows.

pub mod args;
pub mod bench;
pub mod client;
pub mod commands;
pub mod ledger_bench;
