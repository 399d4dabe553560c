//! The command line's tools: the subcommands that are not a running node.
//!
//! - [`client`]: `submit`, the race from a client's side.
//! - [`commands`]: `mine` and `verify`.
//! - [`bench`](mod@bench): `node-server bench`.
//! - [`ledger_bench`]: `node-server bench-ledger`: what a race costs as the ledger grows.

pub mod bench;
pub mod client;
pub mod commands;
pub mod ledger_bench;
